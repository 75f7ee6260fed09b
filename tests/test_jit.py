"""codec.jit: numba started without its scipy BLAS probe, and nothing else changed."""

from __future__ import annotations

import subprocess
import sys

import pytest

_CHILD = """
import sys
import numpy as np
from codec.streams import tables
counts = np.zeros((4, 4), dtype=np.uint16)
tables.bump4(counts, 1, 2)                 # runs (loads or compiles) a kernel
assert counts[1, 2] > 0
assert "scipy" not in sys.modules, "the first kernel imported scipy"
import scipy.linalg.cython_blas            # still importable afterwards
print("ok")
"""


def test_first_kernel_does_not_import_scipy_and_scipy_stays_importable():
    pytest.importorskip("scipy.linalg")
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
