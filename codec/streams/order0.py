"""Static order-0 range coding of byte-valued symbols, the table sent ahead of the words.

For streams whose symbols are independent draws from a small alphabet: the name
tokeniser's byte columns (``ARITH0``) and the read lengths (``LEN_ORDER0``). The table
is the symbols' own counts scaled to about FREQ_TOTAL, so the coder spends close to
their empirical entropy plus a few bytes of table, and decoding is one vectorised
coder call per chunk: no symbol waits for the one before it (the reason for a static
table rather than an adaptive one). Table bytes: ``u8 size - 1``, the alphabet
(``size`` bytes up to 32 symbols, else a 32-byte little-endian bitmask), then ``size``
uvarint frequencies, each at least 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..entropy.coder import StepDecoder, StepEncoder
from ..errors import FormatError
from ..varint import Reader, encode_uvarint

FREQ_TOTAL = 1 << 16     # frequencies are scaled to about this total
TABLE_CELLS = 1 << 18    # rows x alphabet per coder call (the tables are broadcast per row: bounds memory)
LISTED_MAX = 32          # alphabets up to this size are listed, larger ones sent as a bitmask


@dataclass(frozen=True)
class Order0Table:
    """The symbols present (ascending byte values) and their frequencies (each >= 1)."""

    alphabet: np.ndarray
    freqs: np.ndarray

    @classmethod
    def of(cls, symbols: np.ndarray) -> Order0Table:
        """The table of ``symbols`` (uint8, at least one)."""
        counts = np.bincount(symbols, minlength=256).astype(np.int64)
        alphabet = np.flatnonzero(counts)
        freqs = counts[alphabet]
        if freqs.sum() > FREQ_TOTAL:
            freqs = np.maximum(1, freqs * FREQ_TOTAL // freqs.sum())
        return cls(alphabet, freqs)

    def header(self) -> bytes:
        """The table's bytes (see the module docstring)."""
        if len(self.alphabet) <= LISTED_MAX:
            listed = self.alphabet.astype(np.uint8).tobytes()
        else:
            mask = np.zeros(256, dtype=bool)
            mask[self.alphabet] = True
            listed = np.packbits(mask, bitorder="little").tobytes()
        return bytes([len(self.alphabet) - 1]) + listed + b"".join(encode_uvarint(int(f)) for f in self.freqs)

    @classmethod
    def read(cls, reader: Reader) -> Order0Table:
        """The table :meth:`header` wrote; sizes and frequencies are checked, never trusted."""
        size = reader.u8() + 1
        if size <= LISTED_MAX:
            alphabet = np.frombuffer(reader.take(size), dtype=np.uint8)
        else:
            alphabet = np.flatnonzero(np.unpackbits(np.frombuffer(reader.take(32), dtype=np.uint8),
                                                    bitorder="little"))
        freqs = reader.uvarints(size, limit=FREQ_TOTAL)
        if len(alphabet) != size or freqs.min() < 1 or freqs.sum() > 2 * FREQ_TOTAL:
            raise FormatError("bad order-0 frequency table")
        return cls(alphabet, freqs)

    def encode(self, enc: StepEncoder, symbols: np.ndarray) -> None:
        """Code ``symbols`` (all in the alphabet). A one-symbol table codes nothing: the symbols are implied."""
        if len(self.alphabet) < 2:
            return
        index = np.zeros(256, dtype=np.int32)
        index[self.alphabet] = np.arange(len(self.alphabet), dtype=np.int32)
        for lo, hi, table in self._chunks(len(symbols)):
            enc.encode(index[symbols[lo:hi]], table)

    def decode(self, dec: StepDecoder, n: int) -> np.ndarray:
        """``n`` symbols (uint8) coded by :meth:`encode` under this table."""
        if len(self.alphabet) < 2:
            return np.full(n, self.alphabet[0], dtype=np.uint8)
        out = np.zeros(n, dtype=np.int32)
        for lo, hi, table in self._chunks(n):
            out[lo:hi] = dec.decode(table)
        if out.min(initial=0) < 0 or out.max(initial=0) >= len(self.alphabet):
            raise FormatError("order-0 symbol out of range")
        return self.alphabet[out].astype(np.uint8)

    def _chunks(self, n: int) -> Iterator[tuple[int, int, np.ndarray]]:
        """(first, end, this table broadcast per row) over ``n`` symbols, TABLE_CELLS cells at a time."""
        rows = max(1, TABLE_CELLS // len(self.freqs))
        weights = self.freqs.astype(np.float64)
        for lo in range(0, n, rows):
            hi = min(n, lo + rows)
            yield lo, hi, np.broadcast_to(weights, (hi - lo, len(weights)))
