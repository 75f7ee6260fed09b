"""seqlm itself, driven through its CLI in a child process.

``seqlm compress IN [IN2] -o OUT.seqlm -f [--level N]``,
``seqlm decompress OUT.seqlm -o R1 [-o R2] -f`` and ``seqlm info OUT.seqlm --json``.
When the ``seqlm`` console script is not installed, the same CLI is run from this checkout
(``python -c 'from cli.main import main; main()'``, equivalent to ``python -m cli.main``).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Sequence

from .codecs import (REPO_ROOT, Codec, CodecError, child_env, restored_path, run_tool,
                     tool_version)

_IN_TREE = "import sys; from cli.main import main; sys.exit(main())"


def seqlm_command() -> list[str] | None:
    """argv prefix that runs the seqlm CLI, or None when neither form exists.

    The console script installed beside this interpreter comes first: a ``seqlm`` found
    on PATH may be a version manager's shim (pyenv's adds ~50 ms of shell to every run,
    which the timings would charge to seqlm)."""
    beside = Path(sys.executable).parent / "seqlm"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    exe = shutil.which("seqlm")
    if exe:
        return [exe]
    if (REPO_ROOT / "cli" / "main.py").exists():
        return [sys.executable, "-c", _IN_TREE]
    return None


class SeqlmCodec(Codec):
    """seqlm at its default level, or at ``--level N``."""

    is_anchor = False

    def __init__(self, level: int | None = None) -> None:
        self.level = level
        self.key = "seqlm" if level is None else f"seqlm-l{level}"
        self.label = "seqlm" if level is None else f"seqlm --level {level}"
        # the default -t: every available core (a one-block file codes its streams in parallel)
        self.threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    def _cmd(self) -> list[str]:
        cmd = seqlm_command()
        if cmd is None:
            raise CodecError("seqlm is not installed and cli/main.py is missing")
        return cmd

    def _run(self, *args: str) -> str:
        return run_tool([*self._cmd(), *args], env=child_env(), cwd=REPO_ROOT)

    def why_unavailable(self) -> str:
        return "" if seqlm_command() else "seqlm is not installed and cli/main.py is missing"

    def version(self) -> str:
        cmd = seqlm_command()
        if cmd is None:
            return "unavailable"
        text = tool_version([*cmd, "--version"], env=child_env(), cwd=REPO_ROOT)   # as _run does
        if text.startswith("unknown") or "Usage" in text or "Error" in text:
            try:
                return f"seqlm {importlib.metadata.version('seqlm')}"
            except importlib.metadata.PackageNotFoundError:
                return "seqlm (in-tree, version unknown)"
        return text

    def warm_up(self, inputs: Sequence[Path], scratch: Path) -> None:
        """A round trip of the sample, which compiles the kernels its data needs."""
        scratch.mkdir(parents=True, exist_ok=True)
        self.decompress(self.compress(inputs, scratch), scratch, len(inputs))

    def compress(self, inputs: Sequence[Path], outdir: Path) -> list[Path]:
        out = outdir / "out.seqlm"
        level = [] if self.level is None else ["--level", str(self.level)]
        self._run("compress", *map(str, inputs), "-o", str(out), "-f", *level)
        if not out.exists():
            raise CodecError("seqlm compress exited 0 but wrote no archive")
        return [out]

    def decompress(self, archives: Sequence[Path], outdir: Path, n_outputs: int) -> list[Path]:
        outs = [restored_path(outdir, i) for i in range(n_outputs)]
        dests = [arg for out in outs for arg in ("-o", str(out))]
        self._run("decompress", str(archives[0]), *dests, "-f")
        missing = [p.name for p in outs if not p.exists()]
        if missing:
            raise CodecError(f"seqlm decompress wrote no {', '.join(missing)}")
        return outs

    def streams(self, archives: Sequence[Path]) -> dict[str, int] | None:
        info = json.loads(self._run("info", str(archives[0]), "--json"))
        streams = info.get("streams", {})
        return {name: int(entry["bytes"]) for name, entry in streams.items()
                if isinstance(entry, dict) and "bytes" in entry}
