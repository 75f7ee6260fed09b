"""Context features of the quality model (fqzcomp-like, fed to the LSTM).

Per position ``p`` of a read (segment rows of long reads start fresh):

====  =================================================  ============
 f    feature                                            vocabulary
====  =================================================  ============
 0    previous quality q1 (start token K)                K + 1
 1    quality before that q2 (start token K)             K + 1
 2    position bucket (exact < 64, then /8, capped)      128
 3    bases at p-1, p, p+1 (A C G T, 4 = N/other/edge)   125
 4    quality changes so far in the segment, bucketed    16
 5    mate (0 = single / read 1, 1 = read 2)             2
====  =================================================  ============

The encoder and decoder build these with the same numba kernels, step by step,
from symbols already coded; training builds them for whole sequences with
:func:`all_features`, which the tests check against the step kernels.
"""

from __future__ import annotations

import math

import numpy as np

from ..jit import nb

POS_VOCAB = 128
BASE_VOCAB = 125
DELTA_VOCAB = 16
MATE_VOCAB = 2
N_FEATURES = 6

_NJ = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")


def qual_vocab(k: int) -> tuple[int, ...]:
    return (k + 1, k + 1, POS_VOCAB, BASE_VOCAB, DELTA_VOCAB, MATE_VOCAB)


@nb.njit(inline="always", **_NJ)
def _pos_bucket(p):
    if p < 64:
        return p
    return min(64 + ((p - 64) >> 3), POS_VOCAB - 1)


@nb.njit(inline="always", **_NJ)
def _delta_bucket(d):
    if d < 8:
        return d
    return min(8 + ((d - 8) >> 2), DELTA_VOCAB - 1)


@nb.njit(inline="always", **_NJ)
def _base_ctx(bases, rs, length, p):
    b0 = bases[rs + p]
    bm = bases[rs + p - 1] if p > 0 else 4
    bp = bases[rs + p + 1] if p + 1 < length else 4
    return bm * 25 + b0 * 5 + bp


@nb.njit(**_NJ)
def step_features(t, n, row_pos0, row_read_start, row_read_len, row_mate, bases, q1, q2, dcnt,
                  offsets, x):
    """Table row indices ``x[:n]`` of step ``t`` for the first ``n`` rows (segments)."""
    for r in range(n):
        p = row_pos0[r] + t
        x[r, 0] = offsets[0] + q1[r]
        x[r, 1] = offsets[1] + q2[r]
        x[r, 2] = offsets[2] + _pos_bucket(p)
        x[r, 3] = offsets[3] + _base_ctx(bases, row_read_start[r], row_read_len[r], p)
        x[r, 4] = offsets[4] + _delta_bucket(dcnt[r])
        x[r, 5] = offsets[5] + row_mate[r]


@nb.njit(**_NJ)
def step_features_mapped(t, n, row_pos0, row_read_start, row_read_len, row_mate, bases, q1, q2, dcnt,
                         qin, use_mate, offsets, x):
    """As :func:`step_features`, with ``q1``/``q2`` (symbols, start token K) fed to the model
    as ``qin[q]`` (e.g. Phred values for the shipped defaults) and the mate fed only when
    ``use_mate`` (else 0). ``qin = arange(K + 1)`` and ``use_mate`` give step_features."""
    for r in range(n):
        p = row_pos0[r] + t
        x[r, 0] = offsets[0] + qin[q1[r]]
        x[r, 1] = offsets[1] + qin[q2[r]]
        x[r, 2] = offsets[2] + _pos_bucket(p)
        x[r, 3] = offsets[3] + _base_ctx(bases, row_read_start[r], row_read_len[r], p)
        x[r, 4] = offsets[4] + _delta_bucket(dcnt[r])
        x[r, 5] = offsets[5] + (row_mate[r] if use_mate else 0)


@nb.njit(**_NJ)
def step_advance(t, n, sym, q1, q2, dcnt):
    """Fold the symbols of step ``t`` into the running features."""
    for r in range(n):
        s = sym[r]
        if t > 0 and s != q1[r]:
            dcnt[r] += 1
        q2[r] = q1[r]
        q1[r] = s


@nb.njit(**_NJ)
def gather_symbols(t, n, row_flat, quals, sym):
    for r in range(n):
        sym[r] = quals[row_flat[r] + t]


