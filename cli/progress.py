"""A progress bar on a terminal, nothing otherwise (tqdm on stderr)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def progress_bar(total: int, label: str, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    """Yields a ``tick(n_bytes)`` callable, or None when no bar is shown."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    with tqdm(total=total or None, desc=label, unit="B", unit_scale=True, file=sys.stderr,
              leave=False) as bar:
        yield bar.update
