"""The benchmark ``Codec`` ABC (CompressAI-bench style) and the general-purpose CLI codecs.

Each codec turns a dataset's raw FASTQ file(s) into archive file(s) and back.  The size of a
codec's result is the sum of the sizes of every archive file it returns, so side
information a wrapper needs is counted by writing it to one of those files.

Codecs do their heavy work in child processes (``run_tool``); the runner measures every
compress/decompress call in a fresh worker process, so the children's peak RSS is
attributable to exactly one call.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Sequence

STREAM_KEYS = ("names", "bases", "qualities", "other")
GNU_TIME = "/usr/bin/time"
REPO_ROOT = Path(__file__).resolve().parent.parent
_peak_rss_kb = 0


class CodecError(RuntimeError):
    """A codec could not compress or decompress a dataset (the row is marked failed)."""


class Codec(ABC):
    """One compressor configuration measured by the benchmark.

    Subclasses set ``key`` (the id used by ``--codecs`` and in results.json), ``label``
    (shown in tables) and ``threads``.  ``is_anchor`` is False only for seqlm itself.
    """

    key: str = ""
    label: str = ""
    threads: int = 1
    is_anchor: bool = True

    def available(self) -> bool:
        """True when the codec can run on this machine."""
        return not self.why_unavailable()

    def why_unavailable(self) -> str:
        """Empty when available, else a one-line reason (shown in the report)."""
        return ""

    def warm_up(self, inputs: Sequence[Path], scratch: Path) -> None:
        """One-time set-up on a small sample before any timed run (default: none).

        seqlm compiles its numba kernels on first use after an install (cached on disk
        afterwards), and which kernels a file needs depends on its data; that cost belongs
        to the install, not to whichever dataset happens to need a kernel first."""

    def has_warm_up(self) -> bool:
        return type(self).warm_up is not Codec.warm_up

    @abstractmethod
    def version(self) -> str:
        """Version string of the tool or library that does the work."""

    @abstractmethod
    def compress(self, inputs: Sequence[Path], outdir: Path) -> list[Path]:
        """Compress raw FASTQ ``inputs`` (1 file, or R1 and R2) into archive files in ``outdir``."""

    @abstractmethod
    def decompress(self, archives: Sequence[Path], outdir: Path, n_outputs: int) -> list[Path]:
        """Restore ``n_outputs`` FASTQ files (in input order) from ``archives`` into ``outdir``."""

    def streams(self, archives: Sequence[Path]) -> dict[str, int] | None:
        """Bytes per stream (``STREAM_KEYS``, extra keys allowed) or None when not reported."""
        return None

    def notes(self) -> str:
        """Free-text remark carried into the report (e.g. a fallback mode that was used)."""
        return ""


BYTECODE_CACHE = REPO_ROOT / "benchmarks" / "work" / "pycache"


def child_env() -> dict[str, str]:
    """Environment for Python children: this checkout first on PYTHONPATH, and compiled
    bytecode cached (in BYTECODE_CACHE, outside the source tree).

    An installed Python package runs from cached bytecode (pip compiles it at install; an
    editable install writes it on first import). A shell with PYTHONDONTWRITEBYTECODE set,
    as some sandboxes and CI images have, would instead make every timed call compile the
    checkout's modules again: ~0.1 s of every seqlm call (5 % of one on a 2 MB file). The
    warm-up runs fill the cache, as they fill numba's."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(BYTECODE_CACHE))
    return env


def restored_path(outdir: Path, index: int) -> Path:
    """Canonical name of the ``index``-th restored file (0-based)."""
    return outdir / f"restored_{index + 1}.fastq"


def _tail(data: bytes | str | None, limit: int = 400) -> str:
    if not data:
        return ""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join(text.strip().splitlines()[-4:])
    return text[-limit:]


def peak_rss_kb() -> int:
    """Largest max-RSS (KiB) of any tool process ``run_tool`` ran in this process so far.

    Measured by GNU time around each tool: a child forked from Python inherits the
    parent's resident pages until ``exec``, so ``RUSAGE_CHILDREN`` alone would report at
    least the Python worker's own RSS even for gzip.  0 when GNU time is missing.
    """
    return _peak_rss_kb


def _record_rss(path: Path) -> None:
    global _peak_rss_kb
    try:
        text = path.read_text().strip().splitlines()
        _peak_rss_kb = max(_peak_rss_kb, int(text[-1]))
    except (OSError, ValueError, IndexError):
        pass


