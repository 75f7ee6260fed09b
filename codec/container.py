"""The archive container: header, length-prefixed blocks, trailer with index.

Byte layout (all integers little-endian; normative spec in ``docs/FORMAT.md``)::

    magic  b"\\x89SQLM\\r\\n\\x1a"   u8 major  u8 minor  u16 flags
    u32 header_len   header (UTF-8 JSON: config, inputs, versions)   u32 crc32(header)
    repeated:  b"B"  u32 body_len  u32 crc32(body)  body     (one per block)
    b"T"  u32 n_blocks  u64 n_records  u8 n_files  n_files x (u64 raw_len, u32 crc32)
          n_blocks x u64 block_offset   u32 crc32(trailer bytes so far)   b"SQLMEND\\0"

Reading is sequential (works on pipes). The CRC of each block body means a
damaged byte is reported with its block number before any model runs; the
per-file CRCs inside each block check the decoded bytes (and so the models'
determinism); the trailer's counts and whole-file checksums catch a missing or
truncated tail. Every size is checked against a
hard limit before anything is allocated.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from .errors import ChecksumError, FormatError, VersionError

MAGIC = b"\x89SQLM\r\n\x1a"
END_MAGIC = b"SQLMEND\x00"
FORMAT_MAJOR, FORMAT_MINOR = 18, 0
MAX_HEADER = 1 << 20
MAX_BLOCK = (1 << 32) - 1


@dataclass
class Trailer:
    n_blocks: int
    n_records: int
    files: list[tuple[int, int]]  # (raw_len, crc32) per input file
    offsets: list[int]


def write_header(out: BinaryIO, header: dict) -> int:
    body = json.dumps(header, sort_keys=True).encode()
    data = MAGIC + struct.pack("<BBHI", FORMAT_MAJOR, FORMAT_MINOR, 0, len(body)) + body
    data += struct.pack("<I", zlib.crc32(body))
    out.write(data)
    return len(data)


def _read_exact(src: BinaryIO, n: int, offset: int, what: str) -> bytes:
    data = src.read(n)
    if len(data) != n:
        raise FormatError(f"truncated archive: {what} cut short", offset)
    return data


def read_header(src: BinaryIO) -> tuple[dict, int]:
    """Parse the header; returns (header dict, bytes consumed)."""
    magic = src.read(len(MAGIC))
    if magic != MAGIC:
        raise FormatError("not a seqlm archive (bad magic bytes)", 0)
    major, minor, _flags, size = struct.unpack("<BBHI", _read_exact(src, 8, 8, "header"))
    if major > FORMAT_MAJOR:
        raise VersionError(f"archive format {major}.{minor} is newer than this seqlm "
                           f"(reads {FORMAT_MAJOR}.x): upgrade seqlm")
    if major < 1:
        raise VersionError(f"unknown archive format version {major}.{minor}")
    if size > MAX_HEADER:
        raise FormatError(f"header length {size} is implausible", 12)
    raw = _read_exact(src, size, 16, "header")
    (crc,) = struct.unpack("<I", _read_exact(src, 4, 16 + size, "header checksum"))
    if crc != zlib.crc32(raw):
        raise FormatError("header checksum mismatch (damaged archive)", 16)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"corrupt header: {exc}", 16) from exc
    if not isinstance(header, dict):
        raise FormatError("corrupt header: not an object", 16)
    return header, 20 + size


BLOCK_FRAMING = 9


def write_block(out: BinaryIO, body: bytes) -> int:
    out.write(b"B" + struct.pack("<II", len(body), zlib.crc32(body)))
    out.write(body)
    return BLOCK_FRAMING + len(body)


def write_trailer(out: BinaryIO, t: Trailer) -> int:
    data = b"T" + struct.pack("<IQB", t.n_blocks, t.n_records, len(t.files))
    data += b"".join(struct.pack("<QI", size, crc) for size, crc in t.files)
    data += b"".join(struct.pack("<Q", o) for o in t.offsets)
    data += struct.pack("<I", zlib.crc32(data)) + END_MAGIC
    out.write(data)
    return len(data)


def read_next(src: BinaryIO, offset: int, index: int) -> tuple[str, bytes | Trailer]:
    """Next item at ``offset``: ('block', body) or ('trailer', Trailer); ``index``
    is the number the next block would have, for error messages."""
    tag = src.read(1)
    if tag == b"B":
        size, crc = struct.unpack("<II", _read_exact(src, 8, offset + 1, f"block {index} framing"))
        if size > MAX_BLOCK:
            raise FormatError(f"block {index}: length {size} exceeds the limit", offset + 1)
        body = _read_exact(src, size, offset + BLOCK_FRAMING, f"block {index}")
        if zlib.crc32(body) != crc:
            raise ChecksumError("stored block checksum mismatch (damaged archive)", block=index,
                                offset=offset)
        return "block", body
    if tag == b"T":
        return "trailer", _read_trailer(src, offset)
    if not tag:
        raise FormatError("truncated archive: trailer missing", offset)
    raise ChecksumError(f"corrupt archive: unexpected tag {tag!r} where block {index} or the trailer "
                        "should start", block=index, offset=offset)


def _read_trailer(src: BinaryIO, offset: int) -> Trailer:
    head = _read_exact(src, 13, offset + 1, "trailer")
    n_blocks, n_records, n_files = struct.unpack("<IQB", head)
    if n_files > 2 or n_blocks > (1 << 28):
        raise FormatError("corrupt trailer", offset)
    files_raw = _read_exact(src, 12 * n_files, offset + 14, "trailer")
    offs_raw = _read_exact(src, 8 * n_blocks, offset + 14 + 12 * n_files, "trailer")
    data = b"T" + head + files_raw + offs_raw
    (crc,) = struct.unpack("<I", _read_exact(src, 4, offset + len(data), "trailer checksum"))
    if crc != zlib.crc32(data):
        raise FormatError("trailer checksum mismatch", offset)
    if _read_exact(src, len(END_MAGIC), offset + len(data) + 4, "end marker") != END_MAGIC:
        raise FormatError("bad end marker", offset + len(data) + 4)
    if src.read(1):
        raise FormatError("unexpected bytes after the end of the archive", offset + len(data) + 12)
    files = [struct.unpack_from("<QI", files_raw, 12 * i) for i in range(n_files)]
    offsets = list(struct.unpack(f"<{n_blocks}Q", offs_raw))
    return Trailer(n_blocks, n_records, files, offsets)  # type: ignore[arg-type]
