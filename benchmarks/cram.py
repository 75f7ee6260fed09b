"""CRAM 3.1 ``archive`` profile through pysam's bundled samtools (ANCHORS.md recipes).

Two codecs:

* ``cram``: plain ``samtools import`` -> ``samtools fastq``.  Loses header comments and
  ``+`` lines that repeat the header, so it is often *not* byte-exact; reported anyway,
  because it is what CRAM costs when headers may change.
* ``cram-lossless``: the header-preserving wrapper of ``cram_wrap`` (the fair lossless
  anchor).

Every samtools call runs in its own child (``benchmarks.samtools_child``) so redirecting
fd 1 to the output file is safe.
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Sequence

from . import cram_wrap
from .codecs import Codec, CodecError, child_env, restored_path, run_tool

CRAM_FORMAT = "cram,version=3.1,archive"


def samtools(*args: str, stdout: Path | None = None) -> str:
    """Run ``pysam.samtools.<args[0]>(*args[1:])`` in a child process."""
    argv = [sys.executable, "-m", "benchmarks.samtools_child", *args]
    return run_tool(argv, stdout=stdout, env=child_env())


@functools.lru_cache(maxsize=1)
def pysam_version() -> str:
    text = samtools("version")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    pysam_v = lines[0] if lines else "pysam ?"
    tools = [ln for ln in lines[1:3] if ln.startswith(("samtools", "Using htslib"))]
    return " / ".join([pysam_v, *[t.replace("Using ", "") for t in tools]])


def parse_cram_size(text: str) -> dict[str, int]:
    """``cram-size`` output -> bytes for names (RN + CO tag), bases (BA), qualities (QS), other.

    ``other`` is everything else in the file (other series, container/format overhead),
    so the four add up to the file size.
    """
    out = {"names": 0, "bases": 0, "qualities": 0}
    total = 0
    for line in text.splitlines():
        fields = line.split()
        if fields[:1] == ["BLOCK"] and len(fields) >= 7 and fields[3].isdigit():
            series = set(fields[6:])
            key = ("names" if series & {"RN", "COZ"} else "bases" if "BA" in series
                   else "qualities" if "QS" in series else None)
            if key:
                out[key] += int(fields[3])
        elif line.startswith("Total file size"):
            total = int(fields[-1])
    if total == 0:
        raise CodecError("could not parse cram-size output")
    out["other"] = total - sum(out.values())
    return out


def _sum_streams(parts: Sequence[dict[str, int]], extra_other: int) -> dict[str, int]:
    total = {key: sum(p.get(key, 0) for p in parts) for key in ("names", "bases", "qualities",
                                                                  "other")}
    total["other"] += extra_other
    return total


class CramBase(Codec):
    """Shared plumbing: availability, version, stream breakdown."""

    threads = 1

    def why_unavailable(self) -> str:
        return "" if importlib.util.find_spec("pysam") else "pysam is not installed"

    def version(self) -> str:
        return pysam_version()

    def streams(self, archives: Sequence[Path]) -> dict[str, int] | None:
        crams = [p for p in archives if p.suffix == ".cram"]
        side = sum(p.stat().st_size for p in archives if p.suffix != ".cram")
        parts = [parse_cram_size(samtools("cram_size", str(p))) for p in crams]
        return _sum_streams(parts, side)

    @staticmethod
    def _import(inputs: Sequence[Path], out: Path, extra: Sequence[str] = ()) -> None:
        if len(inputs) == 1:
            files = ["-0", str(inputs[0])]
        else:
            files = ["-1", str(inputs[0]), "-2", str(inputs[1])]
        samtools("fqimport", *extra, *files, "-O", CRAM_FORMAT, "-o", str(out))

    @staticmethod
    def _fastq_pair(cram: Path, outs: Sequence[Path], flags: Sequence[str], tmp: Path) -> None:
        """``samtools fastq`` of a paired CRAM; fail if any read lands outside R1/R2."""
        other, single = tmp / "other.fastq", tmp / "singletons.fastq"
        samtools("fastq", *flags, "-1", str(outs[0]), "-2", str(outs[1]), "-0", str(other),
                 "-s", str(single), str(cram))
        stray = other.stat().st_size + single.stat().st_size
        if stray:
            raise CodecError(f"samtools fastq put {stray} bytes of reads outside R1/R2")


class CramPlain(CramBase):
    """Plain import; pairs restored with ``-N`` when R1's first name ends in ``/1``."""

    key = "cram"
    label = "CRAM 3.1 archive (pysam) plain import"

    def compress(self, inputs: Sequence[Path], outdir: Path) -> list[Path]:
        cram = outdir / "out.cram"
        self._import(inputs, cram)
        if len(inputs) == 1:
            return [cram]
        with open(inputs[0], "rb") as fh:
            words = fh.readline().split()
        first_word = words[0] if words else b""
        side = outdir / "out.flag"
        side.write_bytes(b"N" if first_word.endswith(b"/1") else b"n")
        return [cram, side]

    def decompress(self, archives: Sequence[Path], outdir: Path, n_outputs: int) -> list[Path]:
        cram = archives[0]
        outs = [restored_path(outdir, i) for i in range(n_outputs)]
        if n_outputs == 1:
            samtools("fastq", str(cram), stdout=outs[0])
            return outs
        flag = "-" + archives[1].read_bytes().decode()
        self._fastq_pair(cram, outs, [flag], outdir)
        return outs


