"""SweepSpec: what to run -- model, axes, replicas, fixed parameters, settings, root seed.

A spec comes from a TOML file or from command-line options and is validated
against the model's declarations before anything is written. Axis values are a
list of numbers, or a string: ``"0.1,0.2,0.5"`` (a list), ``"start:stop:num"``
(``num`` linearly spaced values) or ``"start:stop:num:log"`` (geometric). Every
error names the axis (or parameter, or setting) at fault.

TOML layout::

    model = "meanfield"
    name = "quickstart"        # optional, default: the file's stem
    seed = 2026                # root seed, optional, default 0
    replicas = 2               # optional, default 1
    out = "quickstart.zarr"    # optional default output store
    anneal = "T"               # optional: run each chain of T values from high to low,
                               # each point starting from the previous one's final state
    imports = ["my_models.py"] # optional: modules or .py files (relative to this file) that
                               # register models; imported here and on every worker

    [axes]                     # sweep dimensions, in this order
    T = "0.05:1:12:log"
    alpha = [0.11]

    [parameters]               # fixed model parameters
    N = 500

    [settings]                 # model run settings
    duration = 200
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
import numbers
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from epmsweep.model import InvalidInput, get_model
from epmsweep.model.core import Field, Model, Value, brief, load_imports
from epmsweep.model.core.registry import is_file_import

_REPLICAS = Field(1, "independent replicas per grid point", kind=int, lower=1)
#: Root seeds are integers in [0, 2^64), kept exactly (not through a float).
SEED_LIMIT = 2**64
#: Longest sweep name (it names the default output store, NAME.zarr).
MAX_NAME_LENGTH = 200
#: The type of each top-level key of a spec file.
_TOP_LEVEL_TYPES: dict[str, tuple[type, str]] = {
    "model": (str, "a model name"), "name": (str, "a string"), "seed": (int, "an integer"),
    "replicas": (int, "an integer"), "out": (str, "a path"), "anneal": (str, "an axis name"),
    "axes": (dict, "a table [axes]"), "parameters": (dict, "a table [parameters]"),
    "settings": (dict, "a table [settings]"), "imports": (list, "a list of module names or .py paths"),
}
#: Largest sweep run without asking (``--max-points`` raises it).
MAX_POINTS = 1_000_000
_TOP_LEVEL_KEYS = set(_TOP_LEVEL_TYPES)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep. ``parameters`` and ``settings`` hold every model value, defaults
    included, so two specs are equal exactly when they would produce the same store."""

    model: str
    axes: dict[str, list[Value]]
    parameters: dict[str, Value]
    settings: dict[str, Value]
    replicas: int = 1
    seed: int = 0
    name: str = "sweep"
    out: str | None = field(default=None, compare=False)
    anneal: str | None = None  # the axis run from high to low along each chain
    #: Modules and .py files (absolute paths) that define the model, imported wherever the sweep's
    #: points run; where the code comes from, not what it computes: not compared.
    imports: tuple[str, ...] = field(default=(), compare=False)

    def to_json(self) -> str:
        """Canonical JSON (the store's ``spec`` attribute); ``out`` is not part of it."""
        body = {"model": self.model, "name": self.name, "seed": self.seed, "replicas": self.replicas,
                "axes": self.axes, "parameters": self.parameters, "settings": self.settings}
        if self.anneal is not None:
            body["anneal"] = self.anneal
        if self.imports:
            body["imports"] = list(self.imports)
        return json.dumps(body, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> SweepSpec:
        body = json.loads(text)
        return cls(body["model"], body["axes"], body["parameters"], body["settings"],
                   body["replicas"], body["seed"], body["name"], anneal=body.get("anneal"),
                   imports=tuple(body.get("imports", ())))

    def first_point(self) -> dict[str, Value]:
        """Every model parameter at the grid's first point (each axis at its first value)."""
        return {**self.parameters, **{name: values[0] for name, values in self.axes.items()}}

    def point_coords(self, index: tuple[int, ...] | np.ndarray) -> dict[str, Value]:
        """The axis values and the replica of the point at ``index`` (grid order)."""
        where: dict[str, Value] = {name: self.axes[name][i] for name, i in zip(self.axes, index[:-1])}
        where["replica"] = int(index[-1])
        return where

    @property
    def n_points(self) -> int:
        return math.prod(len(v) for v in self.axes.values()) * self.replicas

    def model_instance(self) -> Model:
        """The sweep's model, after importing the modules that define it (``imports``)."""
        load_imports(self.imports)
        return get_model(self.model)


def resolve_imports(entries: Any, base: Path | None = None) -> tuple[str, ...]:
    """``imports`` checked (strings) and with every .py path made absolute (relative to ``base``,
    default the current directory), so that workers started elsewhere find the files; then
    imported here."""
    if isinstance(entries, str) or not all(isinstance(e, str) and e.strip() for e in entries):
        raise InvalidInput(f"imports = {brief(entries)} is not allowed: expected a list of module names or .py paths")
    resolved = tuple(str(((base or Path.cwd()) / e.strip()).resolve()) if is_file_import(e.strip()) else e.strip()
                     for e in entries)
    load_imports(resolved)
    return resolved


def parse_axis_values(name: str, text: Any) -> list[float]:
    """Numbers of one axis from a TOML value or a command-line string; see the module docstring."""
    if isinstance(text, bool | np.bool_):
        raise InvalidInput(f"axis {name}: {text!r} is not a number")
    if isinstance(text, numbers.Real):
        return [float(text)]
    if isinstance(text, list | tuple | np.ndarray):
        values = list(np.ravel(text))
    elif isinstance(text, str):
        text = text.strip()
        if ":" in text:
            return _parse_range(name, text)
        values = [v for v in (s.strip() for s in text.split(",")) if v]
    else:
        raise InvalidInput(f"axis {name}: {text!r} is neither a number, a list nor a string")
    out = []
    for v in values:
        try:
            if isinstance(v, bool):
                raise ValueError
            out.append(float(v))
        except (TypeError, ValueError):
            raise InvalidInput(f"axis {name}: {v!r} is not a number (in {text!r})") from None
    return out


def _parse_range(name: str, text: str) -> list[float]:
    parts = text.split(":")
    usage = "expected start:stop:num or start:stop:num:log"
    if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3].strip().lower() != "log"):
        raise InvalidInput(f"axis {name}: cannot parse range {text!r}: {usage}")
    try:
        start, stop = float(parts[0]), float(parts[1])
        num = int(parts[2])
    except ValueError:
        raise InvalidInput(f"axis {name}: cannot parse range {text!r}: {usage}, num an integer") from None
    if num < 1:
        raise InvalidInput(f"axis {name}: range {text!r} has num = {num}; it must be at least 1")
    if len(parts) == 4:
        if start <= 0 or stop <= 0:
            raise InvalidInput(f"axis {name}: geometric range {text!r} needs start > 0 and stop > 0")
        return np.geomspace(start, stop, num).tolist()
    return np.linspace(start, stop, num).tolist()


