"""The BASES stream: ACGT as codes 0..3 under the best available model.

Payload: ``u8 codec_id`` then that codec's payload. Candidates are the
context-mixing model (:mod:`codec.streams.bases_ctx`) and, when it does badly
(few shared k-mers), lzma over the 2-bit-per-base packed codes, which still
finds long exact repeats. Positions in the exception mask are not coded here.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..varint import Reader
from . import bases_ctx
from .general import pack_best, unpack
from .ids import CodecId

LZMA_TRY_ABOVE_BITS = 1.6  # try lzma only when the model leaves this much per base
LZMA_MIN_LEVEL = 7


def _pack2(codes: np.ndarray) -> bytes:
    c = np.where(codes > 3, 0, codes).astype(np.uint8)
    pad = (-len(c)) % 4
    c = np.concatenate((c, np.zeros(pad, np.uint8))).reshape(-1, 4)
    return (c[:, 0] | (c[:, 1] << 2) | (c[:, 2] << 4) | (c[:, 3] << 6)).astype(np.uint8).tobytes()


def _unpack2(data: bytes, total: int) -> np.ndarray:
    b = np.frombuffer(data, dtype=np.uint8)
    if len(b) != (total + 3) // 4:
        raise FormatError("packed base stream has the wrong size")
    return np.stack([(b >> s) & 3 for s in (0, 2, 4, 6)], axis=1).ravel()[:total].astype(np.uint8)


def encode_bases(codes: np.ndarray, lengths: np.ndarray, mate: np.ndarray, level: int) -> tuple[bytes, CodecId]:
    payload = bases_ctx.encode_bases(codes, lengths, mate, level)
    best = (payload, CodecId.BASE_CTX)
    n_coded = int((codes <= 3).sum())
    if level >= LZMA_MIN_LEVEL and n_coded and 8 * len(payload) > LZMA_TRY_ABOVE_BITS * n_coded:
        packed = pack_best(_pack2(codes), (CodecId.LZMA,))
        if len(packed) < len(payload):
            best = (packed, CodecId.LZMA)
    return bytes([best[1]]) + best[0], best[1]


def decode_bases(payload: bytes, lengths: np.ndarray, mate: np.ndarray, exceptions: np.ndarray) -> np.ndarray:
    """Codes 0..3, with 4 at exception positions."""
    r = Reader(payload)
    codec_id = r.u8()
    body = r.take(r.remaining())
    total = int(lengths.sum())
    if codec_id == CodecId.BASE_CTX:
        return bases_ctx.decode_bases(body, lengths, mate, exceptions)
    if codec_id == CodecId.LZMA:
        codes = _unpack2(unpack(body, limit=total // 4 + 1), total)
        codes[exceptions] = 4
        return codes
    raise FormatError(f"unknown base codec id {codec_id}")
