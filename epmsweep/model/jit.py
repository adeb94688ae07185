"""numba plumbing: an on-disk cache kept to the package's own types, and kernels bound to
their argument types.

A kernel that takes a rule object (a NamedTuple whose type selects the rule's functions,
e.g. :mod:`epmsweep.model.lattice.activation`) is compiled once per rule type. With
``cache=True`` numba would also write the specialisation for a rule defined in a user's
script or a test file into the package's cache index, which (i) every later process
unpickles, failing where that module cannot be imported, and (ii) is keyed by the kernel's
own source file only, so an edited user rule would silently run its old code.
:func:`cache_own_types_only` makes such a kernel cache only the specialisations whose
arguments are all types of this package or plain numba types; the others compile afresh
in each process.

numba keys a kernel's cache by its own source file and bytecode only, so a kernel whose
callees or overloads live in another module (the event engine calls each model's
``relax`` overload) would load stale machine code after that module changed -- after an
upgrade, or with a shared ``NUMBA_CACHE_DIR``. Importing this module adds a hash of the
source of all of ``epmsweep.model`` to the cache key of every kernel of the package
(:func:`source_hash`): any change to the numerics recompiles them all, once.

Kernels are compiled with ``nogil=True``: they touch no Python object, and a kernel that
releases the GIL lets the command line's stop watchdog run while it holds the main
thread for minutes (``--cluster sync``), so a Ctrl-C still stops the sweep at once.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from numba import typeof
from numba.core import types
from numba.core.caching import Cache
from numba.core.registry import CPUDispatcher

_PACKAGE = __name__.split(".")[0] + "."
_MODEL_ROOT = Path(__file__).parent


@functools.lru_cache(maxsize=4)
def source_hash(root: Path = _MODEL_ROOT) -> str:
    """SHA-256 of the relative paths and contents of every .py file under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


_numba_index_key = Cache._index_key


def _index_key_with_source(self: Cache, sig: Any, codegen: Any) -> Any:
    """numba's cache key, plus :func:`source_hash` for the package's own kernels."""
    key = _numba_index_key(self, sig, codegen)
    if getattr(self._py_func, "__module__", "").startswith(_PACKAGE):
        return (*key, source_hash())
    return key


Cache._index_key = _index_key_with_source


def _own(t: types.Type) -> bool:
    cls = getattr(t, "instance_class", None)
    if cls is not None and not cls.__module__.startswith(_PACKAGE):
        return False
    return all(_own(member) for member in getattr(t, "types", ()))


class _OwnTypesCache:
    """A numba dispatcher cache that loads and saves only specialisations on own types."""

    def __init__(self, cache: Any):
        self._cache = cache

    def _keep(self, sig: Any) -> bool:
        args = getattr(sig, "args", sig)
        return all(_own(t) for t in args)

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        return self._cache.load_overload(sig, target_context) if self._keep(sig) else None

    def save_overload(self, sig: Any, data: Any) -> None:
        if self._keep(sig):
            self._cache.save_overload(sig, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cache, name)


def cache_own_types_only(dispatcher: Any) -> Any:
    """Restrict the on-disk cache of an ``njit(cache=True)`` dispatcher to own types."""
    dispatcher._cache = _OwnTypesCache(dispatcher._cache)
    return dispatcher


def bind(dispatcher: Any, *args: Any) -> Callable[..., Any]:
    """The compiled entry point of ``dispatcher`` for the numba types of ``args`` (compiled
    or loaded from the cache now). Calling it skips numba's type dispatch, which costs
    ~30 us per call for NamedTuple arguments (their types are found in Python, element by
    element) against ~3 us for arrays: it matters for kernels called once per step or per
    sample. The caller must pass arguments of the same types as ``args``."""
    return dispatcher.compile(tuple(typeof(a) for a in args))


def cached_kernels(module_name: str) -> tuple[int, int]:
    """(kernels with an on-disk cache, ``cache=True``; how many of them have cache files yet) in
    the module ``module_name`` and the modules of its package that it reaches by the names it
    imports (a model's module: its kernels). A kernel without cache files compiles on first
    use, in each process, until the cache holds it: what a first run of a model waits for."""
    package = module_name.split(".")[0]
    seen: set[str] = set()
    queue, kernels, cached = [module_name], 0, 0
    while queue:
        name = queue.pop()
        module = sys.modules.get(name)
        if name in seen or module is None:
            continue
        seen.add(name)
        for obj in vars(module).values():
            owner = obj.__name__ if isinstance(obj, ModuleType) else getattr(obj, "__module__", None)
            if isinstance(owner, str) and owner.split(".")[0] == package and owner not in seen:
                queue.append(owner)
            if isinstance(obj, CPUDispatcher) and owner == name:
                index = getattr(getattr(obj, "_cache", None), "_cache_file", None)
                if index is not None:
                    kernels += 1
                    cached += os.path.exists(index._index_path)
    return kernels, cached
