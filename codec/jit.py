"""numba as seqlm's kernels use it: import ``nb`` / ``njit`` from here, never from numba.

Three things happen before the first kernel is loaded:

* the on-disk cache folder is keyed by this package's sources (:mod:`codec._jitcache`,
  done by ``codec/__init__``);
* numba's array-math module is imported *without* its BLAS probe. On its first
  kernel (compiled or loaded from the cache) numba imports ``numba.np.arraymath``,
  which imports ``scipy.linalg`` only to learn whether ``np.dot`` can call BLAS.
  Where scipy is installed that import costs ~0.2 s of every ``seqlm`` run (a third
  of the fixed start-up of a one-read file), and no kernel here uses BLAS: matrix
  products run in numpy, outside the kernels. Without the probe, numba's
  ``np.correlate``/``np.convolve`` would use its plain loop; nothing else changes.
  The probe is skipped only when scipy is not imported yet, and only for that one
  import: scipy stays importable afterwards;
* kernels load from the cache without numba's registry refresh. Before it loads a
  cached kernel numba refreshes its typing and target contexts: it imports and
  registers every implementation it has (~60 modules of lowering and typing
  templates). Only *compiling* uses them, and numba's compiler refreshes the contexts
  itself before it compiles; loading cached machine code needs numba's runtime (NRT)
  set up and nothing else. The refresh cost every ``seqlm`` run 0.15-0.3 s of CPU on
  its first kernel, with the other coding thread waiting on numba's lock (without it:
  one-read start-up 0.61 s against 0.67 compressing, 0.51 against 0.68 decompressing;
  the ONT SARS-CoV-2 reads 11 % faster both ways, medians of 8 alternating runs). The cached
  machine code is the same either way, so no table or byte can change. Should a load
  ever fail without the refresh (another numba's internals), it is refreshed and
  loaded as numba would; where the internals named here are missing, nothing is
  replaced.
"""

from __future__ import annotations

import sys


def _import_arraymath_without_blas_probe() -> None:
    if "numba.np.arraymath" in sys.modules or "scipy" in sys.modules:
        return
    sys.modules["scipy"] = None  # type: ignore[assignment]  # makes `import scipy...` fail at once
    try:
        import numba.np.arraymath  # noqa: F401
    except ImportError:
        pass   # a numba that cannot start without scipy: numba imports it as usual later (slower, same kernels)
    finally:
        if sys.modules.get("scipy", 0) is None:
            del sys.modules["scipy"]


def _load_cached_kernels_without_refresh() -> None:
    """numba's ``Cache.load_overload`` without its ``target_context.refresh()`` (see above)."""
    try:
        from numba.core.caching import Cache
        from numba.core.runtime import rtsys
    except ImportError:
        return
    numba_load = getattr(Cache, "load_overload", None)
    if numba_load is None or getattr(numba_load, "_seqlm", False) \
            or not all(hasattr(Cache, name) for name in ("_load_overload", "_guard_against_spurious_io_errors")):
        return

    def load_overload(self, sig, target_context):  # type: ignore[no-untyped-def]
        try:
            rtsys.initialize(target_context)
            with self._guard_against_spurious_io_errors():
                return self._load_overload(sig, target_context)
        except Exception:   # noqa: BLE001 -- numba's own path below raises what it raises
            return numba_load(self, sig, target_context)

    load_overload._seqlm = True  # type: ignore[attr-defined]
    Cache.load_overload = load_overload


_import_arraymath_without_blas_probe()
_load_cached_kernels_without_refresh()

import numba as nb  # noqa: E402
from numba import njit  # noqa: E402

__all__ = ["nb", "njit"]
