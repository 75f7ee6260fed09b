"""The QUALITIES stream: the mixed LSTM + context codec (QUAL_MIX) and the wrapper's choices.

Proves: the numba mixer equals a plain numpy int64 reference, encoder and
decoder agree, 1 and 2 BLAS threads give identical bytes, corruption is a
FormatError, old codec ids keep decoding, and whole files round-trip through
``codec.compress/decompress`` at levels 1, 5 and MIX_MIN_LEVEL.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from codec import CodecConfig, compress, decompress, forked
from codec.errors import FormatError
from codec.model import defaults
from codec.streams import qual_ctx, qual_lstm, qual_mix, qual_mixers, qualities
from codec.streams.ids import CodecId
from codec.varint import blob

from .conftest import assert_rejects_damage, long_read_block

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "illumina-gaiix-q40-ERR127302_R1.fastq.gz"


def _fastq_slice(n_reads: int) -> bytes | None:
    if not DATA.exists():
        return None
    with gzip.open(DATA, "rb") as fh:
        return b"".join(fh.readline() for _ in range(4 * n_reads))


def _sample(n_reads: int = 150):
    raw = _fastq_slice(n_reads)
    if raw is None:
        rng = np.random.default_rng(1)
        lengths = rng.integers(20, 80, n_reads)
        total = int(lengths.sum())
        return (rng.integers(0, 7, total).astype(np.uint8), lengths, rng.integers(0, 5, total).astype(np.uint8),
                np.zeros(n_reads, np.uint8), 7)
    lines = raw.split(b"\n")
    seqs, qls = lines[1::4][:n_reads], lines[3::4][:n_reads]
    allq = np.frombuffer(b"".join(qls), np.uint8)
    alph = np.unique(allq)
    lut = np.full(256, 4, np.uint8)
    lut[np.frombuffer(b"ACGT", np.uint8)] = np.arange(4)
    return (np.searchsorted(alph, allq).astype(np.uint8), np.array([len(q) for q in qls]),
            lut[np.frombuffer(b"".join(seqs), np.uint8)], np.zeros(n_reads, np.uint8), len(alph))


# ---- the mixer against a plain numpy int64 reference -------------------------------------------

def _ref_mix(t, n, pos0, mate, q1, k, pshift, w, fl, fc):
    pb = np.minimum((pos0[:n] + t) >> pshift, qual_mix.N_MIX_POS - 1)
    qb = (q1[:n] * qual_mix.N_MIX_Q) // (k + 1)
    m = (pb * 2 + mate[:n]) * qual_mix.N_MIX_Q + qb
    wl = w[m][:, None]
    out = 1 + ((wl * fl[:n] + (qual_mix.W_ONE - wl) * fc[:n]) >> 16)
    return out, m


def _ref_update(n, sym, m, w, fl, fc, lr_shift):
    w = w.copy()
    for r in range(n):  # sequential: rows sharing a context see each other's updates
        wl = int(w[m[r]])
        a, b = int(fl[r, sym[r]]), int(fc[r, sym[r]])
        pm = (wl * a + (qual_mix.W_ONE - wl) * b) >> 16
        g = ((a - b) << 16) // (pm + 1)  # Python ints: floor division, arithmetic shifts
        w[m[r]] = min(max(wl + (g >> lr_shift), 0), qual_mix.W_ONE)
    return w


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixer_equals_numpy_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k, n, m_rows = 41, 300, 320
    fl = rng.integers(1, 1 << 20, (m_rows, k)).astype(np.int64)
    fc = rng.integers(1, 1 << 20, (m_rows, k)).astype(np.int64)
    fl[:, 0] = 1  # extremes: one model sure the symbol is impossible
    w = rng.integers(0, qual_mix.W_ONE + 1, qual_mix._n_mix(k)).astype(np.int64)
    w[:3] = [0, qual_mix.W_ONE, 1]
    pos0 = rng.integers(0, 5000, m_rows).astype(np.int64)
    mate = rng.integers(0, 2, m_rows).astype(np.int64)
    q1 = rng.integers(0, k + 1, m_rows).astype(np.int64)
    sym = rng.integers(0, k, m_rows).astype(np.int64)
    out = np.empty((m_rows, k), np.float64)
    mctx = np.empty(m_rows, np.int64)
    for t, pshift in [(0, 0), (7, 3), (300, 8)]:
        ref, m = _ref_mix(t, n, pos0, mate, q1, k, pshift, w, fl, fc)
        qual_mix.mix_tables(t, n, pos0, mate, q1, k, pshift, w, fl, fc, mctx, out)
        assert np.array_equal(out[:n], ref.astype(np.float64)) and np.array_equal(mctx[:n], m)
        assert (out[:n] >= 1).all() and (out[:n] < 2 ** 53).all()
        for lr in (0, 7):
            want = _ref_update(n, sym, m, w, fl, fc, lr)
            got = w.copy()
            qual_mix.mix_update(n, sym, mctx, got, fl, fc, lr)
            assert np.array_equal(got, want)
            assert got.min() >= 0 and got.max() <= qual_mix.W_ONE


def _ref_scaled(x: int, total: int) -> int:
    """FORMAT.md's ``x * 2^20 / total``: float64 reciprocal, one correctly rounded product, truncated."""
    return int(float(x * (1 << 20)) * (1.0 / float(total)))


