"""Grid expansion: every point of a sweep with its parameters and its own seed.

A point's seed depends only on the root seed, the point's own swept values and its
replica index -- never on its position in the grid -- so extending an axis later, or
reordering it, leaves the seed (and therefore the result) of every existing point
unchanged. The seed is ``SeedSequence(root, spawn_key=key)`` reduced to 64 bits,
with ``key`` = for each axis in sorted name order: crc32 of the name and the two
32-bit halves of the value's IEEE-754 float64 bits; then the replica index. The
64-bit integer is what the model receives and what the store records, so any point
can be rerun alone with ``model.run(params, settings, seed=int(ds.seed.sel(...)))``.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from epmsweep.model.core import Value
from epmsweep.sweep.spec import SweepSpec


@dataclass(frozen=True)
class Point:
    """One run: its position in the store, its parameters and its seed."""

    index: tuple[int, ...]  # positions along the sweep axes (spec order), then the replica
    params: dict[str, Value]  # every model parameter
    replica: int
    seed: int  # 64-bit, fed to numpy.random.default_rng


def point_seed(root: int, swept: dict[str, Value], replica: int) -> int:
    """64-bit seed of the point with swept values ``swept`` and replica ``replica``."""
    key: list[int] = []
    for name in sorted(swept):
        bits = int(np.float64(swept[name]).view(np.uint64))
        key += [zlib.crc32(name.encode()), bits >> 32, bits & 0xFFFFFFFF]
    key.append(replica)
    return int(np.random.SeedSequence(root, spawn_key=tuple(key)).generate_state(1, np.uint64)[0])


def grid_shape(spec: SweepSpec) -> tuple[int, ...]:
    """Shape of the per-point arrays: the axes in spec order, then replicas."""
    return (*(len(v) for v in spec.axes.values()), spec.replicas)


def expand(spec: SweepSpec) -> Iterator[Point]:
    """Every point of the sweep, in C order of ``grid_shape``."""
    names = list(spec.axes)
    for index in itertools.product(*(range(n) for n in grid_shape(spec))):
        swept = {name: spec.axes[name][i] for name, i in zip(names, index[:-1])}
        replica = index[-1]
        yield Point(index, {**spec.parameters, **swept}, replica, point_seed(spec.seed, swept, replica))


def seed_grid(spec: SweepSpec) -> np.ndarray:
    """The seeds of all points as a uint64 array of ``grid_shape``."""
    return np.array([p.seed for p in expand(spec)], dtype=np.uint64).reshape(grid_shape(spec))
