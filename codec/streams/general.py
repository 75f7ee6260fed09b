"""General-purpose byte codecs, used for small streams and as a per-stream fallback.

``pack_best`` tries the listed codecs and keeps the smallest; the first payload
byte names the codec (:class:`~codec.streams.ids.CodecId`), so decoding needs no
outside knowledge. lzma keeps its ``.xz`` container: a few bytes more
than a raw stream, but its CRC64 is a second line of defence against damage.
"""

from __future__ import annotations

import bz2
import lzma

from ..errors import FormatError
from .ids import CodecId

_PACKERS = {
    CodecId.RAW: lambda data: data,
    CodecId.LZMA: lambda data: lzma.compress(data, preset=9 | lzma.PRESET_EXTREME),
    CodecId.BZ2: lambda data: bz2.compress(data, 9),
}


def pack_best(data: bytes, codecs: tuple[CodecId, ...] = (CodecId.RAW, CodecId.LZMA)) -> bytes:
    """Smallest of ``codecs`` applied to ``data``, prefixed by the codec id byte."""
    if not data:
        return bytes([CodecId.RAW])
    packed = [(_PACKERS[c](data), c) for c in codecs]
    body, codec = min(packed, key=lambda item: len(item[0]))
    return bytes([codec]) + body


def unpack(payload: bytes, limit: int = 1 << 34) -> bytes:
    """Inverse of :func:`pack_best`; output larger than ``limit`` is refused."""
    if not payload:
        raise FormatError("empty general-purpose payload")
    codec, body = payload[0], payload[1:]
    try:
        if codec == CodecId.RAW:
            return body
        if codec == CodecId.LZMA:
            dec = lzma.LZMADecompressor()
            out = dec.decompress(body, max_length=limit)
        elif codec == CodecId.BZ2:
            dec = bz2.BZ2Decompressor()
            out = dec.decompress(body, max_length=limit)
        else:
            raise FormatError(f"unknown general-purpose codec id {codec}")
    except (lzma.LZMAError, OSError, ValueError, EOFError) as exc:
        raise FormatError(f"corrupt compressed stream: {exc}") from exc
    if not dec.eof:
        raise FormatError("compressed stream is truncated or larger than expected")
    return out


LZMA_SAMPLE = 1 << 20


def lzma_if_smaller(data: bytes, current: int, margin: float = 1.05, always: bool = False) -> bytes | None:
    """``pack_best(data, (LZMA,))`` when it is smaller than ``current`` bytes, else None.

    Long exact repeats (overlapping HiFi reads, amplicons) are where LZ77 beats
    context models. Unless ``always``, a 1 MiB sample decides first whether the
    full (slow) lzma run could win. The sample underrates lzma where repeats
    build up with coverage, so callers pass ``always`` for long-read data.
    """
    if not data:
        return None
    if len(data) > LZMA_SAMPLE and not always:
        estimate = len(_PACKERS[CodecId.LZMA](data[:LZMA_SAMPLE])) * len(data) / LZMA_SAMPLE
        if estimate > margin * current:
            return None
    packed = pack_best(data, (CodecId.LZMA,))
    return packed if len(packed) < current else None
