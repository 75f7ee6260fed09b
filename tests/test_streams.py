"""Unit tests of each stream codec and of the integer frequency arithmetic."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from codec.entropy.coder import StepEncoder
from codec.errors import FormatError
from codec.fastq.records import parse_block
from codec.streams import bases, bases_ctx, layout, qual_ctx, qualities, stepcoding
from codec.streams.exceptions import (BASE_CODE, SPELL_CASE, SPELL_U, apply_case, choose_spelling,
                                      decode_exceptions, decode_spelled, encode_exceptions, encode_spelled,
                                      spelled_codes)
from codec.streams.general import pack_best, unpack
from codec.streams.ids import CodecId
from codec.streams.stepcoding import batch_bounds, make_rows
from codec.streams.tables import SCALE, blend, new_table
from codec.varint import Reader, encode_uvarint

from .conftest import DATA

RNG = np.random.default_rng(11)


def _python_blend(counts, totals, ctx, beta, prev):
    """The documented formula, evaluated with Python floats (IEEE float64)."""
    inv = 1.0 / float(16 * int(totals[ctx]) + beta)
    return [int(float(16 * int(counts[ctx, s]) * SCALE + beta * int(prev[s])) * inv)
            for s in range(counts.shape[1])]


def test_blend_matches_the_documented_formula():
    counts = RNG.integers(0, 65536, size=(50, 41)).astype(np.uint16)
    totals = counts.sum(axis=1).astype(np.int64)
    prev = RNG.integers(0, SCALE, size=41).astype(np.int64)
    out = np.zeros(41, dtype=np.int64)
    for ctx in range(50):
        for beta in (1, 16, 1024):
            blend(counts, totals, ctx, beta, prev, out)
            assert out.tolist() == _python_blend(counts, totals, ctx, beta, prev)


def test_rows_cut_long_reads_and_batches_cover_everything():
    rows = make_rows(np.array([0, 5, 10_000, 3]), 4096)
    assert rows.lens.tolist() == [5, 4096, 4096, 1808, 3]
    assert rows.pos0.tolist() == [0, 0, 4096, 8192, 0]
    assert rows.read.tolist() == [1, 2, 2, 2, 3]
    bounds = batch_bounds(make_rows(np.full(5000, 100), 4096))
    assert bounds[0] == (0, 16) and bounds[-1][1] == 5000
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))


def test_model_samples_stop_near_their_size_even_inside_one_ultra_long_read(monkeypatch):
    """The first reads up to the sample size; a first read longer than that is cut, so the
    base trials and the quality gate cost a sample, not the block (one 3 Mb read once ran
    six trial encodes of the whole read: 11 s)."""
    assert stepcoding.leading_reads(np.array([10, 20, 30, 40]), 35)[1].tolist() == [10, 20]
    assert stepcoding.leading_reads(np.array([100, 20]), 35)[1].tolist() == [35]
    assert stepcoding.leading_reads(np.array([0, 20, 30]), 35)[1].tolist() == [0, 20]
    assert stepcoding.leading_reads(np.array([], dtype=np.int64), 35)[1].tolist() == []
    lens = np.array([5 * bases_ctx.SAMPLE_BASES, 100])
    codes = RNG.integers(0, 4, int(lens.sum())).astype(np.uint8)
    sample, sample_lens = bases_ctx._sample(codes, lens)
    assert len(sample) == sample_lens.sum() == bases_ctx.SAMPLE_BASES
    seen = []
    real = qualities.qual_mix.encode_with_estimate
    monkeypatch.setattr(qualities.qual_mix, "encode_with_estimate",
                        lambda s, *a, **k: seen.append(len(s)) or real(s, *a, **k))
    quals = (RNG.integers(0, 40, len(codes)) + 33).astype(np.uint8)
    qualities.encode_qualities(quals, lens, codes, np.zeros(2, np.uint8), 5)
    assert seen and seen[0] == qualities.GATE_SAMPLE


def _random_reads(n, length, alphabet=4):
    lens = RNG.integers(0, length, n).astype(np.int64)
    return RNG.integers(0, alphabet, int(lens.sum())).astype(np.uint8), lens


def test_many_step_encoding_gives_the_step_loop_bytes(monkeypatch):
    """The encoders' one-call-per-many-steps path (encode_steps) codes exactly what the
    decoder's step loop expects: same tables, same order, same range-coder words."""
    codes, lens = _random_reads(300, 700)
    codes[RNG.integers(0, len(codes), 40)] = 4
    lens[:3] = [5000, 0, 4097]   # segments, an empty read
    codes = np.concatenate([codes, RNG.integers(0, 4, int(lens.sum()) - len(codes)).astype(np.uint8)])
    quals = RNG.integers(0, 41, len(codes)).astype(np.uint8)
    mate = np.zeros(len(lens), np.uint8)
    fast = (bases_ctx.encode_bases(codes, lens, mate, 5), qual_ctx.encode_qualities(quals, lens, codes, mate, 41))
    monkeypatch.setattr(stepcoding, "_encode_many", lambda model, active, flat, enc:
                        stepcoding._step_loop(model, model.starts, active, flat, enc, None))
    assert fast == (bases_ctx.encode_bases(codes, lens, mate, 5),
                    qual_ctx.encode_qualities(quals, lens, codes, mate, 41))
    assert np.array_equal(bases_ctx.decode_bases(fast[0], lens, mate, codes == 4), codes)


def test_base_context_round_trip_with_exceptions_and_repeats():
    genome = RNG.integers(0, 4, 3000).astype(np.uint8)
    starts = RNG.integers(0, 2900, 400)
    reads = [genome[s:s + 100] for s in starts]
    reads += [(3 - r[::-1]) for r in reads[:100]]  # reverse complements
    codes = np.concatenate(reads)
    codes[RNG.integers(0, len(codes), 50)] = 4
    lens = np.array([len(r) for r in reads], dtype=np.int64)
    mate = np.zeros(len(lens), np.uint8)
    payload = bases_ctx.encode_bases(codes, lens, mate)
    assert 8 * len(payload) / len(codes) < 1.0  # coverage makes bases cheap
    assert payload == bases_ctx.encode_bases(codes, lens, mate)  # deterministic
    out = bases_ctx.decode_bases(payload, lens, mate, codes == 4)
    assert np.array_equal(out, codes)


