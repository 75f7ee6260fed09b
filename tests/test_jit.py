"""codec.jit: numba started without its scipy BLAS probe, cached kernels loaded without
numba's registry refresh (and with it where a load needs it), and nothing else changed; the
kernel cache folder (codec._jitcache), the pruning of old versions' folders, and the note
shown while it is first filled."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import pytest

from cli.progress import progress_bar
from codec import _jitcache

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


_REFRESH_CHILD = """
import sys
import numpy as np
from numba.core import base, caching
import codec.jit
refreshes = []
numba_refresh = base.BaseContext.refresh
base.BaseContext.refresh = lambda ctx: (refreshes.append(1), numba_refresh(ctx))[1]
if sys.argv[1] == "fail-once":
    load = caching.Cache._load_overload
    failed = []
    def flaky(self, sig, ctx):
        if not failed:
            failed.append(1)
            raise RuntimeError("simulated: this numba needs the refresh")
        return load(self, sig, ctx)
    caching.Cache._load_overload = flaky
from codec.streams import tables
counts = np.zeros((4, 4), dtype=np.uint16)
tables.bump4(counts, 1, 2)
assert counts[1, 2] > 0
print(len(refreshes))
"""


def _refreshes_in_child(mode: str) -> int:
    subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, timeout=600)   # the kernel is cached
    out = subprocess.run([sys.executable, "-c", _REFRESH_CHILD, mode], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.strip())


def test_a_cached_kernel_loads_without_refreshing_numbas_contexts():
    assert _refreshes_in_child("plain") == 0


def test_a_cached_load_that_fails_without_the_refresh_is_loaded_as_numba_would():
    assert _refreshes_in_child("fail-once") >= 1


def _fresh_in_child(cache_home: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = cache_home
    code = "import codec._jitcache as j, os; print(j.fresh(), os.environ['NUMBA_CACHE_DIR'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_the_first_process_of_a_version_knows_its_kernels_compile(tmp_path):
    first, second = _fresh_in_child(str(tmp_path)), _fresh_in_child(str(tmp_path))
    assert first.startswith("True " + str(tmp_path)) and second.startswith("False ")


def test_cache_folders_unused_for_a_month_are_removed_by_a_new_version(tmp_path):
    month_ago = time.time() - _jitcache.STALE_AFTER_S - 60
    root = tmp_path / "seqlm"
    old, recent, other = root / ("numba-" + "a" * 16), root / ("numba-" + "b" * 16), root / "numba-notes"
    for folder in (old, recent, other):
        folder.mkdir(parents=True)
        (folder / "kernel.nbi").write_bytes(b"x")
    for folder in (old, other):
        os.utime(folder, (month_ago, month_ago))
    first = _fresh_in_child(str(tmp_path)).split()[1]       # a new version's first run prunes
    assert not old.exists() and recent.exists() and other.exists() and os.path.isdir(first)
    os.utime(first, (month_ago, month_ago))
    _fresh_in_child(str(tmp_path))                           # later runs mark their folder used
    assert os.stat(first).st_mtime > month_ago + 3600


def test_prune_keeps_the_current_folder_and_foreign_entries(tmp_path):
    month_ago = time.time() - _jitcache.STALE_AFTER_S - 60
    keep, stale = tmp_path / ("numba-" + "c" * 16), tmp_path / ("numba-" + "d" * 16)
    link, plain = tmp_path / ("numba-" + "e" * 16), tmp_path / ("numba-" + "f" * 16)
    for folder in (keep, stale):
        folder.mkdir()
    link.symlink_to(stale)
    plain.write_bytes(b"not a folder")
    for entry in (keep, stale, plain):
        os.utime(entry, (month_ago, month_ago))
    assert _jitcache.prune_stale(str(tmp_path), keep=str(keep)) == [str(stale)]
    assert keep.exists() and plain.exists() and link.is_symlink()
    assert _jitcache.prune_stale(str(tmp_path / "missing"), keep=str(keep)) == []


def test_progress_bar_warns_of_compiling_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(_jitcache, "_fresh", True)
    with progress_bar(10, "compress", quiet=False) as tick:
        assert tick is not None
    assert "compiling kernels" in err.getvalue()
    monkeypatch.setattr(_jitcache, "_fresh", False)
    err.seek(0), err.truncate()
    with progress_bar(10, "compress", quiet=False):
        pass
    assert "compiling" not in err.getvalue()
