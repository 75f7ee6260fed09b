"""Pretrain the shipped default quality LSTMs (``python -m codec.model.pretrain``).

One small model per read *family* (see :func:`codec.model.defaults.family_for`), trained on a
deliberate subset of the public data in ``../shared/data`` (only ``_R1`` files / single
files, and only their first reads; kinds that see the mate also the ``_R2`` mates), quantised and written to
``codec/weights/<kind>.qlstm`` (``QuantModel.to_bytes()``) together with
``codec/weights/PROVENANCE.md``. A retrained model is a new *kind* (``illumina40_v2``),
appended to :data:`codec.model.defaults.KINDS`: archives name their model by kind and
sha256, so a shipped file is never replaced, only superseded in ``defaults.CURRENT``.

The models are alphabet-independent: a block's quality symbol ``s`` (an index
into the block's sorted quality bytes) enters the model as its Phred value
``min(max(byte - offset, 0), 93)`` (``offset`` 64 when every quality byte of the
block is >= 64, else 33), and the model predicts over the 94 Phred values 0..93;
the coder uses only the logits of the block's own Phred values
(:meth:`codec.model.intexact.IntPredictor.restrict`), normalised by the integer
softmax to an exact table over the block alphabet. The mate feature is 0 (the
models are trained on read-1 / single-end data; the mixer and the context model
see the mate), except for the kinds in ``defaults.SEES_MATE``, trained on both mates with it.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .config import PredictorConfig
from .core import Predictor
from .features import all_features, qual_vocab, sample_windows, segment_rows, warmup_cosine_lr
from .defaults import (CURRENT, CURRENT_PAIRED, PHRED_LEVELS, SEES_MATE, family_of, phred_map, phred_offset,
                       sees_mate)
from .quantize import quantize

HIDDEN = 32
EMBED = 8
BATCH = 256
WINDOW = 512
SEED = 20240601
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
WEIGHTS = Path(__file__).resolve().parents[1] / "weights"

# (file, first N reads) per read family: R1 / single files only, their first reads only.
TRAIN: dict[str, list[tuple[str, int]]] = {
    "binned": [("illumina-novaseq-bin4-cheese-metagenome-comm1_R1.fastq.gz", 6000),
               ("illumina-novaseq-bin4-metagenomic-msspe-RR057e_R1.fastq.gz", 6000),
               ("illumina-miseq-bin7-sarscov2-artic-MS2_34001_R1.fastq.gz", 3000),
               ("illumina-hiseq-bin6-yeast-rnaseq-SRR4238351.fastq.gz", 20000)],
    "illumina40": [("illumina-gaiix-q40-ERR127302_R1.fastq.gz", 10000),
                   ("illumina-hiseq-q38-yeast-chipseq-SRR5204809_R1.fastq.gz", 20000),
                   ("illumina-miseq-2x251-human-bcr-repertoire_R1.fastq.gz", 4000),
                   ("illumina-miseq-2x300-human-crispr-amplicon-SafeHarborA10_R1.fastq.gz", 4000),
                   ("illumina-ga-phred64-velvet-HWUSI-EAS-100R_R1.fastq.gz", 8000)],
    "long": [("ont-2d-denovohybrid-test_read_nanopore.fastq.gz", 600),
             ("ont-lsk112-cheese-metagenome-om.fastq.gz", 150),
             ("ont-r9-barcoded-qcat-barcode_1k.fastq.gz", 400),
             ("pacbio-hifi-16s-amplicon-m64192.fastq.gz", 500),
             ("pacbio-hifi-ecoli-k12-mg1655.fastq.gz", 200)],
}
# Adam steps per weight file. The _v2 files are the same recipe trained 8x longer: the v1 models
# were far from converged (the v2 ones code Illumina 40-level qualities 1-4 % and long-read ones
# 4-8 % smaller, unseen R2 mates and files gaining about as much: benchmarks/results).
STEPS = {"binned": 1000, "illumina40": 1100, "long": 250, "illumina40_v2": 8800, "long_v2": 2000,
         "illumina40_v3": 8800}

_BASE_CODE = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _BASE_CODE[_b] = _i
    _BASE_CODE[_b + 32] = _i


def model_config() -> PredictorConfig:
    return PredictorConfig(n_symbols=PHRED_LEVELS, input_vocab=qual_vocab(PHRED_LEVELS), embed=EMBED,
                           hidden=HIDDEN, layers=1)


def read_fastq(path: Path, n_reads: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(quality bytes, lengths, base codes 0..4) of the first ``n_reads`` records."""
    quals, seqs, lens = [], [], []
    with gzip.open(path, "rb") as fh:
        while n_reads is None or len(lens) < n_reads:
            head = fh.readline()
            if not head:
                break
            seq = fh.readline().rstrip(b"\r\n")
            fh.readline()
            qual = fh.readline().rstrip(b"\r\n")
            seqs.append(seq)
            quals.append(qual)
            lens.append(len(qual))
    q = np.frombuffer(b"".join(quals), dtype=np.uint8)
    b = _BASE_CODE[np.frombuffer(b"".join(seqs), dtype=np.uint8)]
    return q, np.array(lens, dtype=np.int64), b


