"""Batch-step driver shared by every autoregressive stream model.

Reads (cut into segments when long, so the batch stays wide) become *rows*.
Rows are coded in batches of growing size; inside a batch, step ``t`` codes
position ``t`` of every row still active, with one coder call for the whole
batch. Encoder and decoder run this very loop, so they compute the same
frequency tables by construction (STYLE.md rule 1). Models learn only between
batches, from rows both sides already know.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..entropy.coder import StepDecoder, StepEncoder

FIRST_BATCH_ROWS = 16
MAX_BATCH_SYMBOLS = 1 << 20
STEP_BUFFER_CELLS = 1 << 21  # table cells one ``encode_steps`` call may fill (16 MB of int64)


@dataclass
class Rows:
    """Rows of a flat symbol array: where each starts, its length and read position."""

    starts: np.ndarray  # int64 offsets into the flat array
    lens: np.ndarray    # int64
    pos0: np.ndarray    # int64 position in the read of the row's first symbol
    read: np.ndarray    # int64 index of the read the row belongs to


def make_rows(lengths: np.ndarray, segment: int) -> Rows:
    """Cut reads longer than ``segment`` into segments; empty reads give no row."""
    lengths = np.asarray(lengths, dtype=np.int64)
    read_starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    n_seg = np.maximum((lengths + segment - 1) // segment, 0)
    read_of = np.repeat(np.arange(len(lengths)), n_seg)
    first_seg = np.concatenate(([0], np.cumsum(n_seg)[:-1])).astype(np.int64)
    k = np.arange(len(read_of), dtype=np.int64) - np.repeat(first_seg, n_seg)
    pos0 = k * segment
    lens = np.minimum(lengths[read_of] - pos0, segment)
    return Rows(read_starts[read_of] + pos0, lens.astype(np.int64), pos0, read_of.astype(np.int64))


def batch_bounds(rows: Rows, max_rows: int = 0) -> list[tuple[int, int]]:
    """Consecutive row ranges, doubling from FIRST_BATCH_ROWS up to a symbol budget and,
    when ``max_rows`` is set, to at most that many rows.

    The rows of a batch step together: a row learns nothing from the other rows' symbols
    at its own step, and a model that learns between batches learns nothing from them at
    all until the batch ends. A model whose gain is between rows (the base model) caps
    the batch so later rows see the earlier ones sooner; the decoder then pays more steps."""
    bounds = []
    lo, size, n = 0, FIRST_BATCH_ROWS, len(rows.lens)
    cum = np.concatenate(([0], np.cumsum(rows.lens)))
    while lo < n:
        hi = min(n, lo + (min(size, max_rows) if max_rows else size))
        over = int(np.searchsorted(cum, cum[lo] + MAX_BATCH_SYMBOLS, side="right")) - 1
        hi = max(lo + 1, min(hi, over))
        bounds.append((lo, hi))
        lo, size = hi, size * 2
    return bounds


class StepModel(Protocol):
    """What a model provides to the driver (all arrays are per active row)."""

    n_symbols: int

    def begin_batch(self, starts: np.ndarray, pos0: np.ndarray, lens: np.ndarray,
                    read: np.ndarray) -> None: ...

    def freqs(self, t: int, n_active: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Integer frequency rows for the coded rows among the first ``n_active``,
        and the indices of those rows (``None`` = all of them)."""
        ...

    def advance(self, t: int, n_active: int, symbols: np.ndarray) -> None: ...

    def end_batch(self) -> None: ...