def build_spec(model_name: str, axes: Mapping[str, Any], parameters: Mapping[str, Any] | None = None,
               settings: Mapping[str, Any] | None = None, replicas: Any = 1, seed: Any = 0,
               name: str | None = None, out: str | None = None, anneal: str | None = None,
               max_points: int = MAX_POINTS, imports: Any = ()) -> SweepSpec:
    """Validate everything against the model's declarations and return the spec.

    Checks: the ``imports`` import (:func:`resolve_imports`); the model exists; each axis and fixed parameter is a parameter of the
    model, and no name is both; each axis is non-empty, has no duplicates and every
    value is allowed (vectorised: O(n log n) in the number of values); replicas >= 1;
    the grid has at most ``max_points`` points; settings are known and allowed; and the
    model's own cross-checks pass at every grid point.
    """
    imports = resolve_imports(imports)
    model = get_model(model_name)
    parameters, settings = dict(parameters or {}), dict(settings or {})
    if not axes:
        raise InvalidInput("the sweep has no axes: give at least one, e.g. --T 0.1,0.2")
    for axis in axes:
        if axis not in model.parameters:
            close = difflib.get_close_matches(axis, list(model.parameters), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise InvalidInput(f"axis {brief(axis)[1:-1]}: not a parameter of model {model.name!r}; {hint}parameters: "
                               f"{', '.join(model.parameters)}")
        if axis in parameters:
            raise InvalidInput(f"axis {axis}: also given as a fixed parameter; give it once")
    resolved_axes: dict[str, list[Value]] = {}
    for axis, raw in axes.items():
        values = parse_axis_values(axis, raw)
        if not len(values):
            raise InvalidInput(f"axis {axis}: empty; give at least one value")
        try:
            checked = model.parameters[axis].coerce_numbers(axis, values)
        except InvalidInput as err:
            raise InvalidInput(f"axis {axis}: {err}") from None
        unique, counts = np.unique(np.asarray(checked, dtype=np.float64), return_counts=True)
        if (counts > 1).any():
            repeated = unique[counts > 1]
            shown = ", ".join(f"{v:g}" for v in repeated[:10]) + (f" and {len(repeated) - 10} more" if len(repeated) > 10 else "")
            raise InvalidInput(f"axis {axis}: duplicate values {shown}")
        resolved_axes[axis] = checked
    n_replicas = _REPLICAS.coerce("replicas", replicas)
    n_points = math.prod(len(v) for v in resolved_axes.values()) * n_replicas
    if n_points > max_points:
        sizes = " x ".join(f"{len(v)} values of {a}" for a, v in resolved_axes.items())
        raise InvalidInput(f"the sweep has {n_points:,} points ({sizes}, {n_replicas} replicas), more than the limit "
                           f"of {max_points:,}; pass --max-points {n_points} (max_points in Python) to run it anyway")
    fixed = model.resolve_params(parameters)
    for axis in resolved_axes:
        del fixed[axis]
    resolved_settings = model.resolve_settings(settings)
    ignored = model.ignored_parameters(resolved_settings)
    for axis in resolved_axes:
        if axis in ignored:
            raise InvalidInput(f"axis {axis}: {ignored[axis]}, so every value would run identical physics; "
                               f"drop the axis or choose settings that use it")
    root_seed = root_seed_value(seed)
    name = sweep_name(name or "sweep")
    spec = SweepSpec(model.name, resolved_axes, fixed, resolved_settings, n_replicas, root_seed, name, out,
                     anneal, imports)
    _check_every_point(model, spec)
    if anneal is not None:
        _check_anneal(model, spec)
    return spec


def root_seed_value(value: Any) -> int:
    """A root seed, exactly: an integer (or a string of digits) in [0, 2^64); floats only when
    they are whole numbers below 2^53, where they are exact."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    elif isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        number = int(value)
    if number is None or not 0 <= number < SEED_LIMIT:
        raise InvalidInput(f"seed = {brief(value)} is not allowed: expected an integer in [0, 2^64)")
    return number


def sweep_name(value: Any) -> str:
    """A sweep name: a non-empty string of printable characters without '/', at most
    MAX_NAME_LENGTH long (it names the default store, NAME.zarr)."""
    if not isinstance(value, str) or not value or not value.isprintable() or "/" in value \
            or len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(f"name = {brief(value)} is not allowed: expected a string of 1 to {MAX_NAME_LENGTH} printable "
                           "characters without '/'")
    return value


def _check_anneal(model: Model, spec: SweepSpec) -> None:
    """An annealed axis is a sweep axis, the model can start from a handed-over state, and
    that state has one shape over the whole grid (it is stored per point)."""
    if not isinstance(spec.anneal, str) or spec.anneal not in spec.axes:
        raise InvalidInput(f"anneal: {spec.anneal!r} is not an axis of the sweep; axes: {', '.join(spec.axes)}")
    first = spec.first_point()
    base = model.handover(first, spec.settings)
    if base is None:
        raise InvalidInput(f"anneal: model {model.name!r} with these settings cannot start from a given state")
    for axis, values in spec.axes.items():
        for v in values[1:]:
            other = model.handover({**first, axis: v}, spec.settings)
            if any(other.shape(k) != base.shape(k) for k in base.variables):
                raise InvalidInput(f"anneal: the state handed from point to point changes shape along the axis "
                                   f"{axis} (stored per point, it needs one shape); fix {axis} or do not anneal")


def _check_every_point(model: Model, spec: SweepSpec) -> None:
    """Run the model's cross-checks (e.g. bins covering the band) at every grid point."""
    names = list(spec.axes)
    for combo in itertools.product(*spec.axes.values()):
        params = {**spec.parameters, **dict(zip(names, combo))}
        try:
            model.check(params, spec.settings)
        except InvalidInput as err:
            where = ", ".join(f"{n} = {v:g}" for n, v in zip(names, combo))
            raise InvalidInput(f"at {where}: {err}") from None


def split_assignments(model_name: str, assignments: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``NAME=VALUE`` items (``--set``): fixed model parameters and run settings, told apart by name."""
    model = get_model(model_name)
    parameters: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for item in assignments:
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise InvalidInput(f"--set {item!r}: expected NAME=VALUE, e.g. --set N=1000")
        if name in parameters or name in settings:
            raise InvalidInput(f"--set {name}: given twice; give each value once")
        if name in model.parameters:
            parameters[name] = value.strip()  # the model's Field converts and checks it
        elif name in model.settings:
            settings[name] = value.strip()
        else:
            raise InvalidInput(f"--set {item!r}: {name!r} is neither a parameter nor a setting of model {model.name!r}; "
                               f"parameters: {', '.join(model.parameters)}; settings: {', '.join(model.settings)}")
    return parameters, settings


def load_spec_file(path: str | Path, axes: Mapping[str, Any] | None = None, assignments: list[str] | None = None,
                   max_points: int = MAX_POINTS, imports: tuple[str, ...] = (), **top_level: Any) -> SweepSpec:
    """Read a TOML spec (see :func:`spec_from_dict`; the name defaults to the file's stem and
    .py paths in its ``imports`` are relative to the file)."""
    path = Path(path)
    where = f"spec file {str(path)!r}"
    if path.is_dir():
        raise InvalidInput(f"{where} is a directory, not a TOML file")
    try:
        body = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{where} does not exist") from None
    except UnicodeDecodeError as err:
        raise InvalidInput(f"{where} is not UTF-8 text (byte {err.start}); TOML files are UTF-8") from None
    except tomllib.TOMLDecodeError as err:
        raise InvalidInput(f"{where} is not valid TOML: {err}") from None
    except OSError as err:
        raise InvalidInput(f"{where} cannot be read: {err.strerror}") from None
    return spec_from_dict(body, axes, assignments, max_points, imports, where=where, base=path.resolve().parent,
                          default_name=path.stem, **top_level)


def spec_from_dict(body: Mapping[str, Any], axes: Mapping[str, Any] | None = None,
                   assignments: list[str] | None = None, max_points: int = MAX_POINTS, imports: tuple[str, ...] = (),
                   where: str = "spec", base: Path | None = None, default_name: str = "sweep",
                   **top_level: Any) -> SweepSpec:
    """A spec from the layout of a TOML file, as a mapping (``{"model": ..., "axes": {...}}``).
    Extra ``axes`` and ``assignments`` (NAME=VALUE, parameters or settings) are merged into its
    tables, and a name given there as an axis or a fixed value wins over the mapping's;
    ``top_level`` values that are not None (replicas, seed, name, out, anneal) replace its
    own; ``imports`` (already resolved) are added to its own, whose .py paths are relative to
    ``base`` (default: the current directory)."""
    if not isinstance(body, Mapping):
        raise InvalidInput(f"{where} is not allowed: expected a mapping with the layout of a spec file, got "
                           f"{type(body).__name__}")
    body = dict(body)
    unknown = sorted(set(body) - _TOP_LEVEL_KEYS)
    if unknown:
        raise InvalidInput(f"{where}: unknown keys {', '.join(unknown)}; known: {', '.join(sorted(_TOP_LEVEL_KEYS))}")
    if "model" not in body:
        raise InvalidInput(f"{where} does not name a model (model = \"meanfield\")")
    for key, value in body.items():
        kind, what = _TOP_LEVEL_TYPES[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidInput(f"{where}: {key} = {brief(value)} is not allowed: expected {what}")
    imports = (*resolve_imports(body.get("imports", []), base), *imports)
    parameters, settings = split_assignments(body["model"], assignments or [])
    file_axes, file_parameters = dict(body.get("axes", {})), dict(body.get("parameters", {}))
    for name in axes or {}:
        file_parameters.pop(name, None)
    for name in parameters:
        file_axes.pop(name, None)
    body.update({k: v for k, v in top_level.items() if v is not None})
    return build_spec(body["model"], {**file_axes, **(axes or {})}, {**file_parameters, **parameters},
                      {**body.get("settings", {}), **settings}, body.get("replicas", 1), body.get("seed", 0),
                      body.get("name", default_name), body.get("out"), body.get("anneal"), max_points, imports)
