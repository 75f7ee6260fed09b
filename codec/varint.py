"""LEB128 varints and a tiny bounds-checked byte reader.

Every length read from an archive goes through :class:`Reader`, which refuses
to read past the end, so a damaged size field becomes a ``FormatError``
instead of a huge allocation or an ``IndexError``.
"""

from __future__ import annotations

import struct
from typing import TypeVar

import numpy as np

from .errors import FormatError

Signed = TypeVar("Signed", int, np.ndarray)   # zigzag takes an int or an int64 array alike


def encode_uvarint(value: int) -> bytes:
    """LEB128 of a non-negative integer."""
    if value < 0:
        raise ValueError("uvarint must be non-negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_uvarints(values: np.ndarray) -> bytes:
    """LEB128 of many non-negative integers, concatenated."""
    return b"".join(encode_uvarint(int(v)) for v in np.asarray(values).ravel())


def zigzag(value: Signed) -> Signed:
    """Signed to unsigned, small magnitudes first (0, -1, 1, -2 -> 0, 1, 2, 3), for an int or
    an int64 array alike (magnitudes below 2^62)."""
    return (value << 1) ^ (value >> 63)


def unzigzag(value: Signed) -> Signed:
    """Inverse of :func:`zigzag`, for an int or an int64 array alike."""
    return (value >> 1) ^ -(value & 1)


class Reader:
    """Sequential reader over bytes with explicit little-endian formats."""

    def __init__(self, data: bytes | memoryview, offset: int = 0, base: int = 0) -> None:
        self.data = memoryview(data)
        self.pos = offset
        self.base = base  # added to positions in error messages

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FormatError(f"truncated data: need {n} bytes, {self.remaining()} left",
                              self.base + self.pos)
        chunk = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))

    def u8(self) -> int:
        return self.unpack("<B")[0]

    def uvarint(self, limit: int = 1 << 62) -> int:
        shift = 0
        value = 0
        while True:
            if self.pos >= len(self.data):
                raise FormatError("truncated varint", self.base + self.pos)
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 63:
                raise FormatError("varint too long", self.base + self.pos)
        if value > limit:
            raise FormatError(f"value {value} exceeds limit {limit}", self.base + self.pos)
        return value

    def uvarints(self, count: int, limit: int = 1 << 62) -> np.ndarray:
        if count > self.remaining():
            raise FormatError(f"{count} varints cannot fit in {self.remaining()} bytes",
                              self.base + self.pos)
        return np.array([self.uvarint(limit) for _ in range(count)], dtype=np.int64)

    def blob(self, limit: int | None = None) -> bytes:
        """A uvarint length followed by that many bytes."""
        n = self.uvarint()
        if limit is not None and n > limit:
            raise FormatError(f"blob of {n} bytes exceeds limit {limit}", self.base + self.pos)
        return self.take(n)


def blob(data: bytes) -> bytes:
    """Length-prefixed bytes (inverse of :meth:`Reader.blob`)."""
    return encode_uvarint(len(data)) + data
