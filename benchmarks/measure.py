"""Measure one codec call in a worker process; check restored files byte for byte."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .codecs import child_env
from .datasets import md5_file

LINE_KINDS = ("header line", "sequence", "'+' line", "quality")


@dataclass
class StepResult:
    """Outcome of one compress or decompress call."""

    ok: bool
    wall_s: float = 0.0
    peak_rss_kb: int = 0
    paths: list[Path] = field(default_factory=list)
    error: str = ""
    notes: str = ""


def _wait_with_timeout(proc: subprocess.Popen, timeout: float) -> tuple[int, int, bool]:  # type: ignore[type-arg]
    """``os.wait4`` the worker (its own rusage, not a running max); kill its group on timeout.

    Returns (exit status, ru_maxrss in KiB, timed out).
    """
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:  # Ctrl-C: the worker has its own session and would live on
        kill()
        os.wait4(proc.pid, 0)
        raise
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
    return proc.returncode, usage.ru_maxrss, timed_out.is_set()


def run_step(codec_key: str, op: str, inputs: Sequence[Path], outdir: Path,
             n_outputs: int, timeout: float) -> StepResult:
    """Run ``codec.compress``/``decompress`` in ``python -m benchmarks.worker``."""
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-step-") as tmp:
        req, res = Path(tmp) / "request.json", Path(tmp) / "result.json"
        err_path = Path(tmp) / "stderr.txt"
        req.write_text(json.dumps({"codec": codec_key, "op": op, "outdir": str(outdir),
                                   "inputs": [str(p) for p in inputs], "n_outputs": n_outputs}))
        start = time.perf_counter()
        with open(err_path, "wb") as err:  # a file, not a pipe: a chatty worker cannot block
            proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.worker", str(req), str(res)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                env={**child_env(), "TMPDIR": tmp}, start_new_session=True)
            status, tree_rss, timed_out = _wait_with_timeout(proc, timeout)
        stderr = err_path.read_text("utf-8", "replace")
        if timed_out:
            return StepResult(False, time.perf_counter() - start, tree_rss,
                              error=f"timed out after {timeout:.0f} s")
        if not res.exists():
            tail = " ".join(stderr.strip().splitlines()[-3:])[-300:]
            return StepResult(False, error=f"worker exited {status}: {tail}")
        data = json.loads(res.read_text())
    rss = (data.get("tools_maxrss_kb") or data.get("children_maxrss_kb")
           or data.get("self_maxrss_kb") or tree_rss)
    if not data["ok"]:
        return StepResult(False, peak_rss_kb=rss, error=data["error"])
    return StepResult(True, data["wall_s"], rss, [Path(p) for p in data["paths"]],
                      notes=data.get("notes", ""))


def first_difference(original: Path, restored: Path) -> str:
    """Human description of the first differing line (ANCHORS.md style)."""
    with open(original, "rb") as fa, open(restored, "rb") as fb:
        for number, (a, b) in enumerate(zip(fa, fb), start=1):
            if a != b:
                return f"{LINE_KINDS[(number - 1) % 4]} changed (first at line {number})"
    size_a, size_b = original.stat().st_size, restored.stat().st_size
    if size_a == size_b:
        return "identical"
    return f"length differs ({size_b} bytes restored vs {size_a})"


def verify(originals: Sequence[Path], md5s: Sequence[str],
           restored: Sequence[Path]) -> tuple[bool, list[str], str]:
    """(byte-exact, restored md5s, description of the first difference)."""
    if len(restored) != len(originals):
        return False, [], f"{len(restored)} files restored for {len(originals)} inputs"
    got = [md5_file(p) if p.exists() else "missing" for p in restored]
    diffs = [first_difference(o, r) for o, r, want, have in zip(originals, restored, md5s, got)
             if want != have and r.exists()]
    return got == list(md5s), got, " / ".join(diffs)
