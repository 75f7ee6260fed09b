"""numba as seqlm's kernels use it: import ``nb`` / ``njit`` from here, never from numba.

Two things happen before the first kernel is loaded:

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
  import: scipy stays importable afterwards.
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


_import_arraymath_without_blas_probe()

import numba as nb  # noqa: E402
from numba import njit  # noqa: E402

__all__ = ["nb", "njit"]
