"""The model contract and the registry; imports no model."""

from epmsweep.model.core.contract import (TIME_MEAN, Coord, Field, InvalidInput, Model, Output, OutputSpec, Seed, Value,
                                          brief)
from epmsweep.model.core.registry import available_models, get_model, load_imports, register

__all__ = ["TIME_MEAN", "Coord", "Field", "InvalidInput", "Model", "Output", "OutputSpec", "Seed", "Value",
           "available_models", "brief", "get_model", "load_imports", "register"]