def test_long_reads_decode_with_the_segment_their_payload_names(monkeypatch):
    # encoders wrote 4096-base segments until 2026-12-06 and 1024 since: a reader honours the payload
    rng = np.random.default_rng(5)
    lens = np.array([5000, 300, 2500, 9000, 1024, 1025], dtype=np.int64)
    codes = rng.integers(0, 4, int(lens.sum())).astype(np.uint8)
    mate = np.zeros(len(lens), np.uint8)
    payloads = {}
    for segment in (4096, 1024):
        monkeypatch.setattr(bases_ctx, "SEGMENT", segment)
        payloads[segment] = bases_ctx.encode_bases(codes, lens, mate)
    assert payloads[4096] != payloads[1024]
    for payload in payloads.values():
        assert np.array_equal(bases_ctx.decode_bases(payload, lens, mate, codes == 4), codes)


@pytest.mark.parametrize("level", [1, 7])
def test_bases_wrapper_round_trip(level):
    codes, lens = _random_reads(200, 300)
    mate = np.zeros(len(lens), np.uint8)
    payload, codec = bases.encode_bases(codes, lens, mate, level)
    assert codec in (CodecId.BASE_CTX, CodecId.LZMA)
    assert np.array_equal(bases.decode_bases(payload, lens, mate, codes == 4), codes)


def test_lzma_runs_in_full_on_accurate_long_reads_and_never_on_noisy_ones(monkeypatch):
    # 30 copies of one 2 kb "locus": exact repeats that LZ77 codes far below the k-mer model's first pass
    rng = np.random.default_rng(3)
    locus = rng.integers(0, 4, 2000).astype(np.uint8)
    codes, lens = np.tile(locus, 30), np.full(30, 2000, np.int64)
    mate = np.zeros(30, np.uint8)
    assert bases.error_rate(np.frombuffer(b"+5" * 5, np.uint8)) == pytest.approx(0.055)   # Phred 10 and 20
    assert bases.error_rate(np.zeros(0, np.uint8)) is None
    assert bases.error_rate(np.frombuffer(b"!" * 10, np.uint8)) is None   # one value: a placeholder
    hifi, codec = bases.encode_bases(codes, lens, mate, 5, errors=0.001)
    assert codec == CodecId.LZMA_TURNED and np.array_equal(bases.decode_bases(hifi, lens, mate, codes == 4), codes)
    calls = []
    # a stand-in that records the full runs and always loses to the context model
    monkeypatch.setattr(bases, "_full_lzma", lambda data: calls.append(len(data)) or bytes(2 * len(data)))
    for errors, level, expect in ((0.001, 5, [60000]), (0.1, 5, []), (0.1, 7, [60000])):
        calls.clear()
        noisy, codec = bases.encode_bases(codes, lens, mate, level, errors=errors)
        assert codec == CodecId.BASE_CTX and calls == expect   # noisy long reads: not tried below level 7
    assert np.array_equal(bases.decode_bases(noisy, lens, mate, codes == 4), codes)
    for level, expect in ((5, []), (6, [60000])):   # short reads: from level 6, a block this small is tried
        calls.clear()
        short = bases.encode_bases(codes, np.full(600, 100, np.int64), np.zeros(600, np.uint8), level, errors=0.1)
        assert short[1] == CodecId.BASE_CTX and calls == expect
    # accurate long reads run it without the check, even where the first reads say it loses
    monkeypatch.setattr(bases, "LZMA_SAMPLE", 8000)   # the first batch: 16 reads of 500
    unique = rng.integers(0, 4, 60000).astype(np.uint8)   # no repeats: lzma cannot come close
    calls.clear()
    bases.encode_bases(unique, np.full(120, 500, np.int64), np.zeros(120, np.uint8), 5, errors=0.001)
    assert calls == [60000]
    calls.clear()   # the same bases as short reads: the check on the first batch skips the full run
    bases.encode_bases(unique, np.full(600, 100, np.int64), np.zeros(600, np.uint8), 6, errors=0.001)
    assert calls == []


def test_shared_fraction_counts_copies_on_either_strand():
    from codec.streams import overlap

    rng = np.random.default_rng(8)
    locus = rng.integers(0, 4, 50_000).astype(np.uint8)
    other = rng.integers(0, 4, 50_000).astype(np.uint8)
    rc = (3 - locus[::-1]).astype(np.uint8)
    assert overlap.shared_fraction(np.concatenate([locus, other]), np.array([50_000, 50_000])) < 0.01
    assert overlap.shared_fraction(np.concatenate([locus, locus]), np.array([50_000, 50_000])) == 1.0
    assert overlap.shared_fraction(np.concatenate([locus, rc]), np.array([50_000, 50_000])) == 1.0
    # k-mers never span two reads: a locus cut at one point shares nothing with itself
    assert overlap.shared_fraction(locus, np.array([25_000, 25_000])) < 0.01
    assert overlap.shared_fraction(locus[:10], np.array([10])) == 0.0   # shorter than k: nothing sampled


