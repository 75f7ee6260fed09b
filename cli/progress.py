"""A progress bar on a terminal, nothing otherwise (tqdm on stderr)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

from codec import _jitcache


@contextmanager
def progress_bar(total: int, label: str, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    """Yields a ``tick(n_bytes)`` callable, or None when no bar is shown.

    On the first run after an install or upgrade the bar is preceded by a note that the
    kernels are being compiled, so a slow first file is not mistaken for seqlm's speed."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    if _jitcache.fresh():
        print(f"seqlm: first run of this version: compiling kernels into "
              f"{os.environ.get('NUMBA_CACHE_DIR', 'the cache')} (each kind of data compiles "
              "what it needs once; later runs load them)", file=sys.stderr)
    with tqdm(total=total or None, desc=label, unit="B", unit_scale=True, file=sys.stderr,
              leave=False) as bar:
        yield bar.update
