"""Integer-exact inference, fast path (numba).

Same arithmetic as :mod:`codec.model.reference`, organised for speed:

* layer-0 input projections are folded at load time into one int32 table
  ``tab [sum(V_f), 4H]`` (row ``offset_f + value``), with the layer-0 bias in
  feature 0's rows; every entry is the reference's per-feature rounded term;
* the recurrent and output products run in float32 on integer-valued
  operands. :meth:`QuantModel.check_bounds` proves every partial sum is an
  integer below 2**24, so the result is exact whatever the order, SIMD width
  or FMA use; they are converted to int64 before any rescaling;
* everything else is int64 arithmetic and table lookups inside numba
  (no fastmath, no parallel reductions), so tables do not depend on threads.
"""

from __future__ import annotations

import threading

import numpy as np

from ..jit import nb
from .quantize import (CELL_CLAMP, FREQ_TOTAL, H_ONE, LUT_HALF, LUT_SHIFT, LUT_SIZE, MULT_SHIFT,
                       QuantModel, luts, rshift_round)

_BLK = 128  # rows per parallel work item (results never depend on the split)
_NJ = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")


@nb.njit(inline="always", **_NJ)
def _rs(x, s):
    return (x + (np.int64(1) << (s - 1))) >> s


@nb.njit(inline="always", **_NJ)
def _idx(z):
    i = (z >> LUT_SHIFT) + LUT_HALF
    return min(max(i, 0), LUT_SIZE - 1)


@nb.njit(inline="always", **_NJ)
def _cell_update(z, hr, cr, sig, tnh, gi, gf, gg, go):
    """Gates from pre-activations ``z [4H]`` (Q12); update ``cr`` (Q12) and ``hr`` (int8 values)."""
    hid = hr.shape[0]
    for j in range(4 * hid):
        z[j] = _idx(z[j])
    for u in range(hid):
        gi[u] = sig[z[u]]
        gf[u] = sig[z[hid + u]]
        gg[u] = tnh[z[2 * hid + u]]
        go[u] = sig[z[3 * hid + u]]
    for u in range(hid):
        # c (Q12) = f (Q15) * c + i (Q15) * g (Q15) >> 3, rounded back to Q12
        cn = _rs(gf[u] * cr[u] + ((gi[u] * gg[u]) >> 3), 15)
        cn = min(max(cn, -CELL_CLAMP), CELL_CLAMP)
        cr[u] = cn
        gi[u] = _idx(cn)
    for u in range(hid):
        hr[u] = np.float32(_rs(go[u] * tnh[gi[u]] * H_ONE, 30))