def test_accurate_long_reads_that_barely_overlap_skip_lzma(monkeypatch):
    """From LZMA_ONLY_MIN bases, accurate long reads go to lzma alone only where enough of
    their k-mers recur; reads that do not overlap go to the context model alone."""
    calls = []
    real_full = bases._full_lzma
    monkeypatch.setattr(bases, "_full_lzma", lambda data: calls.append(len(data)) or real_full(data))
    monkeypatch.setattr(bases, "LZMA_ONLY_MIN", 50_000)
    rng = np.random.default_rng(9)
    unique = rng.integers(0, 4, 60_000).astype(np.uint8)
    lens, mate = np.full(30, 2000, np.int64), np.zeros(30, np.uint8)
    payload, codec = bases.encode_bases(unique, lens, mate, 5, errors=0.001)
    assert codec == CodecId.BASE_CTX and calls == []
    assert np.array_equal(bases.decode_bases(payload, lens, mate, unique == 4), unique)
    copies = np.tile(unique[:2000], 30)
    payload, codec = bases.encode_bases(copies, lens, mate, 5, errors=0.001)
    assert codec == CodecId.LZMA_TURNED and calls == [60_000]
    assert np.array_equal(bases.decode_bases(payload, lens, mate, copies == 4), copies)


def test_long_reads_with_placeholder_qualities_try_both_and_keep_the_smaller(monkeypatch):
    """One quality value throughout says nothing about errors (error_rate None): lzma runs
    beside the context model and the smaller payload is kept, whichever it is."""
    rng = np.random.default_rng(5)
    locus = rng.integers(0, 4, 2000).astype(np.uint8)
    mate = np.zeros(30, np.uint8)
    lens = np.full(30, 2000, np.int64)
    copies = np.tile(locus, 30)   # exact copies: lzma wins
    payload, codec = bases.encode_bases(copies, lens, mate, 5, errors=None)
    assert codec == CodecId.LZMA_TURNED
    assert np.array_equal(bases.decode_bases(payload, lens, mate, copies == 4), copies)
    calls = []
    # a stand-in that records the full runs and always loses: the context model is kept
    monkeypatch.setattr(bases, "_full_lzma", lambda data: calls.append(len(data)) or bytes(2 * len(data)))
    payload, codec = bases.encode_bases(copies, lens, mate, 5, errors=None)
    assert codec == CodecId.BASE_CTX and calls == [60000]
    assert np.array_equal(bases.decode_bases(payload, lens, mate, copies == 4), copies)


def test_trial_encodes_on_shared_tables_cost_what_fresh_tables_do():
    """choose_params' trials reuse one set of small tables (a probed order-k_mid table); each
    trial must still cost what an encode on fresh full tables does, whichever order (smaller
    or larger k_mid first) the presets come in."""
    rng = np.random.default_rng(11)
    locus = rng.integers(0, 4, 3000).astype(np.uint8)
    codes = np.concatenate([locus, rng.integers(0, 4, 3000).astype(np.uint8), locus[::-1], locus])
    lens = np.full(8, 1500, np.int64)
    scratch = bases_ctx._TrialTables(16)
    presets = ((11, (16, 16, 16), 0), (12, (16, 32, 32), 4), (11, (32, 64, 64), 4), (12, (16, 16, 16), 0))
    for k_mid, betas, mix in presets:
        p = bases_ctx.BaseParams(k_mid, 20, 16, betas, mix, 10)
        fresh = bases_ctx._encode_words(codes, lens, p, bases_ctx.TRIAL_SEGMENT)
        assert bases_ctx._encode_words(codes, lens, p, bases_ctx.TRIAL_SEGMENT, scratch.zeroed()) == fresh


def test_probed_mid_table_keeps_every_kmer_apart():
    """_mid_row: the k-mer itself in a full table (what archives are coded with); in the
    trials' probed table, one slot per distinct k-mer, found again on every lookup, even
    where most slots are taken (a table of 32 slots for 16 k-mers)."""
    rng = np.random.default_rng(3)
    hist = rng.integers(0, 1 << 62, 1 << 15, dtype=np.uint64)
    full = np.zeros((4 ** 6, 4), np.uint16)
    assert [bases_ctx._mid_row(h, 6, full) for h in hist[:100]] == [int(h) & (4 ** 6 - 1) for h in hist[:100]]
    for k_mid, slots in ((12, 1 << bases_ctx.TRIAL_MID_BITS), (2, 32)):
        probed = np.zeros((slots, 6), np.uint16)
        rows = np.array([bases_ctx._mid_row(h, k_mid, probed) for h in hist])
        kmers = hist & np.uint64(4 ** k_mid - 1)
        assert len(np.unique(rows)) == len(np.unique(kmers)) == int((probed[:, 4:] != 0).any(1).sum())
        assert np.array_equal(rows, [bases_ctx._mid_row(h, k_mid, probed) for h in hist])
        first = {int(k): r for k, r in zip(kmers, rows)}
        assert all(first[int(k)] == r for k, r in zip(kmers, rows))
    tiny = np.zeros((4, 6), np.uint16)   # 4 slots: a fifth k-mer is refused, not looped on
    for h in range(4):
        bases_ctx._mid_row(np.uint64(h), 2, tiny)
    with pytest.raises(ValueError, match="full"):
        bases_ctx._mid_row(np.uint64(4), 2, tiny)


def _ctx_checkpoints(codes: np.ndarray, lens: np.ndarray) -> list[tuple[int, float]]:
    checkpoints: list[tuple[int, float]] = []
    bases_ctx.encode_bases(codes, lens, None, 5, bases_ctx.choose_params(codes, lens, 5), checkpoints)
    return checkpoints


def test_checkpoints_give_the_context_models_cost_of_each_prefix():
    """After each batch of the full encode: (bases so far, bytes so far), equal to what an
    encode of that prefix alone writes (the first batches are coded the same way)."""
    rng = np.random.default_rng(7)
    lens = rng.integers(50, 300, 400).astype(np.int64)
    codes = rng.integers(0, 4, int(lens.sum())).astype(np.uint8)
    checkpoints = _ctx_checkpoints(codes, lens)
    ends = np.cumsum(lens)
    assert [n for n, _ in checkpoints] == sorted({n for n, _ in checkpoints}) and checkpoints[-1][0] == ends[-1]
    params = bases_ctx.choose_params(codes, lens, 5)
    for n, size in checkpoints:
        n_reads = int(np.searchsorted(ends, n)) + 1
        assert ends[n_reads - 1] == n   # a checkpoint ends on a read boundary
        alone = len(bases_ctx._encode_words(codes[:n], lens[:n_reads], params))
        assert size <= alone <= size + 8


