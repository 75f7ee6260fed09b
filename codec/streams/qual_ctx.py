"""Baseline quality model: (q1, q2, position, change count, N, mate) contexts.

The fqzcomp_qual family of contexts, with batch-adaptive counts and a
three-level backoff chain (see :mod:`codec.streams.tables`). This is the
baseline the LSTM quality model must beat and the fallback it keeps.

The full context has 16 slots for one more feature, chosen per block
(:func:`choose_context`): the position bucket (``CONTEXT_POSITION``), which
is what short reads' qualities follow, or the homopolymer run at the
position (``CONTEXT_RUNS``): how many equal bases come before and after it in
the row, 0-3 each. Long-read basecallers (nanopore, HiFi) grade a base by the
run it sits in far more than by where it is in a 10 kb read: on the shared
files the run slots code their qualities 0.4-10 % smaller, Illumina's mostly
up to 5 % larger (GA IIx's 0.2-0.4 % smaller).

Payload: ``u8 version, u8 pos_shift, uvarint beta_lo, beta_mid, beta_full,
uvarint segment`` then the range-coded words (version 1: position slots);
version 2 adds ``u8 context`` (0 position, 1 runs) and ``uvarint batch_rows``
(0: batches double up to 2^20 symbols, as in version 1) after ``segment``.
Encoders write version 1 for position slots, version 2 for run slots.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..entropy.coder import StepDecoder, StepEncoder
from ..errors import FormatError
from ..jit import njit
from ..varint import Reader, encode_uvarint
from .stepcoding import leading_reads, make_rows, run, step_buffers
from .tables import SCALE, blend, bump, new_table

VERSION_POSITION = 1   # no context byte: always the position slots (format 15.0's bytes)
VERSION_RUNS = 2       # + context byte and batch_rows: written for run slots
VERSIONS = (VERSION_POSITION, VERSION_RUNS)
CONTEXT_POSITION = 0
CONTEXT_RUNS = 1
RUN_CAP = 3               # equal bases counted on each side of the position (0..3: 16 slots)
CHOICE_SYMBOLS = 1 << 17  # choose_context codes the block's first reads, up to this many symbols, both ways
RUNS_BATCH_ROWS = 256     # batches of at most this many rows with run slots (see decode_qualities)
RUNS_MIN_GAIN = 0.005     # share of the sample the run slots must save (see choose_context)
N_POS = 16
N_CHG = 8
N_Q2 = 12
SEGMENT = 4096
BETAS = (16, 1024, 1024)  # beta_lo, beta_mid, beta_full in sixteenths of a count
_CHG_BUCKET = np.minimum(np.array([0, 1, 2, 3, 4, 4, 5, 5, 5] + [6] * 7 + [7] * 48, dtype=np.int64), 7)


def _q2_map(n_symbols: int) -> np.ndarray:
    """Bucket of the second-previous quality; the start token gets bucket 0."""
    n_q2 = min(n_symbols + 1, N_Q2)
    idx = np.arange(n_symbols + 1, dtype=np.int64)
    out = 1 + idx * (n_q2 - 1) // n_symbols
    out[n_symbols] = 0
    return np.minimum(out, n_q2 - 1)


def pos_shift_for(lengths: np.ndarray) -> int:
    """Smallest shift that maps the longest read into N_POS position buckets."""
    longest = int(lengths.max()) if len(lengths) else 1
    shift = 0
    while (longest - 1) >> shift >= N_POS:
        shift += 1
    return shift


@njit(cache=True, nogil=True, inline="always")
def _run_slot(bases, start, t, n):
    """Slot of position ``t`` of the row at ``start`` (``n`` symbols): equal bases just
    before it times 4 plus equal bases just after it, each capped at RUN_CAP, within the row."""
    b = bases[start + t]
    back = 0
    while back < RUN_CAP and back < t and bases[start + t - back - 1] == b:
        back += 1
    ahead = 0
    while ahead < RUN_CAP and t + ahead + 1 < n and bases[start + t + ahead + 1] == b:
        ahead += 1
    return back * (RUN_CAP + 1) + ahead


@njit(cache=True, nogil=True)
def _freqs(t, n, starts, pos0, lens, runs, mate, bases, q1, q2, chg, q2map, chg_lut, pshift, betas,
           lo_c, lo_n, mid_c, mid_n, full_c, full_n, cur, out):
    k = out.shape[1]
    n_q2 = q2map.max() + 1
    seen = 0   # first pass: each row's contexts, and a read of its full-context row (tens of MB:
    for i in range(n):   # cache misses), all independent of each other, so fetched in parallel
        isn = 1 if bases[starts[i] + t] == 4 else 0
        q12 = q1[i] * n_q2 + q2map[q2[i]]
        mid = q12 * 2 + isn
        slot = _run_slot(bases, starts[i], t, lens[i]) if runs else min((pos0[i] + t) >> pshift, N_POS - 1)
        full = (((mate[i] * 2 + isn) * (k + 1) * n_q2 + q12) * N_CHG + chg_lut[min(chg[i], 63)]) * N_POS + slot
        cur[i, 0] = q1[i] * 2 + isn
        cur[i, 1] = mid
        cur[i, 2] = full
        seen += full_n[full] + full_c[full, 0] + full_c[full, k >> 1] + full_c[full, k - 1]
    if seen < 0:
        return   # never (counts are >= 0): keeps the first pass's reads
    prior = np.full(k, SCALE // k, dtype=np.int64)
    a = np.empty(k, dtype=np.int64)
    b = np.empty(k, dtype=np.int64)
    for i in range(n):
        lo, mid, full = cur[i, 0], cur[i, 1], cur[i, 2]
        blend(lo_c, lo_n, lo, betas[0], prior, a)
        blend(mid_c, mid_n, mid, betas[1], a, b)
        blend(full_c, full_n, full, betas[2], b, a)
        for s in range(k):
            out[i, s] = a[s] + 1


@njit(cache=True, nogil=True)
def _advance(t, n, starts, flat, q1, q2, chg, cur, lo_c, lo_n, mid_c, mid_n, full_c, full_n):
    for i in range(n):
        sym = flat[starts[i] + t]
        bump(lo_c, lo_n, cur[i, 0], sym)
        bump(mid_c, mid_n, cur[i, 1], sym)
        bump(full_c, full_n, cur[i, 2], sym)
        if t > 0 and sym != q1[i]:
            chg[i] += 1
        q2[i] = q1[i]
        q1[i] = sym


@njit(cache=True, nogil=True)
def _encode_steps(t, active, starts, pos0, lens, runs, mate, bases, flat, q1, q2, chg, q2map, chg_lut, pshift,
                  betas, lo_c, lo_n, mid_c, mid_n, full_c, full_n, cur, where, tables):
    """Steps ``t, t+1, ...`` while ``where`` has room: the encoder's many-step form of
    ``_freqs`` then ``_advance`` (same tables, same order). Returns (next step, symbols)."""
    k = 0
    while t < len(active):
        n = active[t]
        if k + n > len(where):
            break
        _freqs(t, n, starts, pos0, lens, runs, mate, bases, q1, q2, chg, q2map, chg_lut, pshift, betas,
               lo_c, lo_n, mid_c, mid_n, full_c, full_n, cur, tables[k:k + n])
        for i in range(n):
            where[k + i] = starts[i] + t
        k += n
        _advance(t, n, starts, flat, q1, q2, chg, cur, lo_c, lo_n, mid_c, mid_n, full_c, full_n)
        t += 1
    return t, k


class QualCtxModel:
    """Batch-step model over quality symbols (see :mod:`codec.streams.stepcoding`).

    Counts are bumped as soon as a symbol is known: every row of the batch
    is coded step by step in the same order on both sides, so this is as
    deterministic as learning at batch boundaries, and adapts faster.
    """

    def __init__(self, n_symbols: int, bases: np.ndarray, mate: np.ndarray, pos_shift: int,
                 betas: tuple[int, int, int], context: int = CONTEXT_POSITION) -> None:
        self.n_symbols = n_symbols
        self.bases = bases
        self.runs = context == CONTEXT_RUNS
        self.mate_of_read = mate.astype(np.int64)
        self.pos_shift = pos_shift
        self.betas = np.array(betas, dtype=np.int64)
        self.q2map = _q2_map(n_symbols)
        n_q1 = n_symbols + 1
        n_q2 = int(self.q2map.max()) + 1
        self.lo = new_table(n_q1 * 2, n_symbols)
        self.mid = new_table(n_q1 * n_q2 * 2, n_symbols)
        # full-context rows in (mate, N, q1, q2, changes, position) order, position innermost:
        # the rows a block uses lie together. The table is large (100 MB with 92 values) and
        # numpy backs it with 2 MB pages as they are first written, each paid for then (new
        # memory costs ~3-4 ms/MB on the VMs measured); in the order (q1, q2, N, position,
        # changes, mate) a HiFi block wrote to 50 of its 51 such pages, in this one to 13
        self.full = new_table(n_q1 * n_q2 * 2 * N_POS * N_CHG * 2, n_symbols)
        self.buffers: tuple[np.ndarray, np.ndarray] | None = None   # encode_steps only

    def begin_batch(self, starts, pos0, lens, read) -> None:
        b = len(starts)
        self.starts, self.pos0, self.lens, self.mate = starts, pos0, lens, self.mate_of_read[read]
        self.q1 = np.full(b, self.n_symbols, dtype=np.int64)
        self.q2 = np.full(b, self.n_symbols, dtype=np.int64)
        self.chg = np.zeros(b, dtype=np.int64)
        self.cur = np.zeros((b, 3), dtype=np.int64)
        self.out = np.zeros((b, self.n_symbols), dtype=np.int64)

    def encode_steps(self, t: int, active: np.ndarray, flat: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        where, tables = self.buffers = step_buffers(len(self.starts), self.n_symbols, self.buffers)
        t, k = _encode_steps(t, active, self.starts, self.pos0, self.lens, self.runs, self.mate, self.bases, flat,
                             self.q1, self.q2, self.chg, self.q2map, _CHG_BUCKET, self.pos_shift, self.betas,
                             *self.lo, *self.mid, *self.full, self.cur, where, tables)
        return t, where[:k], tables[:k]

    def freqs(self, t: int, n: int):
        out = self.out[:n]
        _freqs(t, n, self.starts, self.pos0, self.lens, self.runs, self.mate, self.bases, self.q1, self.q2, self.chg,
               self.q2map, _CHG_BUCKET, self.pos_shift, self.betas, *self.lo, *self.mid, *self.full,
               self.cur, out)
        return out, None

    def advance(self, t: int, n: int, flat: np.ndarray) -> None:
        _advance(t, n, self.starts, flat, self.q1, self.q2, self.chg, self.cur,
                 *self.lo, *self.mid, *self.full)

    def end_batch(self) -> None:
        pass


def _encode(quals: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray, n_symbols: int,
            context: int) -> bytes:
    """Payload version 1 for the position slots (the bytes of format 15.0), 2 for the run slots."""
    shift = pos_shift_for(lengths)
    runs = context == CONTEXT_RUNS
    batch_rows = RUNS_BATCH_ROWS if runs else 0
    header = bytes([VERSION_RUNS if runs else VERSION_POSITION, shift]) + b"".join(
        encode_uvarint(b) for b in (*BETAS, SEGMENT))
    if runs:
        header += bytes([CONTEXT_RUNS]) + encode_uvarint(batch_rows)
    model = QualCtxModel(n_symbols, bases, mate, shift, BETAS, context)
    enc = StepEncoder()
    run(model, make_rows(lengths, SEGMENT), quals, enc, None, max_rows=batch_rows)
    return header + enc.finish()


def _trial(quals: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
           n_symbols: int) -> tuple[int, bytes | None]:
    """(slot feature, and its payload when the sample is the whole block: no need to code
    it a third time) -- see :func:`choose_context`."""
    n_reads, lens = leading_reads(lengths, CHOICE_SYMBOLS)
    total = int(lens.sum())
    if total == 0:
        return CONTEXT_POSITION, None
    payloads = [_encode(quals[:total], lens, bases[:total], mate[:n_reads], n_symbols, c)
                for c in (CONTEXT_POSITION, CONTEXT_RUNS)]
    context = CONTEXT_RUNS if len(payloads[1]) <= (1 - RUNS_MIN_GAIN) * len(payloads[0]) else CONTEXT_POSITION
    whole = n_reads == len(lengths) and total == int(np.sum(lengths))
    return context, payloads[context] if whole else None


def choose_context(quals: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                   n_symbols: int) -> int:
    """The slot feature for the block: the run slots where they code its first reads (up
    to CHOICE_SYMBOLS symbols) at least RUNS_MIN_GAIN smaller, else the position.

    Why a margin: with position slots the model reads only the N flags, so a decoder runs
    it beside the base stream from the start; run slots must wait for each batch's bases.
    Where neither slot means anything (noise) the two sizes differ by chance."""
    return _trial(quals, lengths, bases, mate, n_symbols)[0]


def encode_qualities(quals: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                     n_symbols: int, level: int = 5) -> bytes:
    """Range-code quality symbols (indices into the block's sorted alphabet)."""
    context, payload = _trial(quals, lengths, bases, mate, n_symbols)
    return payload if payload is not None else _encode(quals, lengths, bases, mate, n_symbols, context)


def _read_params(r: Reader) -> tuple[int, tuple[int, int, int], int, int, int]:
    """(pos_shift, betas, segment, context, batch_rows) of a payload, ``r`` left at the coded words."""
    version, shift = r.take(2)
    if version not in VERSIONS:
        raise FormatError(f"unknown quality-context payload version {version}")
    betas = tuple(r.uvarint(limit=1 << 20) for _ in range(3))
    segment = r.uvarint(limit=1 << 30)
    context = r.take(1)[0] if version >= 2 else CONTEXT_POSITION
    batch_rows = r.uvarint(limit=1 << 30) if version >= 2 else 0
    if segment == 0 or shift > 40 or min(betas) == 0 or context not in (CONTEXT_POSITION, CONTEXT_RUNS):
        raise FormatError("bad quality-context parameters")
    return shift, betas, segment, context, batch_rows   # type: ignore[return-value]


def reads_bases(payload: bytes) -> bool:
    """Whether decoding needs the bases themselves, not only where the N's are."""
    return _read_params(Reader(payload))[3] == CONTEXT_RUNS


def decode_qualities(payload: bytes, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                     n_symbols: int, ready: Callable[[int], None] | None = None) -> np.ndarray:
    """Inverse of :func:`encode_qualities`. ``ready(n)``, when given, blocks until the first
    ``n`` entries of ``bases`` are final: asked batch by batch, so decoding can follow a
    base decoder that is still running. That is why run slots come with batches of at most
    RUNS_BATCH_ROWS rows: batches otherwise double up to 2^20 symbols, and the last one,
    up to half of a block, would wait for the last base."""
    r = Reader(payload)
    shift, betas, segment, context, batch_rows = _read_params(r)
    out = np.zeros(int(lengths.sum()), dtype=np.uint8)
    model = QualCtxModel(n_symbols, bases, mate, shift, betas, context)
    run(model, make_rows(lengths, segment), out, None, StepDecoder(r.take(r.remaining())), max_rows=batch_rows,
        before_batch=ready)
    if out.size and int(out.max()) >= n_symbols:
        raise FormatError("decoded quality symbol outside the alphabet")
    return out
