"""Baseline base model: order-4 / order-11 / hashed order-k counts, batch-adaptive.

Cross-read redundancy (coverage, amplicons, both strands) is what makes bases
compressible. The tables count every base as soon as it is coded (rows advance
in the same step-major order on both sides, so this is deterministic) and, at
batch boundaries, the reverse complement of every finished row.
Non-ACGT positions (code 4) are not coded here: the exception stream restores
them, and contexts read them as 'A'. Frequencies come from the integer backoff
chain in :mod:`codec.streams.tables`.

Payload: ``u8 version, u8 k_mid, u8 k_high, u8 hash_bits, u8 beta x3,
uvarint segment`` then the range-coded words.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..entropy.coder import StepDecoder, StepEncoder
from ..errors import FormatError
from ..varint import Reader, encode_uvarint
from .stepcoding import make_rows, run
from .tables import SCALE, blend, bump, new_table

VERSION = 1
K_LOW = 4
SEGMENT = 4096
HASH_MUL = np.uint64(0x9E3779B97F4A7C15)


def default_params(level: int) -> tuple[int, int, int, tuple[int, int, int]]:
    """(k_mid, k_high, hash_bits, betas) for a ``--level``; larger tables at higher levels."""
    bits = 22 if level <= 6 else 24
    return 11, 20, bits, (16, 8, 8)


@njit(cache=True, inline="always")
def _hash(kmer, bits):
    return (kmer * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits)


@njit(cache=True)
def _freqs(t, n, starts, flat, ctx, filled, kmid, khigh, bits, betas,
           lo_c, lo_n, mid_c, mid_n, hi_c, hi_n, which, cur, out):
    prior = np.full(4, SCALE // 4, dtype=np.int64)
    a = np.empty(4, dtype=np.int64)
    b = np.empty(4, dtype=np.int64)
    m = 0
    for i in range(n):
        if flat[starts[i] + t] == 4:
            continue
        h = ctx[i]
        f = filled[i]
        for s in range(4):
            a[s] = prior[s]
        cur[i, 0] = cur[i, 1] = cur[i, 2] = -1
        if f >= K_LOW:
            cur[i, 0] = np.int64(h & np.uint64((1 << (2 * K_LOW)) - 1))
            blend(lo_c, lo_n, cur[i, 0], betas[0], prior, a)
        if f >= kmid:
            cur[i, 1] = np.int64(h & np.uint64((1 << (2 * kmid)) - 1))
            blend(mid_c, mid_n, cur[i, 1], betas[1], a, b)
            for s in range(4):
                a[s] = b[s]
        if f >= khigh:
            mask = (np.uint64(1) << np.uint64(2 * khigh)) - np.uint64(1)
            cur[i, 2] = np.int64(_hash(h & mask, bits))
            blend(hi_c, hi_n, cur[i, 2], betas[2], a, b)
            for s in range(4):
                a[s] = b[s]
        for s in range(4):
            out[m, s] = a[s] + 1
        which[m] = i
        m += 1
    return m


@njit(cache=True)
def _advance(t, n, starts, flat, ctx, filled, cur, lo_c, lo_n, mid_c, mid_n, hi_c, hi_n):
    for i in range(n):
        sym = flat[starts[i] + t]
        if sym > 3:
            sym = 0
        else:
            if cur[i, 0] >= 0:
                bump(lo_c, lo_n, cur[i, 0], sym)
            if cur[i, 1] >= 0:
                bump(mid_c, mid_n, cur[i, 1], sym)
            if cur[i, 2] >= 0:
                bump(hi_c, hi_n, cur[i, 2], sym)
        ctx[i] = (ctx[i] << np.uint64(2)) | np.uint64(sym)
        filled[i] += 1


@njit(cache=True)
def _learn_seq(seq, kmid, khigh, bits, lo_c, lo_n, mid_c, mid_n, hi_c, hi_n):
    h = np.uint64(0)
    mask_hi = (np.uint64(1) << np.uint64(2 * khigh)) - np.uint64(1)
    for j in range(len(seq)):
        sym = seq[j]
        if sym <= 3:
            if j >= K_LOW:
                bump(lo_c, lo_n, np.int64(h & np.uint64((1 << (2 * K_LOW)) - 1)), sym)
            if j >= kmid:
                bump(mid_c, mid_n, np.int64(h & np.uint64((1 << (2 * kmid)) - 1)), sym)
            if j >= khigh:
                bump(hi_c, hi_n, np.int64(_hash(h & mask_hi, bits)), sym)
        else:
            sym = 0
        h = (h << np.uint64(2)) | np.uint64(sym)


@njit(cache=True)
def _learn_rc(starts, lens, flat, kmid, khigh, bits, lo_c, lo_n, mid_c, mid_n, hi_c, hi_n):
    for i in range(len(starts)):
        seq = flat[starts[i]:starts[i] + lens[i]]
        rc = np.empty(lens[i], dtype=np.uint8)
        for j in range(lens[i]):
            s = seq[lens[i] - 1 - j]
            rc[j] = 3 - s if s <= 3 else 4
        _learn_seq(rc, kmid, khigh, bits, lo_c, lo_n, mid_c, mid_n, hi_c, hi_n)


class BaseCtxModel:
    """Batch-step model over base codes 0..3 (4 = exception, skipped)."""

    n_symbols = 4

    def __init__(self, kmid: int, khigh: int, bits: int, betas: tuple[int, int, int]) -> None:
        self.kmid, self.khigh, self.bits = kmid, khigh, bits
        self.betas = np.array(betas, dtype=np.int64)
        self.tables = (*new_table(4 ** K_LOW, 4), *new_table(4 ** kmid, 4), *new_table(1 << bits, 4))

    def begin_batch(self, starts, pos0, lens, read) -> None:
        b = len(starts)
        self.starts, self.lens = starts, lens
        self.ctx = np.zeros(b, dtype=np.uint64)
        self.filled = np.zeros(b, dtype=np.int64)
        self.which = np.zeros(b, dtype=np.int64)
        self.cur = np.zeros((b, 3), dtype=np.int64)
        self.out = np.zeros((b, 4), dtype=np.int64)

    def freqs(self, t: int, n: int):
        m = _freqs(t, n, self.starts, self.flat, self.ctx, self.filled, self.kmid, self.khigh,
                   self.bits, self.betas, *self.tables, self.which, self.cur, self.out)
        return self.out[:m], self.which[:m]

    def advance(self, t: int, n: int, flat: np.ndarray) -> None:
        _advance(t, n, self.starts, flat, self.ctx, self.filled, self.cur, *self.tables)

    def end_batch(self) -> None:
        _learn_rc(self.starts, self.lens, self.flat, self.kmid, self.khigh, self.bits, *self.tables)


def encode_bases(bases: np.ndarray, lengths: np.ndarray, mate: np.ndarray, level: int = 5) -> bytes:
    """Range-code base codes 0..3; positions holding 4 are skipped (exceptions)."""
    kmid, khigh, bits, betas = default_params(level)
    header = bytes([VERSION, kmid, khigh, bits, *betas]) + encode_uvarint(SEGMENT)
    model = BaseCtxModel(kmid, khigh, bits, betas)
    model.flat = bases
    enc = StepEncoder()
    run(model, make_rows(lengths, SEGMENT), bases, enc, None)
    return header + enc.finish()


def decode_bases(payload: bytes, lengths: np.ndarray, mate: np.ndarray, exceptions: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_bases`; ``exceptions`` is a bool mask of non-ACGT positions."""
    r = Reader(payload)
    version, kmid, khigh, bits, *betas = r.take(7)
    if version != VERSION:
        raise FormatError(f"unknown base-context payload version {version}")
    if not (1 <= kmid <= 13 and 1 <= khigh <= 32 and 8 <= bits <= 28):
        raise FormatError("bad base-context parameters")
    segment = r.uvarint(limit=1 << 30)
    if segment == 0:
        raise FormatError("bad base-context segment length")
    out = np.where(exceptions, np.uint8(4), np.uint8(0)).astype(np.uint8)
    model = BaseCtxModel(kmid, khigh, bits, tuple(betas))
    model.flat = out
    run(model, make_rows(lengths, segment), out, None, StepDecoder(r.take(r.remaining())))
    return out
