"""Thin wrapper over constriction's queue (range) coder.

Models hand over *integer* frequency tables (shape ``(m, K)``): they are passed
to constriction as float64 values that are exact integers, so the table it
rescales and quantises internally is bit-identical on every machine. One call
codes one step for a whole batch of reads, which keeps the Python overhead per
symbol small (DESIGN.md: the coder is never the bottleneck if called per batch).

Compressed words are written little-endian (``'<u4'``) whatever the host.
"""

from __future__ import annotations

import threading

import numpy as np
import constriction

from ..errors import FormatError

_queue = constriction.stream.queue
_CATEGORICAL = constriction.stream.model.Categorical(perfect=False)
_WARM_LOCK = threading.Lock()
_warm = False


def warm_up() -> None:
    """Use constriction once in this process (idempotent; at import, and before every fork).

    Its Python bindings set themselves up on their first call and release the GIL half-way
    through; a child forked by another thread at that moment inherits the set-up half done
    and waits for ever in its first coder call. That hung a benchmark run: a pair's quality
    children were forked while the base thread made the process's first coder calls.
    Reproduced with bare constriction: 30 forks during a first call on a thread, 30 times,
    left 179 of the 900 children hanging; after one call in the main thread, none."""
    global _warm
    with _WARM_LOCK:
        if _warm:
            return
        enc = _queue.RangeEncoder()
        enc.encode(np.zeros(1, dtype=np.int32), _CATEGORICAL, np.ones((1, 2)))
        enc.num_bits()
        _queue.RangeDecoder(enc.get_compressed()).decode(_CATEGORICAL, np.ones((1, 2)))
        _warm = True


warm_up()


def _as_table(freqs: np.ndarray) -> np.ndarray:
    table = np.ascontiguousarray(freqs, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError("frequency table must be 2-D (m, K)")
    return table


class StepEncoder:
    """Accumulates symbols coded under per-symbol frequency tables."""

    def __init__(self) -> None:
        self._enc = _queue.RangeEncoder()

    def encode(self, symbols: np.ndarray, freqs: np.ndarray) -> None:
        """Code ``symbols[i]`` under the distribution ``freqs[i]`` (integers >= 0)."""
        if len(symbols) == 0:
            return
        self._enc.encode(np.ascontiguousarray(symbols, dtype=np.int32), _CATEGORICAL, _as_table(freqs))

    def num_bytes(self) -> float:
        """Size of what is coded so far, pending coder state included (for the encoder's choices)."""
        return self._enc.num_bits() / 8

    def finish(self) -> bytes:
        """Return the compressed words as little-endian bytes."""
        words = self._enc.get_compressed()
        return np.asarray(words, dtype="<u4").tobytes()


class StepDecoder:
    """Decodes what :class:`StepEncoder` wrote, given the same tables in order."""

    def __init__(self, data: bytes) -> None:
        if len(data) % 4:
            raise FormatError("range-coded payload length is not a multiple of 4")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        self._dec = _queue.RangeDecoder(words)

    def decode(self, freqs: np.ndarray) -> np.ndarray:
        """Decode one symbol per row of ``freqs``; returns int32 symbols."""
        if len(freqs) == 0:
            return np.zeros(0, dtype=np.int32)
        try:
            out = self._dec.decode(_CATEGORICAL, _as_table(freqs))
        except (ValueError, RuntimeError, AssertionError) as exc:  # how constriction reports bad data
            raise FormatError(f"corrupt range-coded data: {exc}") from exc
        return np.asarray(out, dtype=np.int32)
