"""Reads turned to face one way before lzma (LZMA_TURNED) and the codec around it."""

from __future__ import annotations

import numpy as np
import pytest

from codec.errors import FormatError
from codec.streams import bases, bases_ctx, orientation
from codec.streams.general import pack_best
from codec.streams.ids import CodecId
from codec.varint import blob


def _rc(seq: np.ndarray) -> np.ndarray:
    return (3 - seq[::-1]).astype(np.uint8)


def _both_strands(seed: int = 0, genome: int = 40_000, n_reads: int = 60, length: int = 2_000,
                  error: float = 0.001) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reads of a random genome from random positions and strands, with rare substitutions."""
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 4, genome).astype(np.uint8)
    reads, strands = [], []
    for _ in range(n_reads):
        start = int(rng.integers(0, genome - length))
        read = ref[start:start + length].copy()
        hit = rng.random(length) < error
        read[hit] = (read[hit] + 1) % 4
        strand = int(rng.integers(0, 2))
        reads.append(_rc(read) if strand else read)
        strands.append(strand)
    return np.concatenate(reads), np.full(n_reads, length, np.int64), np.array(strands)


def test_turning_is_its_own_inverse_and_reverse_complements_flagged_reads():
    rng = np.random.default_rng(1)
    lens = np.array([5, 1, 0, 8, 3], np.int64)
    codes = rng.integers(0, 4, int(lens.sum())).astype(np.uint8)
    flips = np.array([1, 1, 1, 0, 1], np.uint8)
    turned = codes.copy()
    orientation.turn_in_place(turned, lens, flips)
    starts = np.concatenate([[0], np.cumsum(lens)])
    for i, (a, b) in enumerate(zip(starts[:-1], starts[1:])):
        want = _rc(codes[a:b]) if flips[i] else codes[a:b]
        assert np.array_equal(turned[a:b], want)
    orientation.turn_in_place(turned, lens, flips)
    assert np.array_equal(turned, codes)


def test_reads_from_the_other_strand_of_a_seen_locus_are_turned():
    rng = np.random.default_rng(2)
    a, b = (rng.integers(0, 4, 3000).astype(np.uint8) for _ in range(2))
    reads = [a, _rc(a), b, a[500:2500], _rc(b[100:]), rng.integers(0, 4, 3000).astype(np.uint8)]
    lens = np.array([len(r) for r in reads], np.int64)
    flips = orientation.choose_flips(np.concatenate(reads), lens)
    assert flips.tolist() == [0, 1, 0, 0, 1, 0]


def test_turned_lzma_beats_plain_lzma_on_both_strands_and_round_trips():
    codes, lens, _ = _both_strands()
    codes[[5, 77, 4_000, 119_999]] = 4   # exceptions (N) inside reads of either strand
    mate = np.zeros(len(lens), np.uint8)
    flat = np.where(codes > 3, 0, codes).astype(np.uint8)
    plain, _ = bases._lzma_candidate(flat, lens, turned=False)
    turned, codec = bases._lzma_candidate(flat, lens, turned=True)
    assert codec == CodecId.LZMA_TURNED and len(turned) < 0.8 * len(plain)
    for payload in (plain, turned):
        assert np.array_equal(bases.decode_bases(payload, lens, mate, codes == 4), codes)


def test_accurate_long_reads_skip_the_context_model_below_level_7(monkeypatch):
    codes, lens, _ = _both_strands(seed=4, n_reads=20)
    mate = np.zeros(len(lens), np.uint8)
    monkeypatch.setattr(bases, "LZMA_ONLY_MIN", 10_000)
    real_encode = bases_ctx.encode_bases
    calls = []
    monkeypatch.setattr(bases_ctx, "encode_bases", lambda *a, **k: calls.append(1) or real_encode(*a, **k))
    payload, codec = bases.encode_bases(codes, lens, mate, 5, errors=0.001)
    assert codec == CodecId.LZMA_TURNED and calls == []
    assert np.array_equal(bases.decode_bases(payload, lens, mate, codes == 4), codes)
    bases.encode_bases(codes, lens, mate, 7, errors=0.001)   # level 7 puts both to the trial
    bases.encode_bases(codes, lens, mate, 5, errors=0.05)    # noisy long reads: the context model only
    bases.encode_bases(codes[:9_000], lens[:5] * 0 + 1_800, mate[:5], 5, errors=0.001)   # a small block
    assert calls == [1, 1, 1]


def test_damaged_orientation_flags_raise_format_error():
    codes, lens, _ = _both_strands(seed=5, n_reads=10)
    flat = codes.astype(np.uint8)
    body = bases._full_lzma(flat.tobytes())
    mate = np.zeros(len(lens), np.uint8)
    for flags in (b"", pack_best(b"\x00"), pack_best(b"\x00\x00\x00"), b"\x07\x00"):
        payload = bytes([CodecId.LZMA_TURNED]) + blob(flags) + body
        with pytest.raises(FormatError):
            bases.decode_bases(payload, lens, mate, np.zeros(len(codes), bool))
