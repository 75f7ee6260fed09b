"""Token-column model of read names (the idea of CRAM's tok3, our own code).

Each name is cut into tokens: maximal runs of ASCII letters/digits, and every
other byte on its own. A token is coded against the token at the same index of
a *reference* name: the previous name (sorted Illumina names share most
fields) or, for read 2, the mate's name (usually equal up to ``/1``→``/2``).
The per-token verdict is one of the types below; everything is written
column-major (all token-0 verdicts, then all token-1 verdicts, ...), so each
column's fields form their own small, very repetitive streams, and both
directions are whole-array numpy work with only a loop over columns.

This module only turns names into streams and back. How each stream is stored
(raw, constant, range coded, lzma) is the caller's business, reached through
the :class:`StreamSink` / :class:`StreamSource` protocols.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

import numpy as np

from ..errors import FormatError

MAX_TOKENS = 64          # later tokens of a name are merged into token 63 (bounds the column loop)
MAX_DIGITS = 18          # longer digit runs are strings: 10**18 - 1 still fits in int64 with deltas
DELTA_LIMIT = 256        # DELTA/DELTA0 store value - ref_value in one byte
_POW10 = 10 ** np.arange(MAX_DIGITS + 1, dtype=np.int64)
_MAX_VALUE = int(_POW10[MAX_DIGITS]) - 1


class Tok(IntEnum):
    """Verdict for one token. Written into archives: append only."""

    END = 0      # the name has no token at this index
    MATCH = 1    # same bytes as the reference token
    DELTA = 2    # reference number + d (d in a byte stream), printed without leading zeros
    DELTA0 = 3   # reference number + d, zero-padded to the reference token's width
    NUM = 4      # new number without leading zeros (value in byte-plane streams)
    NUM0 = 5     # new number with leading zeros (value + width stream)
    STR = 6      # new bytes (in the column's string stream, each ended by b"\n")


_DEPENDENT = (Tok.MATCH, Tok.DELTA, Tok.DELTA0)


class StreamSink(Protocol):
    """Where the encoder puts small integers and byte streams, in order."""

    def put_int(self, value: int) -> None: ...

    def put_stream(self, data: bytes, items: int | None = None) -> None:
        """``items`` is given for streams whose length the decoder cannot infer."""


class StreamSource(Protocol):
    """Gives back, in the same order, what a :class:`StreamSink` received."""

    def get_int(self, limit: int) -> int: ...

    def get_stream(self, size: int | None, items: int = 0) -> bytes:
        """A stream of exactly ``size`` bytes, or of unknown size holding ``items`` records."""


def _lut(chars: bytes) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[np.frombuffer(chars, dtype=np.uint8)] = True
    return table


_DIGIT = _lut(b"0123456789")
_ALNUM = _lut(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for every pair (vectorised)."""
    total = int(lengths.sum())
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(total, dtype=np.int64)


def digit_count(values: np.ndarray) -> np.ndarray:
    """Decimal digits of non-negative values (0 has one digit)."""
    return 1 + np.searchsorted(_POW10[1:], values, side="right")


@dataclass(frozen=True)
class Tokens:
    """All tokens of a list of names, in (name, column) order."""

    buf: np.ndarray      # uint8: the names, each followed by b"\n"
    ntok: np.ndarray     # tokens per name
    first: np.ndarray    # index of each name's first token
    start: np.ndarray    # per token: offset in buf
    length: np.ndarray   # per token: byte length (>= 1)
    name: np.ndarray     # per token: name index
    col: np.ndarray      # per token: index within its name
    is_num: np.ndarray   # per token: all digits and at most MAX_DIGITS long
    natural: np.ndarray  # per token: a number printed without leading zeros
    value: np.ndarray    # per token: the number (0 for strings)