class CramLossless(CramBase):
    """Plain import behind the header-preserving wrapper (byte-exact)."""

    key = "cram-lossless"
    label = "CRAM 3.1 archive (pysam) + header wrapper"

    def __init__(self) -> None:
        self._mode = ""

    def notes(self) -> str:
        return f"wrapper mode: {self._mode}" if self._mode else ""

    def compress(self, inputs: Sequence[Path], outdir: Path) -> list[Path]:
        side = cram_wrap.plan(inputs)
        self._mode = side.mode
        tmp = outdir / "wrap_tmp"
        tmp.mkdir(exist_ok=True)
        crams = self._import_all(inputs, side, tmp, outdir)
        shutil.rmtree(tmp)
        side_path = outdir / "out.side"
        side_path.write_bytes(cram_wrap.encode_side(side))
        return [*crams, side_path]

    def _import_all(self, inputs: Sequence[Path], side: cram_wrap.Side, tmp: Path,
                    outdir: Path) -> list[Path]:
        if side.mode in cram_wrap.PAIR_MODES:
            co = side.mode.startswith("co")
            staged = [tmp / f"in_{i + 1}.fastq" for i in range(2)]
            for src, dst in zip(inputs, staged):
                cram_wrap.write_import_fastq(src, dst, side, single=False, co=co)
            cram = outdir / "out.cram"
            self._import(staged, cram, ["-T", "CO"] if co else [])
            return [cram]
        crams = []
        for i, (src, layout) in enumerate(zip(inputs, side.files)):
            staged_one = tmp / f"in_{i + 1}.fastq"
            cram_wrap.write_import_fastq(src, staged_one, side, single=True, co=layout.single_co)
            cram = outdir / f"out_{i + 1}.cram"
            self._import([staged_one], cram, ["-T", "CO"] if layout.single_co else [])
            crams.append(cram)
        return crams

    def decompress(self, archives: Sequence[Path], outdir: Path, n_outputs: int) -> list[Path]:
        crams = [p for p in archives if p.suffix == ".cram"]
        side_paths = [p for p in archives if p.suffix == ".side"]
        if len(side_paths) != 1:
            raise CodecError("CRAM wrapper archive lacks its side information")
        side = cram_wrap.decode_side(side_paths[0].read_bytes(), n_outputs)
        self._mode = side.mode
        tmp = outdir / "wrap_tmp"
        tmp.mkdir(exist_ok=True)
        outs = [restored_path(outdir, i) for i in range(n_outputs)]
        staged = [tmp / f"out_{i + 1}.fastq" for i in range(n_outputs)]
        if side.mode in cram_wrap.PAIR_MODES:
            self._export_pair(crams[0], side, staged, tmp)
        else:
            self._export_singles(crams, side, staged)
        for i, (src, dst) in enumerate(zip(staged, outs)):
            single = side.mode not in cram_wrap.PAIR_MODES
            co = side.files[i].single_co if single else side.mode.startswith("co")
            cram_wrap.restore_fastq(src, dst, side, side.files[i], single, co)
        shutil.rmtree(tmp)
        return outs

    def _export_pair(self, cram: Path, side: cram_wrap.Side, staged: Sequence[Path],
                     tmp: Path) -> None:
        flags = ["-N" if side.mode.endswith("-N") else "-n"]
        if side.mode.startswith("co"):
            flags += ["-T", "CO"]
        self._fastq_pair(cram, staged, flags, tmp)

    @staticmethod
    def _export_singles(crams: Sequence[Path], side: cram_wrap.Side,
                        staged: Sequence[Path]) -> None:
        if len(crams) != len(staged):
            raise CodecError(f"{len(crams)} CRAM files for {len(staged)} outputs")
        for cram, dst, layout in zip(crams, staged, side.files):
            if layout.single_co:  # `view -O fastq` cannot print tags
                samtools("fastq", "-T", "CO", str(cram), stdout=dst)
            else:  # `fastq` may drop one of two reads with the same name; `view` does not
                samtools("view", "-O", "fastq", str(cram), stdout=dst)