@nb.njit(**_NJ)
def scatter_symbols(t, n, row_flat, sym, quals):
    for r in range(n):
        quals[row_flat[r] + t] = sym[r]


@nb.njit(**_NJ)
def all_features(quals, k, row_flat, row_len, row_pos0, row_read_start, row_read_len, row_mate, bases):
    """Raw feature values ``[N, F]`` (int16) for every symbol, laid out like ``quals``."""
    out = np.empty((quals.shape[0], N_FEATURES), dtype=np.int16)
    for r in range(row_flat.shape[0]):
        q1 = k
        q2 = k
        d = 0
        f0 = row_flat[r]
        for t in range(row_len[r]):
            p = row_pos0[r] + t
            i = f0 + t
            out[i, 0] = q1
            out[i, 1] = q2
            out[i, 2] = _pos_bucket(p)
            out[i, 3] = _base_ctx(bases, row_read_start[r], row_read_len[r], p)
            out[i, 4] = _delta_bucket(d)
            out[i, 5] = row_mate[r]
            s = quals[i]
            if t > 0 and s != q1:
                d += 1
            q2 = q1
            q1 = s
    return out


def segment_rows(lengths: np.ndarray, seg_len: int, mate: np.ndarray) -> dict[str, np.ndarray]:
    """Cut reads into rows of at most ``seg_len`` symbols, sorted longest first (stable).

    Returns per-row arrays: ``flat`` (start in the flat symbol array), ``len``,
    ``pos0`` (position of the row's first symbol in its read), ``read_start``,
    ``read_len``, ``mate``.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    nseg = np.where(lengths > 0, (lengths + seg_len - 1) // seg_len, 0)
    read_idx = np.repeat(np.arange(len(lengths), dtype=np.int64), nseg)
    first = np.concatenate([[0], np.cumsum(nseg)[:-1]]).astype(np.int64)
    j = np.arange(len(read_idx), dtype=np.int64) - np.repeat(first, nseg)
    pos0 = j * seg_len
    rlen = np.minimum(lengths[read_idx] - pos0, seg_len)
    order = np.argsort(-rlen, kind="stable")
    ri = read_idx[order]
    return {"flat": np.ascontiguousarray(starts[ri] + pos0[order]), "len": np.ascontiguousarray(rlen[order]),
            "pos0": np.ascontiguousarray(pos0[order]), "read_start": np.ascontiguousarray(starts[ri]),
            "read_len": np.ascontiguousarray(lengths[ri]),
            "mate": np.ascontiguousarray(np.asarray(mate, dtype=np.int64)[ri])}


def sample_windows(rows: dict[str, np.ndarray], rng: np.random.Generator, batch: int,
                   win: int) -> tuple[np.ndarray, np.ndarray]:
    """Training windows: flat indices ``[batch, win]`` of ``win`` positions from a random
    offset of ``batch`` random rows (0 past a row's end), and the mask of real positions."""
    ar = np.arange(win)
    r = rng.integers(0, len(rows["len"]), batch)
    rl = rows["len"][r]
    off = (rng.random(batch) * np.maximum(rl - win + 1, 1)).astype(np.int64)
    idx = rows["flat"][r, None] + off[:, None] + ar[None, :]
    valid = ar[None, :] < (rl - off)[:, None]
    return np.where(valid, idx, 0), valid


def warmup_cosine_lr(step: int, steps: int, warm: int, lr_max: float, lr_min: float) -> float:
    """Linear warm-up over ``warm`` steps, then a cosine decay from ``lr_max`` to ``lr_min``."""
    if step < warm:
        return lr_max * (step + 1) / warm
    frac = (step - warm) / max(1, steps - warm)
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * frac))


def fit_on_windows(model, steps: int, draw, lr_max: float = 1e-2, lr_min: float = 1e-3) -> None:
    """Adam over ``steps`` batches ``draw() -> (inputs, targets)`` (targets -1: not a target),
    warm-up then cosine learning rate, gradients clipped to norm 1: the per-block fits of the
    quality and base LSTMs. Leaves ``model`` in eval mode."""
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=lr_max)
    warm = max(1, steps // 10)
    model.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = warmup_cosine_lr(step, steps, warm, lr_max, lr_min)
        x, y = draw()
        _, loss = model(x, targets=y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()
