"""Peak memory of seqlm on inputs many blocks long, summed over all of its processes.

    python -m benchmarks.memory                    # ~300 MB of the largest short-read and long-read datasets
    python -m benchmarks.memory --mb 50 ont-r9     # name filters as in ``python -m benchmarks``

Issue #4 asks for peak memory under 2 GB "for any input size". The main benchmark cannot
show that: its files are at most one block long, and its RSS column is the largest peak of
any *one* process, while seqlm forks children (qualities beside bases, mates, parts). Here
one real dataset is repeated end to end into an input of ``--mb`` megabytes, and seqlm
compresses and decompresses it at its defaults (one block at a time) and with ``-t 2`` (two
blocks at once). Every 50 ms the proportional set size (PSS: a page shared by k processes
counts 1/k in each) of every process in seqlm's session is summed: the peak of that sum is
the memory the call took from the machine. The summed RSS, which counts a page shared with a
forked child once per process, is printed beside it. Each round trip is checked byte for byte.

Writes ``benchmarks/results/memory.json`` and ``memory.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import filecmp
import itertools
import json
import os
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from .codecs import child_env
from .datasets import DatasetSource, discover, open_fastq
from .machine import git_revision
from .run import DEFAULT_DATA_DIR, DEFAULT_OUT, DEFAULT_WORK, MB
from .seqlm_codec import seqlm_command

SAMPLE_S = 0.05
LONG_READ_MEAN = 1000    # mean read length above which a dataset counts as long-read
PROBE_READS = 1000       # reads read to find a dataset's mean length
DEFAULT_OPTION_SETS = ("", "-t 2")   # seqlm's defaults (one block at a time), and two blocks at once


@dataclass
class Peak:
    """One command's wall time, and the peaks of its session's summed memory (MiB) and of its
    process count, each the largest over the samples on its own."""

    wall_s: float
    pss_mib: float
    rss_sum_mib: float
    processes: int
    returncode: int


def _rollup_kib(pid: str) -> tuple[int, int]:
    """(PSS, RSS) of one process in KiB; PSS falls back to RSS where smaps_rollup is missing."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
        return pss, rss
    except FileNotFoundError:
        with open(f"/proc/{pid}/status") as fh:
            rss = next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
        return rss, rss


def session_memory_kib(sid: int) -> tuple[int, int, int]:
    """(summed PSS KiB, summed RSS KiB, process count) of every process in session ``sid``."""
    pss = rss = n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getsid(int(pid)) != sid:
                continue
            p, r = _rollup_kib(pid)
        except (OSError, ValueError):   # the process ended between listing and reading
            continue
        pss, rss, n = pss + p, rss + r, n + 1
    return pss, rss, n


def peak_memory(cmd: Sequence[str], log: Path) -> Peak:
    """Run ``cmd`` in a session of its own (stderr to ``log``) and sample its memory until it ends."""
    best = [0, 0, 0]
    start = time.perf_counter()
    with open(log, "wb") as err:
        proc = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True, env=child_env())
        while proc.poll() is None:
            best = [max(b, now) for b, now in zip(best, session_memory_kib(proc.pid))]
            time.sleep(SAMPLE_S)
    wall = time.perf_counter() - start
    return Peak(round(wall, 2), round(best[0] / 1024, 1), round(best[1] / 1024, 1), best[2], proc.returncode)


def mean_read_length(path: Path) -> float:
    """Mean sequence length over a file's first PROBE_READS records."""
    with open_fastq(path) as fh:
        lines = list(itertools.islice(fh, 4 * PROBE_READS))
    lengths = [len(s.rstrip(b"\r\n")) for s in lines[1::4]]
    return sum(lengths) / max(len(lengths), 1)


def default_sources(found: Sequence[DatasetSource]) -> list[DatasetSource]:
    """The largest short-read and the largest long-read dataset (by size on disk)."""
    picks = []
    for is_long in (False, True):
        kind = [s for s in found if (mean_read_length(s.files[0]) > LONG_READ_MEAN) == is_long]
        if kind:
            picks.append(max(kind, key=lambda s: sum(f.stat().st_size for f in s.files)))
    return picks


