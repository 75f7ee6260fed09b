"""Held-out check of the shipped quality models: how much of their gain is owed to the shared files.

    python -m benchmarks.holdout            # every family (about 30 minutes on 2 cores)
    python -m benchmarks.holdout --quick    # a smoke run (about a minute), to a temporary directory

The default quality LSTMs (``codec/weights/``) were trained on the first reads of some files in
``../shared/data``; the product is also judged on files of the same kinds that no model saw.
This measures the difference. Each family's model is trained twice with the v1 recipe of the
shipped files (:func:`codec.model.pretrain.train_on`, the step count of ``binned``,
``illumina40`` or ``long``, the same seed): on the first reads of all its files (:data:`TRAIN`
of pretrain), and again on all but one, for every file in turn. A file's later reads (those
after the first N that training saw) are then coded through QUAL_MIX at level 5 with each of:

- ``ctx``: the context model alone (QUAL_CTX, no LSTM);
- ``all``: the model trained on every file's first reads, this one's included;
- ``held out``: the model that never saw the file;
- ``current``: the shipped model new archives use (``defaults.CURRENT``: 8x the steps, the same
  files). The shipped v1 files are not used: a retrain today is not bit-identical to them, so
  both sides of the comparison are trained here, by the same code.

``all`` against ``held out`` is what a file gains from having been seen. The files no model saw
(the ``_R2`` mates, the 10x files, three long-read files) are coded by ``ctx`` and the shipped
models only. Each file's reads are one single-end block; sizes are whole payloads in bits per
quality value. Writes ``benchmarks/results/holdout.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from unittest import mock

import numpy as np

from codec.model import defaults, pretrain
from codec.model.quantize import quantize
from codec.streams import qual_ctx, qual_mix

from .machine import cpu_model, git_revision

RESULTS = Path(__file__).resolve().parent / "results"
V1 = {"binned": "binned", "illumina40": "illumina40", "long": "long"}


@dataclass
class Case:
    """One file to code: its read family, and the first ``skip`` reads that the family's models
    trained on (``trained`` False, and ``skip`` 0, for a file that no model saw)."""
    file: str
    family: str
    skip: int
    trained: bool


@dataclass
class Row:
    file: str
    family: str
    reads: int
    symbols: int
    ctx: float
    all: float
    held_out: float | None
    current: float


def cases(data_dir: Path) -> list[Case]:
    """Every training file (its later reads), then every file no model saw, as found in ``data_dir``."""
    seen = {name for files in pretrain.TRAIN.values() for name, _ in files}
    out = [Case(name, fam, n, True) for fam, files in pretrain.TRAIN.items() for name, n in files
           if (data_dir / name).exists()]
    out += [Case(p.name, _family_of_file(p), 0, False) for p in sorted(data_dir.glob("*.fastq.gz"))
            if p.name not in seen]
    return out


def train_model(family: str, excluded: str | None, data_dir: Path, steps_scale: float = 1.0) -> bytes:
    """Weight file of ``family`` trained with the shipped v1 recipe on its files but ``excluded``."""
    files = [(name, n, 0) for name, n in pretrain.TRAIN[family] if name != excluded]
    steps = max(1, int(pretrain.STEPS[V1[family]] * steps_scale))
    model = pretrain.train_on(files, steps, False, data_dir, log=lambda *_: None, label=family)
    return quantize(model).to_bytes()


@contextlib.contextmanager
def _installed(blob: bytes | None):
    """Make every default kind load ``blob`` (None: the shipped files)."""
    if blob is None:
        yield
        return
    with mock.patch.object(defaults, "weight_bytes", lambda kind: blob):
        yield


def _bits(payload: bytes, n: int) -> float:
    return len(payload) * 8 / n


def _mix_bits(block, kind: str, blob: bytes | None) -> float:
    sym, lens, bases, mate, k, phred = block
    with _installed(blob):
        payload, _ = qual_mix.encode_with_estimate(sym, lens, bases, mate, k, 5, default=(kind, phred))
    return _bits(payload, len(sym))


def later_reads(path: Path, skip: int, max_reads: int | None):
    """(symbols, lengths, base codes, mate flags, alphabet size, Phred of each symbol) of the reads
    after the first ``skip``, at most ``max_reads`` of them."""
    q, lens, b = pretrain.read_fastq(path, None if max_reads is None else skip + max_reads)
    start = int(lens[:skip].sum())
    q, b, lens = q[start:], b[start:], lens[skip:]
    alphabet = np.unique(q)
    sym = np.searchsorted(alphabet, q).astype(np.uint8)
    _, phred = qual_mix.default_mapping(alphabet, lens)   # the encoder's own symbol -> Phred map
    return sym, lens, b, np.zeros(len(lens), dtype=np.uint8), len(alphabet), phred


def measure(case: Case, data_dir: Path, all_blob: bytes | None, held_blob: bytes | None,
            max_reads: int | None = None) -> Row:
    """Code the later reads of ``case`` with the context model, the family's models trained on
    every file (``all_blob``) and without this one (``held_blob``), and the current shipped model."""
    block = later_reads(data_dir / case.file, case.skip, max_reads)
    sym, lens, bases, mate, k, _ = block
    kind = V1[case.family]
    return Row(file=case.file, family=case.family, reads=len(lens), symbols=len(sym),
               ctx=_bits(qual_ctx.encode_qualities(sym, lens, bases, mate, k), len(sym)),
               all=_mix_bits(block, kind, all_blob),
               held_out=None if held_blob is None else _mix_bits(block, kind, held_blob),
               current=_mix_bits(block, defaults.CURRENT[case.family], None))


def _train_star(args) -> tuple[str, str | None, bytes]:
    family, excluded = args[0], args[1]
    t0 = time.process_time()
    blob = train_model(*args)
    print(f"  trained {family} without {excluded or 'nothing'}: {time.process_time() - t0:.0f} s CPU", flush=True)
    return family, excluded, blob


def _measure_star(args) -> Row:
    row = measure(*args)
    held = "-" if row.held_out is None else f"{row.held_out:.4f}"
    print(f"  {row.file}: ctx {row.ctx:.4f} all {row.all:.4f} held out {held} current {row.current:.4f} "
          "bits/qual", flush=True)
    return row


def _pool_map(fn, args: list, jobs: int) -> list:
    if jobs <= 1:
        return [fn(a) for a in args]
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        return pool.map(fn, args, chunksize=1)


def run(data_dir: Path, jobs: int, steps_scale: float = 1.0, max_reads: int | None = None,
        only: list[str] | None = None) -> list[Row]:
    """Rows of every case (or those whose file name contains one of ``only``), ``jobs`` at a time:
    first every model (each family on all its files, then without each file), then the coding."""
    todo = [c for c in cases(data_dir) if not only or any(s in c.file for s in only)]
    jobs_train = sorted({(c.family, None) for c in todo}) + [(c.family, c.file) for c in todo if c.trained]
    # The longest trainings first, so that the workers end together.
    jobs_train.sort(key=lambda fx: -pretrain.STEPS[V1[fx[0]]])
    models = {(f, x): blob for f, x, blob in
              _pool_map(_train_star, [(f, x, data_dir, steps_scale) for f, x in jobs_train], jobs)}
    args = [(c, data_dir, models[(c.family, None)], models.get((c.family, c.file)), max_reads) for c in todo]
    return _pool_map(_measure_star, args, jobs)


def _family_of_file(path: Path) -> str:
    """Read family of a whole file, as :func:`codec.model.defaults.family_for` gives a block's."""
    q, lens, _ = pretrain.read_fastq(path, None)
    return defaults.family_for(np.unique(q), lens)


