"""Read names as newline-joined text under a general-purpose codec.

Used until (and whenever) the tokenising name codec is unavailable or larger.
"""

from __future__ import annotations

from ..errors import FormatError
from .general import pack_best, unpack


def encode_names_plain(names: list[bytes]) -> bytes:
    return pack_best(b"\n".join(names))


def decode_names_plain(payload: bytes, count: int) -> list[bytes]:
    text = unpack(payload)
    names = text.split(b"\n") if count else []
    if len(names) != count:
        raise FormatError(f"expected {count} names, found {len(names)}")
    return names
