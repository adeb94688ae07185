"""How a sweep's grid is cut into batches: one batch of points = one shard of every array.

The grid is the sweep axes (spec order) then ``replica``. A shard is a block of the grid
taken from its trailing dimensions (C order), so that a batch is a run of consecutive
points; in an annealed sweep a shard always holds the whole annealed axis, so that each
chain lies in one batch. Inside a shard, arrays are cut into inner chunks of a few
hundred points (fewer for large per-point outputs), each with its own checksum: the
client reads the ``status`` of 10⁵ points as a few hundred chunks, and damage is found
chunk by chunk.

The batch size is chosen from the model's declared seconds per point so that a batch
runs about :data:`BATCH_SECONDS`, between 1 and :data:`MAX_BATCH_POINTS` points; one
point per batch for models costing a second or more, as before batching.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

#: Target wall time of one batch (one task) in seconds.
BATCH_SECONDS = 1.0
#: Most points in one batch (bounds a worker's buffers and the work lost with a batch).
MAX_BATCH_POINTS = 4096
#: Target size of an inner chunk (the unit of checksums and reads).
INNER_CHUNK_BYTES = 64 * 1024
#: Most points in one inner chunk.
MAX_INNER_POINTS = 512


def points_per_batch(seconds_per_point: float) -> int:
    """Points in a batch of about BATCH_SECONDS for a model costing ``seconds_per_point``."""
    if not seconds_per_point > 0:
        return MAX_BATCH_POINTS
    return int(min(MAX_BATCH_POINTS, max(1, BATCH_SECONDS // seconds_per_point)))


def tile(grid: tuple[int, ...], target: int, whole: tuple[int, ...] = ()) -> tuple[int, ...]:
    """A block of about ``target`` points of ``grid``: the dims in ``whole`` entire, then
    trailing dims entire while the block stays within the target, then part of the next."""
    shape = [1] * len(grid)
    for d in whole:
        shape[d] = grid[d]
    size = math.prod(shape)
    for d in reversed(range(len(grid))):
        if d in whole:
            continue
        take = max(1, min(grid[d], target // size))
        shape[d] = take
        size *= take
        if take < grid[d]:
            break
    return tuple(shape)


def inner_chunk(shard: tuple[int, ...], bytes_per_point: int) -> tuple[int, ...]:
    """Inner chunk of a shard: trailing dims first, each a divisor of the shard's extent (zarr
    needs shards made of whole inner chunks), about INNER_CHUNK_BYTES per chunk."""
    target = max(1, min(MAX_INNER_POINTS, INNER_CHUNK_BYTES // max(1, bytes_per_point)))
    shape = [1] * len(shard)
    size = 1
    for d in reversed(range(len(shard))):
        want = max(1, target // size)
        shape[d] = max(k for k in range(1, min(shard[d], want) + 1) if shard[d] % k == 0)
        size *= shape[d]
        if shape[d] < shard[d]:
            break
    return tuple(shape)


class Geometry:
    """The grid and its shards; shard ``k`` is the k-th block in C order of the shard grid."""

    def __init__(self, grid: tuple[int, ...], shard: tuple[int, ...]):
        self.grid, self.shard = tuple(grid), tuple(shard)
        self.counts = tuple(-(-g // s) for g, s in zip(self.grid, self.shard))

    @property
    def n_shards(self) -> int:
        return math.prod(self.counts)

    def region(self, k: int) -> tuple[slice, ...]:
        """Slices of shard ``k`` in the grid (edge shards are cut at the grid's end)."""
        corner = np.unravel_index(k, self.counts)
        return tuple(slice(int(c) * s, min(g, (int(c) + 1) * s)) for c, s, g in zip(corner, self.shard, self.grid))

    def regions(self) -> Iterator[tuple[int, tuple[slice, ...]]]:
        for k in range(self.n_shards):
            yield k, self.region(k)

    def any_per_shard(self, mask: np.ndarray) -> np.ndarray:
        """Flat indices of the shards holding at least one True of the grid-shaped ``mask``."""
        padded = np.zeros(tuple(c * s for c, s in zip(self.counts, self.shard)), dtype=bool)
        padded[tuple(slice(0, g) for g in self.grid)] = mask
        blocks = padded.reshape([x for c, s in zip(self.counts, self.shard) for x in (c, s)])
        return np.flatnonzero(blocks.any(axis=tuple(range(1, 2 * len(self.grid), 2))))