def _pct(a: float, b: float) -> str:
    return f"{100 * (a / b - 1):+.1f} %"


def report(rows: list[Row], meta: dict) -> str:
    """Markdown tables: the files trained on (seen against held out), then the unseen files."""
    lines = ["# Held-out check of the shipped quality models", "",
             f"`python -m benchmarks.holdout {meta['argv']}` at {meta['revision']}, {meta['date']}, {meta['cpu']}, "
             f"{meta['wall_s']:.0f} s wall. Bits per quality value of each file's later reads "
             "(after the first N a model trained on), one single-end block, QUAL_MIX at level 5. "
             "See the module docstring for the columns.", "",
             "## Files the shipped models trained on", "",
             "| family | file | reads | ctx | all | held out | held out vs all | all vs ctx | held out vs ctx | current |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        if r.held_out is None:  # a file no model saw: the next table
            continue
        lines.append(f"| {r.family} | {r.file} | {r.reads} | {r.ctx:.4f} | {r.all:.4f} | {r.held_out:.4f} | "
                     f"{_pct(r.held_out, r.all)} | {_pct(r.all, r.ctx)} | {_pct(r.held_out, r.ctx)} | "
                     f"{r.current:.4f} |")
    lines += ["", "## Files no model saw", "",
              "| family | file | reads | ctx | all | current | all vs ctx | current vs ctx |",
              "|---|---|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        if r.held_out is None:
            lines.append(f"| {r.family} | {r.file} | {r.reads} | {r.ctx:.4f} | {r.all:.4f} | {r.current:.4f} | "
                         f"{_pct(r.all, r.ctx)} | {_pct(r.current, r.ctx)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", help="only files whose name contains one of these")
    ap.add_argument("--data", type=Path, default=pretrain.DATA)
    ap.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--steps-scale", type=float, default=1.0)
    ap.add_argument("--max-reads", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="2 %% of the steps, 300 reads, two files, "
                    "to a temporary folder")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps_scale, args.max_reads = 0.02, 300
        args.files = args.files or ["nanopore", "human-hg002"]
        args.out = args.out or Path(tempfile.mkdtemp(prefix="seqlm-holdout-"))
    out = args.out or RESULTS
    t0 = time.time()
    rows = run(args.data, args.jobs, args.steps_scale, args.max_reads, args.files)
    meta = {"argv": " ".join(sys.argv[1:] if argv is None else argv), "date": time.strftime("%Y-%m-%d"),
            "cpu": cpu_model(), "revision": git_revision(), "wall_s": time.time() - t0,
            "steps_scale": args.steps_scale, "max_reads": args.max_reads}
    out.mkdir(parents=True, exist_ok=True)
    stem = "holdout-quick" if args.quick else "holdout"
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=1))
    (out / f"{stem}.md").write_text(report(rows, meta))
    print(f"wrote {out / stem}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
