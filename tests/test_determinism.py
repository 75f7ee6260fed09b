"""Integer-exact inference: fast path == numpy int64 reference, step == sequence,
thread count cannot change a table, another CPU's kernels cannot change an archive,
and the quality codec round-trips."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from codec import CodecConfig, compress
from codec.errors import FormatError
from codec.model import PredictorConfig
from codec.model.features import (all_features, qual_vocab, segment_rows, step_advance,
                                  step_features)
from codec.model.intexact import IntPredictor, state_to_int
from codec.model.quantize import FREQ_TOTAL, QuantModel, luts, luts_decimal, random_quant_model
from codec.model.reference import reference_initial_state, reference_sequence, reference_step
from codec.streams import qual_lstm

from .conftest import assert_rejects_damage, long_read_block

CONFIGS = [
    PredictorConfig(n_symbols=41, input_vocab=qual_vocab(41), embed=8, hidden=32, layers=1),
    PredictorConfig(n_symbols=4, input_vocab=(5, 7), embed=4, hidden=16, layers=2),
    PredictorConfig(n_symbols=3, input_vocab=(4,), embed=16, hidden=128, layers=1),
]
_RAN = {"tables": 0}


def _inputs(cfg: PredictorConfig, b: int, t: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, v, (b, t)) for v in cfg.input_vocab], axis=-1)


def test_luts_are_platform_independent() -> None:
    for fast, exact in zip(luts(), luts_decimal()):
        assert np.array_equal(fast, exact)


@pytest.mark.parametrize("cfg", CONFIGS, ids=["qual41", "dna2layer", "h128"])
@pytest.mark.parametrize("gain", [1.0, 4.0])
def test_fast_equals_reference_and_step_equals_sequence(cfg: PredictorConfig, gain: float) -> None:
    qm = random_quant_model(cfg, seed=7, gain=gain)
    ip = IntPredictor(qm)
    x = _inputs(cfg, 37, 12, seed=3)
    fast = ip.sequence(x)
    ref = reference_sequence(qm, x)
    assert np.array_equal(fast, ref)
    assert (fast >= 1).all() and (fast.sum(-1) == FREQ_TOTAL).all()
    # one step at a time, through the public step API, from the same state
    state = ip.initial_state(37)
    rh, rc = reference_initial_state(qm, 37)
    for t in range(12):
        f, state = ip.step(x[:, t], state)
        rf, rh, rc = reference_step(qm, x[:, t], rh, rc)
        assert np.array_equal(f, fast[:, t]) and np.array_equal(f, rf)
        h, c = state_to_int(state)
        assert np.array_equal(h, rh) and np.array_equal(c, rc)
    _RAN["tables"] += 1


def test_tables_do_not_depend_on_threads_or_batch_split() -> None:
    cfg = CONFIGS[0]
    ip = IntPredictor(random_quant_model(cfg, seed=11, gain=2.0))
    x = _inputs(cfg, 300, 8, seed=5)
    with threadpool_limits(limits=1, user_api="blas"):
        one = ip.sequence(x)
    with threadpool_limits(limits=2, user_api="blas"):
        two = ip.sequence(x)
    assert np.array_equal(one, two)
    halves = np.concatenate([ip.sequence(x[:123]), ip.sequence(x[123:])])
    assert np.array_equal(one, halves)
    # one predictor shared by concurrent threads (the streams of a block run in parallel)
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda part: ip.sequence(part), [x] * 2 + [x[:123]] * 2))
    assert all(np.array_equal(o, one) for o in outs[:2]) and all(np.array_equal(o, one[:123]) for o in outs[2:])


def test_quant_model_bytes_roundtrip() -> None:
    qm = random_quant_model(CONFIGS[1], seed=2)
    qm2 = QuantModel.from_bytes(qm.to_bytes())
    x = _inputs(CONFIGS[1], 5, 6, seed=1)
    assert np.array_equal(reference_sequence(qm, x), reference_sequence(qm2, x))
    with pytest.raises(FormatError):
        QuantModel.from_bytes(qm.to_bytes()[:-7])


def test_bound_is_asserted() -> None:
    cfg = PredictorConfig(n_symbols=2, input_vocab=(3,), embed=2, hidden=1100)
    qm = random_quant_model(cfg, seed=0)  # hidden 1100 * 127 * 127 > 2**24
    with pytest.raises(ValueError):
        qm.w_hh[0][:] = 127
        qm.check_bounds()


def _synthetic(n_reads: int, seed: int, max_len: int = 60) -> tuple:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, max_len, n_reads)
    lengths[0] = 0
    total = int(lengths.sum())
    quals = np.minimum(rng.geometric(0.3, total) - 1, 5).astype(np.uint8)
    bases = rng.integers(0, 5, total).astype(np.uint8)
    mate = (np.arange(n_reads) % 2).astype(np.uint8)
    return quals, lengths, bases, mate


def test_features_step_kernels_match_all_features() -> None:
    quals, lengths, bases, mate = _synthetic(40, 1)
    rows = segment_rows(lengths, 16, mate)
    k = 6
    ref = all_features(quals, k, rows["flat"], rows["len"], rows["pos0"], rows["read_start"],
                       rows["read_len"], rows["mate"], bases.astype(np.int64))
    m = len(rows["len"])
    q1 = np.full(m, k)
    q2 = np.full(m, k)
    d = np.zeros(m, dtype=np.int64)
    x = np.zeros((m, 6), dtype=np.int64)
    offsets = np.zeros(6, dtype=np.int64)
    for t in range(int(rows["len"].max())):
        n = int((rows["len"] > t).sum())
        assert (rows["len"][:n] > t).all()
        step_features(t, n, rows["pos0"], rows["read_start"], rows["read_len"], rows["mate"],
                      bases.astype(np.int64), q1, q2, d, offsets, x)
        assert np.array_equal(x[:n], ref[rows["flat"][:n] + t])
        step_advance(t, n, quals[rows["flat"][:n] + t].astype(np.int64), q1, q2, d)


@pytest.mark.parametrize("k", [1, 2, 6])
def test_qual_lstm_roundtrip_synthetic(k: int) -> None:
    quals, lengths, bases, mate = _synthetic(60, k)
    quals = np.minimum(quals, k - 1).astype(np.uint8)
    payload = qual_lstm.encode_qualities(quals, lengths, bases, mate, k, level=2)
    out = qual_lstm.decode_qualities(payload, lengths, bases, mate, k)
    assert out.dtype == np.uint8 and np.array_equal(out, quals)


def test_qual_lstm_long_reads_are_segmented_and_empty_block() -> None:
    quals, lengths, bases, mate = long_read_block()
    payload = qual_lstm.encode_qualities(quals, lengths, bases, mate, 9, level=2)
    assert np.array_equal(qual_lstm.decode_qualities(payload, lengths, bases, mate, 9), quals)
    empty = qual_lstm.encode_qualities(np.zeros(0, np.uint8), np.zeros(2, np.int64), np.zeros(0, np.uint8),
                                       np.zeros(2, np.uint8), 5, level=5)
    assert len(qual_lstm.decode_qualities(empty, np.zeros(2, np.int64), np.zeros(0, np.uint8),
                                          np.zeros(2, np.uint8), 5)) == 0


def _real_sample(n_reads: int = 150) -> tuple | None:
    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "illumina-gaiix-q40-ERR127302_R1.fastq.gz"
    if not data.exists():
        return None
    with gzip.open(data, "rb") as fh:
        lines = [fh.readline() for _ in range(4 * n_reads)]
    seqs = [lines[4 * i + 1].rstrip(b"\r\n") for i in range(n_reads)]
    qls = [lines[4 * i + 3].rstrip(b"\r\n") for i in range(n_reads)]
    allq = np.frombuffer(b"".join(qls), np.uint8)
    alph = np.unique(allq)
    quals = np.searchsorted(alph, allq).astype(np.uint8)
    lut = np.full(256, 4, np.uint8)
    lut[np.frombuffer(b"ACGT", np.uint8)] = np.arange(4)
    bases = lut[np.frombuffer(b"".join(seqs), np.uint8)]
    return quals, np.array([len(q) for q in qls]), bases, np.zeros(n_reads, np.uint8), len(alph)


def test_qual_lstm_roundtrip_real_sample_and_corruption() -> None:
    sample = _real_sample()
    if sample is None:
        sample = _synthetic(150, 9) + (6,)
    quals, lengths, bases, mate, k = sample
    payload = qual_lstm.encode_qualities(quals, lengths, bases, mate, k, level=2)
    assert payload == qual_lstm.encode_qualities(quals, lengths, bases, mate, k, level=2)
    assert np.array_equal(qual_lstm.decode_qualities(payload, lengths, bases, mate, k), quals)
    assert_rejects_damage(lambda blob: qual_lstm.decode_qualities(blob, lengths, bases, mate, k), payload,
                          b"\x07")


def test_some_tables_were_compared() -> None:
    assert _RAN["tables"] > 0


@pytest.mark.parametrize("kind", ["binned", "illumina40", "long"])
def test_default_weights_fast_equals_reference(kind: str) -> None:
    """Shipped defaults, restricted to a block alphabet: fused fast path == numpy reference."""
    from codec.model import defaults
    base, _ = defaults.load_default(kind)
    qm = base.qm
    rng = np.random.default_rng(5)
    cols = np.sort(rng.choice(defaults.PHRED_LEVELS, 7 if kind == "binned" else 40, replace=False))
    ip = base.restrict(cols)
    x = _inputs(qm.cfg, 50, 10, seed=9)
    h, c = ip.initial_state(50)
    rh, rc = reference_initial_state(qm, 50)
    xr = ip.rows(x)
    freq = np.zeros((50, len(cols)), dtype=np.int64)
    for t in range(10):
        ip.step_rows(np.ascontiguousarray(xr[:, t]), h, c, freq)
        rf, rh, rc = reference_step(qm, x[:, t], rh, rc, out_cols=cols)
        assert np.array_equal(freq, rf)
        assert (freq >= 1).all() and (freq.sum(-1) == FREQ_TOTAL).all()
        hi, ci = state_to_int((h, c))
        assert np.array_equal(hi, rh) and np.array_equal(ci, rc)
    _RAN["tables"] += 1



# The child of test_archives_do_not_depend_on_the_cpu: encodes every input in argv and
# decodes the archives the parent wrote, under another CPU's kernels.
_OTHER_CPU_CHILD = r"""
import hashlib, json, sys
from pathlib import Path
import numba
from codec import decompress
from tests.test_determinism import make_archive
folder = Path(sys.argv[1])
out = {"cpu": numba.config.CPU_NAME, "archives": {}, "decoded": {}}
for case in json.loads((folder / "cases.json").read_text()):
    out["archives"][case["name"]] = hashlib.sha256(make_archive(folder, case)).hexdigest()
    decoded = decompress((folder / (case["name"] + ".seqlm")).read_bytes())
    decoded = b"".join(decoded) if isinstance(decoded, tuple) else decoded
    out["decoded"][case["name"]] = hashlib.sha256(decoded).hexdigest()
