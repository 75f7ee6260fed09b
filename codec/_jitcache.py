"""Point numba's on-disk cache at a folder keyed by the hash of this package's sources.

numba invalidates a cached kernel only when *its own* file changes, not when a
helper it inlines from another module does; a stale kernel would compute other
probabilities than the current code and write archives nobody can decode. Keying
the cache folder by every source file of the package rules that out. Must run
before numba is first imported; an explicit ``NUMBA_CACHE_DIR`` is respected.

Each version leaves a folder of ~6.5 MB behind, so the first run of a new one
removes the folders of other versions that no run has used for
:data:`STALE_AFTER_S` (every run marks its own folder used).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

STALE_AFTER_S = 30 * 24 * 3600
_FOLDER = re.compile(r"numba-[0-9a-f]{16}")


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
            if _fresh:
                prune_stale(os.path.dirname(folder), keep=folder)
            else:
                _mark_used(folder)
            return


def _mark_used(folder: str) -> None:
    try:
        os.utime(folder)
    except OSError:
        pass  # a shared read-mostly cache: another user's run keeps it marked


def prune_stale(root: str, keep: str, now: float | None = None) -> list[str]:
    """Remove the other versions' cache folders under ``root`` unused for
    :data:`STALE_AFTER_S`; returns their paths. Anything else there is left alone."""
    cutoff = (time.time() if now is None else now) - STALE_AFTER_S
    removed = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        try:
            stale = (_FOLDER.fullmatch(entry.name) is not None and entry.path != keep
                     and entry.is_dir(follow_symlinks=False) and entry.stat().st_mtime < cutoff)
        except OSError:
            continue
        if stale:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
    return removed
