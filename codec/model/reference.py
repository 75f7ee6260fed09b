"""Plain numpy int64 reference of the integer-exact inference.

Deliberately simple and slow: integer matrix products (numpy int64 ``@`` never
goes through BLAS), no folding of embeddings into tables, no float anywhere.
The fast path in :mod:`codec.model.intexact` must produce exactly the same
frequency tables (tests/test_determinism.py).
"""

from __future__ import annotations

import numpy as np

from .quantize import (CELL_CLAMP, FRAC, FREQ_TOTAL, GATE_ONE, H_ONE, LUT_HALF, LUT_SHIFT, LUT_SIZE,
                       MULT_SHIFT, QuantModel, luts, rshift_round)


def _gate(z: np.ndarray, lut: np.ndarray) -> np.ndarray:
    idx = np.clip((z >> LUT_SHIFT) + LUT_HALF, 0, LUT_SIZE - 1)
    return lut[idx]


def _rescale(acc: np.ndarray, mult: np.ndarray) -> np.ndarray:
    return rshift_round(acc * mult[None, :], MULT_SHIFT)


def freq_from_logits(logits: np.ndarray) -> np.ndarray:
    """Q12 logits [B, K] -> integer frequencies summing to FREQ_TOTAL, each >= 1."""
    _, _, ex = luts()
    logits = np.asarray(logits, dtype=np.int64)
    k = logits.shape[1]
    d = logits.max(axis=1, keepdims=True) - logits
    e = ex[np.minimum(d >> LUT_SHIFT, LUT_SIZE - 1)]
    s = e.sum(axis=1, keepdims=True)
    r = (np.int64(FREQ_TOTAL - k) << 32) // s
    f = 1 + ((e * r) >> 32)
    top = np.argmax(logits, axis=1)  # first maximum
    f[np.arange(len(f)), top] += FREQ_TOTAL - f.sum(axis=1)
    return f


def reference_step(qm: QuantModel, x: np.ndarray, h: np.ndarray, c: np.ndarray,
                   out_cols: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step: inputs ``x [B, F]``, state ``h, c [L, B, H]`` (int64) -> (freq [B, K], h, c).

    ``out_cols``: the table covers only these output columns (IntPredictor.restrict)."""
    sig, tnh, _ = luts()
    cfg = qm.cfg
    x = np.asarray(x, dtype=np.int64)
    hh = cfg.hidden
    e = cfg.embed
    h = h.copy()
    c = c.copy()
    inp = None
    for layer in range(cfg.layers):
        z = np.broadcast_to(qm.bias[layer], (x.shape[0], 4 * hh)).astype(np.int64)
        if layer == 0:
            for f in range(cfg.n_features):
                ef = qm.emb[f].astype(np.int64)[x[:, f]]
                wf = qm.w_ih0[:, f * e:(f + 1) * e].astype(np.int64)
                z = z + rshift_round((ef @ wf.T) * qm.m_ih0[None, :], MULT_SHIFT + qm.emb_shift[f])
        else:
            z = z + _rescale(inp @ qm.w_ih[layer - 1].astype(np.int64).T, qm.m_ih[layer - 1])
        z = z + _rescale(h[layer] @ qm.w_hh[layer].astype(np.int64).T, qm.m_hh[layer])
        gi = _gate(z[:, 0:hh], sig)
        gf = _gate(z[:, hh:2 * hh], sig)
        gg = _gate(z[:, 2 * hh:3 * hh], tnh)
        go = _gate(z[:, 3 * hh:], sig)
        # c (Q12) = f (Q15) * c + i (Q15) * g (Q15) >> 3, back to Q12 with rounding
        cn = rshift_round(gf * c[layer] + ((gi * gg) >> 3), 15)
        cn = np.clip(cn, -CELL_CLAMP, CELL_CLAMP)
        t = _gate(cn, tnh)
        hn = rshift_round(go * t * H_ONE, 30)
        c[layer] = cn
        h[layer] = hn
        inp = hn
    logits = _rescale(inp @ qm.w_out.astype(np.int64).T, qm.m_out) + qm.b_out[None, :]
    if out_cols is not None:
        logits = logits[:, np.asarray(out_cols, dtype=np.int64)]
    return freq_from_logits(logits), h, c


def reference_initial_state(qm: QuantModel, batch: int) -> tuple[np.ndarray, np.ndarray]:
    shape = (qm.cfg.layers, batch, qm.cfg.hidden)
    return np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)


def reference_sequence(qm: QuantModel, inputs: np.ndarray) -> np.ndarray:
    """Frequency tables ``[B, T, K]`` for teacher-forced inputs ``[B, T, F]``."""
    inputs = np.asarray(inputs, dtype=np.int64)
    b, t, _ = inputs.shape
    h, c = reference_initial_state(qm, b)
    out = np.zeros((b, t, qm.cfg.n_symbols), dtype=np.int64)
    for s in range(t):
        out[:, s], h, c = reference_step(qm, inputs[:, s], h, c)
    return out


assert GATE_ONE == 1 << 15 and FRAC == 12  # the shifts above assume these formats
