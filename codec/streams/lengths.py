"""The LENGTHS stream: read lengths. Constant length costs two varints.

Payload: ``u8 mode`` then, mode 0 (constant): ``uvarint length``; mode 1:
LEB128 varints of every length, packed with ``pack_best``.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..varint import Reader, encode_uvarint, encode_uvarints
from .general import pack_best, unpack

MAX_READ_LENGTH = 1 << 34


def encode_lengths(lengths: np.ndarray) -> bytes:
    if len(lengths) and (lengths == lengths[0]).all():
        return b"\x00" + encode_uvarint(int(lengths[0]))
    return b"\x01" + pack_best(encode_uvarints(lengths))


def decode_lengths(payload: bytes, n_reads: int) -> np.ndarray:
    r = Reader(payload)
    mode = r.u8()
    if mode == 0:
        return np.full(n_reads, r.uvarint(limit=MAX_READ_LENGTH), dtype=np.int64)
    if mode != 1:
        raise FormatError(f"unknown lengths mode {mode}")
    body = Reader(unpack(r.take(r.remaining()), limit=10 * n_reads))
    out = body.uvarints(n_reads, limit=MAX_READ_LENGTH)
    if body.remaining():
        raise FormatError("extra bytes after read lengths")
    return out