def tokenise(names: list[bytes]) -> Tokens:
    """Cut names (which must not contain b"\\n") into tokens."""
    buf = np.frombuffer(b"".join(n + b"\n" for n in names), dtype=np.uint8)
    newline = buf == 10
    alnum = _ALNUM[buf]
    glued = np.zeros(len(buf), dtype=bool)
    glued[1:] = alnum[1:] & alnum[:-1]
    is_start = ~newline & ~glued
    starts = np.flatnonzero(is_start)
    bounds = np.flatnonzero(is_start | newline)
    ends = bounds[np.searchsorted(bounds, starts, side="right")]
    name_end = np.flatnonzero(newline)
    name = np.searchsorted(name_end, starts)
    ntok = np.bincount(name, minlength=len(names)).astype(np.int64)
    col = np.arange(len(starts), dtype=np.int64) - (np.cumsum(ntok) - ntok)[name]
    if len(starts) and col.max() >= MAX_TOKENS:
        tail = col == MAX_TOKENS - 1
        ends[tail] = name_end[name[tail]]
        keep = col < MAX_TOKENS
        starts, ends, name, col = starts[keep], ends[keep], name[keep], col[keep]
        ntok = np.minimum(ntok, MAX_TOKENS)
    return _with_numbers(buf, ntok, starts, ends - starts, name, col)


def _with_numbers(buf: np.ndarray, ntok: np.ndarray, start: np.ndarray, length: np.ndarray,
                  name: np.ndarray, col: np.ndarray) -> Tokens:
    digits = np.concatenate(([0], np.cumsum(_DIGIT[buf], dtype=np.int64)))
    is_num = (digits[start + length] - digits[start] == length) & (length <= MAX_DIGITS)
    idx = np.flatnonzero(is_num)
    s, n = start[idx], length[idx]
    v = np.zeros(len(idx), dtype=np.int64)
    for k in range(int(n.max()) if len(n) else 0):
        live = n > k
        v[live] = v[live] * 10 + (buf[s[live] + k].astype(np.int64) - 48)
    value = np.zeros(len(start), dtype=np.int64)
    value[idx] = v
    natural = is_num & ((length == 1) | (buf[start] != 48))
    first = np.cumsum(ntok) - ntok
    return Tokens(buf, ntok, first, start, length, name, col, is_num, natural, value)


def reference_tokens(tok: Tokens, ref: Tokens, ref_name: np.ndarray) -> np.ndarray:
    """Index in ``ref`` of each token's reference token, or -1 when there is none.

    ``ref_name[t]`` is the reference name of token ``t`` (-1: none)."""
    ok = ref_name >= 0
    rn = np.where(ok, ref_name, 0)
    if len(ref.ntok) == 0:
        return np.full(len(tok.start), -1, dtype=np.int64)
    ok &= ref.ntok[rn] > tok.col
    return np.where(ok, ref.first[rn] + tok.col, -1)


def _bytes_equal(a: np.ndarray, sa: np.ndarray, b: np.ndarray, sb: np.ndarray,
                 length: np.ndarray) -> np.ndarray:
    """Whether ``a[sa:sa+n] == b[sb:sb+n]`` for each pair, in chunks to bound memory."""
    out = np.zeros(len(sa), dtype=bool)
    ends = np.cumsum(length)
    lo = 0
    while lo < len(sa):
        hi = max(lo + 1, int(np.searchsorted(ends, ends[lo] + (1 << 20))))
        n = length[lo:hi]
        differ = a[ranges(sa[lo:hi], n)] != b[ranges(sb[lo:hi], n)]
        out[lo:hi] = np.add.reduceat(differ, np.cumsum(n) - n) == 0
        lo = hi
    return out


