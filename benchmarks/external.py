"""Specialised FASTQ compressors measured only when found on PATH (Spring, fqzcomp 4.6).

Flags follow ANCHORS.md.  Neither is installable from a package registry; they are
skipped with a note when absent.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path
from typing import Sequence

from .codecs import Codec, CodecError, restored_path, run_tool, tool_version

SPRING_SHORT_MAX = 511  # Spring's short-read mode limit (bp)


def _max_read_length(paths: Sequence[Path]) -> int:
    longest = 0
    for path in paths:
        with open(path, "rb") as fh:
            for i, line in enumerate(fh):
                if i % 4 == 1:
                    longest = max(longest, len(line.rstrip(b"\r\n")))
    return longest


class SpringCodec(Codec):
    """Spring lossless (PE mode for pairs; ``-l`` long mode when reads exceed 511 bp)."""

    key = "spring"
    label = "Spring (lossless)"
    threads = 2

    def why_unavailable(self) -> str:
        return "" if shutil.which("spring") else "spring not found on PATH"

    def version(self) -> str:
        return tool_version(["spring", "--version"])

    def compress(self, inputs: Sequence[Path], outdir: Path) -> list[Path]:
        out, tmp = outdir / "out.spring", outdir / "spring_tmp"
        tmp.mkdir(exist_ok=True)
        long_mode = ["-l"] if _max_read_length(inputs) > SPRING_SHORT_MAX else []
        run_tool(["spring", "-c", "-i", *map(str, inputs), "-o", str(out), "-t",
                  str(self.threads), "-w", str(tmp), *long_mode])
        shutil.rmtree(tmp, ignore_errors=True)
        return [out]

    def decompress(self, archives: Sequence[Path], outdir: Path, n_outputs: int) -> list[Path]:
        outs = [restored_path(outdir, i) for i in range(n_outputs)]
        tmp = outdir / "spring_tmp"
        tmp.mkdir(exist_ok=True)
        run_tool(["spring", "-d", "-i", str(archives[0]), "-o", *map(str, outs), "-t",
                  str(self.threads), "-w", str(tmp)])
        shutil.rmtree(tmp, ignore_errors=True)
        return outs

    def streams(self, archives: Sequence[Path]) -> dict[str, int] | None:
        """Archive members ``id*`` / ``read*`` / ``quality*`` (ANCHORS.md)."""
        out = {"names": 0, "bases": 0, "qualities": 0}
        try:
            with tarfile.open(archives[0]) as tar:
                for member in tar.getmembers():
                    base = Path(member.name).name
                    key = ("names" if base.startswith("id") else "bases" if
                           base.startswith("read") else "qualities" if
                           base.startswith("quality") else None)
                    if key:
                        out[key] += member.size
        except tarfile.TarError:
            return None
        out["other"] = archives[0].stat().st_size - sum(out.values())
        return out


class FqzcompCodec(Codec):
    """fqzcomp 4.6 ``-s5+ -q3 -e`` per file (not lossless on N qualities, by design)."""

    key = "fqzcomp"
    label = "fqzcomp -s5+ -q3 -e"
    threads = 2

    def why_unavailable(self) -> str:
        return "" if shutil.which("fqzcomp") else "fqzcomp not found on PATH"

    def version(self) -> str:
        return tool_version(["fqzcomp", "-h"])

    def compress(self, inputs: Sequence[Path], outdir: Path) -> list[Path]:
        outs = []
        for src in inputs:
            dst = outdir / (src.name + ".fqz")
            run_tool(["fqzcomp", "-s5+", "-q3", "-e", str(src), str(dst)])
            outs.append(dst)
        return outs

    def decompress(self, archives: Sequence[Path], outdir: Path, n_outputs: int) -> list[Path]:
        if len(archives) != n_outputs:
            raise CodecError(f"fqzcomp: {len(archives)} archives for {n_outputs} outputs")
        outs = [restored_path(outdir, i) for i in range(n_outputs)]
        for src, dst in zip(archives, outs):
            run_tool(["fqzcomp", "-d", str(src), str(dst)])
        return outs
