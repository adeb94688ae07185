"""The model contract: declared parameters, settings and outputs, and ``run``.

A model is a small object registered by name. It declares

* ``parameters`` -- physics, any of which can be a sweep axis; each has a default,
  bounds, units and a one-line meaning;
* ``settings`` -- run controls that are not physics (durations, bins, methods),
  fixed for a whole sweep;
* ``outputs(settings)`` -- every output with its dims, dtype, units and long name,
  and the coordinate values of its own (non-sweep) dims. Shapes depend on the
  settings only, never on the point, so a store can be laid out before any run;
* ``run(params, settings, seed)`` -- one point, deterministic for a given seed,
  single-threaded, returning exactly the declared outputs.

Everything that reaches ``run`` is validated first; bad input raises
:class:`InvalidInput` naming the parameter, the value and what is allowed.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

Value = float | int | str | bool
Seed = int | np.random.SeedSequence


class InvalidInput(ValueError):
    """A parameter or setting value that the model does not accept."""


def brief(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters, for error messages about user input."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


@dataclass(frozen=True)
class Field:
    """One declared input of a model: a physical parameter or a run setting.

    ``kind`` is ``float``, ``int``, ``str`` or ``bool``. Numeric bounds are
    inclusive unless ``lower_open``/``upper_open``; ``choices`` restricts strings.
    ``words``: strings a numeric field also accepts (e.g. ``"auto"``: the model chooses
    the number while it runs).
    """

    default: Value
    doc: str
    units: str = "1"
    kind: type = float
    lower: float | None = None
    upper: float | None = None
    lower_open: bool = False
    upper_open: bool = False
    choices: tuple[str, ...] | None = None
    words: tuple[str, ...] = ()

    def allowed(self) -> str:
        """Human-readable description of the allowed values."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "a string"
        lo = "(" if self.lower_open or self.lower is None else "["
        hi = ")" if self.upper_open or self.upper is None else "]"
        low = "-inf" if self.lower is None else f"{self.lower:g}"
        up = "inf" if self.upper is None else f"{self.upper:g}"
        what = "an integer" if self.kind is int else "a number"
        return f"{what} in {lo}{low}, {up}{hi}" + "".join(f" or {w!r}" for w in self.words)

    def coerce(self, name: str, value: Any) -> Value:
        """Return ``value`` converted to this field's kind, or raise InvalidInput."""
        bad = InvalidInput(f"{name} = {brief(value)} is not allowed: expected {self.allowed()}")
        if self.kind is bool:
            if isinstance(value, bool | np.bool_):
                return bool(value)
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            raise bad
        if self.kind is str:
            if not isinstance(value, str) or (self.choices is not None and value not in self.choices):
                raise bad
            return value
        if isinstance(value, bool | np.bool_):
            raise bad
        if isinstance(value, str) and value.strip().lower() in self.words:
            return value.strip().lower()
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad from None
        if math.isnan(number) or (self.kind is int and not number.is_integer()):
            raise bad
        if not math.isfinite(number):
            raise bad
        self._check_bounds(name, number)
        return int(number) if self.kind is int else number

    def coerce_numbers(self, name: str, values: np.ndarray) -> list[Value]:
        """Many numbers at once (a sweep axis; vectorised, so 10⁷ values take a second):
        converted to this field's kind, or InvalidInput for the first value not allowed,
        with the message of :meth:`coerce`."""
        if self.kind not in (int, float):
            return [self.coerce(name, v) for v in values]
        x = np.asarray(values, dtype=np.float64)
        ok = np.isfinite(x)
        if self.kind is int:
            ok &= x == np.round(x)
        if self.lower is not None:
            ok &= (x > self.lower) if self.lower_open else (x >= self.lower)
        if self.upper is not None:
            ok &= (x < self.upper) if self.upper_open else (x <= self.upper)
        if not ok.all():
            self.coerce(name, float(x[np.argmin(ok)]))
        return x.astype(np.int64).tolist() if self.kind is int else x.tolist()

    def _check_bounds(self, name: str, number: float) -> None:
        lower, upper = self.lower, self.upper
        if lower is not None and (number < lower or (self.lower_open and number == lower)):
            rel = ">" if self.lower_open else ">="
            raise InvalidInput(f"{name} = {number:g} is out of bounds: must be {rel} {lower:g}")
        if upper is not None and (number > upper or (self.upper_open and number == upper)):
            rel = "<" if self.upper_open else "<="
            raise InvalidInput(f"{name} = {number:g} is out of bounds: must be {rel} {upper:g}")


@dataclass(frozen=True)
class Coord:
    """Values of one non-sweep dimension of the outputs (e.g. ``sigma`` bin centres)."""

    values: np.ndarray
    units: str
    long_name: str


@dataclass(frozen=True)
class Output:
    """Declaration of one output variable of a point."""

    dims: tuple[str, ...]
    dtype: str
    units: str
    long_name: str
    #: CF cell_methods: "time: mean" for an average over the measurement (or over a window
    #: of it, or over time origins); "" for an instantaneous or a derived value.
    cell_methods: str = ""


#: The CF cell_methods of an average over the measurement (see Output.cell_methods).
TIME_MEAN = "time: mean"


@dataclass(frozen=True)
class OutputSpec:
    """All outputs of a model for given settings, with the coordinates of their dims."""

    variables: dict[str, Output]
    coords: dict[str, Coord] = field(default_factory=dict)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(len(self.coords[d].values) for d in self.variables[name].dims)