class _RefPositionMixer:
    """Plain-Python int version of FORMAT.md's QUAL_MIX versions 3-4 (PositionMixer)."""

    def __init__(self, k, longest, w0, lr_shift):
        self.k, self.lr = k, lr_shift
        self.w = [w0 << 8] * (longest * 2 * 4)
        self.w2 = [qual_mixers.W2_0 << 8] * (longest * 2 * 4)
        self.n = [[1] * k for _ in range(longest * 2 * (k + 1))]

    def step(self, t, rows, fl, fc, sym):
        """(coded tables, then the update) for one step; rows = [(pos0, mate, q1), ...]."""
        k, one = self.k, qual_mixers.W_ONE
        ctx, p1s, out = [], [], []
        for r, (pos0, mate, q1) in enumerate(rows):
            p = pos0 + t
            c1, c2 = (p * 2 + mate) * 4 + (q1 * 4) // (k + 1), (p * 2 + mate) * (k + 1) + q1
            w, w2 = self.w[c1], self.w2[c1]
            m = [1 + ((w * int(fl[r, s]) + (one - w) * int(fc[r, s])) >> 16) for s in range(k)]
            p1 = [_ref_scaled(v, sum(m)) for v in m]
            fp = [1 + _ref_scaled(v, sum(self.n[c2])) for v in self.n[c2]]
            out.append([1 + ((w2 * p1[s] + (one - w2) * fp[s]) >> 16) for s in range(k)])
            ctx.append((c1, c2))
            p1s.append(p1)
        for r, (c1, _) in enumerate(ctx):        # stage 1: as the bucket mixer
            x, w = sym[r], self.w[c1]
            a, b = int(fl[r, x]), int(fc[r, x])
            pm = (w * a + (one - w) * b) >> 16
            self.w[c1] = min(max(w + ((((a - b) << 16) // (pm + 1)) >> self.lr), 0), one)
        for r, (c1, c2) in enumerate(ctx):       # stage 2: against the counts as they stand
            x, w2, counts = sym[r], self.w2[c1], self.n[c2]
            a, b = p1s[r][x], 1 + _ref_scaled(counts[x], sum(counts))
            pm = (w2 * a + (one - w2) * b) >> 16
            self.w2[c1] = min(max(w2 + ((((a - b) << 16) // (pm + 1)) >> qual_mixers.LR2_SHIFT), 0), one)
            counts[x] += qual_mixers.COUNT_STEP
            if sum(counts) > qual_mixers.HALVE_ABOVE:
                counts[:] = [(v + 1) >> 1 for v in counts]
        return np.array(out, dtype=np.float64)


def test_position_mixer_equals_python_reference() -> None:
    """Both stages, every count halving and weight clamp included, against FORMAT.md's arithmetic."""
    rng = np.random.default_rng(3)
    k, rows, longest = 5, 60, 12
    mixer = qual_mixers.PositionMixer(k, rows, 192, 7, longest)
    ref = _RefPositionMixer(k, longest, 192, 7)
    start = rng.integers(13090, 13108, mixer.counts.shape)  # totals just below HALVE_ABOVE: they halve
    mixer.counts[:] = start
    mixer.totals[:] = start.sum(1)
    ref.n = start.tolist()
    pos0 = rng.integers(0, 4, rows).astype(np.int64)
    mate = rng.integers(0, 2, rows).astype(np.int64)
    for t in range(longest - 4):
        n = int(rng.integers(1, rows + 1))
        fl = rng.integers(1, 1 << 20, (rows, k)).astype(np.int64)
        fc = rng.integers(1, 1 << 20, (rows, k)).astype(np.int64)
        fl[: n // 3, 0] = 1                      # one model sure the symbol is impossible
        q1 = rng.integers(0, k + 1, rows).astype(np.int64)
        sym = rng.choice(k, rows, p=[0.6, 0.1, 0.1, 0.1, 0.1]).astype(np.int64)  # hot contexts halve
        got = mixer.tables(t, n, pos0, mate, q1, fl, fc).copy()
        want = ref.step(t, list(zip(pos0[:n].tolist(), mate[:n].tolist(), q1[:n].tolist())), fl, fc, sym)
        mixer.update(n, sym, fl, fc)
        assert np.array_equal(got, want)
        assert np.array_equal(mixer.w, ref.w) and np.array_equal(mixer.w2, ref.w2)
        assert np.array_equal(mixer.counts, np.array(ref.n)) and np.array_equal(mixer.totals, np.sum(ref.n, 1))
    assert mixer.totals.max() <= qual_mixers.HALVE_ABOVE and mixer.counts.min() >= 1
    assert (mixer.totals < start.sum(1) - 20000).any()          # some contexts did halve
    with pytest.raises(ValueError):
        qual_mixers.PositionMixer(k, rows, 192, 7, qual_mixers.MAX_POS + 1)


# ---- QUAL_MIX round trips --------------------------------------------------------------------

@pytest.mark.parametrize("k", [2, 6])
def test_qual_mix_roundtrip_synthetic(k: int) -> None:
    rng = np.random.default_rng(k)
    lengths = rng.integers(1, 90, 70)
    total = int(lengths.sum())
    quals = rng.integers(0, k, total).astype(np.uint8)
    bases = rng.integers(0, 5, total).astype(np.uint8)
    mate = rng.integers(0, 2, 70).astype(np.uint8)
    payload = qual_mix.encode_qualities(quals, lengths, bases, mate, k, level=2)
    assert np.array_equal(qual_mix.decode_qualities(payload, lengths, bases, mate, k), quals)


def test_qual_mix_holds_one_byte_per_base_whatever_it_is_given() -> None:
    """The LSTM coders keep the block's bases (and the decoder its symbols) as uint8, not
    int64 (a long-read block holds millions); bases given as int64 code the same bytes."""
    quals, lengths, bases, mate = long_read_block()
    assert qual_lstm._check_inputs(lengths, bases.astype(np.int64), mate)[1].dtype == np.uint8
    one = qual_mix.encode_qualities(quals, lengths, bases, mate, 9, level=2)
    assert qual_mix.encode_qualities(quals, lengths, bases.astype(np.int64), mate, 9, level=2) == one
    arriving = qual_mix._ArrivingBases(bases, lambda n: None)
    arriving.need(len(bases))
    assert arriving.codes.dtype == np.uint8 and np.array_equal(arriving.codes, np.minimum(bases, 4))
    assert np.array_equal(qual_mix.decode_qualities(one, lengths, bases, mate, 9, ready=lambda n: None), quals)


def test_qual_mix_long_reads_and_empty_block() -> None:
    quals, lengths, bases, mate = long_read_block()
    payload = qual_mix.encode_qualities(quals, lengths, bases, mate, 9, level=2)
    assert np.array_equal(qual_mix.decode_qualities(payload, lengths, bases, mate, 9), quals)
    z = (np.zeros(2, np.int64), np.zeros(0, np.uint8), np.zeros(2, np.uint8))
    empty = qual_mix.encode_qualities(np.zeros(0, np.uint8), z[0], z[1], z[2], 5, level=6)
    assert len(qual_mix.decode_qualities(empty, z[0], z[1], z[2], 5)) == 0


def test_qual_mix_real_sample_threads_and_corruption() -> None:
    quals, lengths, bases, mate, k = _sample()
    with threadpool_limits(limits=1, user_api="blas"):
        one = qual_mix.encode_qualities(quals, lengths, bases, mate, k, level=2)
    with threadpool_limits(limits=2, user_api="blas"):
        two = qual_mix.encode_qualities(quals, lengths, bases, mate, k, level=2)
        assert np.array_equal(qual_mix.decode_qualities(one, lengths, bases, mate, k), quals)
    assert one == two
    assert_rejects_damage(lambda blob: qual_mix.decode_qualities(blob, lengths, bases, mate, k), one, b"\x01",
                          (one[:-8] + bytes([one[-8] ^ 0x10]) + one[-7:],))



def _layout(payload: bytes) -> int:
    """The version-1..4 layout of a payload an encoder writes now (versions 5-8: with the first chunk)."""
    assert payload[0] >= qual_mix.VERSION_FIRST
    return qual_mix._layout(payload[0])


def test_qual_mix_first_chunk_is_read_from_the_payload(monkeypatch) -> None:
    """Rows of LONG_ROW symbols or more start with FIRST_CHUNK_LONG rows, shorter ones with FIRST_CHUNK;
    the decoder takes the size from the payload, so another encoder choice still decodes."""
    assert qual_mix.first_chunk(qual_mix.LONG_ROW - 1) == qual_mix.FIRST_CHUNK == 16
    assert qual_mix.first_chunk(qual_mix.LONG_ROW) == qual_mix.FIRST_CHUNK_LONG == 128
    assert qual_mix._chunks(300, 4096, 128) == [(0, 128), (128, 300)]
    quals, lengths, bases, mate = long_read_block()
    usual = qual_mix.encode_qualities(quals, lengths, bases, mate, 9, level=2)
    monkeypatch.setattr(qual_mix, "FIRST_CHUNK_LONG", 3)
    other = qual_mix.encode_qualities(quals, lengths, bases, mate, 9, level=2)
    monkeypatch.undo()
    assert other != usual
    for payload in (usual, other):
        assert np.array_equal(qual_mix.decode_qualities(payload, lengths, bases, mate, 9), quals)


def test_qual_mix_parts_payload(monkeypatch) -> None:
    """Long-read blocks from 2 * PART_MIN_SYMBOLS symbols code two independent parts (version 2),
    coded one after the other or in a child process each (``workers``); the bytes do not
    depend on which, and a damaged part fails in whichever process decodes it."""
    quals, lengths, bases, mate = long_read_block()
    one_part = qual_mix.encode_qualities(quals, lengths, bases, mate, 9, level=2)
    monkeypatch.setattr(qual_mix, "PART_MIN_SYMBOLS", 1000)
    assert qual_mix.n_parts(lengths) == 2 and qual_mix.n_parts(np.full(40, 100)) == 1   # short reads: one
    with threadpool_limits(limits=1, user_api="blas"):
        payload = qual_mix.encode_qualities(quals, lengths, bases, mate, 9, level=2)
    assert _layout(payload) == qual_mix.VERSION_PARTS and _layout(one_part) == qual_mix.VERSION
    assert payload == qual_mix.encode_qualities(quals, lengths, bases, mate, 9, level=2, workers=2)
    monkeypatch.setattr(qual_mix, "PART_MIN_SYMBOLS", 1 << 19)   # the decoder reads the part count
    for workers in (1, 2):
        assert np.array_equal(qual_mix.decode_qualities(payload, lengths, bases, mate, 9, workers), quals)
        assert np.array_equal(qual_mix.decode_qualities(one_part, lengths, bases, mate, 9, workers), quals)
        assert_rejects_damage(lambda blob: qual_mix.decode_qualities(blob, lengths, bases, mate, 9, workers),
                              payload, b"\x03", (payload[:-8] + bytes([payload[-8] ^ 0x10]) + payload[-7:],))

def test_qual_mix_parts_take_turns_until_the_bases_are_done_then_split(monkeypatch) -> None:
    """Beside a base coder (``arrived`` / ``others_done`` given), the parts take turns in one
    process until the bases are done, then run in a process each; where the switch falls
    changes nothing, and a damaged part still fails."""
    quals, lengths, bases, mate = long_read_block()
    monkeypatch.setattr(qual_mix, "PART_MIN_SYMBOLS", 1000)
    monkeypatch.setattr(qual_mix, "YIELD_STEPS", 7)
    payload = qual_mix.encode_qualities(quals, lengths, bases, mate, 9, level=2)
    assert _layout(payload) == qual_mix.VERSION_PARTS
    for flips in ([True], [False] * 3 + [True], [False]):   # done at once, after three turns, never
        calls = iter(flips + [flips[-1]] * 10 ** 6)
        assert qual_mix.encode_with_estimate(quals, lengths, bases, mate, 9, level=2, workers=2,
                                             others_done=lambda: next(calls))[0] == payload
    turns = []

    def arrived_after(n: int):
        def arrived() -> bool:
            turns.append(n)
            return len(turns) > n
        return arrived

    for n in (0, 3, 10 ** 9):   # at once, after three turns, never
        turns.clear()
        waits: list[int] = []   # the first base is waited for before the first turn is asked about

        def ready(m: int) -> None:
            waits.append(m if turns else -m)   # negative: asked before any turn
        out = qual_mix.decode_qualities(payload, lengths, bases, mate, 9, 2, ready, arrived_after(n))
        assert np.array_equal(out, quals)
        assert len(turns) == n + 1 if n < 10 ** 9 else len(turns) > 4   # asked before each round
        assert waits[0] == -1
    assert_rejects_damage(lambda blob: qual_mix.decode_qualities(blob, lengths, bases, mate, 9, 2, lambda _: None,
                                                                 arrived_after(2)),
                          payload, b"\x03", (payload[:-8] + bytes([payload[-8] ^ 0x10]) + payload[-7:],))


def test_qual_mix_versions_follow_read_length(monkeypatch) -> None:
    """Reads up to MAX_POS long get the PositionMixer (version 3, or 4 in parts), longer ones keep
    version 1; a decoder refuses versions 3-4 for reads longer than MAX_POS."""
    quals, lengths, bases, mate, k = _sample(60)
    short = qual_mix.encode_qualities(quals, lengths, bases, mate, k, level=2)
    assert _layout(short) == qual_mix.VERSION_POS
    lq, ll, lb, lm = long_read_block()
    assert _layout(qual_mix.encode_qualities(lq, ll, lb, lm, 9, level=2)) == qual_mix.VERSION
    monkeypatch.setattr(qual_mix, "PART_MIN_SYMBOLS", 500)
    monkeypatch.setattr(qual_mix, "PART_MIN_MEAN", 10)
    parts = qual_mix.encode_qualities(quals, lengths, bases, mate, k, level=2)
    assert _layout(parts) == qual_mix.VERSION_POS_PARTS
    assert np.array_equal(qual_mix.decode_qualities(parts, lengths, bases, mate, k), quals)
    assert_rejects_damage(lambda blob: qual_mix.decode_qualities(blob, lengths, bases, mate, k), parts, b"\x04")
    monkeypatch.setattr(qual_mix, "MAX_POS", int(lengths.max()) - 1)
    for payload in (short, parts):
        with pytest.raises(FormatError, match="at most"):
            qual_mix.decode_qualities(payload, lengths, bases, mate, k)


# ---- the stream wrapper ----------------------------------------------------------------------

def test_wrapper_levels_and_old_ids_decode() -> None:
    quals, lengths, bases, mate, k = _sample()
    alphabet = np.arange(33, 33 + k, dtype=np.uint8)
    raw = alphabet[quals]
    p1, c1 = qualities.encode_qualities(raw, lengths, bases, mate, 1)
    assert c1 == CodecId.QUAL_CTX
    p6, c6 = qualities.encode_qualities(raw, lengths, bases, mate, qualities.MIX_MIN_LEVEL)
    assert c6 in (CodecId.QUAL_CTX, CodecId.QUAL_MIX)
    for p in (p1, p6):
        assert np.array_equal(qualities.decode_qualities(p, lengths, bases, mate), raw)
    # QUAL_LSTM (7) and a forced QUAL_MIX (12) payload still decode through the wrapper
    head = blob(alphabet.tobytes())
    for cid, mod in ((CodecId.QUAL_LSTM, qual_lstm), (CodecId.QUAL_MIX, qual_mix),
                     (CodecId.QUAL_CTX, qual_ctx)):
        body = mod.encode_qualities(quals, lengths, bases, mate, k, 2)
        assert np.array_equal(qualities.decode_qualities(head + bytes([cid]) + body, lengths, bases, mate), raw)
    with pytest.raises(FormatError):
        qualities.decode_qualities(head + bytes([200]) + b"", lengths, bases, mate)


@pytest.mark.parametrize("level", [1, 5, qualities.MIX_MIN_LEVEL])
def test_compress_roundtrip_real_slice(level: int) -> None:
    data = _fastq_slice(300)
    if data is None:
        pytest.skip("shared data not present")
    one = compress(data, CodecConfig(level=level))
    assert decompress(one) == data
    if level >= qualities.MIX_MIN_LEVEL:
        assert compress(data, CodecConfig(level=level, threads=2)) == one


# ---- QUAL_MIX with the shipped default model (MODE_DEFAULT) ------------------------------------

def _real_block(n_reads: int = 400):
    raw = _fastq_slice(n_reads)
    if raw is None:
        pytest.skip("shared data not present")
    lines = raw.split(b"\n")
    seqs, qls = lines[1::4][:n_reads], lines[3::4][:n_reads]
    allq = np.frombuffer(b"".join(qls), np.uint8)
    lut = np.full(256, 4, np.uint8)
    lut[np.frombuffer(b"ACGT", np.uint8)] = np.arange(4)
    return allq, np.array([len(q) for q in qls]), lut[np.frombuffer(b"".join(seqs), np.uint8)]


def test_default_mix_roundtrip_threads_and_mismatch(monkeypatch) -> None:
    from codec.errors import ModelMismatchError
    raw, lengths, bases = _real_block()
    alphabet = np.unique(raw)
    quals = np.searchsorted(alphabet, raw).astype(np.uint8)
    mate = np.zeros(len(lengths), np.uint8)
    k = len(alphabet)
    dm = qual_mix.default_mapping(alphabet, lengths)
    assert dm[0] == "illumina40_v2"
    with threadpool_limits(limits=1, user_api="blas"):
        one, est = qual_mix.encode_with_estimate(quals, lengths, bases, mate, k, 5, default=dm)
    with threadpool_limits(limits=2, user_api="blas"):
        two, _ = qual_mix.encode_with_estimate(quals, lengths, bases, mate, k, 5, default=dm)
    assert one == two and one[1] == qual_mix.MODE_DEFAULT
    assert len(one) < 1.05 * est  # the default model pays on gaiix from the first reads
    assert np.array_equal(qual_mix.decode_qualities(one, lengths, bases, mate, k), quals)
    # a tampered installed weight file is refused, never decoded into garbage
    good = defaults.weight_bytes
    monkeypatch.setattr(defaults, "weight_bytes",
                        lambda kind: (lambda b: b[:-1] + bytes([b[-1] ^ 1]))(good(kind)))
    with pytest.raises(ModelMismatchError):
        qual_mix.decode_qualities(one, lengths, bases, mate, k)
    monkeypatch.setattr(defaults, "weight_bytes", good)
    kid_at = 16  # u8 version, mode, uvarint K, seg (2 bytes), chunk (2), first, u8 shift, betas (5), lr, w0
    assert one[kid_at] == defaults.kind_id("illumina40_v2")
    with pytest.raises(FormatError):  # unknown kind id in the payload
        qual_mix.decode_qualities(one[:kid_at] + bytes([250]) + one[kid_at + 1:], lengths, bases, mate, k)


def test_paired_blocks_use_the_model_that_sees_the_mate(monkeypatch) -> None:
    """A block with read 2s gets illumina40_v3, which is given the mate input on both sides (a
    decoder that withheld it would compute other tables); single-end blocks keep illumina40_v2."""
    raw, lengths, bases = _real_block()
    alphabet = np.unique(raw)
    quals = np.searchsorted(alphabet, raw).astype(np.uint8)
    single = np.zeros(len(lengths), np.uint8)
    mate = (np.arange(len(lengths)) >= len(lengths) // 2).astype(np.uint8)
    assert qual_mix.default_mapping(alphabet, lengths, single)[0] == "illumina40_v2"
    dm = qual_mix.default_mapping(alphabet, lengths, mate)
    assert dm[0] == "illumina40_v3" and defaults.sees_mate(dm[0])
    k = len(alphabet)
    payload = qual_mix.encode_with_estimate(quals, lengths, bases, mate, k, 5, default=dm)[0]
    assert np.array_equal(qual_mix.decode_qualities(payload, lengths, bases, mate, k), quals)
    monkeypatch.setattr(defaults, "SEES_MATE", frozenset())
    blind = qual_mix.encode_with_estimate(quals, lengths, bases, mate, k, 5, default=dm)[0]
    assert blind != payload
    with pytest.raises(FormatError):   # the crc catches tables computed without the mate
        qual_mix.decode_qualities(payload, lengths, bases, mate, k)


def test_level5_wrapper_uses_defaults_and_roundtrips() -> None:
    raw, lengths, bases = _real_block(2000)
    mate = np.zeros(len(lengths), np.uint8)
    p5, c5 = qualities.encode_qualities(raw, lengths, bases, mate, 5)
    p1, c1 = qualities.encode_qualities(raw, lengths, bases, mate, 1)
    assert c1 == CodecId.QUAL_CTX and c5 == CodecId.QUAL_MIX and len(p5) < len(p1)
    assert np.array_equal(qualities.decode_qualities(p5, lengths, bases, mate), raw)
    data = _fastq_slice(300)
    one = compress(data, CodecConfig(level=5))
    assert compress(data, CodecConfig(level=5, threads=2)) == one
    assert decompress(one) == data


def test_fitting_levels_code_no_larger_than_the_shipped_models() -> None:
    """From MIX_MIN_LEVEL a block fits its own LSTM, from the shipped one on a small budget; where the
    shipped model codes the block smaller (here: 600 real reads), the stream is the shipped
    level's, byte for byte, never the larger fitted one."""
    raw, lengths, bases = _real_block(600)
    mate = np.zeros(len(lengths), np.uint8)
    shipped, shipped_id = qualities.encode_qualities(raw, lengths, bases, mate, qualities.SHIPPED_LEVEL)
    assert shipped_id == CodecId.QUAL_MIX and qualities.shipped_model(shipped) == "illumina40_v2"
    fitted, fitted_id = qualities.encode_qualities(raw, lengths, bases, mate, qualities.MIX_MIN_LEVEL)
    assert (fitted, fitted_id) == (shipped, shipped_id)
    assert np.array_equal(qualities.decode_qualities(fitted, lengths, bases, mate), raw)


def _gate_kinds(monkeypatch) -> list[str]:
    """The shipped model each level-5 gate is asked about, in order, as encodes run."""
    kinds: list[str] = []
    real = qualities._lstm_pays
    monkeypatch.setattr(qualities, "_lstm_pays", lambda *a: kinds.append(a[6][0]) or real(*a))
    return kinds


def test_long_read_gate_runs_for_the_current_long_model(monkeypatch) -> None:
    """The level-5 gate applies to every long-read model file, not only the first one's name:
    on noise the LSTM cannot pay, so the block keeps the context model."""
    rng = np.random.default_rng(3)
    lengths = np.full(40, 1500, dtype=np.int64)
    raw = (33 + rng.integers(0, 60, int(lengths.sum()))).astype(np.uint8)
    bases = rng.integers(0, 4, int(lengths.sum())).astype(np.uint8)
    mate = np.zeros(len(lengths), np.uint8)
    kinds = _gate_kinds(monkeypatch)
    payload, codec = qualities.encode_qualities(raw, lengths, bases, mate, 5)
    assert kinds == [defaults.CURRENT["long"]] and codec == CodecId.QUAL_CTX
    assert np.array_equal(qualities.decode_qualities(payload, lengths, bases, mate), raw)


def test_short_read_gate_keeps_the_context_model_where_the_lstm_does_not_pay(monkeypatch) -> None:
    """The level-5 gate is not only for long reads: binned short-read qualities that the
    LSTM cannot improve (noise over 4 levels) keep the context model, whose stream decodes
    from the N flags alone; level 6 asks no gate, and real 40-level qualities pass it."""
    rng = np.random.default_rng(8)
    lengths = np.full(800, 150, dtype=np.int64)
    raw = np.frombuffer(b"#,:F", np.uint8)[rng.integers(0, 4, int(lengths.sum()))]
    bases = rng.integers(0, 4, int(lengths.sum())).astype(np.uint8)
    mate = np.zeros(len(lengths), np.uint8)
    kinds = _gate_kinds(monkeypatch)
    p5, c5 = qualities.encode_qualities(raw, lengths, bases, mate, 5)
    assert kinds == ["binned"] and c5 == CodecId.QUAL_CTX and qualities.reads_only_n_flags(p5)
    assert np.array_equal(qualities.decode_qualities(p5, lengths, bases, mate), raw)
    kinds.clear()
    qualities.encode_qualities(raw, lengths, bases, mate, 6)
    assert kinds == []   # above the gate's levels the mixed coder always runs
    real_raw, real_lengths, real_bases = _real_block(2000)
    kinds.clear()
    assert qualities.encode_qualities(real_raw, real_lengths, real_bases, np.zeros(len(real_lengths), np.uint8),
                                      5)[1] == CodecId.QUAL_MIX and kinds == ["illumina40_v2"]


@pytest.mark.parametrize("gain, paying_levels", [(0.25, {3, 4, 5}), (0.15, {4, 5}), (0.07, {5}), (0.02, set())])
def test_each_level_up_keeps_the_lstm_for_a_smaller_gain(monkeypatch, gain, paying_levels) -> None:
    """Levels 3, 4 and 5 keep the shipped LSTM where it saves 20, 10 and 5 % on the sample,
    so a lower level is never slower: a gain that pays at one level pays at every higher one."""
    monkeypatch.setattr(qual_mix, "encode_with_estimate", lambda *a, **k: (bytes(1000), 1000 * (1 + gain)))
    lengths = np.full(10, 100, dtype=np.int64)
    symbols = np.zeros(1000, np.uint8)
    default = ("illumina40_v2", np.arange(2))
    paying = {level for level in qualities.LSTM_MIN_GAIN
              if qualities._lstm_pays(symbols, lengths, symbols, np.zeros(10, np.uint8), 2, level, default)}
    assert paying == paying_levels


def test_levels_two_to_five_differ_on_the_lstm(monkeypatch) -> None:
    """Level 2 codes with the context model and never asks the gate; levels 3-5 ask it about the
    shipped model of the block's kind; on real 40-level qualities the default level keeps the LSTM.
    Every level decodes to the input."""
    raw, lengths, bases = _real_block(2000)
    mate = np.zeros(len(lengths), np.uint8)
    kinds = _gate_kinds(monkeypatch)
    codecs = {}
    for level in (2, 3, 4, 5):
        kinds.clear()
        payload, codecs[level] = qualities.encode_qualities(raw, lengths, bases, mate, level)
        assert kinds == ([] if level == 2 else ["illumina40_v2"])
        assert np.array_equal(qualities.decode_qualities(payload, lengths, bases, mate), raw)
    assert codecs[2] == CodecId.QUAL_CTX and codecs[5] == CodecId.QUAL_MIX


def test_pairs_code_their_mates_apart() -> None:
    """At levels 2-6 a block with both mates writes QUAL_MATES (with the LSTM from level 3): read 1s
    with illumina40_v2, read 2s with illumina40_v3, each half exactly what coding that mate's reads
    alone gives; the bytes do not depend on ``workers``, and decoding puts each half back at its
    own positions."""
    raw, lengths, bases = _real_block(400)
    half = len(lengths) // 2
    mate = (np.arange(len(lengths)) % 2).astype(np.uint8)     # mates interleaved, not a prefix
    payload, codec = qualities.encode_qualities(raw, lengths, bases, mate, 5)
    assert codec == CodecId.QUAL_MATES
    assert qualities.encode_qualities(raw, lengths, bases, mate, 5, workers=2)[0] == payload
    assert qualities.shipped_model(payload) == "illumina40_v2/illumina40_v3"
    for workers in (1, 2):
        assert np.array_equal(qualities.decode_qualities(payload, lengths, bases, mate, workers), raw)
    per_symbol = np.repeat(mate, lengths) == 1
    alphabet = np.unique(raw)
    lut = np.zeros(256, np.uint8)
    lut[alphabet] = np.arange(len(alphabet))
    read2, c2 = qualities._encode_symbols(lut[raw][per_symbol], lengths[mate == 1], bases[per_symbol],
                                          mate[mate == 1], len(alphabet), 5, alphabet)
    assert payload.endswith(blob(bytes([c2]) + read2))
    assert qualities.encode_qualities(raw, lengths, bases, mate, 1)[1] == CodecId.QUAL_CTX     # level 1: one
    assert qualities.encode_qualities(raw[:lengths[:half].sum()], lengths[:half], bases[:lengths[:half].sum()],
                                      np.zeros(half, np.uint8), 5)[1] == CodecId.QUAL_MIX     # single-end
    with pytest.raises(FormatError):   # a block that lacks a mate cannot hold QUAL_MATES
        qualities.decode_qualities(payload, lengths, bases, np.zeros(len(lengths), np.uint8))
    head = len(blob(alphabet.tobytes())) + 1
    for bad in (payload[:-3], payload[:head], payload + b"\x00"):
        with pytest.raises(FormatError):
            qualities.decode_qualities(bad, lengths, bases, mate)


def test_read_1s_yield_to_a_late_lstm_read_2_half(monkeypatch) -> None:
    """While the bases still arrive, the read 1s' decoder drops LATE_MATE_LEAD priority steps
    below the read 2s' LSTM half (whose bases come last); not when the bases are all there,
    nor when the read 2s' half is the cheap context model. Same symbols every way."""
    raw, lengths, bases = _real_block(200)
    mate = (np.arange(len(lengths)) % 2).astype(np.uint8)
    payload, _ = qualities.encode_qualities(raw, lengths, bases, mate, 5)
    alphabet, parts = qualities._codecs(payload)
    assert [codec for codec, _ in parts] == [CodecId.QUAL_MIX, CodecId.QUAL_MIX]
    per_symbol = np.repeat(mate, lengths) == 1
    lut = np.zeros(256, np.uint8)
    lut[alphabet] = np.arange(len(alphabet))
    ctx2, c2 = qualities._encode_symbols(lut[raw][per_symbol], lengths[mate == 1], bases[per_symbol],
                                         mate[mate == 1], len(alphabet), 1, alphabet)
    head = blob(alphabet.tobytes()) + bytes([CodecId.QUAL_MATES]) + blob(bytes([parts[0][0]]) + parts[0][1])
    ctx_read2 = head + blob(bytes([c2]) + ctx2)
    asked = []
    real = forked.run_jobs

    def run_jobs(jobs, workers, nice=0, first_nice=0):
        asked.append(first_nice)
        return real(jobs, workers, nice, first_nice=0)   # the test process keeps its priority

    monkeypatch.setattr(forked, "run_jobs", run_jobs)
    for data, ready, lead in ((payload, lambda n: None, qualities.LATE_MATE_LEAD), (payload, None, 0),
                              (ctx_read2, lambda n: None, 0)):
        asked.clear()
        assert np.array_equal(qualities.decode_qualities(data, lengths, bases, mate, 2, ready), raw)
        assert asked == [lead]


def test_pairs_with_an_empty_mate_roundtrip() -> None:
    """Read 2s that are all empty still give a QUAL_MATES stream that decodes."""
    raw, lengths, bases = _real_block(100)
    n = len(lengths)
    lengths2 = np.concatenate([lengths, np.zeros(n, np.int64)])
    mate = np.repeat(np.arange(2, dtype=np.uint8), n)
    payload, codec = qualities.encode_qualities(raw, lengths2, bases, mate, 5)
    assert codec == CodecId.QUAL_MATES
    for workers in (1, 2):
        assert np.array_equal(qualities.decode_qualities(payload, lengths2, bases, mate, workers), raw)