@nb.njit(**_NJ)
def _cell0(xrows, tab, acc, m_hh, sig, tnh, h, c):
    """Layer 0 for rows ``0..len(xrows)-1``: folded input table + rescaled ``acc = h @ Whh^T``."""
    n, hid = xrows.shape[0], h.shape[1]
    g4 = 4 * hid
    nf = xrows.shape[1]
    for blk in range((n + _BLK - 1) // _BLK):
      z = np.empty(g4, dtype=np.int64)
      gi = np.empty(hid, dtype=np.int64)
      gf = np.empty(hid, dtype=np.int64)
      gg = np.empty(hid, dtype=np.int64)
      go = np.empty(hid, dtype=np.int64)
      zs = np.empty(g4, dtype=tab.dtype)
      for r in range(blk * _BLK, min(n, (blk + 1) * _BLK)):
        x = xrows[r]
        ar = acc[r]
        # the input rows are summed in the table's own type (int32 when IntPredictor found
        # that n_features of its largest entries fit): twice the SIMD width, same integers
        t0 = tab[x[0]]
        for j in range(g4):
            zs[j] = t0[j]
        for f in range(1, nf):
            t = tab[x[f]]
            for j in range(g4):
                zs[j] += t[j]
        for j in range(g4):
            z[j] = np.int64(zs[j]) + _rs(np.int64(ar[j]) * m_hh[j], MULT_SHIFT)
        _cell_update(z, h[r], c[r], sig, tnh, gi, gf, gg, go)


@nb.njit(**_NJ)
def _cellk(acc_ih, m_ih, bias, acc_hh, m_hh, sig, tnh, h, c):
    """Layer >= 1: rescaled input and recurrent products plus bias."""
    n, hid = acc_hh.shape[0], h.shape[1]
    g4 = 4 * hid
    for blk in range((n + _BLK - 1) // _BLK):
      z = np.empty(g4, dtype=np.int64)
      gi = np.empty(hid, dtype=np.int64)
      gf = np.empty(hid, dtype=np.int64)
      gg = np.empty(hid, dtype=np.int64)
      go = np.empty(hid, dtype=np.int64)
      for r in range(blk * _BLK, min(n, (blk + 1) * _BLK)):
        ai = acc_ih[r]
        ah = acc_hh[r]
        for j in range(g4):
            z[j] = (bias[j] + _rs(np.int64(ai[j]) * m_ih[j], MULT_SHIFT)
                    + _rs(np.int64(ah[j]) * m_hh[j], MULT_SHIFT))
        _cell_update(z, h[r], c[r], sig, tnh, gi, gf, gg, go)


@nb.njit(**_NJ)
def _freqs(oacc, m_out, b_out, ex, freq):
    """Output products -> Q12 logits -> exp LUT -> integer table summing to FREQ_TOTAL."""
    n, k = freq.shape
    for blk in range((n + _BLK - 1) // _BLK):
      lg = np.empty(k, dtype=np.int64)
      e = np.empty(k, dtype=np.int64)
      # one simple loop per stage (logits, max, first argmax, LUT index, exp, scale, total)
      # so that each vectorises; the integers are those of the one-loop form
      for r in range(blk * _BLK, min(n, (blk + 1) * _BLK)):
        ar = oacc[r]
        for j in range(k):
            lg[j] = _rs(np.int64(ar[j]) * m_out[j], MULT_SHIFT) + b_out[j]
        best = lg[0]
        for j in range(1, k):
            best = max(best, lg[j])
        top = 0
        while lg[top] != best:
            top += 1
        for j in range(k):
            lg[j] = min((best - lg[j]) >> LUT_SHIFT, LUT_SIZE - 1)
        for j in range(k):
            e[j] = ex[lg[j]]
        s = np.int64(0)
        for j in range(k):
            s += e[j]
        rr = (np.int64(FREQ_TOTAL - k) << 32) // s
        for j in range(k):
            e[j] = 1 + ((e[j] * rr) >> 32)
        tot = np.int64(0)
        for j in range(k):
            tot += e[j]
        e[top] += FREQ_TOTAL - tot
        fr = freq[r]
        for j in range(k):
            fr[j] = e[j]


def _pad16(n: int) -> int:
    return (n + 15) // 16 * 16


class IntPredictor:
    """Integer-exact predictor built from a :class:`QuantModel`.

    State is ``(h, c)``: ``h`` float32 ``[L, B, H]`` holding integers in
    [-127, 127], ``c`` int64 ``[L, B, H]`` (Q12). Rows are independent, so a
    caller may advance any prefix ``0..n-1`` of the batch (rows sorted by
    length, longest first, keep the active rows a prefix).
    """

    def __init__(self, qm: QuantModel) -> None:
        qm.check_bounds()
        self.qm = qm
        cfg = qm.cfg
        self.cfg = cfg
        hid, e, layers = cfg.hidden, cfg.embed, cfg.layers
        self.offsets = np.concatenate([[0], np.cumsum(cfg.input_vocab)[:-1]]).astype(np.int64)
        tabs = []
        for f in range(cfg.n_features):
            acc = qm.emb[f].astype(np.int64) @ qm.w_ih0[:, f * e:(f + 1) * e].astype(np.int64).T
            t = rshift_round(acc * qm.m_ih0[None, :], MULT_SHIFT + int(qm.emb_shift[f]))
            if f == 0:
                t = t + qm.bias[0][None, :]
            tabs.append(t)
        self.tab = np.ascontiguousarray(np.concatenate(tabs, axis=0), dtype=np.int64)
        self.whhT = [np.ascontiguousarray(w.T, dtype=np.float32) for w in qm.w_hh]
        self.wihT = [None] + [np.ascontiguousarray(w.T, dtype=np.float32) for w in qm.w_ih]
        k = cfg.n_symbols
        wo = np.zeros((hid, _pad16(k)), dtype=np.float32)  # padded: aligned, vectorised products
        wo[:, :k] = qm.w_out.T
        self.woT = wo
        self.m_hh = [np.ascontiguousarray(m, dtype=np.int64) for m in qm.m_hh]
        self.m_ih = [None] + [np.ascontiguousarray(m, dtype=np.int64) for m in qm.m_ih]
        self.bias = [np.ascontiguousarray(b, dtype=np.int64) for b in qm.bias]
        self.m_out = np.ascontiguousarray(qm.m_out, dtype=np.int64)
        self.b_out = np.ascontiguousarray(qm.b_out, dtype=np.int64)
        self.sig, self.tnh, self.ex = luts()
        self.layers = layers
        # layer 0 reads int32 copies (half the cache footprint) when the values allow;
        # every sum is still formed in int64, so the results are the same
        small = int(np.abs(self.tab).max(initial=0)) * cfg.n_features < (1 << 31)
        self.tab0 = np.ascontiguousarray(self.tab, dtype=np.int32) if small else self.tab
        self.sig32, self.tnh32 = (np.ascontiguousarray(a, dtype=np.int32) for a in luts()[:2])
        self._bufs: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def restrict(self, cols: np.ndarray) -> "IntPredictor":
        """The same predictor with only output columns ``cols`` (in that order).

        The integer softmax of :func:`_freqs` then runs over those logits alone, so the
        table is an exact distribution over ``len(cols)`` symbols (total FREQ_TOTAL,
        each >= 1). Equals :func:`codec.model.reference.reference_step` with ``out_cols``.
        """
        cols = np.asarray(cols, dtype=np.int64)
        k = self.cfg.n_symbols
        if cols.ndim != 1 or len(cols) < 1 or (cols < 0).any() or (cols >= k).any():
            raise ValueError("output columns out of range")
        new = object.__new__(IntPredictor)
        new.__dict__.update(self.__dict__)
        wo = np.zeros((self.cfg.hidden, _pad16(len(cols))), dtype=np.float32)
        wo[:, :len(cols)] = self.qm.w_out[cols].T
        new.woT = wo
        new.m_out = np.ascontiguousarray(self.m_out[cols])
        new.b_out = np.ascontiguousarray(self.b_out[cols])
        new.out_cols = cols
        new._bufs = {}
        return new

    def _buffers(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cap = max(n, 1)
        key = threading.get_ident()   # per thread: a shared default model may run in two threads at once
        cur = self._bufs.get(key)
        if cur is None or cur[0].shape[0] < cap:
            g4 = 4 * self.cfg.hidden
            cur = (np.empty((cap, g4), np.float32), np.empty((cap, g4), np.float32),
                   np.empty((cap, self.woT.shape[1]), np.float32))
            self._bufs[key] = cur
        return cur

    def rows(self, x: np.ndarray) -> np.ndarray:
        """Raw feature values ``[..., F]`` -> table row indices (range-checked)."""
        x = np.asarray(x, dtype=np.int64)
        vocab = np.asarray(self.cfg.input_vocab, dtype=np.int64)
        if x.shape[-1] != len(vocab) or (x < 0).any() or (x >= vocab).any():
            raise ValueError("input feature values out of range")
        return np.ascontiguousarray(x + self.offsets)

    def initial_state(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        shape = (self.layers, batch, self.cfg.hidden)
        return np.zeros(shape, dtype=np.float32), np.zeros(shape, dtype=np.int64)

    def step_rows(self, xrows: np.ndarray, h: np.ndarray, c: np.ndarray, freq: np.ndarray) -> None:
        """In place: advance rows ``0..n-1`` (``n = len(xrows)``) of ``(h, c)`` and write their
        frequency tables to ``freq[:n]`` (int64 or float64; float64 feeds the coder directly).

        The float32 products are exact (integer operands, partial sums < 2**24), so
        the BLAS kernel choice and thread count cannot change them.
        """
        n = xrows.shape[0]
        if n == 0:
            return
        acc_hh, acc_ih, oacc = self._buffers(n)
        for layer in range(self.layers):
            a = acc_hh[:n]
            np.matmul(h[layer, :n], self.whhT[layer], out=a)
            if layer == 0:
                _cell0(xrows, self.tab0, a, self.m_hh[0], self.sig32, self.tnh32, h[0, :n], c[0, :n])
            else:
                ai = acc_ih[:n]
                np.matmul(h[layer - 1, :n], self.wihT[layer], out=ai)
                _cellk(ai, self.m_ih[layer], self.bias[layer], a, self.m_hh[layer],
                       self.sig, self.tnh, h[layer, :n], c[layer, :n])
        o = oacc[:n]
        np.matmul(h[self.layers - 1, :n], self.woT, out=o)
        _freqs(o, self.m_out, self.b_out, self.ex, freq[:n])

    def step(self, x: np.ndarray, state: tuple[np.ndarray, np.ndarray]
             ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """One step: ``x [B, F]`` -> ``(freq [B, K] int64, new state)``."""
        h, c = state[0].copy(), state[1].copy()
        freq = np.zeros((x.shape[0], self.cfg.n_symbols), dtype=np.int64)
        self.step_rows(self.rows(x), h, c, freq)
        return freq, (h, c)

    def sequence(self, inputs: np.ndarray) -> np.ndarray:
        """Teacher-forced tables ``[B, T, K]`` for ``inputs [B, T, F]`` (from the initial state).

        Runs the very same step kernels position by position (DESIGN: one code path
        produces probabilities for encoding and decoding).
        """
        xr = self.rows(inputs)
        b, t, _ = xr.shape
        h, c = self.initial_state(b)
        freq = np.zeros((b, t, self.cfg.n_symbols), dtype=np.int64)
        for s in range(t):
            self.step_rows(np.ascontiguousarray(xr[:, s]), h, c, freq[:, s])
        return freq


def state_to_int(state: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Fast-path state as the reference's int64 ``(h, c)``."""
    return state[0].astype(np.int64), state[1].copy()
