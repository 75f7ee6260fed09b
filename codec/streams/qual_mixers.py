"""The two mixers of QUAL_MIX: how the LSTM's and the context model's tables become one.

Both see, per step, the LSTM table ``fl`` and the context-model table ``fc`` of
each row (integers, totals about 2**20) and give the coder an integer table;
after the step's symbols are known they learn, in integers only, so encoder and
decoder hold bit-identical state.

* :class:`BucketMixer` (payload versions 1 and 2): one linear weight per context
  (position bucket x mate x q1 bucket), see :func:`mix_tables`.
* :class:`PositionMixer` (payload versions 3 and 4, reads up to ``MAX_POS``
  long): the weight's context holds the *exact* position, and a second stage mixes
  in an adaptive count table per (exact position, mate, q1). Why: a whole step
  (all rows at one position) is coded with the weights and counts of the steps
  before, and Illumina quality distributions change from cycle to cycle (MiSeq
  above all). With 16 position buckets, weights shared by 16 cycles swing from
  step to step; keyed by the cycle itself they settle, and the per-cycle counts
  model what neither the LSTM nor the bucketed context model resolves. Measured in
  the benchmark against the bucket mixer: 6.3 % fewer quality bits on the MiSeq BCR
  pair, 1.8 % on the HiSeq ChIP pair, 1.3 % on the MiSeq CRISPR pair and 0.8 % on
  the GA IIx pair; binned qualities change by 0.3 % or less either way.
"""

from __future__ import annotations

import numpy as np

from ..jit import nb
from .tables import SCALE, W_ONE, step_weight

N_MIX_POS = 16
N_MIX_Q = 4
N_BUCKETS = N_MIX_POS * 2 * N_MIX_Q   # BucketMixer contexts: position bucket x mate x q1 bucket
MAX_POS = 1024          # PositionMixer: longest read (exact positions 0..MAX_POS-1)
W2_0 = 255              # initial weight of the first stage against the counts, in 1/256
LR2_SHIFT = 7           # learning rate of the second stage, 2**-LR2_SHIFT
COUNT_STEP = 16         # what one symbol adds to its position count ...
HALVE_ABOVE = 1 << 16   # ... and the context's total above which its counts halve (recency)
_NJ = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")


@nb.njit(**_NJ)
def mix_tables(t, n, pos0, mate, q1, k, pshift, w, fl, fc, mctx, out):
    """Mixed tables ``out[:n]`` (float64 holding integers) and each row's mixing context."""
    kq = k + 1
    for r in range(n):
        pb = min((pos0[r] + t) >> pshift, N_MIX_POS - 1)
        qb = (q1[r] * N_MIX_Q) // kq
        m = ((pb * 2 + mate[r]) * N_MIX_Q) + qb
        mctx[r] = m
        wl = w[m]
        wc = W_ONE - wl
        for s in range(k):
            out[r, s] = np.float64(1 + ((wl * fl[r, s] + wc * fc[r, s]) >> 16))


@nb.njit(**_NJ)
def mix_update(n, sym, mctx, w, fl, fc, lr_shift):
    """Move each used weight along the code-length gradient of the mixture (integers only)."""
    for r in range(n):
        s = sym[r]
        w[mctx[r]] = step_weight(w[mctx[r]], fl[r, s], fc[r, s], lr_shift)


@nb.njit(inline="always", **_NJ)
def scaled(x, inv):
    """``x * 2**20 / total`` truncated, as ``int64(float64(x * 2**20) * inv)`` with
    ``inv = 1.0 / float64(total)``: one reciprocal per table instead of a division per
    symbol, and still bit-identical everywhere (two correctly rounded IEEE-754 operations
    on integers below 2**53, no fast-math), as in :mod:`codec.streams.tables`."""
    return np.int64(np.float64(np.int64(x) * SCALE) * inv)


