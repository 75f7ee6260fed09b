"""Codec ids -> ``Codec`` objects.  Ids are what ``--codecs`` takes and results.json stores."""

from __future__ import annotations

import re
from typing import Sequence

from .codecs import Codec, general_purpose_codecs
from .cram import CramLossless, CramPlain
from .external import FqzcompCodec, SpringCodec
from .seqlm_codec import SeqlmCodec

ANCHOR_KEYS = ("gzip", "bzip2", "xz", "zstd", "cram", "cram-lossless")
OPTIONAL_KEYS = ("spring", "fqzcomp")  # measured only when found on PATH
QUICK_KEYS = ("gzip", "xz", "seqlm", "cram", "cram-lossless")
_SEQLM_LEVEL = re.compile(r"^seqlm-l(\d+)$")


def make_codec(key: str) -> Codec:
    """The codec with id ``key`` (``seqlm``, ``seqlm-l5``, ``gzip``, ``cram-lossless``...)."""
    if key == "seqlm":
        return SeqlmCodec()
    match = _SEQLM_LEVEL.match(key)
    if match:
        return SeqlmCodec(int(match.group(1)))
    fixed: dict[str, Codec] = {c.key: c for c in general_purpose_codecs()}
    fixed.update({c.key: c for c in (CramPlain(), CramLossless(), SpringCodec(), FqzcompCodec())})
    if key not in fixed:
        raise KeyError(f"unknown codec {key!r}; known: seqlm, seqlm-lN, {', '.join(fixed)}")
    return fixed[key]


def seqlm_keys(levels: Sequence[int] | None) -> list[str]:
    return ["seqlm"] if not levels else [f"seqlm-l{level}" for level in levels]


def default_keys(levels: Sequence[int] | None = None) -> list[str]:
    """seqlm (each requested level), the five anchors (six rows), optional tools."""
    return [*seqlm_keys(levels), *ANCHOR_KEYS, *OPTIONAL_KEYS]
