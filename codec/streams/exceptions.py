"""The EXCEPTIONS stream: every sequence byte that is not one of ``ACGT``.

N, IUPAC codes, lowercase letters, '.', anything printable: stored as runs
(gap since the previous run as a varint, run length, then the run's bytes),
packed with ``pack_best``. Runs make N-blocks and all-lowercase reads cheap.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..varint import Reader, encode_uvarints
from .general import pack_best, unpack

BASE_CODE = np.full(256, 4, dtype=np.uint8)
BASE_CODE[np.frombuffer(b"ACGT", dtype=np.uint8)] = np.arange(4, dtype=np.uint8)
BASE_CHAR = np.frombuffer(b"ACGT", dtype=np.uint8)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = np.diff(np.concatenate(([0], mask.view(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def encode_exceptions(seq: np.ndarray) -> bytes:
    """``seq``: uint8 sequence bytes of the whole block."""
    mask = BASE_CODE[seq] == 4
    starts, ends = _runs(mask)
    gaps = starts - np.concatenate(([0], ends[:-1]))
    header = encode_uvarints(np.array([len(starts)])) + encode_uvarints(
        np.stack([gaps, ends - starts], axis=1).ravel())
    return pack_best(header + seq[mask].tobytes())


def decode_exceptions(payload: bytes, total: int) -> tuple[np.ndarray, np.ndarray]:
    """(bool mask of exception positions, their bytes in order)."""
    r = Reader(unpack(payload, limit=12 * total + 16))
    n_runs = r.uvarint(limit=total)
    pairs = r.uvarints(2 * n_runs, limit=total).reshape(-1, 2)
    mask = np.zeros(total, dtype=bool)
    pos = 0
    starts = np.cumsum(pairs[:, 0] + np.concatenate(([0], pairs[:-1, 1]))) if n_runs else pairs[:, 0]
    for start, length in zip(starts.tolist(), pairs[:, 1].tolist()):
        if start < pos or start + length > total:
            raise FormatError("exception run outside the block")
        mask[start:start + length] = True
        pos = start + length
    chars = np.frombuffer(r.take(r.remaining()), dtype=np.uint8)
    if len(chars) != int(mask.sum()):
        raise FormatError("exception bytes do not match their positions")
    return mask, chars