class Model(ABC):
    """Base class of all models; subclasses declare the class variables below."""

    name: ClassVar[str]
    description: ClassVar[str]
    parameters: ClassVar[dict[str, Field]]
    settings: ClassVar[dict[str, Field]]

    # ---- validation -------------------------------------------------------
    def resolve_params(self, values: Mapping[str, Any] | None = None) -> dict[str, Value]:
        """Defaults overridden by ``values``; every value validated."""
        return _resolve(self.parameters, values or {}, f"model {self.name!r}", "parameter")

    def resolve_settings(self, values: Mapping[str, Any] | None = None) -> dict[str, Value]:
        """Default settings overridden by ``values``; every value validated."""
        return _resolve(self.settings, values or {}, f"model {self.name!r}", "setting")

    def check(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> None:
        """Cross-checks between parameters and settings; raise InvalidInput."""

    def handover(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> OutputSpec | None:
        """The state a point hands on to the next point of an annealing chain (its final
        configuration, shapes fixed by these values), or None when the model cannot
        start from a given state."""
        return None

    def _run_from(self, params: dict[str, Value], settings: dict[str, Value], rng: np.random.Generator,
                  start: Mapping[str, np.ndarray] | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Run one validated point from the state ``start`` (None: the model's own initial
        state) and return its outputs and its final state (see :meth:`handover`)."""
        raise NotImplementedError(f"model {self.name!r} declares no handover state")

    def seconds_per_point(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> float:
        """A rough wall time of one point on one core. It only sets how many points share a
        batch (one task, one file per output variable; see :mod:`epmsweep.sweep.shards`);
        the default, 10 s, puts every point in a batch of its own."""
        return 10.0

    def memory_bytes(self, params: Mapping[str, Value], settings: Mapping[str, Value]) -> float | None:
        """An upper estimate of the memory one point allocates beyond the running process
        (arrays of its size; benchmarks/memory_per_point.py checks it against the measured
        peak). A sweep whose largest point exceeds a worker's memory is refused before it
        starts. None (the default): no estimate, no check."""
        return None

    #: Memory a point needs whatever its size (its Python objects, outputs and temporaries),
    #: for :meth:`memory_bytes`.
    POINT_OVERHEAD_BYTES: ClassVar[float] = 16e6

    def ignored_parameters(self, settings: Mapping[str, Value]) -> dict[str, str]:
        """Parameters that these settings make irrelevant (e.g. those a chosen rule does not
        read), each with the reason: a sweep refuses them as axes, which would only repeat
        identical physics."""
        return {}

    # ---- declarations and running ----------------------------------------
    @abstractmethod
    def outputs(self, settings: Mapping[str, Value]) -> OutputSpec:
        """Declared outputs for these settings."""

    @abstractmethod
    def _run(self, params: dict[str, Value], settings: dict[str, Value], rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Run one validated point with a seeded generator."""

    def run(self, params: Mapping[str, Any], settings: Mapping[str, Any] | None = None, seed: Seed = 0,
            start: Mapping[str, np.ndarray] | None = None, hand_over: bool = False) -> Any:
        """Run one point: validate, simulate with ``numpy.random.default_rng(seed)``,
        and return exactly the declared outputs with their declared shapes and dtypes.

        Annealing: ``start`` is the final state of a previous point (see :meth:`handover`)
        to start from instead of the model's own initial state; with ``hand_over`` the
        return value is (outputs, final state)."""
        p = self.resolve_params(params)
        s = self.resolve_settings(settings)
        self.check(p, s)
        spec = self.outputs(s)
        rng = np.random.default_rng(seed)
        if start is None and not hand_over:
            result, state = self._run(p, s, rng), None
        else:
            handover = self.handover(p, s)
            if handover is None:
                raise InvalidInput(f"model {self.name!r} with these settings cannot start from a given state")
            if start is not None:
                start = _checked(start, handover, "start state", InvalidInput)
            result, state = self._run_from(p, s, rng, start)
            state = _checked(state, handover, f"model {self.name!r}: final state", RuntimeError)
        out = _checked(result, spec, f"model {self.name!r}: outputs", RuntimeError)
        return (out, state) if hand_over else out


def _checked(values: Mapping[str, Any], spec: OutputSpec, what: str, error: type[Exception]) -> dict[str, np.ndarray]:
    """``values`` as arrays of the declared dtypes, refused (``error``) unless they are exactly
    the declared variables with the declared shapes."""
    if set(values) != set(spec.variables):
        raise error(f"{what} has {sorted(values)}, declared {sorted(spec.variables)}")
    out = {}
    for key, decl in spec.variables.items():
        arr = np.asarray(values[key], dtype=decl.dtype)
        if arr.shape != spec.shape(key):
            raise error(f"{what}: {key!r} has shape {arr.shape}, declared {spec.shape(key)}")
        out[key] = arr
    return out


def _resolve(fields: Mapping[str, Field], values: Mapping[str, Any], owner: str, what: str) -> dict[str, Value]:
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InvalidInput(f"unknown {what} {', '.join(map(repr, unknown))} for {owner}; known: {', '.join(fields)}")
    return {name: f.coerce(name, values.get(name, f.default)) for name, f in fields.items()}