def run_tool(argv: Sequence[str], stdin: Path | None = None, stdout: Path | None = None,
             env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run one child process; raise ``CodecError`` with its stderr tail on failure.

    ``stdin``/``stdout`` redirect from/to files.  Returns captured stdout when ``stdout``
    is None.  The child's peak RSS is recorded for ``peak_rss_kb``.
    """
    fin: IO[bytes] | int = subprocess.DEVNULL
    fout: IO[bytes] | int = subprocess.PIPE
    rss_fd, rss_name = tempfile.mkstemp(prefix="bench-rss-")
    os.close(rss_fd)
    prefix = [GNU_TIME, "-q", "-f", "%M", "-o", rss_name] if os.access(GNU_TIME, os.X_OK) else []
    try:
        if stdin is not None:
            fin = open(stdin, "rb")
        if stdout is not None:
            fout = open(stdout, "wb")
        proc = subprocess.run([*prefix, *argv], stdin=fin, stdout=fout, stderr=subprocess.PIPE,
                              env=env, cwd=cwd, check=False)
    except OSError as exc:
        raise CodecError(f"{argv[0]}: {exc}") from exc
    finally:
        for fh in (fin, fout):
            if not isinstance(fh, int):
                fh.close()
        _record_rss(Path(rss_name))
        os.unlink(rss_name)
    if proc.returncode != 0:
        raise CodecError(f"{Path(argv[0]).name} exited {proc.returncode}: {_tail(proc.stderr)}")
    return "" if stdout is not None else proc.stdout.decode("utf-8", "replace")


def tool_version(argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """First non-empty line a tool prints for its version flag (stdout or stderr); ``env``
    and ``cwd`` as the tool's timed runs get them."""
    try:
        proc = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=30, check=False, env=env, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    for line in (proc.stdout + proc.stderr).decode("utf-8", "replace").splitlines():
        line = line.strip(" *")
        if line:
            return line
    return "unknown"


class CliCodec(Codec):
    """A general-purpose compressor run as ``tool ARGS -c FILE > FILE.ext`` on each file.

    Files of a pair are compressed separately; sizes and times are summed.
    """

    def __init__(self, key: str, tool: str, compress_args: Sequence[str],
                 decompress_args: Sequence[str], ext: str, version_args: Sequence[str]) -> None:
        self.key = key
        self.tool = tool
        self.label = " ".join([tool, *(a for a in compress_args if a != "-q")])
        self.compress_args = list(compress_args)
        self.decompress_args = list(decompress_args)
        self.ext = ext
        self.version_args = list(version_args)

    def _exe(self) -> str:
        exe = shutil.which(self.tool)
        if exe is None:
            raise CodecError(f"{self.tool} not found on PATH")
        return exe

    def why_unavailable(self) -> str:
        return "" if shutil.which(self.tool) else f"{self.tool} not found on PATH"

    def version(self) -> str:
        return tool_version([self._exe(), *self.version_args])

    def compress(self, inputs: Sequence[Path], outdir: Path) -> list[Path]:
        exe = self._exe()
        archives = []
        for src in inputs:
            dst = outdir / (src.name + self.ext)
            run_tool([exe, *self.compress_args, "-c", str(src)], stdout=dst)
            archives.append(dst)
        return archives

    def decompress(self, archives: Sequence[Path], outdir: Path, n_outputs: int) -> list[Path]:
        if len(archives) != n_outputs:
            raise CodecError(f"{self.key}: {len(archives)} archives for {n_outputs} outputs")
        exe = self._exe()
        restored = []
        for i, src in enumerate(archives):
            dst = restored_path(outdir, i)
            run_tool([exe, *self.decompress_args, "-c", str(src)], stdout=dst)
            restored.append(dst)
        return restored


def general_purpose_codecs() -> list[Codec]:
    """gzip -9, bzip2 -9, xz -9 -T1, zstd -19 --long=27 -T1 (the flags of ANCHORS.md)."""
    return [
        CliCodec("gzip", "gzip", ["-9"], ["-d"], ".gz", ["--version"]),
        CliCodec("bzip2", "bzip2", ["-9"], ["-d"], ".bz2", ["--version"]),
        CliCodec("xz", "xz", ["-9", "-T1"], ["-d", "-T1"], ".xz", ["--version"]),
        CliCodec("zstd", "zstd", ["-19", "--long=27", "-T1", "-q"], ["-d", "--long=27", "-q"],
                 ".zst", ["--version"]),
    ]
