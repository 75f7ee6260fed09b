"""Benchmark datasets: discovery, R1/R2 pairing, one-time decompression, statistics.

A dataset is one FASTQ file or an R1/R2 pair.  Inputs may be gzip-compressed; they are
decompressed once into the work directory and every codec is measured on the raw FASTQ.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

FASTQ_SUFFIXES = (".fastq.gz", ".fq.gz", ".fastq", ".fq")
_PAIR_RE = re.compile(r"^(?P<stem>.+)_R(?P<mate>[12])$")
_STATS_VERSION = 1


@dataclass(frozen=True)
class DatasetSource:
    """A dataset as found on disk (possibly gzip-compressed, possibly a pair)."""

    name: str
    files: tuple[Path, ...]

    @property
    def paired(self) -> bool:
        return len(self.files) == 2


@dataclass
class FileStats:
    name: str
    raw_bytes: int
    md5: str
    reads: int
    bases: int


@dataclass
class Dataset:
    """A dataset ready for measurement: raw FASTQ files in the work directory."""

    name: str
    sources: list[str]
    files: list[Path]
    stats: list[FileStats] = field(default_factory=list)
    subset: str = ""

    @property
    def paired(self) -> bool:
        return len(self.files) == 2

    @property
    def raw_bytes(self) -> int:
        return sum(s.raw_bytes for s in self.stats)

    @property
    def reads(self) -> int:
        return sum(s.reads for s in self.stats)

    @property
    def bases(self) -> int:
        return sum(s.bases for s in self.stats)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "paired": self.paired,
            "subset": self.subset,
            "sources": self.sources,
            "reads": self.reads,
            "bases": self.bases,
            "raw_bytes": self.raw_bytes,
            "files": [asdict(s) for s in self.stats],
        }


def strip_fastq_suffix(name: str) -> str:
    for suffix in FASTQ_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_fastq(path: Path) -> bool:
    return path.is_file() and path.name.endswith(FASTQ_SUFFIXES)


def group_sources(paths: Iterable[Path]) -> list[DatasetSource]:
    """Group ``*_R1``/``*_R2`` files into pairs; everything else is single-end.

    Order: by dataset name, so runs are reproducible.
    """
    singles: dict[str, Path] = {}
    mates: dict[str, dict[str, Path]] = {}
    for path in paths:
        stem = strip_fastq_suffix(path.name)
        match = _PAIR_RE.match(stem)
        if match:
            mates.setdefault(match["stem"], {})[match["mate"]] = path
        else:
            singles[stem] = path
    out = [DatasetSource(name, (path,)) for name, path in singles.items()]
    for stem, pair in mates.items():
        if set(pair) == {"1", "2"}:
            out.append(DatasetSource(stem, (pair["1"], pair["2"])))
        else:  # a lone mate is measured as a single file
            out.extend(DatasetSource(strip_fastq_suffix(p.name), (p,)) for p in pair.values())
    return sorted(out, key=lambda s: s.name)


def discover(data_dir: Path) -> list[DatasetSource]:
    """Every FASTQ in ``data_dir`` (not recursive), grouped into datasets."""
    return group_sources(p for p in sorted(data_dir.iterdir()) if is_fastq(p))


def open_fastq(path: Path):  # type: ignore[no-untyped-def]
    """``path`` opened for binary reading, through gzip when its bytes say so."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def copy_head(src: Path, dst: Path, max_reads: int | None, max_bytes: int | None = None) -> None:
    """Decompress ``src`` into ``dst``; keep only the first ``max_reads`` 4-line records,
    and no record that starts once ``max_bytes`` are written."""
    tmp = dst.with_name(dst.name + ".part")
    with open_fastq(src) as fin, open(tmp, "wb") as fout:
        if max_reads is None and max_bytes is None:
            shutil.copyfileobj(fin, fout, 1 << 20)
        else:
            for i, line in enumerate(fin):
                if (max_reads is not None and i >= 4 * max_reads) or \
                        (max_bytes is not None and i % 4 == 0 and fout.tell() >= max_bytes):
                    break
                fout.write(line)
    tmp.replace(dst)


def file_stats(path: Path) -> FileStats:
    """md5, size, read count and base count of a raw 4-line FASTQ file."""
    md5 = hashlib.md5()
    reads = bases = 0
    with open(path, "rb") as fh:
        for i, line in enumerate(fh):
            md5.update(line)
            if i % 4 == 1:
                reads += 1
                bases += len(line.rstrip(b"\r\n"))
    return FileStats(path.name, path.stat().st_size, md5.hexdigest(), reads, bases)


def md5_file(path: Path) -> str:
    md5 = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            md5.update(chunk)
    return md5.hexdigest()


def _source_stamp(src: Path, max_reads: int | None) -> dict[str, object]:
    st = src.stat()
    return {"v": _STATS_VERSION, "src": str(src.resolve()), "size": st.st_size,
            "mtime_ns": st.st_mtime_ns, "max_reads": max_reads}


def _prepare_file(src: Path, dst: Path, max_reads: int | None) -> FileStats:
    """Decompress once; reuse the raw file and its stats while the source is unchanged."""
    stamp_path = dst.with_name(dst.name + ".stats.json")
    stamp = _source_stamp(src, max_reads)
    if dst.exists() and stamp_path.exists():
        cached = json.loads(stamp_path.read_text())
        if cached.get("stamp") == stamp and cached["stats"]["raw_bytes"] == dst.stat().st_size:
            return FileStats(**cached["stats"])
    copy_head(src, dst, max_reads)
    stats = file_stats(dst)
    stamp_path.write_text(json.dumps({"stamp": stamp, "stats": asdict(stats)}, indent=1))
    return stats


def prepare(source: DatasetSource, work_dir: Path, max_reads: int | None = None) -> Dataset:
    """Raw FASTQ copies of ``source`` in ``work_dir/raw/<name>/`` plus their statistics."""
    name = source.name if max_reads is None else f"{source.name}-head{max_reads}"
    out_dir = work_dir / "raw" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    stats: list[FileStats] = []
    for src in source.files:
        dst = out_dir / (strip_fastq_suffix(src.name) + ".fastq")
        stats.append(_prepare_file(src, dst, max_reads))
        files.append(dst)
    subset = "" if max_reads is None else f"first {max_reads} reads of each file"
    return Dataset(name, [str(p) for p in source.files], files, stats, subset)


def smallest(sources: Sequence[DatasetSource]) -> DatasetSource:
    """The source with the fewest compressed bytes on disk."""
    return min(sources, key=lambda s: sum(p.stat().st_size for p in s.files))
