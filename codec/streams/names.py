"""Read-name stream codec: tokenised names, each column stream coded its own way.

Names are cut into tokens and coded against the previous name, or for read 2
against the mate's name (:mod:`.names_tokens`). The resulting small streams are
each stored with whichever of raw / constant / run-length / static order-0
range coding / lzma is smallest, behind a one-byte method id, as htscodecs does
per stream. Whole-payload fallbacks (raw names, lzma of the names) keep odd
inputs from ever costing more than a general-purpose compressor.

Decoding never trusts a size: every length is checked against the bytes left,
the record count, or a fixed expansion bound, so garbage raises
:class:`~codec.errors.FormatError` instead of allocating or hanging. The byte
layout is specified in ``docs/FORMAT.md`` ("NAMES").
"""

from __future__ import annotations

import lzma
from enum import IntEnum

import numpy as np

from ..entropy.coder import StepDecoder, StepEncoder
from ..errors import FormatError
from ..varint import Reader, encode_uvarint
from .general import lzma2_filters
from .names_tokens import (LEGACY_MAX_TOKENS, MAX_TOKENS, StreamSink, Tokens, classify, letters_touch_digits,
                           read_columns, reference_tokens, tokenise, write_columns)
from .order0 import Order0Table

__all__ = ["encode_names", "decode_names", "NameMethod", "StreamMethod"]


class NameMethod(IntEnum):
    """First byte of a NAMES payload. Written into archives: append only."""

    RAW = 1          # names joined by b"\n"
    LZMA = 2         # uvarint length, then raw LZMA2 of the joined names
    TOKENS = 3       # token columns, each name against the previous one
    TOKENS_MATE = 4  # token columns, each name against its mate's name
    TOKENS_SPLIT = 5       # TOKENS, with digit runs cut from letters (format 12.0)
    TOKENS_MATE_SPLIT = 6  # TOKENS_MATE, with digit runs cut from letters (format 12.0)
    # format 13.0: 3-6 again, a name cut into up to 255 tokens instead of 64
    TOKENS_255 = 7
    TOKENS_MATE_255 = 8
    TOKENS_SPLIT_255 = 9
    TOKENS_MATE_SPLIT_255 = 10


# what encoders write, by (coded against mates, digit runs cut from letters)
_TOKEN_METHODS = {(False, False): NameMethod.TOKENS_255, (True, False): NameMethod.TOKENS_MATE_255,
                  (False, True): NameMethod.TOKENS_SPLIT_255, (True, True): NameMethod.TOKENS_MATE_SPLIT_255}
_LEGACY_METHODS = {(False, False): NameMethod.TOKENS, (True, False): NameMethod.TOKENS_MATE,
                   (False, True): NameMethod.TOKENS_SPLIT, (True, True): NameMethod.TOKENS_MATE_SPLIT}
# what decoders read: method -> (against mates, split, most tokens per name)
_TOKEN_KINDS = {**{method: (*kind, LEGACY_MAX_TOKENS) for kind, method in _LEGACY_METHODS.items()},
                **{method: (*kind, MAX_TOKENS) for kind, method in _TOKEN_METHODS.items()}}
SPLIT_SAMPLE = 512       # names the tokenisation is chosen on (the whole is tokenised once)


class StreamMethod(IntEnum):
    """First byte of each column stream. Written into archives: append only."""

    RAW = 0
    CONST = 1    # one byte, repeated raw_len times
    LZMA = 2     # raw LZMA2, dictionary sized from raw_len
    ARITH0 = 3   # static order-0 model (alphabet + frequencies), range coded
    RUNS = 4     # (byte, uvarint run length - 1) pairs


NAME_BYTES_PER_RECORD = 4096     # decoded bytes allowed per name, beyond the expansion bound
EXPANSION = 1024                 # decoded bytes allowed per payload byte


def encode_names(names: list[bytes], mates_of: list[bytes] | None = None) -> bytes:
    """Compress read names (headers without '@' and line end; no b"\\n" inside).

    With ``mates_of`` (read 1's names of the same records) the names are read
    2's and may be coded against their mates; pass the same list to decode."""
    joined = _joined(names, "names")
    split = _split_pays(names)
    tok = tokenise(joined, len(names), split)
    best = bytes([NameMethod.RAW]) + joined
    if mates_of is not None:
        if len(mates_of) != len(names):
            raise ValueError(f"{len(mates_of)} mate names for {len(names)} names")
        mates = tokenise(_joined(mates_of, "mates_of"), len(mates_of), split)
        payload = _tokens_payload(tok, mates, tok.name, _TOKEN_METHODS[True, split])
        best = _smaller(best, payload, len(names), len(joined))
    if len(best) * 64 > len(joined):  # mates that nearly repeat the names leave nothing to win
        payload = _tokens_payload(tok, tok, _previous(tok), _TOKEN_METHODS[False, split])
        best = _smaller(best, payload, len(names), len(joined))
    packed = _lzma_fallback(joined, len(best))
    return best if packed is None else _smaller(best, packed, len(names), len(joined))


