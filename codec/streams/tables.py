"""Integer count tables and the backoff chain that turns them into frequencies.

Counts and frequencies are integers; the one division per context is an
IEEE-754 float64 reciprocal followed by exact-integer products (each a single
correctly rounded operation, numba without fast-math, operands below 2^53), so
the frequency tables are bit-identical on any machine: the determinism contract
of DESIGN.md holds for the baseline models by construction.

A distribution is built from the lowest to the highest context order:
``p_k[s] = (16*c_k[s]*SCALE + beta_k*p_{k-1}[s]) // (16*n_k + beta_k)``, i.e.
the counts of a context with a Dirichlet prior centred on the next-lower
order (PPM-style blending; ``beta`` is in sixteenths of a count).
"""

from __future__ import annotations

import numpy as np

from ..jit import njit

SCALE = 1 << 20
COUNT_LIMIT = 65535
W_ONE = 1 << 16   # mixing weights are Q16


@njit(cache=True, nogil=True, inline="always")
def blend(counts: np.ndarray, totals: np.ndarray, ctx: int, beta: int, prev: np.ndarray,
          out: np.ndarray) -> None:
    """One step of the backoff chain for context ``ctx`` (in place into ``out``)."""
    inv = 1.0 / np.float64(16 * np.int64(totals[ctx]) + beta)
    for s in range(out.shape[0]):
        out[s] = np.int64(np.float64(16 * np.int64(counts[ctx, s]) * SCALE + beta * prev[s]) * inv)


@njit(cache=True, nogil=True, inline="always")
def bump(counts: np.ndarray, totals: np.ndarray, ctx: int, sym: int) -> None:
    """Count one observation, halving the context's counts before they overflow."""
    if counts[ctx, sym] >= COUNT_LIMIT:
        tot = 0
        for s in range(counts.shape[1]):
            counts[ctx, s] = (counts[ctx, s] + 1) // 2
            tot += counts[ctx, s]
        totals[ctx] = tot
    counts[ctx, sym] += 1
    totals[ctx] += 1


@njit(cache=True, nogil=True, inline="always")
def blend4(counts: np.ndarray, ctx: int, beta: int, prev: np.ndarray, out: np.ndarray) -> None:
    """:func:`blend` for the 4-letter base tables, whose total is summed on the fly
    (one cache line per context instead of two)."""
    n = np.int64(counts[ctx, 0]) + counts[ctx, 1] + counts[ctx, 2] + counts[ctx, 3]
    inv = 1.0 / np.float64(16 * n + beta)
    for s in range(4):
        out[s] = np.int64(np.float64(16 * np.int64(counts[ctx, s]) * SCALE + beta * prev[s]) * inv)


@njit(cache=True, nogil=True, inline="always")
def bump4(counts: np.ndarray, ctx: int, sym: int) -> None:
    """:func:`bump` for the base tables (same halving rule, no totals array)."""
    if counts[ctx, sym] >= COUNT_LIMIT:
        for s in range(4):
            counts[ctx, s] = (counts[ctx, s] + 1) // 2
    counts[ctx, sym] += 1


@njit(cache=True, nogil=True, inline="always")
def step_weight(w: int, a: int, b: int, shift: int) -> int:
    """The Q16 weight ``w`` of ``a`` in the mixture ``w*a + (1-w)*b`` after one integer
    gradient step on its code length, the coded symbol having had ``a`` and ``b`` in the
    two tables: every mixer of the codec learns by this one rule."""
    pm = (w * a + (W_ONE - w) * b) >> 16
    w += (((a - b) << 16) // (pm + 1)) >> shift
    return min(W_ONE, max(0, w))


def new_table(n_ctx: int, n_symbols: int) -> tuple[np.ndarray, np.ndarray]:
    """Zeroed counts (uint16) and per-context totals (int64)."""
    return np.zeros((n_ctx, n_symbols), dtype=np.uint16), np.zeros(n_ctx, dtype=np.int64)
