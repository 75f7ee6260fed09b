"""Point numba's on-disk cache at a folder keyed by the hash of this package's sources.

numba invalidates a cached kernel only when *its own* file changes, not when a
helper it inlines from another module does; a stale kernel would compute other
probabilities than the current code and write archives nobody can decode. Keying
the cache folder by every source file of the package rules that out. Must run
before numba is first imported; an explicit ``NUMBA_CACHE_DIR`` is respected.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def _source_hash() -> str:
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


_fresh = False


def fresh() -> bool:
    """Whether this process created the cache folder: its kernels compile now (~15-30 s
    in all, spread over the first files of each kind), later runs load them."""
    return _fresh


def configure() -> None:
    global _fresh
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for parent in (base, tempfile.gettempdir()):
        folder = os.path.join(parent, "seqlm", f"numba-{_source_hash()}")
        existed = os.path.isdir(folder)
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            os.environ["NUMBA_CACHE_DIR"] = folder
            _fresh = not existed
            return
