"""Pure numerics: the model contract and the models (numpy, numba, scipy only).

Layout: ``core`` (contract and registry, no model), ``rules`` (paper 000's local rules),
``events`` (the exact event engine), ``histogram`` (binning helpers), and one subpackage
per model family: ``meanfield`` (simulation, Fokker-Planck, closed forms) and ``lattice``
(propagator, time-stepped and event-driven dynamics, tracers, observables); ``probe``.
"""

from epmsweep.model.core import Coord, Field, InvalidInput, Model, Output, OutputSpec, Value, available_models, get_model, register

__all__ = ["Coord", "Field", "InvalidInput", "Model", "Output", "OutputSpec", "Value", "available_models", "get_model",
           "register"]