@nb.njit(**_NJ)
def position_tables(t, n, pos0, mate, q1, k, w, w2, counts, totals, fl, fc, mctx, pctx, p1, out):
    """Both stages of :class:`PositionMixer` for rows ``0..n-1`` of step ``t``.

    ``p1`` = first-stage mixture rescaled to total about 2**20, ``fp`` = the position
    counts as a table (``1 + counts * 2**20 / total``), both through :func:`scaled`; the coder sees
    ``1 + ((w2 * p1 + (2**16 - w2) * fp) >> 16)`` in ``out``."""
    kq = k + 1
    for r in range(n):
        m = (((pos0[r] + t) * 2 + mate[r]) * N_MIX_Q) + (q1[r] * N_MIX_Q) // kq
        c = ((pos0[r] + t) * 2 + mate[r]) * kq + q1[r]
        mctx[r] = m
        pctx[r] = c
        wl = w[m]
        wc = W_ONE - wl
        tot = 0
        for s in range(k):
            p1[r, s] = 1 + ((wl * fl[r, s] + wc * fc[r, s]) >> 16)
            tot += p1[r, s]
        inv = 1.0 / np.float64(tot)
        inv_c = 1.0 / np.float64(totals[c])
        wm = w2[m]
        for s in range(k):
            p1[r, s] = scaled(p1[r, s], inv)
            fp = 1 + scaled(counts[c, s], inv_c)
            out[r, s] = np.float64(1 + ((wm * p1[r, s] + (W_ONE - wm) * fp) >> 16))


@nb.njit(**_NJ)
def position_update(n, sym, mctx, pctx, w2, p1, counts, totals, lr_shift):
    """Second stage, row by row: move the weight against the *current* counts of the
    row's position context, then add the symbol to them (halving a context's counts,
    rounding up so none reaches 0, once its total passes HALVE_ABOVE).

    Rows of one step that share a context thus see each other's symbols in the
    gradient (the coded tables used the counts from before the step): measured, this
    keeps the weight nearer the counts and codes 1 % smaller on a MiSeq pair."""
    for r in range(n):
        s = sym[r]
        c = pctx[r]
        m = mctx[r]
        w2[m] = step_weight(w2[m], p1[r, s], 1 + scaled(counts[c, s], 1.0 / np.float64(totals[c])), lr_shift)
        counts[c, s] += COUNT_STEP
        totals[c] += COUNT_STEP
        if totals[c] > HALVE_ABOVE:
            tot = 0
            for q in range(counts.shape[1]):
                counts[c, q] = (counts[c, q] + 1) >> 1
                tot += counts[c, q]
            totals[c] = tot


class BucketMixer:
    """Payload versions 1-2: one weight per (position bucket, mate, q1 bucket)."""

    def __init__(self, k: int, rows: int, w0: int, lr_shift: int, pshift: int) -> None:
        self.k, self.lr_shift, self.pshift = k, lr_shift, pshift
        self.w = np.full(N_BUCKETS, w0 << 8, dtype=np.int64)
        self.mctx = np.empty(rows, dtype=np.int64)
        self.out = np.empty((rows, k), dtype=np.float64)

    def tables(self, t, n, pos0, mate, q1, fl, fc) -> np.ndarray:
        mix_tables(t, n, pos0, mate, q1, self.k, self.pshift, self.w, fl, fc, self.mctx, self.out)
        return self.out[:n]

    def update(self, n, sym, fl, fc) -> None:
        mix_update(n, sym, self.mctx, self.w, fl, fc, self.lr_shift)


class PositionMixer:
    """Payload versions 3-4: exact-position weights, then the position counts (module docstring).

    ``longest`` (at most MAX_POS) sizes the tables: positions run 0..longest-1."""

    def __init__(self, k: int, rows: int, w0: int, lr_shift: int, longest: int) -> None:
        if not 0 < longest <= MAX_POS:
            raise ValueError(f"PositionMixer needs reads of 1..{MAX_POS} symbols")
        self.k, self.lr_shift = k, lr_shift
        n_mix = longest * 2 * N_MIX_Q
        self.w = np.full(n_mix, w0 << 8, dtype=np.int64)
        self.w2 = np.full(n_mix, W2_0 << 8, dtype=np.int64)
        n_ctx = longest * 2 * (k + 1)
        self.counts = np.ones((n_ctx, k), dtype=np.int32)
        self.totals = np.full(n_ctx, k, dtype=np.int64)
        self.mctx = np.empty(rows, dtype=np.int64)
        self.pctx = np.empty(rows, dtype=np.int64)
        self.p1 = np.empty((rows, k), dtype=np.int64)
        self.out = np.empty((rows, k), dtype=np.float64)

    def tables(self, t, n, pos0, mate, q1, fl, fc) -> np.ndarray:
        position_tables(t, n, pos0, mate, q1, self.k, self.w, self.w2, self.counts, self.totals, fl, fc,
                        self.mctx, self.pctx, self.p1, self.out)
        return self.out[:n]

    def update(self, n, sym, fl, fc) -> None:
        mix_update(n, sym, self.mctx, self.w, fl, fc, self.lr_shift)
        position_update(n, sym, self.mctx, self.pctx, self.w2, self.p1, self.counts, self.totals, LR2_SHIFT)
