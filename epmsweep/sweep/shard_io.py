"""Whole-shard reads and writes of a sweep store, and the damage they detect.

A batch owns one shard of every per-point array (see :mod:`epmsweep.sweep.shards`); no
other batch writes it, so writers need no lock between them. A batch keeps its shard in
memory and writes it whole (zarr writes each file under a temporary name and renames it
into place, so a shard on disk is always one complete version), outputs first and
``status`` last: a point is done on disk only once its outputs are.

Every inner chunk carries a crc32c checksum. Reads go shard by shard and, where a shard
cannot be decoded (flipped bytes, truncation), inner chunk by inner chunk, so damage is
pinned to the points it touches. A shard file missing while ``status`` says its points
are done is damage too (every written shard holds all its inner chunks: the writer
writes chunks equal to the fill value as well).
"""

from __future__ import annotations

import contextlib
import itertools
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import zarr

from epmsweep.sweep.shards import Geometry

PENDING, DONE, FAILED = 0, 1, -1
#: The per-point variables that are not results: what a point's run was, not what it found.
BOOKKEEPING = ("status", "seed", "wall_seconds", "host", "error")
#: Prefix of the variables holding the state each point of an annealing chain hands on.
STATE_PREFIX = "state_"


@contextlib.contextmanager
def consolidated_metadata_ok() -> Iterator[None]:
    """zarr warns that consolidated metadata is not yet part of the v3 spec; we use it on purpose."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        yield


def open_group(path: str | Path, mode: str = "r") -> zarr.Group:
    with consolidated_metadata_ok():
        return zarr.open_group(Path(path), mode=mode, use_consolidated=True)


def per_point_arrays(group: zarr.Group) -> dict[str, zarr.Array]:
    """The sharded per-point arrays of a store (outputs, handed-over states, bookkeeping),
    ``status`` last; not the coordinates nor the one-chunk ``seed``."""
    status = group["status"]
    dims = status.metadata.dimension_names
    arrays = {name: arr for name, arr in group.arrays()
              if name not in ("status", "seed") and arr.metadata.dimension_names[:len(dims)] == dims}
    return {**arrays, "status": status}


def geometry(group: zarr.Group) -> Geometry:
    status = group["status"]
    return Geometry(status.shape, status.shards)


def _read(arr: zarr.Array, region: tuple[slice, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The values of ``region`` (points) of ``arr`` and a mask of the points whose inner chunk
    could not be decoded (their values are the fill value)."""
    n = len(region)
    try:
        return arr[region], np.zeros(tuple(s.stop - s.start for s in region), dtype=bool)
    except Exception:  # a checksum or decoding error somewhere in the shard: find where
        pass
    values = np.full(tuple(s.stop - s.start for s in region) + arr.shape[n:], arr.fill_value, dtype=arr.dtype)
    bad = np.zeros(values.shape[:n], dtype=bool)
    inner = arr.chunks[:n]
    starts = [range(s.start, s.stop, c) for s, c in zip(region, inner)]
    for corner in itertools.product(*starts):
        chunk = tuple(slice(c, min(c + k, s.stop)) for c, k, s in zip(corner, inner, region))
        local = tuple(slice(c.start - s.start, c.stop - s.start) for c, s in zip(chunk, region))
        try:
            values[local] = arr[chunk]
        except Exception:  # this inner chunk is damaged
            bad[local] = True
    return values, bad


def _shard_file(path: Path, name: str, arr: zarr.Array, region: tuple[slice, ...]) -> Path:
    """The file of the shard that starts at ``region``'s corner (a local store's layout)."""
    corner = (*(s.start // k for s, k in zip(region, arr.shards)), *([0] * (arr.ndim - len(region))))
    return path / name / arr.metadata.encode_chunk_key(tuple(int(c) for c in corner))


def read_whole(arr: zarr.Array, n_point_dims: int) -> tuple[np.ndarray, np.ndarray]:
    """All values of a per-point array and a mask of the points whose chunk could not be read
    (their values are the fill value)."""
    try:
        return arr[...], np.zeros(arr.shape[:n_point_dims], dtype=bool)
    except Exception:  # some shard is damaged: read shard by shard
        pass
    geo = Geometry(arr.shape[:n_point_dims], arr.shards[:n_point_dims])
    values = np.empty(arr.shape, dtype=arr.dtype)
    bad = np.zeros(geo.grid, dtype=bool)
    for _, region in geo.regions():
        values[region], bad[region] = _read(arr, region)
    return values, bad


def load_status(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The status of every point and a mask of points whose status could not be read (damaged
    status chunks; those points read as PENDING, to be run again)."""
    status = open_group(path)["status"]
    values, bad = read_whole(status, status.ndim)
    values[bad] = PENDING
    return values, bad


def find_damage(path: str | Path, status: np.ndarray) -> np.ndarray:
    """Mask of the done points whose stored results cannot be trusted: a shard file missing,
    or an inner chunk that fails its checksum or does not decode. Reads every shard that
    holds a done point, one at a time."""
    path = Path(path)
    group = open_group(path)
    geo = geometry(group)
    done = status == DONE
    damaged = np.zeros(status.shape, dtype=bool)
    for k in geo.any_per_shard(done):
        region = geo.region(int(k))
        for name, arr in per_point_arrays(group).items():
            if not _shard_file(path, name, arr, region).exists():
                damaged[region] |= done[region]
                continue
            damaged[region] |= _read(arr, region)[1] & done[region]
    return damaged


class BatchWriter:
    """The shard of one batch, held in memory and written whole; ``status`` last."""

    def __init__(self, path: str | Path, region: tuple[slice, ...]):
        group = open_group(path, mode="r+")
        self.region = region
        self.arrays = {name: arr.with_config({"write_empty_chunks": True}) for name, arr in per_point_arrays(group).items()}
        self.buffers, self.damaged = {}, []
        for name, arr in self.arrays.items():
            self.buffers[name], bad = _read(arr, region)
            if bad.any():  # zarr reads a shard before rewriting it: a damaged one goes first
                self.damaged.append(_shard_file(Path(path), name, arr, region))

    def status(self) -> np.ndarray:
        return self.buffers["status"]

    def state(self, local: tuple[int, ...]) -> dict[str, np.ndarray]:
        """The state a done point of an annealing chain handed on (``local``: index in the shard)."""
        n = len(STATE_PREFIX)
        return {name[n:]: buf[local] for name, buf in self.buffers.items() if name.startswith(STATE_PREFIX)}

    def record(self, local: tuple[int, ...], status: int, outputs: Mapping[str, np.ndarray], wall: float, host: str,
               error: str) -> None:
        """Keep one point's results (written at the next :meth:`flush`). A failed point's
        outputs go back to the fill value, so a rerun leaves nothing of an earlier try."""
        for name, buf in self.buffers.items():
            if name in outputs:
                buf[local] = outputs[name]
            elif name not in BOOKKEEPING:
                buf[local] = self.arrays[name].fill_value
        self.buffers["wall_seconds"][local] = wall
        self.buffers["host"][local] = host
        self.buffers["error"][local] = error
        self.buffers["status"][local] = status

    def flush(self) -> None:
        while self.damaged:
            self.damaged.pop().unlink(missing_ok=True)
        for name, arr in self.arrays.items():  # status is the last of them
            arr[self.region] = self.buffers[name]