def repeated_input(source: DatasetSource, work: Path, target_bytes: int) -> list[Path]:
    """The dataset's files, each repeated end to end the same number of times, so that together
    they hold at least ``target_bytes`` (pairs stay pairs: mate i of copy k matches)."""
    plain = []
    for f in source.files:
        with open_fastq(f) as fh:
            plain.append(fh.read())
    copies = max(1, -(-target_bytes // sum(map(len, plain))))
    out = []
    for i, data in enumerate(plain):
        big = work / (f"big_R{i + 1}.fastq" if len(plain) == 2 else "big.fastq")
        with open(big, "wb") as fh:
            for _ in range(copies):
                fh.write(data)
        out.append(big)
    return out


def round_trip(seqlm: Sequence[str], inputs: Sequence[Path], options: Sequence[str], work: Path) -> dict:
    """Compress and decompress ``inputs`` with ``options``; one result row (both operations)."""
    archive = work / "big.seqlm"
    restored = [p.with_suffix(".restored") for p in inputs]
    comp = peak_memory([*seqlm, "compress", *map(str, inputs), "-o", str(archive), "-f", *options],
                       work / "compress.log")
    outs = [a for r in restored for a in ("-o", str(r))]
    decomp = peak_memory([*seqlm, "decompress", str(archive), *outs, "-f", *options], work / "decompress.log")
    exact = comp.returncode == 0 and decomp.returncode == 0 and all(
        filecmp.cmp(a, b, shallow=False) for a, b in zip(inputs, restored))
    row = {"options": list(options), "archive_bytes": archive.stat().st_size if archive.exists() else None,
           "compress": asdict(comp), "decompress": asdict(decomp), "byte_exact": exact}
    for p in [*restored, archive]:
        p.unlink(missing_ok=True)
    return row


def measure_dataset(source: DatasetSource, work: Path, target_bytes: int,
                    option_sets: Sequence[Sequence[str]]) -> list[dict]:
    """The repeated input, built once, round-tripped with each set of seqlm options."""
    seqlm = seqlm_command()
    if seqlm is None:
        raise SystemExit("seqlm is not installed and cli/main.py is missing")
    inputs = repeated_input(source, work, target_bytes)
    raw = sum(p.stat().st_size for p in inputs)
    rows = [{"dataset": source.name, "raw_bytes": raw, **round_trip(seqlm, inputs, options, work)}
            for options in option_sets]
    for p in inputs:
        p.unlink()
    return rows


def table_rows(row: dict) -> list[str]:
    """The compress and decompress lines of one dataset's row."""
    out = []
    for op in ("compress", "decompress"):
        m = row[op]
        mb = row["raw_bytes"] / MB
        out.append(f"| {row['dataset']} | {' '.join(row['options']) or 'defaults'} | {mb:.0f} | {op} | "
                   f"{m['wall_s']:.1f} | {mb / m['wall_s']:.2f} | {m['pss_mib']:.0f} | {m['rss_sum_mib']:.0f} | "
                   f"{m['processes']} | {'yes' if row['byte_exact'] else 'NO'} |")
    return out


def render(results: dict) -> str:
    """Markdown: what was measured and how, then the table."""
    lines = ["# seqlm peak memory on large inputs", "",
             f"Generated {results['generated']} by `python -m benchmarks.memory` (repo {results['git']}; "
             f"{results['target_mb']:.0f} MB per dataset, memory sampled every {SAMPLE_S * 1000:.0f} ms).", "",
             "Each input is one dataset repeated end to end. Peak PSS = the peak of the proportional set size "
             "summed over every process of the seqlm call (a shared page counts 1/k in each of its k "
             "sharers): the memory the call took from the machine. Peak RSS sum: the same for the resident set "
             "size, which counts a page shared with a forked child once per process; processes: the most "
             "at once. MB = 10^6 B, MiB = 2^20 B.", "",
             "| dataset | options | input MB | op | wall s | MB/s | peak PSS MiB | peak RSS sum MiB | processes "
             "| byte-exact |",
             "|---|---|--:|---|--:|--:|--:|--:|--:|:-:|"]
    for row in results["rows"]:
        lines += table_rows(row)
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n\n")[0])
    p.add_argument("datasets", nargs="*", help="name filters matched against --data-dir; default: the "
                   "largest short-read and the largest long-read dataset")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--mb", type=float, default=300.0, help="input size per dataset in MB (default 300)")
    p.add_argument("--seqlm-args", action="append", default=None,
                   help="seqlm options for both calls, e.g. '-t 2'; repeat for several sets, each run on the "
                   "same input ('' names the defaults; default: '' and '-t 2')")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    found = discover(args.data_dir)
    sources = [s for s in found if any(f in s.name for f in args.datasets)] if args.datasets \
        else default_sources(found)
    if not sources:
        raise SystemExit("no FASTQ datasets selected")
    option_sets = [o.split() for o in (args.seqlm_args or DEFAULT_OPTION_SETS)]
    DEFAULT_WORK.mkdir(parents=True, exist_ok=True)
    rows = []
    for source in sources:
        with tempfile.TemporaryDirectory(dir=DEFAULT_WORK) as tmp:
            new = measure_dataset(source, Path(tmp), int(args.mb * MB), option_sets)
        rows += new
        print("\n".join(line for row in new for line in table_rows(row)), flush=True)
    results = {"generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               "git": git_revision(), "target_mb": args.mb, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "memory.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "memory.md").write_text(render(results))
    print(f"wrote {args.out / 'memory.md'}")
    return 0 if all(r["byte_exact"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