def decode_names(payload: bytes, count: int, mates_of: list[bytes] | None = None) -> list[bytes]:
    """Inverse of :func:`encode_names`; ``count`` is the number of names."""
    if count < 0:
        raise ValueError("count must be non-negative")
    reader = Reader(payload)
    method = reader.u8()
    max_total = _max_total(count, len(payload))
    if method == NameMethod.RAW:
        return _split(bytes(payload[1:]), count)
    if method == NameMethod.LZMA:
        raw_len = reader.uvarint(max_total + count)
        return _split(_lzma_unpack(reader.take(reader.remaining()), raw_len), count)
    if method not in _TOKEN_KINDS:
        raise FormatError(f"unknown names method {method}", 0)
    mated, split, max_tokens = _TOKEN_KINDS[method]
    mates = None
    if mated:
        if mates_of is None or len(mates_of) != count:
            raise FormatError("names payload is coded against mates, but no matching mates_of was given")
        mates = tokenise(_joined(mates_of, "mates_of"), count, split, max_tokens)
    names = read_columns(count, mates, _Source(reader), max_total, max_tokens)
    if reader.remaining():
        raise FormatError(f"{reader.remaining()} stray bytes after the names streams", reader.pos)
    return names


def _split_pays(names: list[bytes]) -> bool:
    """Whether cutting digit runs from letters codes the first names smaller.

    Names of one file share a shape, so a sample decides and the whole block is
    tokenised once. Illumina's instrument ids (``A00123``) hold no varying
    letter-digit field: there the two ways cost within a few bytes of each other,
    and only a strictly smaller split is taken."""
    sample = b"\n".join(names[:SPLIT_SAMPLE])
    if not letters_touch_digits(sample):
        return False
    count = min(len(names), SPLIT_SAMPLE)
    split = tokenise(sample, count, True)
    if split.ntok.max() >= MAX_TOKENS or np.bincount(split.ntok).max() * 10 < count * 9:
        return False  # hex ids: the cut columns would not line up, or overflow into the last
    plain = tokenise(sample, count, False)
    cost = [len(_tokens_payload(t, t, _previous(t), NameMethod.TOKENS_255)) for t in (plain, split)]
    return cost[1] < cost[0]


def _previous(tok: Tokens) -> np.ndarray:
    """Per token, the index of its reference name in previous-name mode (-1: none)."""
    return np.where(tok.name > 0, tok.name - 1, -1)


def _smaller(best: bytes, payload: bytes, count: int, raw_len: int) -> bytes:
    """``payload`` if it is smaller and within the decoder's expansion bound."""
    fits = raw_len <= _max_total(count, len(payload))
    return payload if fits and len(payload) < len(best) else best


def _joined(names: list[bytes], what: str) -> bytes:
    joined = b"\n".join(names)
    if joined.count(b"\n") != max(0, len(names) - 1):
        raise ValueError(f"{what}: a name contains b'\\n'")
    return joined


def _max_total(count: int, payload_len: int) -> int:
    """Most name bytes a payload may decode to (the encoder keeps to it too)."""
    return count * NAME_BYTES_PER_RECORD + EXPANSION * payload_len


def _split(joined: bytes, count: int) -> list[bytes]:
    if count == 0:
        if joined:
            raise FormatError("names present for zero records")
        return []
    names = joined.split(b"\n")
    if len(names) != count:
        raise FormatError(f"{len(names)} names for {count} records")
    return names


def _tokens_payload(tok: Tokens, ref: Tokens, ref_name: np.ndarray, method: NameMethod) -> bytes:
    types, delta = classify(tok, ref, reference_tokens(tok, ref, ref_name))
    sink = _Sink()
    write_columns(tok, types, delta, sink)
    return bytes([method]) + b"".join(sink.parts)


class _Sink:
    """Collects the token model's output, packing each stream as it comes."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def _add(self, part: bytes) -> None:
        self.parts.append(part)
        self.size += len(part)

    def put_int(self, value: int) -> None:
        self._add(encode_uvarint(value))

    def put_stream(self, data: bytes) -> None:
        self._add(pack_stream(data))

    def fork(self) -> _Sink:
        return _Sink()

    def join(self, other: StreamSink) -> None:
        assert isinstance(other, _Sink)
        self._add(b"".join(other.parts))


class _Source:
    """Reads back what :class:`_Sink` wrote, checking every size first."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def get_int(self, limit: int) -> int:
        return self.reader.uvarint(limit)

    def get_stream(self, size: int) -> bytes:
        return unpack_stream(self.reader, size)


