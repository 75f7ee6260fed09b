"""Cut FASTQ inputs (opened by :mod:`.inputs`) into blocks.

Blocks always end on a record boundary (every fourth newline), so each block parses
on its own; for R1/R2 pairs the second file is cut at the same record counts as the first.
A single file is cut after an even number of records, so that the blocks of a file of
interleaved pairs hold whole pairs (:mod:`.interleave`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from ..errors import FastqFormatError, InputMismatchError
from .inputs import READ_SIZE, open_input, read_errors


def is_blank_tail(data: bytes) -> bool:
    """Whether ``data`` holds nothing but empty lines (LF or CRLF), or nothing at all."""
    return not data.replace(b"\r\n", b"\n").strip(b"\n")


class RecordChunker:
    """Yields byte chunks holding whole records from one stream."""

    def __init__(self, stream: BinaryIO, path: str) -> None:
        self.stream = stream
        self.path = path
        self.buffer = bytearray()
        self.eof = False
        self.records_read = 0
        self.bytes_read = 0
        self.blank_tail = b""   # empty lines after the last record, held back at end of input

    def _fill(self, want: int) -> None:
        while not self.eof and len(self.buffer) < want:
            try:
                chunk = self.stream.read(max(READ_SIZE, want - len(self.buffer)))
            except read_errors() as exc:
                raise FastqFormatError(f"cannot read input: {exc}", path=self.path) from exc
            if not chunk:
                self.eof = True
            else:
                self.buffer += chunk
                self.bytes_read += len(chunk)

    def _cut(self, data: bytes | bytearray, max_records: int | None, even: bool = False) -> int:
        """Byte length of the longest prefix of whole records (at most max_records; an even
        number of them if ``even``)."""
        nl = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
        n_rec = len(nl) // 4
        if max_records is not None:
            n_rec = min(n_rec, max_records)
        if even:
            n_rec -= n_rec % 2
        return int(nl[4 * n_rec - 1]) + 1 if n_rec else 0

    def _take(self, size: int) -> bytes:
        chunk = bytes(self.buffer[:size])
        del self.buffer[:size]
        return chunk

    def next_by_size(self, target_bytes: int, even: bool = False) -> tuple[bytes, int] | None:
        """About ``target_bytes`` of whole records (an even number of them if ``even``); the
        tail at end of input."""
        self._fill(target_bytes)
        while True:
            size = self._cut(self.buffer[:target_bytes] if len(self.buffer) >= target_bytes
                             else self.buffer, None, even)
            if size or self.eof:
                break
            target_bytes *= 2  # one record longer than the target (long reads)
            self._fill(target_bytes)
        return self._finish(size, None)

    def next_by_records(self, n_records: int) -> tuple[bytes, int] | None:
        """Exactly ``n_records`` records (fewer only at the end of input)."""
        want = max(READ_SIZE, len(self.buffer))
        while True:
            self._fill(want)
            size = self._cut(self.buffer, n_records)
            if self.eof or (size and self.buffer[:size].count(b"\n") // 4 == n_records):
                break
            want *= 2
        return self._finish(size, n_records)

    def _hold_blank_tail(self) -> None:
        """At end of input, move the empty lines that follow the last record to ``blank_tail``.

        Files do end in blank lines (a stray ``echo >>``), and gzip or zstd take
        them; the records before them are still modelled, and :func:`iter_chunks` yields the
        blank lines as a block of their own (stored verbatim). The split keeps whole 4-line
        records before it, so an empty last quality line is never taken for a blank line."""
        core = len(self.buffer.rstrip(b"\r\n"))
        if core == len(self.buffer) or (core == 0 and not self.records_read):
            return
        run = bytes(self.buffer[core:])
        keep: int | None = 0   # the run's bytes that still belong to the last record
        if core:   # else earlier chunks took every record (always whole 4-line ones)
            lines = self.buffer.count(b"\n", 0, core)
            ends = [i + 1 for i, byte in enumerate(run) if byte == 10]   # where each terminator ends
            keep = next((end for n, end in enumerate(ends, 1) if (lines + n) % 4 == 0), None)
        if keep is None or keep == len(run) or not is_blank_tail(run[keep:]):
            return
        self.blank_tail = run[keep:]
        del self.buffer[core + keep:]

    def _finish(self, size: int, n_records: int | None) -> tuple[bytes, int] | None:
        if self.eof and (n_records is None or self.buffer[:size].count(b"\n") // 4 < n_records):
            self._hold_blank_tail()
            size = len(self.buffer)  # the tail: may lack a final newline or be truncated
        if size == 0:
            return None
        chunk = self._take(size)
        n = chunk.count(b"\n") // 4 + (0 if chunk.endswith(b"\n") or not chunk else 1)
        first = self.records_read + 1
        self.records_read += n
        return chunk, first


def iter_chunks(paths: list[str], block_bytes: int) -> Iterator[tuple[list[bytes], list[int]]]:
    """Yield (chunks, first_record_numbers), one chunk per input, with equal record counts.

    ``block_bytes`` is the raw FASTQ of all inputs together (R1 is cut at its share),
    so a block of a pair needs no more memory than a single-file block."""
    chunkers = [RecordChunker(open_input(p), p) for p in paths]
    share = max(1, block_bytes // max(1, len(paths)))
    try:
        while True:
            first = chunkers[0].next_by_size(share, even=len(chunkers) == 1)
            if first is None:
                _check_exhausted(chunkers, paths)
                if any(c.blank_tail for c in chunkers):
                    yield [c.blank_tail for c in chunkers], [c.records_read + 1 for c in chunkers]
                return
            chunk, start = first
            n = chunkers[0].records_read - start + 1
            chunks, starts = [chunk], [start]
            for chunker, path in zip(chunkers[1:], paths[1:]):
                mate = chunker.next_by_records(n)
                got = 0 if mate is None else chunker.records_read - mate[1] + 1
                if mate is None or got != n:
                    raise InputMismatchError(
                        f"{path}: has {chunker.records_read} records where {paths[0]} has at least "
                        f"{chunkers[0].records_read}: R1/R2 files must have the same number of records")
                chunks.append(mate[0])
                starts.append(mate[1])
            yield chunks, starts
    finally:
        for c in chunkers:
            c.stream.close()


def _check_exhausted(chunkers: list[RecordChunker], paths: list[str]) -> None:
    for chunker, path in zip(chunkers[1:], paths[1:]):
        if chunker.next_by_size(1) is not None:
            raise InputMismatchError(
                f"{path}: has more records than {paths[0]} ({chunkers[0].records_read}): "
                "R1/R2 files must have the same number of records")
