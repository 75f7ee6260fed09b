"""One block of FASTQ records as flat arrays, parsed and written byte-exactly.

dnaio and Biopython drop the facts a lossless codec needs (CRLF, what the '+'
line holds, a missing final newline), so the parser records them as data:
``eol`` for the whole block, ``plus_kind`` per record (empty / repeats the
name / other text kept in ``plus_other``), and ``final_newline``. A block whose
line endings are mixed cannot be described this way; the parser reports it as
``None`` and the pipeline stores that block verbatim (the escape path).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ..errors import FastqFormatError

PLUS_EMPTY, PLUS_NAME, PLUS_OTHER = 0, 1, 2
EOL_LF, EOL_CRLF = 0, 1
QUAL_MIN, QUAL_MAX = 33, 126


@dataclass
class FastqBlock:
    """Records of one block: names, sequences and qualities as flat blobs."""

    names: list[bytes]
    seq: bytes                  # all sequences concatenated
    qual: bytes                 # all quality strings concatenated
    lengths: np.ndarray         # int64, one per record
    plus_kind: np.ndarray       # uint8, PLUS_* per record
    plus_other: list[bytes] = field(default_factory=list)  # for PLUS_OTHER records, in order
    eol: int = EOL_LF
    final_newline: bool = True

    @property
    def n_records(self) -> int:
        return len(self.names)


def _lines_of(data: bytes) -> tuple[list[bytes], bool]:
    """Lines without terminators, and whether the data ended with a newline.

    One ambiguity: ``...\n+\n`` after an empty sequence is a record whose empty
    quality line has no terminator (otherwise it would be a truncated file).
    """
    final_newline = data.endswith(b"\n")
    lines = data.split(b"\n")
    if final_newline:
        lines.pop()
        if len(lines) % 4 == 3 and lines[-2] in (b"", b"\r"):
            lines.append(b"")
            final_newline = False
    return lines, final_newline


def _detect_eol(lines: list[bytes], final_newline: bool) -> int | None:
    """LF or CRLF for the whole block; ``None`` if mixed.

    Without a final newline the last line has no terminator at all, so it must
    not end in '\r' in either mode (that byte could not be told apart).
    """
    last_cr = lines[-1].endswith(b"\r")
    if not final_newline and last_cr:
        return None
    terminated = lines if final_newline else lines[:-1]
    n_cr = sum(1 for line in terminated if line.endswith(b"\r"))
    if n_cr == 0 and not last_cr:
        return EOL_LF
    if n_cr == len(terminated):
        return EOL_CRLF
    return None


def _first_bad(lines: list[bytes], offset: int, marker: bytes) -> int | None:
    for i, line in enumerate(lines[offset::4]):
        if line[:1] != marker:
            return i
    return None


_SEQUENCE_BYTES = frozenset(b"ACGTUNRYKMSWBDHV.-*acgtunrykmswbdhv\r")


def _looks_like_sequence(line: bytes) -> bool:
    """Whether ``line`` could be the continuation of a wrapped sequence (multi-line FASTQ,
    which the old Sanger format allowed and a few tools still write)."""
    return bool(line) and set(line) <= _SEQUENCE_BYTES


def _quality_wraps(lines: list[bytes], at: int, seq_len: int) -> bool:
    """Whether the quality line ``lines[at]`` and the lines after it add up to exactly
    ``seq_len`` printable bytes: a quality string wrapped over several lines. (A wrapped
    quality line may start with '@' or '+', so :func:`_check_structure` can pass over it.)"""
    total = 0
    for n, line in enumerate(itertools.islice(lines, at, None), 1):
        if not line or min(line) < QUAL_MIN or max(line) > QUAL_MAX:
            return False
        total += len(line)
        if total >= seq_len:
            return total == seq_len and n > 1
    return False


def _check_structure(lines: list[bytes], first_record: int) -> None:
    """Report the earliest of: a header without '@', a bad '+' line, truncation."""
    bad_header = _first_bad(lines, 0, b"@")
    bad_plus = _first_bad(lines, 2, b"+")
    if bad_header is not None and (bad_plus is None or bad_header <= bad_plus):
        rec = first_record + bad_header
        line = lines[4 * bad_header]
        what = "empty line" if not line else f"header does not start with '@' (starts with {line[:1]!r})"
        raise FastqFormatError(f"{what}", record=rec, line=4 * (rec - 1) + 1)
    if bad_plus is not None:
        rec = first_record + bad_plus
        what = "third line of record does not start with '+'"
        if _looks_like_sequence(lines[4 * bad_plus + 2]):
            what += " (a sequence wrapped over several lines? seqlm reads 4-line records only)"
        raise FastqFormatError(what, record=rec, line=4 * (rec - 1) + 3)
    if len(lines) % 4:
        rec = first_record + len(lines) // 4
        raise FastqFormatError("truncated record (file ends inside a record)", record=rec,
                               line=4 * (rec - 1) + len(lines) % 4 + 1)


def _check_bytes(blob: bytes, lengths: np.ndarray, first_record: int, what: str, line_no: int) -> None:
    arr = np.frombuffer(blob, dtype=np.uint8)
    bad = np.flatnonzero((arr < QUAL_MIN) | (arr > QUAL_MAX))
    if len(bad):
        rec_idx = int(np.searchsorted(np.cumsum(lengths), bad[0], side="right"))
        rec = first_record + rec_idx
        raise FastqFormatError(f"{what} character {arr[bad[0]]:#04x} outside the printable range 33-126",
                               record=rec, line=4 * (rec - 1) + line_no)


def parse_block(data: bytes, first_record: int = 1) -> FastqBlock | None:
    """Parse whole records; ``None`` means valid but not representable (mixed EOLs).

    Raises :class:`FastqFormatError` with the 1-based record and line number of
    the first problem. ``first_record`` is the number of the block's first record
    in its file, so messages name the record in the file, not in the block.
    """
    if not data:
        return FastqBlock([], b"", b"", np.zeros(0, np.int64), np.zeros(0, np.uint8))
    lines, final_newline = _lines_of(data)
    eol = _detect_eol(lines, final_newline)
    if eol is None:
        _check_structure(lines, first_record)
        return None
    if eol == EOL_CRLF:
        last = lines[-1] if final_newline else lines[-1] + b"\r"
        lines = [line[:-1] for line in lines[:-1]] + [last[:-1]]
    _check_structure(lines, first_record)
    seqs, quals = lines[1::4], lines[3::4]
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    qlens = np.fromiter(map(len, quals), dtype=np.int64, count=len(quals))
    mismatch = np.flatnonzero(lengths != qlens)
    if len(mismatch):
        i = int(mismatch[0])
        rec = first_record + i
        what = f"sequence length {lengths[i]} differs from quality length {qlens[i]}"
        if _quality_wraps(lines, 4 * i + 3, int(lengths[i])):
            what += " (qualities wrapped over several lines? seqlm reads 4-line records only)"
        raise FastqFormatError(what, record=rec, line=4 * (rec - 1) + 4)
    seq, qual = b"".join(seqs), b"".join(quals)
    _check_bytes(seq, lengths, first_record, "sequence", 2)
    _check_bytes(qual, lengths, first_record, "quality", 4)
    names = [line[1:] for line in lines[0::4]]
    plus_kind, plus_other = _classify_plus(names, lines[2::4])
    return FastqBlock(names, seq, qual, lengths, plus_kind, plus_other, eol, final_newline)


def _classify_plus(names: list[bytes], plus_lines: list[bytes]) -> tuple[np.ndarray, list[bytes]]:
    kinds = np.empty(len(names), dtype=np.uint8)
    other: list[bytes] = []
    for i, (name, plus) in enumerate(zip(names, plus_lines)):
        rest = plus[1:]
        if not rest:
            kinds[i] = PLUS_EMPTY
        elif rest == name:
            kinds[i] = PLUS_NAME
        else:
            kinds[i] = PLUS_OTHER
            other.append(rest)
    return kinds, other


def split_by_lengths(blob: bytes, lengths: np.ndarray) -> list[bytes]:
    """Cut a concatenated blob back into per-record pieces."""
    ends = np.cumsum(lengths).tolist()
    starts = [0] + ends[:-1]
    return [blob[s:e] for s, e in zip(starts, ends)]


def write_block(block: FastqBlock) -> bytes:
    """Exact inverse of :func:`parse_block` for representable blocks."""
    if block.n_records == 0:
        return b""
    eol = b"\r\n" if block.eol == EOL_CRLF else b"\n"
    seqs = split_by_lengths(block.seq, block.lengths)
    quals = split_by_lengths(block.qual, block.lengths)
    other = iter(block.plus_other)
    parts: list[bytes] = []
    for name, seq, qual, kind in zip(block.names, seqs, quals, block.plus_kind.tolist()):
        plus = b"" if kind == PLUS_EMPTY else name if kind == PLUS_NAME else next(other)
        parts.append(b"@" + name + eol + seq + eol + b"+" + plus + eol + qual)
    out = eol.join(parts)
    return out + eol if block.final_newline else out