class BatchEncoding(Protocol):
    """Optional, encoder only: many steps in one compiled call (see :func:`run`)."""

    def encode_steps(self, t: int, active: np.ndarray, flat: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        """Run steps ``t, t+1, ...`` (``active[t]`` rows each) over the known symbols ``flat``
        while the model's buffer lasts; return the next step, then the flat positions and
        tables of every coded symbol, in the order the step loop would have coded them."""
        ...


def leading_reads(lengths: np.ndarray, n_symbols: int) -> tuple[int, np.ndarray]:
    """(reads, their lengths) of a block's first reads up to about ``n_symbols`` symbols: the
    sample an encoder codes to choose its model (``lengths.sum()`` of the second is its size).

    At least one read; a first read longer than ``n_symbols`` is cut to its first
    ``n_symbols``, so one ultra-long read (nanopore reads reach megabases) does not make the
    sample, and every trial coded on it, as large as the block."""
    n_reads = max(1, int(np.searchsorted(np.cumsum(lengths), n_symbols)))
    lens = np.array(lengths[:n_reads], dtype=np.int64)
    if n_reads == 1 and len(lens):
        lens[0] = min(lens[0], n_symbols)
    return n_reads, lens


def step_buffers(rows: int, n_symbols: int,
                 have: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(positions, tables) buffers for ``encode_steps``, with room for at least one full step
    of ``rows`` rows: ``have`` when it has that room, else new ones. Models ask for them on
    their first ``encode_steps`` only, so decoders and step-loop users never allocate them."""
    if have is not None and len(have[0]) >= rows:
        return have
    cap = max(rows, STEP_BUFFER_CELLS // n_symbols)
    return np.empty(cap, dtype=np.int64), np.empty((cap, n_symbols), dtype=np.int64)


def _batch_order(rows: Rows, lo: int, hi: int) -> np.ndarray:
    return lo + np.argsort(-rows.lens[lo:hi], kind="stable")


def _encode_many(model: BatchEncoding, active: np.ndarray, flat: np.ndarray, encoder: StepEncoder) -> None:
    """The encoder knows every symbol: one compiled call runs many steps and a single coder
    call codes them all, in the step loop's order (the range coder's output is the same)."""
    t = 0
    while t < len(active):
        t, where, freqs = model.encode_steps(t, active, flat)
        encoder.encode(flat[where], freqs)


def _step_loop(model: StepModel, starts: np.ndarray, active: np.ndarray, flat: np.ndarray,
               encoder: StepEncoder | None, decoder: StepDecoder | None) -> None:
    for t in range(len(active)):
        n = int(active[t])
        freqs, which = model.freqs(t, n)
        where = starts[:n] + t if which is None else starts[which] + t
        if encoder is not None:
            encoder.encode(flat[where], freqs)
        else:
            assert decoder is not None
            flat[where] = decoder.decode(freqs)
        model.advance(t, n, flat)


def run(model: StepModel, rows: Rows, flat: np.ndarray, encoder: StepEncoder | None,
        decoder: StepDecoder | None, after_batch: Callable[[int], None] | None = None,
        max_rows: int = 0, before_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """Code (encoder given) or decode (decoder given) every row of ``flat`` in place,
    in the batches of :func:`batch_bounds` (``max_rows`` as there).

    ``after_batch(n)`` is called after each batch with ``n`` = how many leading symbols of
    ``flat`` are coded (rows are a prefix of ``flat`` in order: those of rows ``0..hi-1``);
    ``before_batch(n)`` before each, with ``n`` = how many the batch reaches (a model that
    reads another stream at the same positions can wait there for it)."""
    for lo, hi in batch_bounds(rows, max_rows):
        reach = int(rows.starts[hi - 1] + rows.lens[hi - 1])   # leading symbols of flat the batch ends at
        if before_batch is not None:
            before_batch(reach)
        ids = _batch_order(rows, lo, hi)
        starts, lens = rows.starts[ids], rows.lens[ids]
        model.begin_batch(starts, rows.pos0[ids], lens, rows.read[ids])
        active = np.searchsorted(-lens, -np.arange(int(lens[0]) if len(lens) else 0), side="left")
        if encoder is not None and hasattr(model, "encode_steps"):
            _encode_many(model, active, flat, encoder)  # type: ignore[arg-type]
        else:
            _step_loop(model, starts, active, flat, encoder, decoder)
        model.end_batch()
        if after_batch is not None:
            after_batch(reach)
    return flat