def test_lzma_check_compares_both_coders_on_the_same_first_reads(monkeypatch):
    """The full lzma run is tried only where lzma comes close to the context model on the
    block's first reads: repeated reads yes, random ones no (lzma cannot code them in 2 bits)."""
    rng = np.random.default_rng(5)
    monkeypatch.setattr(bases, "LZMA_SAMPLE", 20000)
    lens = np.full(800, 100, np.int64)
    random_codes = rng.integers(0, 4, 80000).astype(np.uint8)
    repeated = np.tile(rng.integers(0, 4, 100).astype(np.uint8), 800)
    for codes, expect in ((random_codes, False), (repeated, True)):
        assert bases._lzma_may_win(codes.tobytes(), _ctx_checkpoints(codes, lens)) is expect
    monkeypatch.setattr(bases, "LZMA_SAMPLE", 50000)   # the sample is over half the block: always tried
    assert bases._lzma_may_win(random_codes.tobytes(), _ctx_checkpoints(random_codes, lens))
    assert not bases._lzma_may_win(b"", [])


def _serial_bases(codes: np.ndarray, lens: np.ndarray) -> tuple[bytes, CodecId]:
    """The base stream as chosen with the lzma check and run after the context model's encode."""
    checkpoints: list[tuple[int, float]] = []
    ctx = bytes([CodecId.BASE_CTX]) + bases_ctx.encode_bases(codes, lens, None, 5,
                                                             bases_ctx.choose_params(codes, lens, 5), checkpoints)
    lz = bases._lzma_candidate(codes.copy(), lens, turned=False) \
        if bases._lzma_may_win(codes.tobytes(), checkpoints) else None
    return lz if lz is not None and len(lz[0]) < len(ctx) else (ctx, CodecId.BASE_CTX)


def test_early_lzma_starts_during_the_encode_and_chooses_as_the_check_after_it(monkeypatch):
    """lzma's check (and its full run where the check passes) starts at the checkpoint
    nearest LZMA_SAMPLE, while the context model goes on; the stream is the one the check
    run after the encode picks: lzma for repeated reads, the context model for random ones."""
    rng = np.random.default_rng(11)
    monkeypatch.setattr(bases, "LZMA_SAMPLE", 20000)
    lens = np.full(800, 100, np.int64)
    started: list[int | None] = []
    real_run = bases._EarlyLzma._run

    def spy(self, n, ctx_bytes):
        started.append(n)
        return real_run(self, n, ctx_bytes)

    monkeypatch.setattr(bases._EarlyLzma, "_run", spy)
    random_codes = rng.integers(0, 4, 80000).astype(np.uint8)
    repeated = np.tile(rng.integers(0, 4, 100).astype(np.uint8), 800)
    for codes, expect in ((random_codes, CodecId.BASE_CTX), (repeated, CodecId.LZMA)):
        started.clear()
        payload, codec_id = bases.encode_bases(codes, lens, np.zeros(len(lens), np.uint8), 6)
        assert codec_id == expect and (payload, codec_id) == _serial_bases(codes, lens)
        assert len(started) == 1 and 10000 <= started[0] < 40000   # near the sample, not at the end
        assert np.array_equal(bases.decode_bases(payload, lens, None, np.zeros(len(codes), bool)), codes)


def test_long_read_qualities_keep_the_lstm_only_where_it_pays():
    """Level 5 codes long reads whose LSTM gain on a sample is small with the context model
    alone (whose decoder needs only the N flags of the bases); level 6 still mixes."""
    quals, lens = _random_reads(40, 3000, alphabet=50)   # uniform noise: nothing for the LSTM to learn
    quals = (quals + 33).astype(np.uint8)
    codes = RNG.integers(0, 5, len(quals)).astype(np.uint8)
    mate = np.zeros(len(lens), np.uint8)
    p5, c5 = qualities.encode_qualities(quals, lens, codes, mate, 5)
    p6, c6 = qualities.encode_qualities(quals, lens, codes, mate, 6)
    assert (c5, c6) == (CodecId.QUAL_CTX, CodecId.QUAL_MIX)
    assert qualities.reads_only_n_flags(p5) and not qualities.reads_only_n_flags(p6)
    n_flags = np.where(codes == 4, 4, 0).astype(np.uint8)
    assert np.array_equal(qualities.decode_qualities(p5, lens, n_flags, mate), quals)


@pytest.mark.parametrize("k", [2, 7, 41, 94])
def test_quality_context_round_trip(k):
    quals, lens = _random_reads(300, 200, alphabet=k)
    codes = RNG.integers(0, 5, len(quals)).astype(np.uint8)
    mate = (np.arange(len(lens)) % 2).astype(np.uint8)
    payload = qual_ctx.encode_qualities(quals, lens, codes, mate, k)
    assert np.array_equal(qual_ctx.decode_qualities(payload, lens, codes, mate, k), quals)


def test_quality_context_rows_of_a_block_lie_together():
    """Read 1s without N use the first quarter of the full-context table, and one context's
    rows at successive positions are neighbours: a block writes to few of the table's pages
    (each costs when first written, see QualCtxModel)."""
    k = 41

    def used_rows(quals: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, int]:
        codes = RNG.integers(0, 4, len(quals)).astype(np.uint8)
        model = qual_ctx.QualCtxModel(k, codes, np.zeros(len(lens), np.uint8), qual_ctx.pos_shift_for(lens),
                                      qual_ctx.BETAS)
        stepcoding.run(model, make_rows(lens, qual_ctx.SEGMENT), quals, StepEncoder(), None)
        return np.flatnonzero(model.full[1]), len(model.full[1])

    used, n_rows = used_rows(*_random_reads(200, 150, alphabet=k))
    assert used.max() < n_rows // 4
    # one read of one value: from its third symbol on, one (q1, q2, changes) context at every
    # position bucket in turn
    steady = set(used_rows(np.full(16 * 16, 5, np.uint8), np.array([16 * 16]))[0].tolist())
    assert any(all(r + p in steady for p in range(qual_ctx.N_POS)) for r in steady)


