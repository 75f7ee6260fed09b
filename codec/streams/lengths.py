"""The LENGTHS stream: read lengths.

Untrimmed short reads have one length (mode 0: two bytes a block). Trimmed ones
(adapters, quality tails) mostly sit a few bases below the block's longest read,
and a pair's two reads are usually cut alike: where the insert is shorter than a
read, adapter trimming cuts both to the insert. Varints under lzma (mode 1) see
neither fact: on the trimmed NovaSeq and MiSeq pairs here they cost 30-40 % above
the lengths' order-0 entropy. Modes 2 and 3 code each read's *gap* below the block's
longest read under static order-0 tables (:mod:`.order0`): mode 2 every gap under
one table; mode 3 (pairs) file 0's gaps under one table and a mate's gap as the
zigzagged difference from its file-0 read's, under one of MATE_CONTEXTS tables
chosen by that read's gap (0, 1, 2, 3, 4 or more). The encoder keeps the smallest
of modes 1 to 3: long reads, whose lengths share nothing, stay with mode 1, and a
small block of pairs, where six tables cost more than they save, with mode 2.

Payload: ``u8 mode`` then
- mode 0 (constant): ``uvarint length``;
- mode 1: LEB128 varints of every length, packed with ``pack_best``;
- modes 2 and 3 (format 17.0, codec LEN_ORDER0): ``uvarint top`` (the longest read),
  ``blob`` pack_best of the uvarint gaps of escaped reads (in read order), then the
  table of every read (mode 2) or of file 0's reads (mode 3; then ``u8 present``, bit c
  set where context c has mates, and those contexts' tables in order), then the
  range-coded words: the reads' symbols in read order (mode 2) or file 0's, then each
  present context's mates' in read order (mode 3). A symbol is the gap (mode 2, file 0)
  or the zigzagged difference (mode 3's mates), or ESCAPE where that is ESCAPE or more.
"""

from __future__ import annotations

import numpy as np

from ..entropy.coder import StepDecoder, StepEncoder
from ..errors import FormatError
from ..varint import Reader, blob, encode_uvarint, encode_uvarints, unzigzag, zigzag
from .general import pack_best, unpack
from .ids import CodecId
from .order0 import Order0Table

MAX_READ_LENGTH = 1 << 34
ESCAPE = 255           # symbol of a gap (or difference) too large for a byte: the value follows apart
MATE_CONTEXTS = 5      # a mate's table: its file-0 read's gap, 0 to 4 or more


def encode_lengths(lengths: np.ndarray, files: int = 1) -> tuple[bytes, CodecId]:
    """The smallest payload for a block's ``lengths`` (``files`` equal runs of reads, file 0 first)."""
    if len(lengths) and (lengths == lengths[0]).all():
        return b"\x00" + encode_uvarint(int(lengths[0])), CodecId.VARINT_LZMA
    varints = b"\x01" + pack_best(encode_uvarints(lengths))
    if len(lengths) == 0:
        return varints, CodecId.VARINT_LZMA
    lengths = np.asarray(lengths, dtype=np.int64)
    gaps = min([_encode_gaps(lengths, 1)] + ([_encode_gaps(lengths, files)] if files > 1 else []), key=len)
    return (gaps, CodecId.LEN_ORDER0) if len(gaps) < len(varints) else (varints, CodecId.VARINT_LZMA)


def decode_lengths(payload: bytes, n_reads: int, files: int = 1) -> np.ndarray:
    r = Reader(payload)
    mode = r.u8()
    if mode == 0:
        return np.full(n_reads, r.uvarint(limit=MAX_READ_LENGTH), dtype=np.int64)
    if mode == 3 and files < 2:
        raise FormatError("read lengths coded against mates in a block of one file")
    if mode in (2, 3):
        return _decode_gaps(r, n_reads, files if mode == 3 else 1)
    if mode != 1:
        raise FormatError(f"unknown lengths mode {mode}")
    body = Reader(unpack(r.take(r.remaining()), limit=10 * n_reads))
    out = body.uvarints(n_reads, limit=MAX_READ_LENGTH)
    if body.remaining():
        raise FormatError("extra bytes after read lengths")
    return out


def _mate_contexts(first_symbols: np.ndarray, files: int) -> np.ndarray:
    """Each mate's table, from its file-0 read's symbol (an escaped gap is 255: context 4)."""
    return np.tile(np.minimum(first_symbols, MATE_CONTEXTS - 1), files - 1)


def _encode_gaps(lengths: np.ndarray, files: int) -> bytes:
    """Mode 2 (``files`` 1: every read alike) or mode 3 (mates against file 0's reads)."""
    top = int(lengths.max())
    gaps = top - lengths
    n = len(lengths) // files
    values = gaps.copy()
    if files > 1:
        values[n:] = zigzag(gaps[n:] - np.tile(gaps[:n], files - 1))
    escaped = values >= ESCAPE
    symbols = np.where(escaped, ESCAPE, values).astype(np.uint8)
    groups = [np.arange(n)]
    mask = b""
    if files > 1:
        contexts = _mate_contexts(symbols[:n], files)
        present = np.unique(contexts).tolist()
        groups += [n + np.flatnonzero(contexts == c) for c in present]
        mask = bytes([sum(1 << c for c in present)])
    tables = [Order0Table.of(symbols[group]) for group in groups]
    enc = StepEncoder()
    for table, group in zip(tables, groups):
        table.encode(enc, symbols[group])
    return b"".join([b"\x03" if files > 1 else b"\x02", encode_uvarint(top),
                     blob(pack_best(encode_uvarints(gaps[escaped]))), tables[0].header(), mask,
                     *(table.header() for table in tables[1:]), enc.finish()])


def _decode_gaps(r: Reader, n_reads: int, files: int) -> np.ndarray:
    if files < 1 or n_reads % files:
        raise FormatError("read lengths do not split into the block's files")
    n = n_reads // files
    top = r.uvarint(limit=MAX_READ_LENGTH)
    escapes = Reader(unpack(r.blob(), limit=10 * n_reads))
    tables = [Order0Table.read(r)]
    present = []
    if files > 1:
        mask = r.u8()
        present = [c for c in range(MATE_CONTEXTS) if mask >> c & 1]
        if mask >> MATE_CONTEXTS:
            raise FormatError("bad read-length contexts")
        tables += [Order0Table.read(r) for _ in present]
    dec = StepDecoder(r.take(r.remaining()))
    symbols = np.empty(n_reads, dtype=np.int64)
    symbols[:n] = tables[0].decode(dec, n)
    if files > 1:
        contexts = _mate_contexts(symbols[:n], files)
        if np.unique(contexts).tolist() != present:
            raise FormatError("read-length contexts do not match the reads")
        for c, table in zip(present, tables[1:]):
            group = n + np.flatnonzero(contexts == c)
            symbols[group] = table.decode(dec, len(group))
    escaped = symbols == ESCAPE
    symbols[escaped] = escapes.uvarints(int(escaped.sum()), limit=top)
    if escapes.remaining():
        raise FormatError("extra bytes after escaped read lengths")
    gaps = symbols   # file 0's as they stand; a mate's (unless escaped) its file-0 read's plus the difference
    if files > 1:
        gaps[n:] = np.where(escaped[n:], symbols[n:], np.tile(gaps[:n], files - 1) + unzigzag(symbols[n:]))
    if gaps.min(initial=0) < 0 or gaps.max(initial=0) > top:
        raise FormatError("read length out of range")
    return top - gaps
