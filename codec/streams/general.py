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

LZMA_MAX_DICT = 1 << 26   # preset 9's dictionary


def lzma2_filters(raw_len: int, preset: int) -> list[dict[str, int]]:
    """LZMA2 at ``preset`` with the dictionary cut to the smallest power of two that holds
    ``raw_len`` bytes (4 KiB at least).

    LZ77 cannot reach further back than the data is long, so a larger dictionary gains
    nothing, yet preset 9's 64 MiB one costs ~40 ms of table set-up per call: most of the
    time of packing a small stream, paid several times per block."""
    dict_size = min(LZMA_MAX_DICT, max(1 << 12, 1 << max(0, raw_len - 1).bit_length()))
    return [{"id": lzma.FILTER_LZMA2, "preset": preset, "dict_size": dict_size}]


_PACKERS = {
    CodecId.RAW: lambda data: data,
    CodecId.LZMA: lambda data: lzma.compress(data, filters=lzma2_filters(len(data), 9 | lzma.PRESET_EXTREME)),
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
