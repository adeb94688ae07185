"""The model registry: models by name, built-in and users' alike.

Three ways in, and the registry imports no model itself:

* entry points in the group ``epmsweep.models`` (``name = "module:Class"``): how the
  built-in models are declared (``pyproject.toml``) and how an installed package adds
  its own. A model's module is imported only when the model is first asked for;
* :func:`register`, a class decorator for a model defined in a script or notebook;
* :func:`load_imports`: modules (or ``.py`` files) that register models when imported,
  named by a sweep's ``imports`` (``--import``) and imported wherever its points run.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

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


#: Imports done in this process (entries as given to load_imports).
_IMPORTED: set[str] = set()


def is_file_import(entry: str) -> bool:
    """Whether an ``imports`` entry names a Python file (``models.py``, ``dir/models.py``)
    rather than a module (``mypackage.models``)."""
    return entry.endswith(".py") or "/" in entry


def load_imports(entries: Iterable[str]) -> None:
    """Import each entry, once per process: a module by its dotted name, or a ``.py`` file by
    its path (as the module named by the file's stem). Models they register with
    :func:`register` become available by name. InvalidInput names the entry that fails."""
    for entry in entries:
        if entry in _IMPORTED:
            continue
        try:
            if is_file_import(entry):
                _import_file(Path(entry))
            else:
                importlib.import_module(entry)
        except InvalidInput:
            raise
        except ModuleNotFoundError as err:
            if err.name is not None and entry.startswith(err.name):
                raise InvalidInput(f"import {brief(entry, 400)}: no module named {err.name!r} here; a module must be "
                                   "installed or on PYTHONPATH (on the workers too), or give the path of a .py "
                                   "file") from None
            raise InvalidInput(f"import {brief(entry, 400)} failed: {type(err).__name__}: {err}") from None
        except Exception as err:  # the user's module raised while it was imported
            raise InvalidInput(f"import {brief(entry, 400)} failed: {type(err).__name__}: {err}") from None
        _IMPORTED.add(entry)


def _import_file(path: Path) -> None:
    if path.suffix != ".py" or not path.is_file():
        raise InvalidInput(f"import {brief(str(path), 400)}: not a readable .py file")
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve() == path.resolve():
            return
        raise InvalidInput(f"import {brief(str(path), 400)}: a module named {name!r} is already imported from "
                           f"{getattr(loaded, '__file__', None) or 'elsewhere'}; rename the file")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
