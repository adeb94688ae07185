"""Pure numerics: the model contract and the models (numpy, numba, scipy only)."""

from epmsweep.model.base import InvalidInput, Model, available_models, get_model, register

__all__ = ["InvalidInput", "Model", "available_models", "get_model", "register"]