def training_files(kind: str, data_dir: Path = DATA) -> list[tuple[str, int, int]]:
    """(file, first N reads, mate) a kind learns from: its family's list, plus, for the kinds that see
    the mate (``defaults.SEES_MATE``), the same reads of the _R2 file beside each _R1 one. A missing
    _R2 file is an error: skipping it would write other weights without a word."""
    out = []
    for name, n in TRAIN[family_of(kind)]:
        out.append((name, n, 0))
        mate2 = name.replace("_R1.", "_R2.")
        if sees_mate(kind) and mate2 != name:
            if not (data_dir / mate2).exists():
                raise FileNotFoundError(f"{data_dir / mate2}: read 2 of {name} is missing ({kind} learns both mates)")
            out.append((mate2, n, 1))
    return out


def _dataset(files: list[tuple[str, int, int]], data_dir: Path) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Features and Phred targets of all files, laid out flat, plus the rows (windows start there)."""
    xs, ys, flats, rl = [], [], [], []
    base = 0
    for name, n, mate_of_file in files:
        q, lens, b = read_fastq(data_dir / name, n)
        alphabet = np.unique(q)
        ph = phred_map(np.arange(256), phred_offset(alphabet))[q]
        mate = np.full(len(lens), mate_of_file, dtype=np.int64)
        rows = segment_rows(lens, WINDOW, mate)
        x = all_features(ph, PHRED_LEVELS, rows["flat"], rows["len"], rows["pos0"], rows["read_start"],
                         rows["read_len"], rows["mate"], b.astype(np.int64))
        xs.append(x)
        ys.append(ph)
        flats.append(rows["flat"] + base)
        rl.append(rows["len"])
        base += len(ph)
    x_all = torch.from_numpy(np.concatenate(xs).astype(np.int64))
    y_all = torch.from_numpy(np.concatenate(ys).astype(np.int64))
    return x_all, y_all, {"flat": np.concatenate(flats), "len": np.concatenate(rl)}


def train_kind(kind: str, data_dir: Path = DATA, steps: int | None = None, seed: int = SEED,
               log=print) -> Predictor:
    """Train the float model of one kind (single torch thread, seeded)."""
    steps = STEPS[kind] if steps is None else steps
    return train_on(training_files(kind, data_dir), steps, sees_mate(kind), data_dir, seed, log, kind)


def train_on(files: list[tuple[str, int, int]], steps: int, use_mate: bool, data_dir: Path = DATA,
             seed: int = SEED, log=print, label: str = "model") -> Predictor:
    """Train a float model on ``files`` ((file, first N reads, mate) rows, as :func:`training_files`
    gives them) with the shipped recipe; apart from :func:`train_kind` so that a benchmark can
    leave a file out (``benchmarks/holdout.py``). ``use_mate`` False gives the mate input 0."""
    torch.set_num_threads(1)
    x_all, y_all, rows = _dataset(files, data_dir)
    torch.manual_seed(seed)
    model = Predictor(model_config())
    rng = np.random.default_rng(seed)
    win = int(min(WINDOW, rows["len"].max()))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    warm = max(1, steps // 20)
    lr_max, lr_min = 1e-2, 3e-4
    t0 = time.process_time()
    ema = None
    model.train()
    for step in range(steps):
        lr = warmup_cosine_lr(step, steps, warm, lr_max, lr_min)
        for g in opt.param_groups:
            g["lr"] = lr
        idx, valid = sample_windows(rows, rng, BATCH, win)
        idx_t = torch.from_numpy(idx)
        y = torch.where(torch.from_numpy(valid), y_all[idx_t], -1)
        x = x_all[idx_t]
        if not use_mate:
            x[..., 5] = 0  # mate input unused by these defaults
        _, loss = model(x, targets=y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        bits = float(loss.detach()) / math.log(2)
        ema = bits if ema is None else 0.98 * ema + 0.02 * bits
        if step % 100 == 0 or step == steps - 1:
            log(f"  {label} step {step}/{steps} loss {ema:.4f} bits lr {lr:.2e} cpu {time.process_time() - t0:.0f}s")
    model.eval()
    return model


def evaluate(names: list[str], data_dir: Path = DATA, n_reads: int | None = None, decode: bool = True,
             log=print) -> list[dict]:
    """Bits/qual of QUAL_CTX and of QUAL_MIX with the installed defaults (each file one
    single-end block, as the level-5 wrapper would code it) and CPU M symbols/s."""
    from ..streams import qual_ctx, qual_mix
    torch.set_num_threads(1)
    out = []
    for name in names:
        q, lens, b = read_fastq(data_dir / name, n_reads)
        alphabet = np.unique(q)
        k = len(alphabet)
        sym = np.searchsorted(alphabet, q).astype(np.uint8)
        mate = np.zeros(len(lens), dtype=np.uint8)
        n = len(q)
        t = time.process_time()
        pc = qual_ctx.encode_qualities(sym, lens, b, mate, k)
        t_ctx = time.process_time() - t
        dm = qual_mix.default_mapping(alphabet, lens)
        t = time.process_time()
        pm, _ = qual_mix.encode_with_estimate(sym, lens, b, mate, k, 5, default=dm)
        t_enc = time.process_time() - t
        row = {"file": name, "kind": dm[0], "symbols": n, "ctx_bits": len(pc) * 8 / n,
               "mix_bits": len(pm) * 8 / n, "ctx_enc_mps": n / t_ctx / 1e6, "mix_enc_mps": n / t_enc / 1e6}
        if decode:
            t = time.process_time()
            back = qual_mix.decode_qualities(pm, lens, b, mate, k)
            row["mix_dec_mps"] = n / (time.process_time() - t) / 1e6
            assert np.array_equal(back, sym)
        log(" ".join(f"{k_}={v:.4f}" if isinstance(v, float) else f"{k_}={v}" for k_, v in row.items()))
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    ap.add_argument("--kinds", nargs="*", default=list(CURRENT.values()) + list(CURRENT_PAIRED.values()),
                    choices=list(STEPS))
    ap.add_argument("--steps-scale", type=float, default=1.0)
    ap.add_argument("--eval", nargs="*", metavar="FASTQ", help="evaluate the installed defaults on these files")
    args = ap.parse_args(argv)
    if args.eval is not None:
        evaluate(args.eval or sorted(p.name for p in args.data.glob("*.fastq.gz")), args.data)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    lines = []
    for kind in args.kinds:
        t0 = time.process_time()
        steps = max(1, int(STEPS[kind] * args.steps_scale))
        model = train_kind(kind, args.data, steps)
        blob = quantize(model).to_bytes()
        (args.out / f"{kind}.qlstm").write_bytes(blob)
        digest = hashlib.sha256(blob).hexdigest()
        cpu = time.process_time() - t0
        print(f"{kind}: {len(blob)} bytes sha256 {digest} cpu {cpu:.0f}s", flush=True)
        lines.append((kind, steps, len(blob), digest, cpu))
    _write_provenance(args.out, lines, argv if argv is not None else sys.argv[1:])
    return 0


def _write_provenance(out: Path, lines, argv) -> None:
    import platform
    doc = ["# Provenance of the shipped default quality models", "",
           f"Written by `python -m codec.model.pretrain {' '.join(argv)}` on "
           f"{datetime.date.today().isoformat()} (torch {torch.__version__}, numpy {np.__version__}, "
           f"python {platform.python_version()}, 1 torch thread).", "",
           f"Model: `Predictor` embed {EMBED}, hidden {HIDDEN}, 1 layer, {PHRED_LEVELS} outputs (Phred 0..93), "
           f"inputs `qual_vocab({PHRED_LEVELS})` (q1, q2 as Phred; position; bases; change count; mate, fixed 0 "
           f"except for {', '.join(sorted(SEES_MATE))}). "
           f"Adam, batch {BATCH} windows of up to {WINDOW} symbols, lr warm-up then cosine 1e-2 -> 3e-4, "
           f"seed {SEED} (torch and numpy). Post-training int8 quantisation (`quantize`), file = "
           "`QuantModel.to_bytes()`.", "",
           "Training data (../shared/data, public; see its MANIFEST.md for origins and licences): only the "
           "first N reads of `_R1` / single-end files (and, for the kinds that see the mate, the same reads of the "
           "`_R2` mates). Nothing from the 10x files, "
           "`ont-r9-ecoli-ultralong`, `ont-r9-sarscov2` or `pacbio-hifi-human-hg002` was seen.", ""]
    for kind, steps, size, digest, cpu in lines:
        doc.append(f"## `{kind}.qlstm`")
        doc.append("")
        doc.append(f"- sha256 `{digest}`, {size} bytes, {steps} steps, {cpu:.0f} s CPU")
        for name, n, mate in training_files(kind):
            doc.append(f"- `{name}`: first {n} reads" + (" (mate input 1)" if mate else ""))
        doc.append("")
    (out / "PROVENANCE.md").write_text("\n".join(doc))


if __name__ == "__main__":
    raise SystemExit(main())
