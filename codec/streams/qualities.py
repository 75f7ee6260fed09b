"""The QUALITIES stream: the block's quality alphabet, then the best model's payload.

Payload: ``blob alphabet`` (the sorted distinct quality bytes), ``u8 codec_id``,
then that codec's own payload. One distinct value costs nothing more. The
encoder runs every available model and keeps the smallest (so a fitted LSTM can
never make a block worse than the context-model baseline).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import FormatError
from ..varint import Reader, blob
from . import qual_ctx
from .ids import CodecId

Encoder = Callable[..., bytes]
Decoder = Callable[..., np.ndarray]


def _codecs(level: int) -> dict[CodecId, tuple[Encoder, Decoder]]:
    table: dict[CodecId, tuple[Encoder, Decoder]] = {
        CodecId.QUAL_CTX: (qual_ctx.encode_qualities, qual_ctx.decode_qualities)}
    return table


def encode_qualities(qual: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                     level: int) -> tuple[bytes, CodecId]:
    """``qual``: raw quality bytes of the block; ``bases``: codes 0..4."""
    alphabet = np.unique(qual)
    head = blob(alphabet.tobytes())
    if len(alphabet) <= 1:
        return head + bytes([CodecId.CONST]), CodecId.CONST
    lut = np.zeros(256, dtype=np.uint8)
    lut[alphabet] = np.arange(len(alphabet), dtype=np.uint8)
    symbols = lut[qual]
    candidates = _codecs(level)
    if level <= 1:
        candidates = {CodecId.QUAL_CTX: candidates[CodecId.QUAL_CTX]}
    best: tuple[bytes, CodecId] | None = None
    for codec_id, (encode, _) in candidates.items():
        payload = encode(symbols, lengths, bases, mate, len(alphabet), level)
        if best is None or len(payload) < len(best[0]):
            best = (payload, codec_id)
    assert best is not None
    return head + bytes([best[1]]) + best[0], best[1]


def decode_qualities(payload: bytes, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray) -> np.ndarray:
    """Raw quality bytes of the block."""
    r = Reader(payload)
    alphabet = np.frombuffer(r.blob(limit=256), dtype=np.uint8)
    if len(alphabet) == 0 and int(lengths.sum()) > 0:
        raise FormatError("empty quality alphabet")
    codec_id = r.u8()
    total = int(lengths.sum())
    if codec_id == CodecId.CONST:
        if len(alphabet) > 1:
            raise FormatError("constant quality stream with several values")
        return np.full(total, alphabet[0] if len(alphabet) else 33, dtype=np.uint8)
    codecs = _codecs(9)
    if codec_id not in codecs:
        raise FormatError(f"unknown quality codec id {codec_id}")
    symbols = codecs[CodecId(codec_id)][1](r.take(r.remaining()), lengths, bases, mate, len(alphabet))
    return alphabet[symbols]
