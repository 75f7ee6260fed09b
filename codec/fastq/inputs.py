"""Open an input (a path or '-' for stdin) as the binary stream of its decompressed bytes.

Plain, gzip, bzip2, xz or zstd, told apart by their magic bytes, never by the file name.
Every decompressor raises where its input is cut short, so a truncated file cannot pass for a
shorter FASTQ (:func:`read_errors` lists what a read may raise).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import sys
from typing import BinaryIO

from ..errors import FastqFormatError

try:  # ISA-L's gzip is several times faster than zlib's and reads the same files
    from isal import igzip as _gzip
except ImportError:  # pragma: no cover - isal comes with dnaio, but stay optional
    _gzip = gzip  # type: ignore[assignment]

GZIP_MAGIC = b"\x1f\x8b"
READ_SIZE = 1 << 20
MAGIC_BYTES = 6   # the longest magic below (xz)


class _ZstdMissing(Exception):
    """Stands in for zstandard.ZstdError where zstandard is not installed."""


def _zstd_error() -> type[Exception]:
    try:
        import zstandard
    except ImportError:
        return _ZstdMissing
    return zstandard.ZstdError


def _open_zstd(fh: BinaryIO, path: str) -> BinaryIO:
    """zstd frames read through ``zstandard`` (optional: FASTQ users meet .zst files, but
    the package is only needed for them)."""
    try:
        import zstandard
    except ImportError as exc:
        raise FastqFormatError("zstd-compressed input needs the zstandard package "
                               "(pip install zstandard), or decompress it first (zstd -dc)", path=path) from exc
    return io.BufferedReader(_ZstdFrames(fh, zstandard), READ_SIZE)  # type: ignore[return-value]


class _ZstdFrames(io.RawIOBase):
    """The frames of a zstd stream, one after another. zstandard's own stream reader
    ends quietly where a truncated file ends; this one raises, as gzip, bz2 and lzma do,
    so a cut input cannot pass for a shorter one."""

    def __init__(self, fh: BinaryIO, zstandard) -> None:  # type: ignore[no-untyped-def]
        self.fh, self.zstd = fh, zstandard
        self.obj = zstandard.ZstdDecompressor().decompressobj()
        self.pending = memoryview(b"")   # decoded, not yet read (a view: taking from it copies nothing)
        self.started = False   # the current frame has had input

    def readable(self) -> bool:
        return True

    def _more(self) -> bool:
        """Decode more into ``pending``; False at the clean end of the input."""
        data = self.obj.unused_data if self.obj.eof else b""
        if self.obj.eof:
            self.obj, self.started = self.zstd.ZstdDecompressor().decompressobj(), False
        if not data:
            data = self.fh.read(READ_SIZE)
        if not data:
            if self.started:
                raise EOFError("zstd input ended inside a frame")
            return False
        self.started = True
        self.pending = memoryview(self.obj.decompress(data))   # called only once pending is empty
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        while not self.pending:
            if not self._more():
                return 0
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


# magic bytes -> opener of the decompressed stream (given the raw binary stream)
_OPENERS = (
    (GZIP_MAGIC, lambda fh, path: _gzip.open(fh, "rb")),
    (b"BZh", lambda fh, path: bz2.open(fh, "rb")),
    (b"\xfd7zXZ\x00", lambda fh, path: lzma.open(fh, "rb")),
    (b"\x28\xb5\x2f\xfd", _open_zstd),
)


def _decompressing(fh: BinaryIO, head: bytes, path: str) -> BinaryIO:
    """``fh`` itself, or a stream that decompresses it when ``head`` (its first bytes)
    is a known compression's magic."""
    for magic, opener in _OPENERS:
        if head.startswith(magic):
            return opener(fh, path)  # type: ignore[no-any-return]
    return fh


def open_input(path: str) -> BinaryIO:
    """Binary stream of the decompressed FASTQ at ``path`` ('-' = stdin)."""
    raw: BinaryIO = sys.stdin.buffer if path == "-" else open(path, "rb")
    head = raw.read(MAGIC_BYTES)   # read, not peek: a pipe may hand over fewer bytes at first
    if path != "-" and raw.seekable():
        raw.seek(0)
        fh = raw
    else:   # stdin, a named pipe, <(process substitution)
        fh = io.BufferedReader(_Prefixed(head, raw), READ_SIZE)  # type: ignore[assignment]
    try:
        reader = _decompressing(fh, head, path)
    except BaseException:
        fh.close()
        raise
    return fh if reader is fh else _Closing(reader, fh)  # type: ignore[return-value]


class _Prefixed(io.RawIOBase):
    """``head`` (bytes already read from ``rest``), then the rest of ``rest``; closes ``rest``."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head, self.rest = memoryview(head), rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.rest.close()
        super().close()


class _Closing(io.BufferedIOBase):
    """A decompressing ``reader`` over the file ``under``: closing it closes both (bz2, lzma
    and zstandard readers given a file object leave it open)."""

    def __init__(self, reader: BinaryIO, under: BinaryIO) -> None:
        self.reader, self.under = reader, under

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self.reader.read(-1 if size is None else size)

    def close(self) -> None:
        if not self.closed:
            try:
                self.reader.close()
            finally:
                self.under.close()
        super().close()


def read_errors() -> tuple[type[BaseException], ...]:
    """What reading a stream from :func:`open_input` may raise on damaged input."""
    return (OSError, EOFError, gzip.BadGzipFile, lzma.LZMAError, _zstd_error())
