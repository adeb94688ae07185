"""The model registry: models by name, built-in and users' alike.

Two ways in, and the registry imports no model itself:

* entry points in the group ``epmsweep.models`` (``name = "module:Class"``): how the
  built-in models are declared (``pyproject.toml``) and how an installed package adds
  its own. A model's module is imported only when the model is first asked for;
* :func:`register`, a class decorator for a model defined in a script or notebook.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from epmsweep.model.core.contract import InvalidInput, Model, brief

ENTRY_POINT_GROUP = "epmsweep.models"

_REGISTRY: dict[str, type[Model]] = {}


def register(cls: type[Model]) -> type[Model]:
    """Class decorator: make a model available by its ``name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"model name {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def model_class(name: str) -> type[Model]:
    """The class of the model ``name``: registered in this process, or by entry point."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    found = _entry_points().get(name)
    if found is None:
        raise InvalidInput(f"unknown model {brief(name)}; available: {', '.join(available_models())}")
    cls = found.load()
    if not (isinstance(cls, type) and issubclass(cls, Model)) or cls.name != name:
        raise InvalidInput(f"entry point {name!r} = {found.value!r} of group {ENTRY_POINT_GROUP!r} "
                           f"is not a Model subclass named {name!r}")
    _REGISTRY[name] = cls
    return cls


def get_model(name: str) -> Model:
    """An instance of the model ``name``."""
    return model_class(name)()


def available_models() -> list[str]:
    """Names of all models: registered in this process or declared by entry point."""
    return sorted(set(_REGISTRY) | set(_entry_points()))