def _homopolymer_reads(n_reads: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(quality symbols, lengths, base codes) of reads whose qualities follow the homopolymer
    run each base sits in, with noise, as long-read basecallers grade them: lower in long
    runs and at a run's ends."""
    rng = np.random.default_rng(seed)
    runs = rng.integers(1, 7, n_reads * length)
    letters = np.cumsum(rng.integers(1, 4, len(runs))) % 4   # each run a new base
    run_len = np.repeat(runs, runs)[:n_reads * length]
    codes = np.repeat(letters, runs)[:n_reads * length].astype(np.uint8)
    offset = (np.arange(np.sum(runs)) - np.repeat(np.cumsum(runs) - runs, runs))[:n_reads * length]
    edge = (offset == 0) | (offset == run_len - 1)
    quals = 30 - 3 * np.minimum(run_len, 5) - 4 * edge + rng.integers(0, 4, len(codes))
    return quals.astype(np.uint8), np.full(n_reads, length, np.int64), codes


def test_run_slots_count_equal_bases_on_each_side_within_the_row():
    codes = RNG.integers(0, 2, 400).astype(np.uint8)   # two letters: long runs
    for start, n in ((0, 400), (37, 90), (395, 5)):
        for t in range(n):
            row = codes[start:start + n].tolist()
            back = next((j for j in range(qual_ctx.RUN_CAP) if t - j - 1 < 0 or row[t - j - 1] != row[t]),
                        qual_ctx.RUN_CAP)
            ahead = next((j for j in range(qual_ctx.RUN_CAP) if t + j + 1 >= n or row[t + j + 1] != row[t]),
                         qual_ctx.RUN_CAP)
            assert qual_ctx._run_slot(codes, start, t, n) == back * (qual_ctx.RUN_CAP + 1) + ahead


def test_quality_context_takes_run_slots_only_where_they_pay():
    """Qualities graded by homopolymer run get the run slots (payload version 2); qualities
    that follow the position, and noise, keep the position slots and format 15.0's
    version-1 payload, whose decoder needs only the N flags."""
    k = 30
    hp_quals, lens, codes = _homopolymer_reads(300, 400, 1)
    mate = np.zeros(len(lens), np.uint8)
    assert qual_ctx.choose_context(hp_quals, lens, codes, mate, k) == qual_ctx.CONTEXT_RUNS
    sizes = [len(qual_ctx._encode(hp_quals, lens, codes, mate, k, c))
             for c in (qual_ctx.CONTEXT_POSITION, qual_ctx.CONTEXT_RUNS)]
    assert sizes[1] < 0.95 * sizes[0]
    runs = qual_ctx.encode_qualities(hp_quals, lens, codes, mate, k)
    assert runs[0] == 2 and len(runs) == sizes[1] and qual_ctx.reads_bases(runs)
    assert np.array_equal(qual_ctx.decode_qualities(runs, lens, codes, mate, k), hp_quals)

    positions = np.tile(np.arange(400), 300)
    by_position = (25 - positions // 16 + RNG.integers(0, 4, len(codes))).astype(np.uint8)   # 1..28
    noise = RNG.integers(0, k, len(codes)).astype(np.uint8)
    for quals in (by_position, noise):
        assert qual_ctx.choose_context(quals, lens, codes, mate, k) == qual_ctx.CONTEXT_POSITION
        payload = qual_ctx.encode_qualities(quals, lens, codes, mate, k)
        assert payload[0] == 1 and not qual_ctx.reads_bases(payload)


def test_run_slots_many_step_encoding_gives_the_step_loop_bytes(monkeypatch):
    quals, lens, codes = _homopolymer_reads(40, 5000, 2)   # rows cut into segments
    lens[3] = 0
    quals, codes = quals[:int(lens.sum())], codes[:int(lens.sum())]
    mate = np.zeros(len(lens), np.uint8)
    fast = qual_ctx._encode(quals, lens, codes, mate, 30, qual_ctx.CONTEXT_RUNS)
    monkeypatch.setattr(stepcoding, "_encode_many", lambda model, active, flat, enc:
                        stepcoding._step_loop(model, model.starts, active, flat, enc, None))
    assert qual_ctx._encode(quals, lens, codes, mate, 30, qual_ctx.CONTEXT_RUNS) == fast


def test_run_slot_decoder_reads_only_the_bases_it_waited_for():
    """The pipeline decodes qualities while the bases still arrive (codec.forked.Feed): with
    run slots each batch first waits for its bases, in batches of at most RUNS_BATCH_ROWS
    rows, so the last one does not wait for half the block. Bases not yet revealed here
    are wrong, so a decoder that read one early would decode garbage."""
    raw, lens, codes = _homopolymer_reads(700, 150, 3)
    raw = raw + 33
    mate = np.zeros(len(lens), np.uint8)
    payload, codec_id = qualities.encode_qualities(raw, lens, codes, mate, 1)
    assert codec_id == CodecId.QUAL_CTX and not qualities.reads_only_n_flags(payload)
    arrived = np.zeros_like(codes)
    asked: list[int] = []

    def ready(n: int) -> None:
        asked.append(n)
        arrived[:n] = codes[:n]

    assert np.array_equal(qualities.decode_qualities(payload, lens, arrived, mate, ready=ready), raw)
    assert asked == sorted(asked) and asked[-1] == len(codes)
    assert len(asked) >= 700 // qual_ctx.RUNS_BATCH_ROWS and np.diff([0] + asked).max() <= 256 * 150


def test_layout_exceptions_round_trip():
    block = parse_block((DATA / "plus_repeats.fastq").read_bytes())
    files = layout.decode_layout(layout.encode_layout([block, block]), 2, block.n_records)
    assert files[0][3] == block.plus_other and files[1][2].tolist() == block.plus_kind.tolist()
    seq = np.frombuffer(b"NNACGTnacgtRYN.ACGT-*", np.uint8)
    mask, chars = decode_exceptions(encode_exceptions(seq), len(seq))
    assert np.array_equal(mask, BASE_CODE[seq] == 4) and chars.tobytes() == b"NNnacgtRYN.-*"


@pytest.mark.parametrize("text, flags", [
    (b"ACGTNACGT", 0),
    (b"AcGtNa", 0),                              # isolated lowercase letters stay exceptions
    (b"ACGUACGUNT", SPELL_U),                    # RNA: U is code 3, the lone T an exception
    (b"ACGTacgtacgtNNnnACGT", SPELL_CASE),       # a soft-masked run (its n stays an exception)
    (b"acguacguAC-", SPELL_CASE | SPELL_U),
])
def test_spelling_choice_and_round_trip(text: bytes, flags: int):
    seq = np.frombuffer(text, np.uint8)
    chosen, canon, lower = choose_spelling(seq)
    assert chosen == flags and (lower is not None) == bool(flags & SPELL_CASE)
    codes = spelled_codes(chosen)[canon]
    assert canon.tobytes() == (text.upper() if flags & SPELL_CASE else text)
    assert int((codes < 4).sum()) == sum(c in b"ACGU" if flags & SPELL_U else c in b"ACGT" for c in canon.tobytes())
    if not flags:
        return
    mask, chars, letters, lower_back = decode_spelled(encode_spelled(canon, chosen, lower), len(seq))
    out = letters[np.minimum(codes, 3)]
    out[mask] = chars
    apply_case(out, lower_back)
    assert out.tobytes() == text and np.array_equal(mask, codes == 4)


def test_spelled_exceptions_reject_damage():
    seq = np.frombuffer(b"acguacguACGU", np.uint8)
    flags, canon, lower = choose_spelling(seq)
    payload = encode_spelled(canon, flags, lower)
    for bad in (b"\x00" + payload[1:], b"\x04" + payload[1:], payload[:3], b""):
        with pytest.raises(FormatError):
            decode_spelled(bad, len(seq))
    with pytest.raises(FormatError):   # a case run over a byte that is not a capital letter
        apply_case(np.frombuffer(b"AC-T", np.uint8).copy(), np.array([False, False, True, False]))


def test_pack_best_picks_smallest_and_checks_damage():
    data = b"ACGT" * 1000
    packed = pack_best(data)
    assert packed[0] == CodecId.LZMA and unpack(packed) == data
    assert unpack(pack_best(b"")) == b""
    with pytest.raises(FormatError):
        unpack(packed[:-5])
    with pytest.raises(FormatError):
        unpack(bytes([99]) + b"xx")


@pytest.mark.parametrize("codec", ["bases", "quals"])
def test_damaged_model_payloads_raise_format_error_or_decode(codec):
    symbols, lens = _random_reads(100, 100, alphabet=4 if codec == "bases" else 30)
    mate = np.zeros(len(lens), np.uint8)
    if codec == "bases":
        payload = bases_ctx.encode_bases(symbols, lens, mate)
        decode = lambda p: bases_ctx.decode_bases(p, lens, mate, symbols == 4)  # noqa: E731
    else:
        payload = qual_ctx._encode(symbols, lens, symbols % 5, mate, 30, qual_ctx.CONTEXT_RUNS)
        decode = lambda p: qual_ctx.decode_qualities(p, lens, symbols % 5, mate, 30)  # noqa: E731
    for cut in (0, 1, 3, 5, len(payload) // 2):
        try:
            decode(payload[:cut])
        except FormatError:
            pass
    for i in range(0, len(payload), max(1, len(payload) // 20)):
        damaged = bytearray(payload)
        damaged[i] ^= 0x55
        try:
            decode(bytes(damaged))
        except FormatError:
            pass


def test_new_table_shapes():
    counts, totals = new_table(10, 4)
    assert counts.dtype == np.uint16 and counts.shape == (10, 4) and totals.shape == (10,)


def _base_payload(codes, lens, params, version=bases_ctx.VERSION, batch_rows=bases_ctx.BATCH_ROWS):
    """A BASE_CTX payload with the given parameters (version 1 has no tolerance byte,
    versions 1 and 2 no calibration byte, versions 1 to 3 no batch_rows and no row cap)."""
    head = params.to_bytes()[:{1: 7, 2: 8}.get(version, 9)]
    if version < 4:
        batch_rows, cap = 0, b""
    else:
        cap = encode_uvarint(batch_rows)
    return bytes([version]) + head + encode_uvarint(bases_ctx.SEGMENT) + cap + \
        bases_ctx._encode_words(codes, lens, params, batch_rows=batch_rows)


def _misread(read, error, biased=False):
    """``read`` with substitution errors at rate ``error``; ``biased``: each base is always
    misread as the same other base, as a sequencer's bias."""
    hit = RNG.random(len(read)) < error
    read[hit] = (read[hit] + (1 if biased else RNG.integers(1, 4, int(hit.sum())))) % 4
    return read


def _noisy_coverage(n_reads=600, length=150, error=0.03, genome_len=5000, biased=False):
    """Reads of one genome with substitution errors (the case the tolerant context is for);
    ``biased`` as in :func:`_misread`."""
    genome = RNG.integers(0, 4, genome_len).astype(np.uint8)
    reads = [_misread(genome[s:s + length].copy(), error, biased)
             for s in RNG.integers(0, genome_len - length, n_reads)]
    return np.concatenate(reads), np.full(n_reads, length, dtype=np.int64)


@pytest.mark.parametrize("calibration", [0, 1, 2])
@pytest.mark.parametrize("tolerance", [0, 10])
@pytest.mark.parametrize("mix_shift", [0, bases_ctx.MIX_SHIFT])
@pytest.mark.parametrize("k_mid, k_high", [(11, 20), (12, 24)])
def test_kmer_memory_every_variant_round_trips_deterministically(calibration, tolerance, mix_shift, k_mid, k_high):
    codes, lens = _noisy_coverage(300)
    codes[RNG.integers(0, len(codes), 30)] = 4
    params = bases_ctx.BaseParams(k_mid, k_high, 18, (16, 32, 32), mix_shift, tolerance, calibration)
    payload = _base_payload(codes, lens, params)
    assert payload.endswith(bases_ctx._encode_words(codes, lens, params))
    out = bases_ctx.decode_bases(payload, lens, np.zeros(len(lens), np.uint8), codes == 4)
    assert np.array_equal(out, codes)


def test_calibration_pays_on_noisy_coverage_and_older_payloads_still_decode():
    """The calibration stage (payload version 3) codes substitution-noisy coverage smaller;
    version 2 payloads (formats 3.0 to 9.0) have no calibration byte and still decode."""
    codes, lens = _noisy_coverage(600, error=0.05)
    mate = np.zeros(len(lens), np.uint8)
    plain = bases_ctx.BaseParams(11, 20, 18, (16, 16, 16), 0, 10, 0)
    calibrated = dataclasses.replace(plain, calibration=1)
    assert len(bases_ctx._encode_words(codes, lens, calibrated)) < len(bases_ctx._encode_words(codes, lens, plain))
    old = _base_payload(codes, lens, plain, version=2)
    assert np.array_equal(bases_ctx.decode_bases(old, lens, mate, codes == 4), codes)
    with pytest.raises(FormatError):   # a calibration byte other than 0, 1 or 2 is refused
        bases_ctx.decode_bases(_base_payload(codes, lens, dataclasses.replace(plain, calibration=3)), lens, mate,
                               codes == 4)


def test_substitution_table_names_the_base_a_biased_sequencer_reads_instead():
    """Calibration 2: where every error turns a base into the same other base, the miss is
    shared by the learned substitution table rather than by the counts alone, and the stream
    is clearly smaller (more so than with unbiased errors, where it costs nothing). Version 3
    payloads (format 10.0) cannot say calibration 2 and are refused if they do."""
    stage = bases_ctx.BaseParams(11, 20, 18, (16, 16, 16), 0, 10, 1)
    ratios = {}
    for biased in (True, False):
        codes, lens = _noisy_coverage(1000, error=0.02, biased=biased)
        sizes = [len(bases_ctx._encode_words(codes, lens, dataclasses.replace(stage, calibration=c))) for c in (1, 2)]
        ratios[biased] = sizes[1] / sizes[0]
    assert ratios[True] < 0.975 and ratios[True] < ratios[False] < 1.005, ratios
    table = dataclasses.replace(stage, calibration=2)
    mate = np.zeros(len(lens), np.uint8)
    assert np.array_equal(bases_ctx.decode_bases(_base_payload(codes, lens, table), lens, mate, codes == 4), codes)
    with pytest.raises(FormatError):
        bases_ctx.decode_bases(_base_payload(codes, lens, table, version=3), lens, mate, codes == 4)


@pytest.mark.parametrize("calibration", [1, 2])
@pytest.mark.parametrize("mix_shift", [0, bases_ctx.MIX_SHIFT])
def test_calibration_tally_predicts_the_encodes_without_the_stage(mix_shift, calibration):
    """The encode's tally of what the block costs without the calibration stage, with the
    mixing as it is and flipped, is the size of those encodes (ideal code length vs range
    coder: within 0.5 %), and the calibrated tally is the encode's own size."""
    codes, lens = _noisy_coverage(400, error=0.05)
    params = bases_ctx.BaseParams(11, 20, 18, (16, 16, 16), mix_shift, 10, calibration)
    costs = np.zeros(3)
    calibrated = len(bases_ctx._encode_words(codes, lens, params, costs=costs))
    flipped = bases_ctx.MIX_SHIFT - mix_shift
    for tally, variant in ((costs[1], params), (costs[0], dataclasses.replace(params, calibration=0)),
                           (costs[2], dataclasses.replace(params, calibration=0, mix_shift=flipped))):
        size = calibrated if variant is params else len(bases_ctx._encode_words(codes, lens, variant))
        assert abs(tally / 8 - size) < 0.005 * size + 16, (variant, tally / 8, size)


def test_calibration_is_dropped_only_where_the_tally_says_it_saves_enough():
    """The decision on the encode's tally: drop the stage (mixing as chosen, or flipped where
    that is cheaper) when that saves at least the given share, else keep it."""
    params = bases_ctx.BaseParams(11, 20, 22, (16, 16, 16), 0, 10, 1)
    gain = bases_ctx.CAL_DROP_GAIN
    keep = 1000.0 * (1 - gain / 2)
    assert bases_ctx._without_calibration(params, np.array([keep, 1000.0, 2000.0]), gain) is None
    assert bases_ctx._without_calibration(params, np.array([950.0, 1000.0, 2000.0]), gain) == \
        dataclasses.replace(params, calibration=0)
    assert bases_ctx._without_calibration(params, np.array([950.0, 1000.0, 900.0]), gain) == \
        dataclasses.replace(params, calibration=0, mix_shift=bases_ctx.MIX_SHIFT)
    assert bases_ctx._without_calibration(dataclasses.replace(params, calibration=0), np.zeros(3), gain) is None
    assert bases_ctx._without_calibration(params, np.array([995.0, 1000.0, 2000.0]), 0.01) is None


@pytest.mark.parametrize("level, redo", [(5, False), (6, True)])
def test_the_default_level_codes_the_block_again_only_for_a_larger_gain(monkeypatch, level, redo):
    """A second encode doubles the base stream's CPU: below CAL_DROP_LEVEL it must save
    CAL_DROP_GAIN_FAST, from there CAL_DROP_GAIN (here the tally says 0.5 %)."""
    tallies = []

    def tally(params, costs, min_gain):
        tallies.append(min_gain)
        return None if min_gain > 0.005 else dataclasses.replace(params, calibration=0)

    monkeypatch.setattr(bases_ctx, "_without_calibration", tally)
    codes, lens = _noisy_coverage(100, error=0.05)
    payload = bases_ctx.encode_bases(codes, lens, np.zeros(len(lens), np.uint8), level=level)
    r = Reader(payload)
    assert (bases_ctx.BaseParams.read(r, r.u8()).calibration == 0) is redo
    assert tallies == [bases_ctx.CAL_DROP_GAIN if redo else bases_ctx.CAL_DROP_GAIN_FAST]


def test_encoder_codes_the_block_again_without_the_stage_when_it_drops_it(monkeypatch):
    """Where the stage pays (noisy coverage) it stays; where the tally says to drop it (forced
    here: on the data at hand it pays) the block is coded again without it, and decodes."""
    codes, lens = _noisy_coverage(600, error=0.05)
    mate = np.zeros(len(lens), np.uint8)
    for gain, expect in ((bases_ctx.CAL_DROP_GAIN_FAST, bases_ctx.calibration_for(5)), (-1.0, 0)):
        monkeypatch.setattr(bases_ctx, "CAL_DROP_GAIN_FAST", gain)
        payload = bases_ctx.encode_bases(codes, lens, mate, level=5)
        r = Reader(payload)
        assert bases_ctx.BaseParams.read(r, r.u8()).calibration == expect
        assert np.array_equal(bases_ctx.decode_bases(payload, lens, mate, codes == 4), codes)


def _amplicon_reads(n_amplicons=200, per_amplicon=20, length=150, error=0.01):
    """Reads that start at one of a few amplicon starts, either strand, in random order."""
    genome = RNG.integers(0, 4, n_amplicons * length).astype(np.uint8)
    reads = []
    for a in RNG.integers(0, n_amplicons, n_amplicons * per_amplicon):
        r = genome[a * length:(a + 1) * length].copy()
        if RNG.random() < 0.5:
            r = (3 - r)[::-1]
        reads.append(_misread(r, error))
    return np.concatenate(reads), np.full(len(reads), length, dtype=np.int64)


def test_batches_of_few_rows_let_reads_draw_on_the_reads_before_them():
    """Rows of a batch step together, so reads of one amplicon in the same batch cannot draw
    on each other: with batches capped at BATCH_ROWS rows the stream is clearly smaller than
    with batches up to the driver's symbol cap (format 10.0), and both payload versions decode."""
    codes, lens = _amplicon_reads()
    mate = np.zeros(len(lens), np.uint8)
    params = bases_ctx.BaseParams(11, 20, 18, (16, 16, 16), 0, 10, 1)
    capped, uncapped = (_base_payload(codes, lens, params, version) for version in (4, 3))
    assert len(capped) < 0.95 * len(uncapped), (len(capped), len(uncapped))
    for payload in (capped, uncapped):
        assert np.array_equal(bases_ctx.decode_bases(payload, lens, mate, codes == 4), codes)
    assert len(batch_bounds(make_rows(lens, 4096), bases_ctx.BATCH_ROWS)) > len(batch_bounds(make_rows(lens, 4096)))
    with pytest.raises(FormatError):   # version 4 with no row cap is refused
        bases_ctx.decode_bases(_base_payload(codes, lens, params, batch_rows=0), lens, mate, codes == 4)


def test_batch_rows_caps_every_batch_and_long_rows_keep_the_symbol_cap():
    rows = make_rows(np.full(5000, 100), 4096)
    bounds = batch_bounds(rows, 256)
    sizes = [hi - lo for lo, hi in bounds]
    assert sizes[:5] == [16, 32, 64, 128, 256] and max(sizes) == 256 and bounds[-1][1] == 5000
    long_rows = make_rows(np.full(600, 4096 * 3), 4096)   # 256 rows of 4096 = the 2^20-symbol cap
    assert batch_bounds(long_rows, 256) == batch_bounds(long_rows)


def test_version_1_base_payload_still_decodes():
    """Format 2.0 archives carry BASE_CTX version 1 (no tolerance byte, no tolerant context)."""
    codes, lens = _noisy_coverage(200)
    params = bases_ctx.BaseParams(11, 20, 18, (16, 16, 16), 0, 0)
    payload = _base_payload(codes, lens, params, version=1)
    assert np.array_equal(bases_ctx.decode_bases(payload, lens, np.zeros(len(lens), np.uint8), codes == 4), codes)
    with pytest.raises(FormatError):   # a tolerance byte past k_high is refused
        bases_ctx.decode_bases(_base_payload(codes, lens, dataclasses.replace(params, tolerance=21)), lens,
                               np.zeros(len(lens), np.uint8), codes == 4)


def test_tolerant_context_pays_on_substitution_errors_and_costs_little_without():
    """Deep coverage with 3 % substitutions: the tolerant history bridges each error, so the
    stream is clearly smaller; on error-free reads the mixer keeps the loss negligible."""
    noisy, lens = _noisy_coverage(1500)
    clean, clean_lens = _noisy_coverage(1500, error=0.0)
    for codes, ls, most in ((noisy, lens, 0.9), (clean, clean_lens, 1.01)):
        plain = bases_ctx.BaseParams(11, 20, 18, (16, 16, 16), 0, 0)
        tolerant = dataclasses.replace(plain, tolerance=10)
        sizes = [len(bases_ctx._encode_words(codes, ls, p)) for p in (plain, tolerant)]
        assert sizes[1] < most * sizes[0], sizes


def test_tolerance_is_off_at_level_1_only():
    assert bases_ctx.tolerance_for(1, 20) == 0
    assert bases_ctx.tolerance_for(2, 20) == bases_ctx.tolerance_for(9, 20) == 10
