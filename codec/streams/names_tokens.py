"""Token-column model of read names (the idea of CRAM's tok3, our own code).

Each name is cut into tokens: maximal runs of ASCII letters/digits (or, where
that codes smaller, of letters and of digits apart), and every other byte on
its own. A token is coded against the token at the same index of
a *reference* name: the previous name (sorted Illumina names share most
fields) or, for read 2, the mate's name (usually equal up to ``/1``→``/2``).
Verdicts (:class:`Tok`) and their fields are written column-major, so each
column's values form their own small, repetitive streams, and both directions
are whole-array numpy work with only a loop over the (at most
:data:`MAX_TOKENS`) columns.

Numbers are where the bytes go, so they get the most care: deltas against
the reference only in columns where the estimated cost says they pay (sorted
counters yes, random x coordinates no), values stored as byte planes or as
indices into a table of distinct values (patterned flow cells put x/y on a
grid), and a DUP verdict for SRA's ``name.N N`` repeats. Any new token,
string or number, may instead be a COPY of one its own name already holds
(Guppy writes the read's UUID a second time, as ``parent_read_id``).

This module turns names into streams and back; how each stream is stored is
the caller's business, reached through :class:`StreamSink` / :class:`StreamSource`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

import numpy as np

from ..errors import FormatError

MAX_TOKENS = 255         # later tokens of a name are merged into the last (bounds the column loop)
LEGACY_MAX_TOKENS = 64   # the same bound for NAMES methods 3-6 (formats up to 12.0)
MAX_DIGITS = 18          # longer digit runs are strings: values stay below 2**60
DELTA_LIMITS = (0, 1 << 8, 1 << 16, 1 << 32, 1 << 62)  # per-column bounds the encoder tries
_POW10 = 10 ** np.arange(MAX_DIGITS + 1, dtype=np.int64)
MAX_VALUE = int(_POW10[MAX_DIGITS]) - 1
# _PLACE[n][k]: weight of digit k in an n-digit chunk (10**(n-1-k), 0 beyond the chunk)
_PLACE = np.array([[10 ** (n - 1 - k) if k < n else 0 for k in range(8)] for n in range(9)], dtype=np.int64)
_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)  # masks by length


class Tok(IntEnum):
    """Verdict for one token. Written into archives: append only."""

    END = 0      # the name has no token at this index
    MATCH = 1    # same bytes as the reference token
    DELTA = 2    # reference number + d (d >= 0), printed without leading zeros
    DELTA0 = 3   # reference number + d, zero-padded to the reference token's width
    NUM = 4      # new number without leading zeros
    NUM0 = 5     # new number with leading zeros (plus a width)
    STR = 6      # new bytes (plus a length)
    DUP = 7      # same bytes as the previous all-digit token of this name
    COPY = 8     # same bytes as the token ``back`` columns earlier in this name (format 13.0)


_DEPENDENT = (Tok.MATCH, Tok.DELTA, Tok.DELTA0)
_FRESH = (Tok.NUM, Tok.NUM0, Tok.STR)
COPY_MIN_BYTES = 32      # a column copies tokens only when they would otherwise hold this many bytes
COPY_SAMPLE = 512        # names that decide whether a block is searched for copies


class StreamSink(Protocol):
    """Where the encoder puts small integers and byte streams, in order."""

    def put_int(self, value: int) -> None: ...

    def put_stream(self, data: bytes) -> None: ...

    def fork(self) -> StreamSink:
        """An empty sink of the same kind, to try an alternative and measure it."""

    def join(self, other: StreamSink) -> None:
        """Append everything ``other`` received."""

    def __len__(self) -> int: ...


class StreamSource(Protocol):
    """Gives back, in the same order, what a :class:`StreamSink` received."""

    def get_int(self, limit: int) -> int: ...

    def get_stream(self, size: int) -> bytes:
        """The next stream, which must decode to exactly ``size`` bytes."""


def _lut(chars: bytes) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[np.frombuffer(chars, dtype=np.uint8)] = True
    return table


_DIGIT = _lut(b"0123456789")
_ALPHA = _lut(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_ALNUM = _DIGIT | _ALPHA


def digit_count(values: np.ndarray) -> np.ndarray:
    """Decimal digits of non-negative values (0 has one digit)."""
    return 1 + np.searchsorted(_POW10[1:], values, side="right")


@dataclass(frozen=True)
class Tokens:
    """All tokens of a list of names, in (name, column) order."""

    buf: np.ndarray      # uint8: the names, each followed by b"\n", then 8 zero bytes
    words: np.ndarray    # little-endian u64 starting at every byte of buf (a strided view)
    ntok: np.ndarray     # tokens per name
    first: np.ndarray    # index of each name's first token
    start: np.ndarray    # per token: offset in buf
    length: np.ndarray   # per token: byte length (>= 1)
    name: np.ndarray     # per token: name index
    col: np.ndarray      # per token: index within its name
    is_num: np.ndarray   # per token: all digits and at most MAX_DIGITS long
    natural: np.ndarray  # per token: a number printed without leading zeros
    value: np.ndarray    # per token: the number (0 for strings)
    key: np.ndarray      # per token: its first (up to) 8 bytes as a little-endian u64


def tokenise(joined: bytes, count: int, split_digits: bool = False, max_tokens: int = MAX_TOKENS) -> Tokens:
    """Cut ``count`` names, joined by b"\\n" (none inside a name), into tokens.

    ``split_digits`` also cuts where a digit meets a letter, as CRAM's tok3
    does, so that MGI's ``...L2C001R0010000001/1`` yields numbers to delta-code.
    It is a per-payload choice because it shreds hex ids (ONT's UUIDs) into
    tokens whose columns no longer line up from name to name. Tokens past
    ``max_tokens`` are merged into the last one."""
    padded = joined + b"\n" + bytes(8) if count else bytes(8)
    buf = np.frombuffer(padded, dtype=np.uint8)
    size = len(padded) - 8
    newline = buf[:size] == 10
    glued = np.zeros(size, dtype=bool)
    alnum = _ALNUM[buf[:size]]
    glued[1:] = alnum[1:] & alnum[:-1]
    if split_digits:
        digit = _DIGIT[buf[:size]]
        glued[1:] &= digit[1:] == digit[:-1]
    bound = newline | ~glued
    starts = np.flatnonzero(bound & ~newline)
    ends = np.flatnonzero(bound[1:] & ~newline[:-1]) + 1
    name_end = np.flatnonzero(newline)
    ntok = np.diff(np.searchsorted(starts, name_end), prepend=0)
    name = np.repeat(np.arange(count, dtype=np.int64), ntok)
    col = np.arange(len(starts), dtype=np.int64) - np.repeat(np.cumsum(ntok) - ntok, ntok)
    if len(starts) and ntok.max() > max_tokens:
        tail = col == max_tokens - 1
        ends[tail] = name_end[name[tail]]
        keep = col < max_tokens
        starts, ends, name, col = starts[keep], ends[keep], name[keep], col[keep]
        ntok = np.minimum(ntok, max_tokens)
    words = np.ndarray((size,), dtype="<u8", buffer=padded, strides=(1,))
    return _with_numbers(buf, words, ntok, starts, ends - starts, name, col)


def letters_touch_digits(joined: bytes) -> bool:
    """Whether a letter and a digit are ever adjacent: only then does
    ``split_digits`` give other tokens."""
    b = np.frombuffer(joined, dtype=np.uint8)
    digit, alpha = _DIGIT[b], _ALPHA[b]
    return bool(((digit[1:] & alpha[:-1]) | (alpha[1:] & digit[:-1])).any())


def _with_numbers(buf: np.ndarray, words: np.ndarray, ntok: np.ndarray, start: np.ndarray,
                  length: np.ndarray, name: np.ndarray, col: np.ndarray) -> Tokens:
    """Add the numeric reading of all-digit tokens, 8 digits per step."""
    key = words[start] & _LOW_BYTES[np.minimum(length, 8)]
    cand = np.flatnonzero(_DIGIT[buf[start]] & (length <= MAX_DIGITS))
    value = np.zeros(len(start), dtype=np.int64)
    v = np.zeros(len(cand), dtype=np.int64)
    ok = np.ones(len(cand), dtype=bool)
    for k in range(0, MAX_DIGITS, 8):
        sub = np.flatnonzero(length[cand] > k)
        if not len(sub):
            break
        rest = np.minimum(length[cand[sub]] - k, 8)
        chunk = (words[start[cand[sub]] + k] & _LOW_BYTES[rest]).astype("<u8").view(np.uint8).reshape(-1, 8)
        digits = chunk.astype(np.int64) - 48
        inside = np.arange(8) < rest[:, None]
        ok[sub] &= ((digits >= 0) & (digits <= 9) | ~inside).all(axis=1)
        v[sub] = v[sub] * _POW10[rest] + (np.where(inside, digits, 0) * _PLACE[rest]).sum(axis=1)
    is_num = np.zeros(len(start), dtype=bool)
    is_num[cand[ok]] = True
    value[cand[ok]] = v[ok]
    natural = is_num & ((length == 1) | (buf[start] != 48))
    return Tokens(buf, words, ntok, np.cumsum(ntok) - ntok, start, length, name, col,
                  is_num, natural, value, key)


def reference_tokens(tok: Tokens, ref: Tokens, ref_name: np.ndarray) -> np.ndarray:
    """Index in ``ref`` of each token's reference token, or -1 when there is none.

    ``ref_name[t]`` is the reference name of token ``t`` (-1: none)."""
    if len(ref.ntok) == 0:
        return np.full(len(tok.start), -1, dtype=np.int64)
    ok = ref_name >= 0
    rn = np.where(ok, ref_name, 0)
    ok &= ref.ntok[rn] > tok.col
    return np.where(ok, ref.first[rn] + tok.col, -1)


def _same_bytes(a: Tokens, ia: np.ndarray, b: Tokens, ib: np.ndarray) -> np.ndarray:
    """Whether token ``a[ia]`` equals token ``b[ib]``: length and first 8 bytes at once,
    then 8 bytes at a time for the few longer tokens still equal."""
    length = a.length[ia]
    equal = (length == b.length[ib]) & (a.key[ia] == b.key[ib])
    live = np.flatnonzero(equal & (length > 8))
    sa, sb, k = a.start[ia[live]], b.start[ib[live]], 8
    while len(live):
        rest = length[live] - k
        mask = _LOW_BYTES[np.minimum(rest, 8)]
        same = ((a.words[sa + k] ^ b.words[sb + k]) & mask) == 0
        equal[live] = same
        more = same & (rest > 8)
        live, sa, sb, k = live[more], sa[more], sb[more], k + 8
    return equal


def classify(tok: Tokens, ref: Tokens, ridx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Choose each token's type against its reference; returns (types, deltas), where
    a COPY token's "delta" is how many columns back its source is."""
    types = np.where(tok.is_num, np.where(tok.natural, Tok.NUM, Tok.NUM0), Tok.STR).astype(np.uint8)
    has = np.flatnonzero(ridx >= 0)
    r = ridx[has]
    match = _same_bytes(tok, has, ref, r)
    types[has[match]] = Tok.MATCH
    num = np.flatnonzero(tok.is_num)
    prev = num[:-1]
    dup = num[1:][(tok.name[prev] == tok.name[num[1:]]) & (tok.value[prev] == tok.value[num[1:]])
                  & (tok.length[prev] == tok.length[num[1:]])]
    types[dup[types[dup] != Tok.MATCH]] = Tok.DUP
    keep = ~match & tok.is_num[has]
    h, rr = has[keep], r[keep]
    keep = ref.is_num[rr] & (types[h] != Tok.DUP)
    h, rr = h[keep], rr[keep]
    d = tok.value[h] - ref.value[rr]
    ok = (d >= 0) & (tok.natural[h] | (tok.length[h] == ref.length[rr]))
    h, d = h[ok], d[ok]
    use = d < _delta_limits(tok, types, h, d)[tok.col[h]]
    h, d = h[use], d[use]
    types[h] = np.where(tok.natural[h], Tok.DELTA, Tok.DELTA0)
    delta = np.zeros(len(tok.start), dtype=np.int64)
    delta[h] = d
    _mark_copies(tok, types, delta)
    return types, delta


def _mark_copies(tok: Tokens, types: np.ndarray, delta: np.ndarray) -> None:
    """Turn fresh tokens that repeat an earlier token of their own name into COPY.

    Guppy's ONT headers end with ``parent_read_id=`` and the read's own UUID
    again: 16 random bytes per name that no previous name predicts. The first
    :data:`COPY_SAMPLE` names decide whether the whole block is searched (names
    of one file share a shape; Illumina's have nothing to copy)."""
    if len(tok.ntok) > COPY_SAMPLE and not len(_copies(tok, types, int(tok.first[COPY_SAMPLE]))[0]):
        return
    cur, back = _copies(tok, types, len(tok.start))
    types[cur] = Tok.COPY
    delta[cur] = back


def _copies(tok: Tokens, types: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Among the first ``end`` tokens, the fresh ones (and how many columns back) that
    repeat a token of their name, each column copying from the one distance that
    saves it the most bytes, and only where that is at least :data:`COPY_MIN_BYTES`."""
    sel = np.flatnonzero(tok.length[:end] >= 2)
    fresh = np.isin(types[sel], _FRESH)
    none = np.zeros(0, dtype=np.int64)
    if not fresh.any():
        return none, none
    h = ((tok.key[sel] * np.uint64(0x9E3779B97F4A7C15))
         ^ (tok.name[sel].astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)) ^ tok.length[sel].astype(np.uint64))
    order = np.argsort(h, kind="stable")  # equal hashes stay in (name, column) order
    hs = h[order]
    later = np.flatnonzero(hs[1:] == hs[:-1]) + 1
    later = later[fresh[order[later]]]
    cur, src = sel[order[later]], sel[order[later - 1]]
    same = tok.name[cur] == tok.name[src]
    cur, src = cur[same], src[same]
    same = _same_bytes(tok, cur, tok, src)
    cur, src = cur[same], src[same]
    if not len(cur):
        return none, none
    back = tok.col[cur] - tok.col[src]
    ncols = int(tok.col.max()) + 1
    saved = np.bincount(tok.col[cur] * ncols + back, weights=tok.length[cur],
                        minlength=ncols * ncols).reshape(ncols, ncols)
    best = saved.argmax(axis=1)
    worth = saved[np.arange(ncols), best] >= COPY_MIN_BYTES
    chosen = worth[tok.col[cur]] & (back == best[tok.col[cur]])
    return cur[chosen], back[chosen]


def _delta_limits(tok: Tokens, types: np.ndarray, h: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Per column, the delta bound (from :data:`DELTA_LIMITS`) with the smallest estimated cost.

    Sorted columns (read counters, y coordinates) want deltas; random ones
    (x coordinates) pay a type symbol for every chance small delta, so there
    the bound is 0."""
    ncols = int(tok.col.max()) + 1 if len(tok.col) else 0
    limits = np.zeros(ncols, dtype=np.int64)
    for j in np.unique(tok.col[h]):
        in_col = np.flatnonzero(tok.col == j)
        ty, value = types[in_col], tok.value[in_col]
        mine = tok.col[h] == j
        dj = d[mine]
        pos = np.searchsorted(in_col, h[mine])
        costs = []
        for limit in DELTA_LIMITS:
            t = ty.copy()
            t[pos[dj < limit]] = Tok.DELTA
            fresh = (t == Tok.NUM) | (t == Tok.NUM0)
            costs.append(_coded_bits(np.bincount(t)) + _number_bits(value[fresh]) + _number_bits(dj[dj < limit]))
        limits[j] = DELTA_LIMITS[int(np.argmin(costs))]
    return limits


def _coded_bits(counts: np.ndarray) -> float:
    """Estimated bits of one byte stream with these symbol counts: order-0 entropy
    plus the frequency table, or raw bytes when that is cheaper (small streams)."""
    c = counts[counts > 0].astype(np.float64)
    n = c.sum()
    return min(8.0 * n, float((c * np.log2(n / c)).sum()) + 12.0 * len(c) + 16.0)


def _number_bits(values: np.ndarray) -> float:
    """Estimated bits of :func:`_write_numbers` (planes, or a table of distinct values)."""
    if not len(values):
        return 0.0
    nplanes = max(1, (int(values.max()).bit_length() + 7) // 8)
    planes = sum(_coded_bits(np.bincount((values >> (8 * k)) & 0xFF)) for k in range(nplanes))
    _, counts = np.unique(values, return_counts=True)
    return min(planes, _coded_bits(counts) + 16.0 * len(counts))


def write_columns(tok: Tokens, types: np.ndarray, delta: np.ndarray, sink: StreamSink) -> None:
    """Emit the column-major streams (layout: see the NAMES section of FORMAT.md)."""
    n = len(tok.ntok)
    ncols = int(tok.ntok.max()) + 1 if n else 0
    sink.put_int(ncols)
    sink.put_int(int(tok.length.sum()))  # total name bytes, checked by the decoder
    alive = np.arange(n, dtype=np.int64)   # names with a token (or their END) in column j
    for j in range(ncols):
        ends = tok.ntok[alive] == j
        row = np.full(len(alive), Tok.END, dtype=np.uint8)
        alive = alive[~ends]
        idx = tok.first[alive] + j           # column j's tokens, in name order
        ty = types[idx]
        row[~ends] = ty
        sink.put_stream(row.tobytes())
        copies = idx[ty == Tok.COPY]
        if len(copies):
            sink.put_int(int(delta[copies[0]]))
        _write_fields(tok, ty, delta, idx, sink)


def _write_fields(tok: Tokens, ty: np.ndarray, delta: np.ndarray, idx: np.ndarray,
                  sink: StreamSink) -> None:
    """The fields of one column's tokens ``idx``, whose types are ``ty``."""
    moved = idx[(ty == Tok.DELTA) | (ty == Tok.DELTA0)]
    if len(moved):
        _write_numbers(delta[moved], sink)
    fresh = idx[(ty == Tok.NUM) | (ty == Tok.NUM0)]
    if len(fresh):
        _write_numbers(tok.value[fresh], sink)
    padded = idx[ty == Tok.NUM0]
    if len(padded):
        sink.put_stream(tok.length[padded].astype(np.uint8).tobytes())
    strings = idx[ty == Tok.STR]
    if len(strings):
        _write_planes(tok.length[strings], sink)
        sink.put_stream(_concat(tok.buf, tok.start[strings], tok.length[strings]).tobytes())


def _write_planes(values: np.ndarray, sink: StreamSink) -> None:
    """Little-endian byte planes, one stream each: plane k holds byte k of every value."""
    nplanes = max(1, (int(values.max()).bit_length() + 7) // 8)
    sink.put_int(nplanes)
    for k in range(nplanes):
        sink.put_stream(((values >> (8 * k)) & 0xFF).astype(np.uint8).tobytes())


def _write_numbers(values: np.ndarray, sink: StreamSink) -> None:
    """Planes of the values, or of indices into their sorted distinct values when that
    is smaller (patterned flow cells put x/y coordinates on a grid)."""
    plain = sink.fork()
    plain.put_int(0)
    _write_planes(values, plain)
    best = plain
    if len(values) >= 32:
        distinct, index = np.unique(values, return_inverse=True)
        if 2 * len(distinct) <= len(values):
            table = sink.fork()
            table.put_int(len(distinct))
            _write_planes(np.diff(distinct, prepend=0), table)
            _write_planes(index.astype(np.int64), table)
            best = table if len(table) < len(plain) else plain
    sink.join(best)


@dataclass
class _Column:
    """Decoded tokens of one column; ``sstart``/``slen`` point into the byte pool."""

    name: np.ndarray
    col: np.ndarray
    is_num: np.ndarray
    value: np.ndarray
    width: np.ndarray
    sstart: np.ndarray
    slen: np.ndarray

    @classmethod
    def empty(cls, names: np.ndarray, j: int) -> _Column:
        m = len(names)
        return cls(names, np.full(m, j, dtype=np.int64), np.zeros(m, dtype=bool),
                   *(np.zeros(m, dtype=np.int64) for _ in range(4)))


class _Pool:
    """Byte arrays that decoded tokens point into, concatenated at the end."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.size = 0

    def add(self, part: np.ndarray) -> int:
        self.parts.append(part)
        self.size += len(part)
        return self.size - len(part)


def read_columns(count: int, mates: Tokens | None, source: StreamSource, max_total: int,
                 max_tokens: int = MAX_TOKENS) -> list[bytes]:
    """Inverse of :func:`write_columns` (``mates`` given: mate-referenced mode)."""
    ncols = source.get_int(max_tokens + 1)
    total = source.get_int(max_total)
    if (ncols == 0) != (count == 0):
        raise FormatError(f"{ncols} token columns for {count} names")
    pool = _Pool()
    mate_off = pool.add(mates.buf) if mates is not None else 0
    state = _State(count, total)
    alive = np.arange(count, dtype=np.int64)
    columns: list[_Column] = []
    for j in range(ncols):
        if not len(alive):
            raise FormatError(f"token column {j} after every name ended")
        types = np.frombuffer(source.get_stream(len(alive)), dtype=np.uint8)
        if types.max() > max(Tok):
            raise FormatError(f"unknown token type {int(types.max())}")
        state.ntok[alive[types == Tok.END]] = j
        alive, t = alive[types != Tok.END], types[types != Tok.END]
        back = source.get_int(j) if (t == Tok.COPY).any() else None   # 1 to j
        if back == 0:
            raise FormatError(f"token column {j} copies from itself")
        col = _read_fields(_Column.empty(alive, j), t, source, pool, state)
        if back:
            _copy_tokens(col, t, columns[j - back])
        col = _resolve_prev(col, t) if mates is None else _resolve_mate(col, t, mates, mate_off)
        state.remember(col)
        columns.append(col)
    if len(alive):
        raise FormatError(f"{len(alive)} names still open after the last token column")
    return _materialise(count, state.ntok, columns, pool, total)


class _State:
    """What the decoder carries from column to column."""

    def __init__(self, count: int, total: int) -> None:
        self.ntok = np.zeros(count, dtype=np.int64)
        self.budget = total                                   # string bytes still allowed
        self.last_value = np.full(count, -1, dtype=np.int64)  # last all-digit token per name
        self.last_width = np.zeros(count, dtype=np.int64)

    def remember(self, c: _Column) -> None:
        self.last_value[c.name[c.is_num]] = c.value[c.is_num]
        self.last_width[c.name[c.is_num]] = c.width[c.is_num]


def _read_fields(c: _Column, t: np.ndarray, source: StreamSource, pool: _Pool,
                 state: _State) -> _Column:
    """Fields of fresh tokens; DELTA/DELTA0 get their delta in ``value``."""
    moved = (t == Tok.DELTA) | (t == Tok.DELTA0)
    if moved.any():
        c.value[moved] = _read_numbers(int(moved.sum()), source)
    fresh = (t == Tok.NUM) | (t == Tok.NUM0)
    if fresh.any():
        c.value[fresh] = _read_numbers(int(fresh.sum()), source)
        c.width[fresh] = digit_count(c.value[fresh])
    padded = t == Tok.NUM0
    if padded.any():
        widths = np.frombuffer(source.get_stream(int(padded.sum())), dtype=np.uint8)
        if widths.min() < 1 or widths.max() > MAX_DIGITS:
            raise FormatError("number width out of range")
        c.width[padded] = widths
    dup = t == Tok.DUP
    if dup.any():
        if (state.last_value[c.name[dup]] < 0).any():
            raise FormatError("DUP token without an earlier number in its name")
        c.value[dup], c.width[dup] = state.last_value[c.name[dup]], state.last_width[c.name[dup]]
    strings = t == Tok.STR
    if strings.any():
        lengths = _read_planes(int(strings.sum()), source)
        state.budget -= int(lengths.sum())
        if state.budget < 0:
            raise FormatError("strings longer than the names")
        data = np.frombuffer(source.get_stream(int(lengths.sum())), dtype=np.uint8)
        if (data == 10).any():
            raise FormatError("newline inside a name token")
        c.sstart[strings] = pool.add(data) + np.cumsum(lengths) - lengths
        c.slen[strings] = lengths
    c.is_num = t != Tok.STR
    return c


def _copy_tokens(c: _Column, t: np.ndarray, src: _Column) -> None:
    """Fill COPY tokens from an earlier, already resolved column of the same names
    (a name open at this column was open at every earlier one)."""
    copy = np.flatnonzero(t == Tok.COPY)
    rows = np.searchsorted(src.name, c.name[copy])
    for field in ("is_num", "value", "width", "sstart", "slen"):
        getattr(c, field)[copy] = getattr(src, field)[rows]


def _read_planes(n: int, source: StreamSource) -> np.ndarray:
    nplanes = source.get_int(8)
    if nplanes < 1:
        raise FormatError("number stream without byte planes")
    values = np.zeros(n, dtype=np.uint64)
    for k in range(nplanes):
        plane = np.frombuffer(source.get_stream(n), dtype=np.uint8).astype(np.uint64)
        values |= plane << np.uint64(8 * k)
    if values.max() > MAX_VALUE:
        raise FormatError("number too large")
    return values.astype(np.int64)


def _read_numbers(n: int, source: StreamSource) -> np.ndarray:
    ndistinct = source.get_int(n)
    if not ndistinct:
        return _read_planes(n, source)
    distinct = np.cumsum(_read_planes(ndistinct, source).astype(np.uint64))
    if distinct.max() > MAX_VALUE:  # partial sums step by < 2**60, so a wrap shows here first
        raise FormatError("number table too large")
    index = _read_planes(n, source)
    if index.max() >= ndistinct:
        raise FormatError("number index out of range")
    return distinct.astype(np.int64)[index]


def _resolve_prev(c: _Column, t: np.ndarray) -> _Column:
    """Previous-name mode: a dependent token chains back to the last fresh token."""
    k = np.arange(len(t))
    dep = np.isin(t, _DEPENDENT)
    linked = np.zeros(len(t), dtype=bool)
    linked[1:] = c.name[1:] == c.name[:-1] + 1
    if (dep & ~linked).any():
        raise FormatError("token refers to a previous name without that token")
    base = np.maximum.accumulate(np.where(dep, 0, k))
    moved = (t == Tok.DELTA) | (t == Tok.DELTA0)
    c.is_num = c.is_num[base] & (t[base] != Tok.STR)
    if (moved & ~c.is_num).any():
        raise FormatError("numeric delta on a string token")
    # uint64 wraps; every step adds < 2**60 to a checked value < 2**60, so no true
    # value can wrap without an earlier one exceeding MAX_VALUE first
    steps = np.cumsum(np.where(moved, c.value, 0).astype(np.uint64))
    value = c.value[base].astype(np.uint64) + steps - steps[base]
    c.value = _within_range(np.where(c.is_num, value, np.uint64(0)))
    sets_width = ~dep | (t == Tok.DELTA)
    wset = np.where(t == Tok.DELTA, digit_count(c.value), c.width)
    c.width = np.where(c.is_num, wset[np.maximum.accumulate(np.where(sets_width, k, 0))], 0)
    c.sstart, c.slen = c.sstart[base], c.slen[base]
    return _checked(c)


def _resolve_mate(c: _Column, t: np.ndarray, mates: Tokens, mate_off: int) -> _Column:
    """Mate mode: a dependent token refers to the mate's token at the same index."""
    j = int(c.col[0]) if len(c.col) else 0
    has = mates.ntok[c.name] > j
    if (np.isin(t, _DEPENDENT) & ~has).any():
        raise FormatError("token refers to a mate without that token")
    if not has.any():
        return _checked(c)  # nothing to look up (read 1's names may hold no token at all)
    r = np.where(has, mates.first[c.name] + j, 0)
    rnum = mates.is_num[r]
    moved = (t == Tok.DELTA) | (t == Tok.DELTA0)
    if (moved & ~rnum).any():
        raise FormatError("numeric delta on a string token")
    copied = (t == Tok.MATCH) & rnum
    quoted = (t == Tok.MATCH) & ~rnum
    c.is_num &= ~quoted
    c.value = _within_range(np.where(moved | copied, mates.value[r] + c.value, c.value))
    c.width = np.where(t == Tok.DELTA, digit_count(c.value), c.width)
    c.width = np.where((t == Tok.DELTA0) | copied, mates.length[r], c.width)
    c.sstart = np.where(quoted, mate_off + mates.start[r], c.sstart)
    c.slen = np.where(quoted, mates.length[r], c.slen)
    return _checked(c)


def _within_range(values: np.ndarray) -> np.ndarray:
    if len(values) and values.max() > MAX_VALUE:
        raise FormatError("number too large")
    return values.astype(np.int64)


def _checked(c: _Column) -> _Column:
    if (c.is_num & (digit_count(c.value) > c.width)).any():
        raise FormatError("number does not fit its width")
    return c


def _materialise(count: int, ntok: np.ndarray, columns: list[_Column], pool: _Pool,
                 total: int) -> list[bytes]:
    """Lay every token's bytes out in name order, with b"\\n" after each name."""
    if not count:
        return []
    c = _Column(*(np.concatenate([getattr(col, f) for col in columns])
                  for f in ("name", "col", "is_num", "value", "width", "sstart", "slen")))
    length = np.where(c.is_num, c.width, c.slen)
    if int(length.sum()) != total:
        raise FormatError(f"names hold {int(length.sum())} bytes, header says {total}")
    num = np.flatnonzero(c.is_num)
    w = c.width[num]
    exponent = np.full(int(w.sum()), -1, dtype=np.int64)
    exponent[np.cumsum(w)[:-1]] = w[1:] - 1
    if len(w):
        exponent[0] = w[0] - 1
    digits = (np.repeat(c.value[num], w) // _POW10[np.cumsum(exponent)]) % 10 + 48
    start = c.sstart.copy()
    start[num] = pool.add(digits.astype(np.uint8)) + np.cumsum(w) - w
    newline = pool.add(np.array([10, 0, 0, 0, 0, 0, 0, 0, 0], dtype=np.uint8))  # + word padding
    slot = np.cumsum(ntok + 1) - (ntok + 1)
    starts = np.full(len(length) + count, newline, dtype=np.int64)
    lengths = np.ones(len(length) + count, dtype=np.int64)
    dest = slot[c.name] + c.col
    starts[dest], lengths[dest] = start, length
    return _concat(np.concatenate(pool.parts), starts, lengths).tobytes().split(b"\n")[:-1]


def _concat(pool: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``concatenate([pool[s:s + n] ...])`` moving 8 bytes per step: each piece becomes
    rows of 8 bytes, and a (rows, 8) mask keeps the bytes inside the piece.
    ``pool`` must end with 8 spare bytes."""
    chunks = (lengths + 7) // 8
    words = np.ndarray((len(pool) - 7,), dtype="<u8", buffer=pool, strides=(1,))
    if len(chunks) and chunks.max() <= 1:
        keep = chunks == 1
        src, rest = starts[keep], lengths[keep]
    else:
        piece = np.repeat(np.arange(len(chunks)), chunks)
        offset = 8 * (np.arange(len(piece)) - np.repeat(np.cumsum(chunks) - chunks, chunks))
        src, rest = starts[piece] + offset, lengths[piece] - offset
    rows = words[src].view(np.uint8).reshape(-1, 8)
    return rows[np.arange(8) < rest[:, None]]