def pack_stream(data: bytes) -> bytes:
    """The smallest of: ``RAW, data`` / ``CONST, byte`` / ``method, uvarint n, body``.

    No length is stored: the decoder always knows how many bytes a stream holds."""
    if data and data.count(data[:1]) == len(data):
        return bytes([StreamMethod.CONST]) + data[:1]
    best = bytes([StreamMethod.RAW]) + data
    if len(data) < 8:
        return best
    coders = ((StreamMethod.RUNS, _runs_pack), (StreamMethod.ARITH0, _arith0_pack),
              (StreamMethod.LZMA, _lzma_pack))
    for method, coder in coders:
        if method == StreamMethod.LZMA and len(best) <= 16 + len(data) // 64:
            break  # already under 1/8 bit a byte: lzma is slow and could win only a few bytes
        body = coder(data)
        if body is not None and len(body) + 2 < len(best):
            best = min(best, bytes([method]) + encode_uvarint(len(body)) + body, key=len)
    return best


def unpack_stream(reader: Reader, size: int) -> bytes:
    """Inverse of :func:`pack_stream`, reading from ``reader`` a stream of ``size`` bytes."""
    at = reader.pos
    method = reader.u8()
    if method == StreamMethod.RAW:
        return reader.take(size)
    if method == StreamMethod.CONST:
        return reader.take(1) * size
    body = reader.take(reader.uvarint())
    if method == StreamMethod.LZMA:
        return _lzma_unpack(body, size)
    if method == StreamMethod.ARITH0:
        return _arith0_unpack(body, size)
    if method == StreamMethod.RUNS:
        return _runs_unpack(body, size)
    raise FormatError(f"unknown stream method {method}", at)


def _lzma_filters(raw_len: int) -> list[dict[str, int]]:
    return lzma2_filters(raw_len, 9)


def _lzma_pack(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_RAW, filters=_lzma_filters(len(data)))


def _lzma_unpack(body: bytes, raw_len: int) -> bytes:
    dec = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_lzma_filters(raw_len))
    try:
        out = dec.decompress(body, max_length=raw_len)
    except lzma.LZMAError as exc:
        raise FormatError(f"corrupt lzma stream: {exc}") from exc
    if len(out) != raw_len or not dec.eof or dec.unused_data:
        raise FormatError("lzma stream does not match its declared length")
    return out


def _lzma_fallback(joined: bytes, best_len: int) -> bytes | None:
    """LZMA of the joined names, computed only when a sample says it could win."""
    sample_len = 1 << 16
    if best_len * 24 < len(joined):
        return None  # lzma does not reach 24:1 on names that tokenise this well
    if len(joined) > 4 * sample_len:
        cut = joined.rfind(b"\n", 0, sample_len) + 1 or sample_len
        estimate = len(_lzma_pack(joined[:cut])) * len(joined) / cut
        if estimate * 0.85 > best_len:  # the whole is 0.89-0.96 of the estimate on real names
            return None
    packed = bytes([NameMethod.LZMA]) + encode_uvarint(len(joined)) + _lzma_pack(joined)
    return packed if len(packed) < best_len else None


def _runs_pack(data: bytes) -> bytes | None:
    """Run-length form, only tried for streams with few runs (near-constant type columns)."""
    symbols = np.frombuffer(data, dtype=np.uint8)
    starts = np.flatnonzero(np.diff(symbols, prepend=np.int16(-1)))
    if len(starts) * 16 > len(symbols):
        return None
    runs = np.diff(starts, append=len(symbols))
    return b"".join(bytes([symbols[s]]) + encode_uvarint(int(n) - 1) for s, n in zip(starts, runs))


def _runs_unpack(body: bytes, size: int) -> bytes:
    reader, parts, left = Reader(body), [], size
    while reader.remaining():
        if not left:
            raise FormatError("run-length stream longer than declared")
        symbol = reader.take(1)
        run = reader.uvarint(left - 1) + 1
        parts.append(symbol * run)
        left -= run
    if left:
        raise FormatError("run-length stream shorter than declared")
    return b"".join(parts)


def _arith0_pack(data: bytes) -> bytes:
    symbols = np.frombuffer(data, dtype=np.uint8)
    table = Order0Table.of(symbols)
    enc = StepEncoder()
    table.encode(enc, symbols)
    return table.header() + enc.finish()


def _arith0_unpack(body: bytes, raw_len: int) -> bytes:
    reader = Reader(body)
    table = Order0Table.read(reader)
    if len(table.alphabet) < 2:
        raise FormatError("order-0 stream with a one-symbol alphabet")
    return table.decode(StepDecoder(reader.take(reader.remaining())), raw_len).tobytes()
