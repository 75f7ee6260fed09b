"""Append-only registries of stream and codec ids.

These numbers are written into archives. Never renumber or reuse one: add new
ids at the end and keep decoding old ones forever (CompressAI's dict-order
model ids are the cautionary tale).
"""

from __future__ import annotations

from enum import IntEnum


class StreamId(IntEnum):
    """Which part of a block a stream payload holds."""

    LAYOUT = 0      # line endings, '+' line kinds, final newline, verbatim flag
    LENGTHS = 1     # read lengths
    NAMES = 2       # read names (header line without '@')
    BASES = 3       # ACGT symbols (2 bits each before modelling)
    EXCEPTIONS = 4  # non-ACGT sequence bytes: positions + bytes
    QUALITIES = 5   # quality symbols (indices into the block's quality alphabet)
    PLUS = 6        # '+' lines that are neither empty nor a copy of the name
    VERBATIM = 7    # the whole block's raw bytes (escape path)
    NAMES2 = 8      # read-2 names of a pair, coded against read 1's


class CodecId(IntEnum):
    """How a stream payload is coded. Payloads start with their own parameters."""

    RAW = 0          # stored bytes
    LZMA = 1         # xz/lzma (raw stream bytes)
    ZSTD = 2         # reserved
    CONST = 3        # a stream whose every value is the same (e.g. constant read length)
    NAME_TOK = 4     # tokenised names, coded against the previous name
    BASE_CTX = 5     # order-k context mixing, batch-adaptive, range coded
    QUAL_CTX = 6     # (q1, q2, position, delta) context model, batch-adaptive, range coded
    QUAL_LSTM = 7    # integer-exact LSTM quality model
    BASE_LSTM = 8    # integer-exact LSTM base model (+ k-mer memory)
    VARINT_LZMA = 9  # LEB128 varints then lzma
    EXC_CTX = 10     # exception list coded with small adaptive models
    BZ2 = 11         # bzip2 (raw stream bytes)
    QUAL_MIX = 12    # integer-exact LSTM mixed step by step with the QUAL_CTX context model
    LZMA_TURNED = 13  # bases: lzma over the codes with flagged reads reverse-complemented (orientation.py)
    QUAL_MATES = 14  # qualities of a pair: read 1s and read 2s coded apart, each with its own codec
    EXC_SPELLED = 15  # exceptions of a block whose letters are spelled otherwise (U for T, lowercase runs)
    LEN_ORDER0 = 16   # read lengths as gaps below the block's longest, static order-0 tables (mates against read 1)