def classify(tok: Tokens, ref: Tokens, ridx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Choose each token's type against its reference; returns (types, deltas)."""
    types = np.full(len(tok.start), Tok.STR, dtype=np.uint8)
    types[tok.is_num & tok.natural] = Tok.NUM
    types[tok.is_num & ~tok.natural] = Tok.NUM0
    delta = np.zeros(len(tok.start), dtype=np.int64)
    has = np.flatnonzero(ridx >= 0)
    r = ridx[has]
    same_len = tok.length[has] == ref.length[r]
    cand, rc = has[same_len], r[same_len]
    equal = _bytes_equal(tok.buf, tok.start[cand], ref.buf, ref.start[rc], tok.length[cand])
    types[cand[equal]] = Tok.MATCH
    nums = (types[has] != Tok.MATCH) & tok.is_num[has] & ref.is_num[r]
    h, rr = has[nums], r[nums]
    d = tok.value[h] - ref.value[rr]
    small = (d >= 0) & (d < DELTA_LIMIT)
    as_delta = small & tok.natural[h]
    as_delta0 = small & ~tok.natural[h] & (tok.length[h] == ref.length[rr])
    types[h[as_delta]] = Tok.DELTA
    types[h[as_delta0]] = Tok.DELTA0
    delta[h] = np.where(small, d, 0)
    return types, delta


def write_columns(tok: Tokens, types: np.ndarray, delta: np.ndarray, sink: StreamSink) -> None:
    """Emit the column-major streams (see module docstring and FORMAT spec)."""
    n = len(tok.ntok)
    ncols = int(tok.ntok.max()) + 1 if n else 0
    sink.put_int(ncols)
    sink.put_int(int(tok.length.sum()))  # total name bytes, checked by the decoder
    all_col = np.concatenate((tok.col, tok.ntok))
    all_type = np.concatenate((types, np.zeros(n, dtype=np.uint8)))
    order = np.lexsort((np.concatenate((tok.name, np.arange(n))), all_col))
    type_bounds = np.searchsorted(all_col[order], np.arange(ncols + 1))
    tord = np.lexsort((tok.name, tok.col))
    tok_bounds = np.searchsorted(tok.col[tord], np.arange(ncols + 1))
    for j in range(ncols):
        sink.put_stream(all_type[order[type_bounds[j]:type_bounds[j + 1]]].tobytes())
        _write_fields(tok, types, delta, tord[tok_bounds[j]:tok_bounds[j + 1]], sink)


def _write_fields(tok: Tokens, types: np.ndarray, delta: np.ndarray, idx: np.ndarray,
                  sink: StreamSink) -> None:
    ty = types[idx]
    moved = idx[(ty == Tok.DELTA) | (ty == Tok.DELTA0)]
    if len(moved):
        sink.put_stream(delta[moved].astype(np.uint8).tobytes())
    fresh = idx[(ty == Tok.NUM) | (ty == Tok.NUM0)]
    if len(fresh):
        values = tok.value[fresh]
        nplanes = max(1, (int(values.max()).bit_length() + 7) // 8)
        sink.put_int(nplanes)
        for k in range(nplanes):
            sink.put_stream(((values >> (8 * k)) & 0xFF).astype(np.uint8).tobytes())
    padded = idx[ty == Tok.NUM0]
    if len(padded):
        sink.put_stream(tok.length[padded].astype(np.uint8).tobytes())
    strings = idx[ty == Tok.STR]
    if len(strings):
        n = tok.length[strings] + 1
        data = tok.buf[ranges(tok.start[strings], n)]
        data[np.cumsum(n) - 1] = 10
        sink.put_stream(data.tobytes(), items=len(strings))


@dataclass
class _Column:
    """Decoded tokens of one column; strings point into the shared byte pool."""

    name: np.ndarray
    col: np.ndarray
    is_num: np.ndarray
    value: np.ndarray
    width: np.ndarray
    sstart: np.ndarray
    slen: np.ndarray


@dataclass
class _Fields:
    """One column's verdicts and the raw fields read for them."""

    types: np.ndarray
    delta: np.ndarray   # per token (0 where unused)
    value: np.ndarray   # per token: NUM/NUM0 values
    width: np.ndarray   # per token: NUM/NUM0 widths
    sstart: np.ndarray  # per token: STR offset in the pool
    slen: np.ndarray


class _Pool:
    """Byte arrays that decoded tokens point into, concatenated at the end."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.size = 0

    def add(self, part: np.ndarray) -> int:
        self.parts.append(part)
        self.size += len(part)
        return self.size - len(part)


def read_columns(count: int, mates: Tokens | None, source: StreamSource, max_total: int) -> list[bytes]:
    """Inverse of :func:`write_columns` (``mates`` given: mate-referenced mode)."""
    ncols = source.get_int(MAX_TOKENS + 1)
    total = source.get_int(max_total)
    if (ncols == 0) != (count == 0):
        raise FormatError(f"{ncols} token columns for {count} names")
    pool = _Pool()
    mate_off = pool.add(mates.buf) if mates is not None else 0
    alive = np.arange(count, dtype=np.int64)
    columns: list[_Column] = []
    for j in range(ncols):
        if not len(alive):
            raise FormatError(f"token column {j} after every name ended")
        types = np.frombuffer(source.get_stream(len(alive)), dtype=np.uint8)
        if types.max() > Tok.STR:
            raise FormatError(f"unknown token type {int(types.max())}")
        alive = alive[types != Tok.END]
        fields = _read_fields(types[types != Tok.END], source, pool)
        if mates is None:
            columns.append(_resolve_prev(alive, j, fields))
        else:
            columns.append(_resolve_mate(alive, j, fields, mates, mate_off))
    if len(alive):
        raise FormatError(f"{len(alive)} names still open after the last token column")
    return _materialise(count, columns, pool, total)


def _read_fields(t: np.ndarray, source: StreamSource, pool: _Pool) -> _Fields:
    m = len(t)
    f = _Fields(t, *(np.zeros(m, dtype=np.int64) for _ in range(5)))
    moved = (t == Tok.DELTA) | (t == Tok.DELTA0)
    if moved.any():
        f.delta[moved] = np.frombuffer(source.get_stream(int(moved.sum())), dtype=np.uint8)
    fresh = (t == Tok.NUM) | (t == Tok.NUM0)
    if fresh.any():
        f.value[fresh] = _read_planes(int(fresh.sum()), source)
        f.width[fresh] = digit_count(f.value[fresh])
    padded = t == Tok.NUM0
    if padded.any():
        widths = np.frombuffer(source.get_stream(int(padded.sum())), dtype=np.uint8)
        if widths.min() < 1 or widths.max() > MAX_DIGITS:
            raise FormatError("number width out of range")
        f.width[padded] = widths
    strings = t == Tok.STR
    if strings.any():
        n_str = int(strings.sum())
        data = np.frombuffer(source.get_stream(None, items=n_str), dtype=np.uint8)
        ends = np.flatnonzero(data == 10)
        if len(ends) != n_str or data[-1] != 10:
            raise FormatError("string stream does not hold one string per STR token")
        starts = np.concatenate(([0], ends[:-1] + 1))
        f.sstart[strings] = pool.add(data) + starts
        f.slen[strings] = ends - starts
    return f


def _read_planes(n: int, source: StreamSource) -> np.ndarray:
    nplanes = source.get_int(8)
    if nplanes < 1:
        raise FormatError("number column without byte planes")
    values = np.zeros(n, dtype=np.uint64)
    for k in range(nplanes):
        plane = np.frombuffer(source.get_stream(n), dtype=np.uint8).astype(np.uint64)
        values |= plane << np.uint64(8 * k)
    if values.max() > _MAX_VALUE:
        raise FormatError("number too large")
    return values.astype(np.int64)


def _resolve_prev(names: np.ndarray, j: int, f: _Fields) -> _Column:
    """Previous-name mode: a dependent token chains back to the last fresh token."""
    t, k = f.types, np.arange(len(f.types))
    dep = np.isin(t, _DEPENDENT)
    linked = np.zeros(len(t), dtype=bool)
    linked[1:] = names[1:] == names[:-1] + 1
    if (dep & ~linked).any():
        raise FormatError(f"column {j}: token refers to a previous name without that token")
    base = np.maximum.accumulate(np.where(dep, 0, k))
    is_num = t[base] != Tok.STR
    moved = (t == Tok.DELTA) | (t == Tok.DELTA0)
    if (moved & ~is_num).any():
        raise FormatError(f"column {j}: numeric delta on a string token")
    cd = np.cumsum(f.delta)
    value = np.where(is_num, f.value[base] + cd - cd[base], 0)
    sets_width = (t == Tok.NUM) | (t == Tok.NUM0) | (t == Tok.DELTA)
    wset = np.where(t == Tok.DELTA, digit_count(value), f.width)
    width = np.where(is_num, wset[np.maximum.accumulate(np.where(sets_width, k, 0))], 0)
    return _checked(_Column(names, np.full(len(t), j), is_num, value, width,
                            f.sstart[base], f.slen[base]))


def _resolve_mate(names: np.ndarray, j: int, f: _Fields, mates: Tokens, mate_off: int) -> _Column:
    """Mate mode: a dependent token refers to the mate's token at the same index."""
    t = f.types
    has = mates.ntok[names] > j
    if (np.isin(t, _DEPENDENT) & ~has).any():
        raise FormatError(f"column {j}: token refers to a mate without that token")
    r = np.where(has, mates.first[names] + j, 0)
    rnum = mates.is_num[r]
    moved = (t == Tok.DELTA) | (t == Tok.DELTA0)
    if (moved & ~rnum).any():
        raise FormatError(f"column {j}: numeric delta on a string token")
    match = t == Tok.MATCH
    copied = match & rnum
    is_num = (t == Tok.NUM) | (t == Tok.NUM0) | moved | copied
    value = np.where(moved | copied, mates.value[r] + f.delta, f.value)
    width = np.where(t == Tok.DELTA, digit_count(value), f.width)
    width = np.where((t == Tok.DELTA0) | copied, mates.length[r], width)
    quoted = match & ~rnum
    sstart = np.where(quoted, mate_off + mates.start[r], f.sstart)
    slen = np.where(quoted, mates.length[r], f.slen)
    return _checked(_Column(names, np.full(len(t), j), is_num, value, width, sstart, slen))


def _checked(c: _Column) -> _Column:
    bad = c.is_num & ((c.value > _MAX_VALUE) | (digit_count(c.value) > c.width))
    if bad.any():
        raise FormatError("number does not fit its width")
    return c


def _materialise(count: int, columns: list[_Column], pool: _Pool, total: int) -> list[bytes]:
    if not count:
        return []
    c = _Column(*(np.concatenate([getattr(col, f) for col in columns])
                  for f in ("name", "col", "is_num", "value", "width", "sstart", "slen")))
    length = np.where(c.is_num, c.width, c.slen)
    if int(length.sum()) != total:
        raise FormatError(f"names hold {int(length.sum())} bytes, header says {total}")
    num = np.flatnonzero(c.is_num)
    w = c.width[num]
    within = np.arange(int(w.sum()), dtype=np.int64) - np.repeat(np.cumsum(w) - w, w)
    exponent = np.repeat(w, w) - 1 - within
    digits = (np.repeat(c.value[num], w) // _POW10[exponent]) % 10 + 48
    start = c.sstart.copy()
    start[num] = pool.add(digits.astype(np.uint8)) + np.cumsum(w) - w
    order = np.lexsort((c.col, c.name))
    body = np.concatenate(pool.parts)[ranges(start[order], length[order])] if pool.parts else \
        np.zeros(0, dtype=np.uint8)
    name_len = np.bincount(c.name, weights=length, minlength=count).astype(np.int64)
    out = np.empty(total + count, dtype=np.uint8)
    ends = np.cumsum(name_len + 1) - 1
    keep = np.ones(len(out), dtype=bool)
    keep[ends] = False
    out[keep] = body
    out[ends] = 10
    return out[:-1].tobytes().split(b"\n")
