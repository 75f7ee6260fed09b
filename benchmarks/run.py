"""``python -m benchmarks``: every codec on every dataset, in one run.

Dataset-major; inside a dataset the codec order is rotated per dataset and per repeat,
so slow drift of the (shared) machine hits every codec alike.  Each compress/decompress
call runs in a fresh worker process (see ``measure``).  Results go to ``results.json``
(every figure), ``results.md`` (``report``) and ``plots/*.png`` (``plots``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from . import machine
from .codecs import Codec, CodecError
from .datasets import Dataset, DatasetSource, copy_head, discover, group_sources, is_fastq, prepare
from .measure import run_step, verify
from .registry import ANCHOR_KEYS, OPTIONAL_KEYS, QUICK_KEYS, default_keys, make_codec
from .schedule import Budget, plan_repeats, rotate

SCHEMA_VERSION = 1
BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = BENCH_DIR / "results"
DEFAULT_WORK = BENCH_DIR / "work"
QUICK_DATASET = "illumina-gaiix-q40-ERR127302"
QUICK_READS = 1000
MB = 1e6
WARM_UP_READS, WARM_UP_BYTES = 2000, 2 * 10**6  # per file of each dataset, before any timing
STARTUP_RUNS = 5   # one-record round trips timed per codec with a warm-up (its fixed start-up)

Row = dict[str, Any]


def log(message: str) -> None:
    """Progress for the person at the terminal (the CLI runner is the only printer)."""
    print(message, file=sys.stderr, flush=True)


# --- command line -------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datasets", nargs="*",
                   help="FASTQ files (.fastq[.gz]; *_R1/*_R2 are paired) or name filters "
                        "matched against --data-dir; default: every FASTQ in --data-dir")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                   help="where datasets are found (default: ../shared/data from the repo root)")
    p.add_argument("--codecs", help="comma-separated codec ids (default: all available): "
                   "seqlm, seqlm-lN, " + ", ".join(ANCHOR_KEYS + OPTIONAL_KEYS))
    p.add_argument("--seqlm-levels", help="comma-separated seqlm levels, e.g. 1,5,9 "
                   "(default: seqlm's default level only)")
    p.add_argument("--runs", type=int, help="runs per (codec, dataset); overrides the rule below")
    p.add_argument("--repeat-below-mb", type=float, default=20.0,
                   help="repeat (3 runs, median) only datasets smaller than this (default 20)")
    p.add_argument("--repeat-max-s", type=float, default=15.0,
                   help="...and only anchors whose first compress+decompress took at most this "
                        "many seconds (default 15; seqlm repeats whatever its speed)")
    p.add_argument("--budget-min", type=float, default=25.0,
                   help="drop the anchors' repeats when the projected total would exceed this many "
                        "minutes (default 25; first runs and seqlm's repeats are never dropped)")
    p.add_argument("--max-reads", type=int, help="use only the first N reads of each file")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: first {QUICK_READS} reads of one pair, fast codecs, one run, "
                        "output to a temporary directory")
    p.add_argument("--out", type=Path, help=f"output directory (default {DEFAULT_OUT})")
    p.add_argument("--work-dir", type=Path, help=f"scratch directory (default {DEFAULT_WORK})")
    p.add_argument("--timeout", type=float, default=1800.0,
                   help="seconds allowed per compress or decompress call (default 1800)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--keep-archives", action="store_true", help="keep archives in the work dir")
    p.add_argument("--list", action="store_true", help="list datasets and codecs, then exit")
    return p.parse_args(argv)


def _int_list(text: str | None) -> list[int] | None:
    return [int(x) for x in text.split(",") if x.strip()] if text else None


def select_keys(args: argparse.Namespace) -> list[str]:
    levels = _int_list(args.seqlm_levels)
    if args.codecs:
        keys = [k.strip() for k in args.codecs.split(",") if k.strip()]
        if levels and "seqlm" in keys:
            keys[keys.index("seqlm"):keys.index("seqlm") + 1] = [f"seqlm-l{n}" for n in levels]
        return keys
    if args.quick:
        return list(QUICK_KEYS)
    return default_keys(levels)


def build_codecs(keys: Sequence[str]) -> tuple[list[Codec], list[dict[str, str]]]:
    """Codecs to measure and the optional ones skipped (absent from PATH) with a note."""
    codecs, skipped = [], []
    for key in keys:
        codec = make_codec(key)
        reason = codec.why_unavailable()
        if reason and key in OPTIONAL_KEYS:
            skipped.append({"codec": key, "reason": reason})
        else:
            codecs.append(codec)
    return codecs, skipped


def select_sources(args: argparse.Namespace) -> list[DatasetSource]:
    paths = [Path(d) for d in args.datasets if Path(d).exists()]
    filters = [d for d in args.datasets if not Path(d).exists()]
    files = [f for p in paths for f in (sorted(p.iterdir()) if p.is_dir() else [p])]
    sources = group_sources(f for f in files if is_fastq(f))
    if filters or not paths:
        if not args.data_dir.is_dir():
            raise SystemExit(f"data directory not found: {args.data_dir}")
        found = discover(args.data_dir)
        if filters:
            found = [s for s in found if any(f in s.name for f in filters)]
        elif args.quick:
            found = [s for s in found if s.name == QUICK_DATASET] or found[:1]
        sources += found
    if not sources:
        raise SystemExit("no FASTQ datasets selected")
    return sources


# --- one (codec, dataset) ------------------------------------------------------------------

def new_row(codec: Codec) -> Row:
    return {"codec": codec.key, "label": codec.label, "is_anchor": codec.is_anchor,
            "threads": codec.threads, "status": "pending", "error": "", "notes": "",
            "compressed_bytes_runs": [], "comp_s_runs": [], "decomp_s_runs": [], "comp_rss_kb_runs": [],
            "decomp_rss_kb_runs": [], "byte_exact": None, "runs": 0}


def _note(row: Row, text: str) -> None:
    if text not in row["notes"]:
        row["notes"] = (row["notes"] + "; " if row["notes"] else "") + text


def _fail(row: Row, stage: str, error: str) -> bool:
    """Record a failed call; returns False for ``measure_once``."""
    if row["runs"]:  # a failed repeat keeps the figures of the runs that worked
        _note(row, f"run {row['runs'] + 1} failed in {stage}: {error}")
    else:
        row["status"] = "failed"
        row["error"] = f"{stage}: {error}"
    return False


def measure_once(codec: Codec, dataset: Dataset, run_dir: Path, timeout: float, row: Row,
                 first: bool) -> bool:
    """One compress -> decompress -> md5 round trip; figures appended to ``row``."""
    n = len(dataset.files)
    comp = run_step(codec.key, "compress", dataset.files, run_dir / "archive", n, timeout)
    if not comp.ok:
        return _fail(row, "compress", comp.error)
    dec = run_step(codec.key, "decompress", comp.paths, run_dir / "restored", n, timeout)
    if not dec.ok:
        return _fail(row, "decompress", dec.error)
    exact, md5s, diff = verify(dataset.files, [s.md5 for s in dataset.stats], dec.paths)
    sizes = {p.name: p.stat().st_size for p in comp.paths}
    if first:
        row.update(archive_files=sizes, compressed_bytes=sum(sizes.values()),
                   restored_md5=md5s, first_difference=diff, byte_exact=exact,
                   notes="; ".join(dict.fromkeys(x for x in (comp.notes, dec.notes) if x)))
        row["streams_reported"] = _streams(codec, comp.paths, row)
    elif sum(sizes.values()) != row["compressed_bytes"]:
        _note(row, "size varies between runs (see compressed_bytes_runs)")
    row["compressed_bytes_runs"].append(sum(sizes.values()))
    row["byte_exact"] = bool(row["byte_exact"]) and exact
    row["comp_s_runs"].append(comp.wall_s)
    row["decomp_s_runs"].append(dec.wall_s)
    row["comp_rss_kb_runs"].append(comp.peak_rss_kb)
    row["decomp_rss_kb_runs"].append(dec.peak_rss_kb)
    row["runs"] += 1
    row["status"] = "ok"
    return True


def _streams(codec: Codec, archives: Sequence[Path], row: Row) -> dict[str, int] | None:
    try:
        return codec.streams(archives)
    except Exception as exc:  # noqa: BLE001 - a missing breakdown must not lose the row
        _note(row, f"streams: {exc}")
        return None


def finish_row(row: Row, dataset: Dataset) -> Row:
    """Derived figures: medians, ratios, MB/s, bits per base, stream breakdown."""
    if row["status"] != "ok":
        return row
    size, raw, bases = row["compressed_bytes"], dataset.raw_bytes, dataset.bases
    comp_s, dec_s = statistics.median(row["comp_s_runs"]), statistics.median(row["decomp_s_runs"])
    row.update(
        ratio=raw / size if size else None,
        bits_per_base=8 * size / bases if bases else None,
        comp_s=comp_s, decomp_s=dec_s,
        comp_mb_s=raw / MB / comp_s if comp_s > 0 else None,
        decomp_mb_s=raw / MB / dec_s if dec_s > 0 else None,
        comp_peak_rss_mb=max(row["comp_rss_kb_runs"]) / 1024,
        decomp_peak_rss_mb=max(row["decomp_rss_kb_runs"]) / 1024,
    )
    row["streams"] = normalise_streams(row.get("streams_reported"), size)
    if row["streams"]:
        s = row["streams"]
        row["names_bytes_per_read"] = s["names"] / dataset.reads if dataset.reads else None
        row["bases_bits_per_base"] = 8 * s["bases"] / bases if bases else None
        row["quals_bits_per_qual"] = 8 * s["qualities"] / bases if bases else None
    return row


def normalise_streams(reported: dict[str, int] | None, total: int) -> dict[str, int] | None:
    """names / bases / qualities as reported; ``other`` = everything else in the archive."""
    if not reported or not {"names", "bases", "qualities"} <= set(reported):
        return None
    core = {k: int(reported[k]) for k in ("names", "bases", "qualities")}
    return {**core, "other": total - sum(core.values())}


# --- the whole run --------------------------------------------------------------------------

def repeat_plan(args: argparse.Namespace, dataset: Dataset, rows: dict[str, Row],
                cost: dict[str, float], budget: Budget) -> dict[str, int]:
    """Extra runs per codec: ``--runs N`` forces N-1; else up to 2 within the rules (the
    subject, seqlm, is exempt from ``--repeat-max-s`` and from the budget)."""
    ok = [k for k, r in rows.items() if r["status"] == "ok"]
    if args.runs:
        return {k: args.runs - 1 for k in ok}
    if dataset.raw_bytes >= args.repeat_below_mb * MB:
        return {}
    subjects = [k for k in ok if not rows[k]["is_anchor"]]
    fast = [k for k in ok if k in subjects
            or rows[k]["comp_s_runs"][0] + rows[k]["decomp_s_runs"][0] <= args.repeat_max_s]
    plan = plan_repeats(cost, fast, 2, budget, subjects)
    for key in set(fast) - set(plan):
        _note(rows[key], "1 run only (time budget)")
    return plan


def bench_dataset(index: int, dataset: Dataset, codecs: Sequence[Codec],
                  args: argparse.Namespace, work: Path, budget: Budget) -> list[Row]:
    rows = {c.key: new_row(c) for c in codecs}
    for codec in codecs:
        reason = codec.why_unavailable()
        if reason:
            rows[codec.key].update(status="unavailable", error=reason)
    cost: dict[str, float] = {}
    for codec in rotate(codecs, index):
        if rows[codec.key]["status"] == "pending":
            start = time.perf_counter()
            measure_and_log(codec, dataset, work, 0, args, rows[codec.key])
            cost[codec.key] = time.perf_counter() - start
    budget.add_first_runs(sum(cost.values()), dataset.raw_bytes / MB)
    extra = repeat_plan(args, dataset, rows, cost, budget)
    for run in range(1, max(extra.values(), default=0) + 1):
        for codec in rotate(codecs, index + run):
            if extra.get(codec.key, 0) >= run:
                measure_and_log(codec, dataset, work, run, args, rows[codec.key])
    return [finish_row(rows[c.key], dataset) for c in codecs]


def measure_and_log(codec: Codec, dataset: Dataset, work: Path, run: int,
                    args: argparse.Namespace, row: Row) -> None:
    run_dir = work / "runs" / dataset.name / codec.key / f"run{run + 1}"
    shutil.rmtree(run_dir, ignore_errors=True)
    ok = measure_once(codec, dataset, run_dir, args.timeout, row, first=(run == 0))
    if not args.keep_archives:
        shutil.rmtree(run_dir, ignore_errors=True)
    if not ok:
        error = row["error"] or row["notes"].rsplit("; ", 1)[-1]
        log(f"    {codec.label:<44} run {run + 1} FAILED {error[:160]}")
        return
    exact = "exact" if row["byte_exact"] else "NOT EXACT"
    size = row["compressed_bytes_runs"][-1]
    bpb = 8 * size / dataset.bases if dataset.bases else 0
    log(f"    {codec.label:<44} run {run + 1}: {size:>10,d} B "
        f"{bpb:6.3f} bits/base  comp {row['comp_s_runs'][-1]:7.2f} s  "
        f"decomp {row['decomp_s_runs'][-1]:7.2f} s  {exact}")


def codec_table(codecs: Sequence[Codec]) -> list[dict[str, Any]]:
    out = []
    for codec in codecs:
        reason = codec.why_unavailable()
        out.append({"codec": codec.key, "label": codec.label, "threads": codec.threads,
                    "is_anchor": codec.is_anchor, "available": not reason, "reason": reason,
                    "version": codec.version() if not reason else "unavailable"})
    return out


def write_outputs(results: dict[str, Any], out: Path, plots: bool) -> None:
    from . import report

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "results.json.part"
    tmp.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    tmp.replace(out / "results.json")
    (out / "results.md").write_text(report.render(results))
    if plots:
        from . import plots as plotting

        plotting.plot_all(results, out / "plots")


def resolve_dirs(args: argparse.Namespace) -> tuple[Path, Path]:
    if args.quick:
        out = args.out or Path(tempfile.mkdtemp(prefix="seqlm-bench-quick-"))
        if out.resolve() == DEFAULT_OUT.resolve():
            raise SystemExit("--quick never writes into benchmarks/results/; pick another --out")
        return out, args.work_dir or out / "work"
    return args.out or DEFAULT_OUT, args.work_dir or DEFAULT_WORK


def prepare_all(sources: Sequence[DatasetSource], work: Path,
                max_reads: int | None) -> list[Dataset]:
    """Decompress every input once (cached in the work dir across invocations)."""
    log(f"preparing {len(sources)} dataset(s) in {work} ...")
    return [prepare(source, work, max_reads) for source in sources]


def new_results(args: argparse.Namespace, argv: Sequence[str] | None,
                codecs: Sequence[Codec], skipped: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "command": ["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)],
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine.describe(), "codecs": codec_table(codecs), "skipped": skipped,
        "datasets": [],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.runs = args.runs or 1
        args.max_reads = args.max_reads or QUICK_READS
    codecs, skipped = build_codecs(select_keys(args))
    sources = select_sources(args)
    if args.list:
        return list_and_exit(sources, codecs, skipped)
    out, work = resolve_dirs(args)
    log(f"benchmark: {len(sources)} dataset(s) x {len(codecs)} codec(s) -> {out}")
    for note in skipped:
        log(f"  skipped {note['codec']}: {note['reason']}")
    results = new_results(args, argv, codecs, skipped)
    try:
        elapsed = run_all(args, sources, codecs, work, out, results)
    except KeyboardInterrupt:
        log(f"interrupted; results of the finished datasets are in {out}")
        return 130
    write_outputs(results, out, plots=not args.no_plots)
    log(f"done in {elapsed / 60:.1f} min: {out / 'results.md'}")
    return 0


def run_all(args: argparse.Namespace, sources: Sequence[DatasetSource],
            codecs: Sequence[Codec], work: Path, out: Path, results: dict[str, Any]) -> float:
    """Measure every dataset; returns the elapsed seconds."""
    datasets = prepare_all(sources, work, args.max_reads)
    results["warm_up_s"] = warm_up(codecs, datasets, work)
    results["startup_s"] = startup(codecs, datasets, work)
    budget = Budget(args.budget_min * 60, sum(d.raw_bytes for d in datasets) / MB)
    for index, dataset in enumerate(datasets):
        log(f"[{index + 1}/{len(datasets)}] {dataset.name}: {dataset.reads:,d} reads, "
            f"{dataset.raw_bytes / MB:.1f} MB raw  (elapsed {budget.elapsed() / 60:.1f} min)")
        rows = bench_dataset(index, dataset, codecs, args, work, budget)
        results["datasets"].append({**dataset.describe(), "rows": rows})
        results["elapsed_s"] = budget.elapsed()
        write_outputs(results, out, plots=False)  # partial results survive an interruption
    return budget.elapsed()


def warm_up(codecs: Sequence[Codec], datasets: Sequence[Dataset], work: Path) -> dict[str, float]:
    """Round-trip the first reads of every dataset through each codec that has a one-time
    set-up (seqlm: compiling its kernels) before anything is timed; returns seconds per codec."""
    spent: dict[str, float] = {}
    for codec in (c for c in codecs if c.has_warm_up() and c.available()):
        start = time.perf_counter()
        for dataset in datasets:
            scratch = work / "warm-up" / codec.key / dataset.name
            try:
                codec.warm_up(sample_inputs(dataset, scratch / "in"), scratch / "out")
            except CodecError as err:  # the timed runs fail too and say why
                log(f"  warm-up {codec.label} on {dataset.name} failed: {err}")
        spent[codec.key] = time.perf_counter() - start
        log(f"  warm-up {codec.label}: {spent[codec.key]:.1f} s on the first reads of "
            f"{len(datasets)} dataset(s) (not counted in any row)")
    return spent


def startup(codecs: Sequence[Codec], datasets: Sequence[Dataset], work: Path,
            timeout: float = 600.0) -> dict[str, dict[str, Any]]:
    """Per codec with a warm-up (seqlm): median wall seconds of compressing and decompressing
    the first record of the first dataset, timed as the rows are (:func:`run_step`). That is
    the fixed cost every call pays whatever its input (seqlm: the interpreter, its imports,
    numba's set-up and the kernels it loads), which dominates the MB/s of small files."""
    found: dict[str, dict[str, Any]] = {}
    if not datasets:
        return found
    dataset = datasets[0]
    for codec in (c for c in codecs if c.has_warm_up() and c.available()):
        folder = work / "startup" / codec.key
        (folder / "in").mkdir(parents=True, exist_ok=True)
        inputs = [folder / "in" / path.name for path in dataset.files]
        for path, one in zip(dataset.files, inputs):
            copy_head(path, one, 1)
        comp_s, dec_s = [], []
        for _ in range(STARTUP_RUNS):
            comp = run_step(codec.key, "compress", inputs, folder / "archive", len(inputs), timeout)
            dec = run_step(codec.key, "decompress", comp.paths, folder / "restored", len(inputs), timeout) \
                if comp.ok else comp
            if not dec.ok:
                log(f"  start-up of {codec.label} not measured: {dec.error}")
                break
            comp_s.append(comp.wall_s)
            dec_s.append(dec.wall_s)
        if comp_s:
            comp_med, dec_med = statistics.median(comp_s), statistics.median(dec_s)
            found[codec.key] = {"dataset": dataset.name, "runs": len(comp_s),
                                "compress_s": comp_med, "decompress_s": dec_med}
            log(f"  start-up of {codec.label}: {comp_med:.2f} s to compress, {dec_med:.2f} s to decompress "
                f"one record (median of {len(comp_s)})")
    return found


def sample_inputs(dataset: Dataset, folder: Path) -> list[Path]:
    """The first ``WARM_UP_READS`` records of each file of ``dataset`` (at most
    ``WARM_UP_BYTES`` each), whole records only."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = [folder / path.name for path in dataset.files]
    for path, sample in zip(dataset.files, samples):
        copy_head(path, sample, WARM_UP_READS, WARM_UP_BYTES)
    return samples


def list_and_exit(sources: Sequence[DatasetSource], codecs: Sequence[Codec],
                  skipped: Sequence[dict[str, str]]) -> int:
    for s in sources:
        print(f"dataset  {s.name}  ({'pair' if s.paired else 'single'})")
    for c in codecs:
        reason = c.why_unavailable()
        print(f"codec    {c.key:<14} {c.label}" + (f"  [unavailable: {reason}]" if reason else ""))
    for note in skipped:
        print(f"skipped  {note['codec']:<14} {note['reason']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