print(json.dumps(out))
"""


def _other_cpu_cases(folder: Path) -> list[dict]:
    """Inputs that reach every shipped quality model (the binned one through 300 reads of the
    shared data, when it is there), every base coder (BASE_LSTM at level 9) and the token
    names."""
    from .conftest import DATA, SHARED

    cases = [{"name": name, "r1": name, "r2": None}
             for name in ("chipseq_300.fastq", "hifi_16s_20.fastq", "ont_guppy_names_120.fastq")]
    cases.append({"name": "gaiix_pair", "r1": "gaiix_pair_100_R1.fastq", "r2": "gaiix_pair_100_R2.fastq"})
    for case in cases:
        for key in ("r1", "r2"):
            if case[key]:
                (folder / case[key]).write_bytes((DATA / case[key]).read_bytes())
    binned = SHARED / "illumina-hiseq-bin6-yeast-rnaseq-SRR4238351.fastq.gz"  # takes the binned LSTM
    if binned.exists():
        with gzip.open(binned, "rb") as fh:
            (folder / "binned_300.fastq").write_bytes(b"".join(fh.readline() for _ in range(4 * 300)))
        cases.append({"name": "binned_300.fastq", "r1": "binned_300.fastq", "r2": None})
    cases.append({"name": "chipseq_300.fastq.L9", "r1": "chipseq_300.fastq", "r2": None, "maker": "base_lstm"})
    return cases


def make_archive(folder: Path, case: dict) -> bytes:
    """The archive of one case: level 5, or a level-9 archive whose BASES stream is BASE_LSTM
    (its fit is float and runs in torch, the same library on both sides; its inference and
    mixing are the integer kernels this test is about)."""
    from .test_bases_lstm import base_lstm_archive

    data = (folder / case["r1"]).read_bytes()
    if case.get("maker") == "base_lstm":
        return base_lstm_archive(data)
    mate = (folder / case["r2"]).read_bytes() if case["r2"] else None
    return compress(data, CodecConfig(level=5), mate)


def test_archives_do_not_depend_on_the_cpu(tmp_path: Path) -> None:
    """Archives are the same bytes, and decode, where the kernels and BLAS are another CPU's.

    A child process compiles every numba kernel for LLVM's ``generic`` x86-64 (no AVX, no
    FMA: another instruction set and other vector widths than this host's), in a cache
    folder of its own, and on x86 runs OpenBLAS's oldest kernels (``OPENBLAS_CORETYPE``).
    It encodes the inputs, which must give this process's archives byte for byte, and
    decodes this process's archives, which must give the inputs back: what DESIGN.md asks
    of encoder and decoder on two machines, here on one."""
    cases = _other_cpu_cases(tmp_path)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    native, inputs = {}, {}
    for case in cases:
        data = (tmp_path / case["r1"]).read_bytes()
        mate = (tmp_path / case["r2"]).read_bytes() if case["r2"] else None
        archive = make_archive(tmp_path, case)
        (tmp_path / (case["name"] + ".seqlm")).write_bytes(archive)
        native[case["name"]] = hashlib.sha256(archive).hexdigest()
        inputs[case["name"]] = hashlib.sha256(data + (mate or b"")).hexdigest()
    env = dict(os.environ, NUMBA_CPU_NAME="generic", NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    if platform.machine().lower() in ("x86_64", "amd64"):
        env["OPENBLAS_CORETYPE"] = "Prescott"
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", _OTHER_CPU_CHILD, str(tmp_path)], capture_output=True,
                          text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    child = json.loads(done.stdout.strip().splitlines()[-1])
    assert child["cpu"] == "generic"
    assert child["decoded"] == inputs
    assert child["archives"] == native
