"""Header-preserving wrapper that makes CRAM 3.1 (``samtools import``) byte-exact.

ANCHORS.md, "Header-preserving wrapper": ``samtools import`` keeps only the first word of
a FASTQ header, strips a trailing ``/1``/``/2`` and always writes a bare ``+`` line.  The
wrapper rewrites the FASTQ before import and undoes it after ``samtools fastq``/``view``:

* every space in a header becomes a byte that occurs in no header (``SEPARATORS``), so the
  whole header is the read name and goes through tok3;
* single files: the separator is also appended to every name (so a trailing ``/1`` is
  never taken for a mate flag) and decoding uses ``samtools view -O fastq``;
* pairs whose headers agree (``name-n``) or agree up to ``/1``/``/2`` (``name-N``): paired
  import, restored with ``fastq -n``/``-N``;
* pairs whose comments differ (Casava 1.8 ``1:N:0:BC``): the comment goes into a ``CO:Z``
  tag (``import -T CO``/``fastq -T CO``) so that mates keep equal names (``co-n``/``co-N``);
* anything else (first words differ, a name repeated on consecutive reads): two
  single-end CRAMs;
* ``+`` lines that repeat the header are regenerated; the final newline is recorded.

The side information (separator, mode, per-file layout) is a few bytes written to a file
that counts towards the archive size.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

from .codecs import CodecError

SEPARATORS = b"|~`!^}{][$%&*;=?'\""
MAX_QNAME = 254  # SAM QNAME limit
SIDE_VERSION = 1
PAIR_MODES = ("name-n", "name-N", "co-n", "co-N")
_MODE_CODES = {"single": 0, "name-n": 1, "name-N": 2, "co-n": 3, "co-N": 4, "two-singles": 5}
_PLUS_CODES = {"bare": 0, "repeat": 1, "mixed": 2}
Record = tuple[bytes, bytes, bytes, bytes]


@dataclass
class FileLayout:
    """Byte-level facts of one FASTQ file that samtools does not keep."""

    headers: list[bytes] = field(default_factory=list)  # without '@' and EOL
    plus_repeat: list[bool] = field(default_factory=list)
    final_newline: bool = True
    single_co: bool = False  # single-end CRAM with the comment in a CO tag
    plus_all: bool | None = None  # set when decoded: every '+' line bare/repeated

    @property
    def plus_mode(self) -> str:
        if not any(self.plus_repeat):
            return "bare"
        return "repeat" if all(self.plus_repeat) else "mixed"

    def repeats_plus(self, index: int) -> bool:
        """Whether read ``index``'s '+' line repeats its header."""
        if self.plus_all is not None:
            return self.plus_all
        if index >= len(self.plus_repeat):
            raise CodecError("samtools returned more reads than were stored")
        return self.plus_repeat[index]


@dataclass
class Side:
    """Everything the decoder needs besides the CRAM file(s)."""

    sep: bytes
    mode: str  # key of _MODE_CODES
    files: list[FileLayout]


def iter_records(fh: BinaryIO) -> Iterator[Record]:
    """4-line records; raise ``CodecError`` on truncation."""
    while True:
        header = fh.readline()
        if not header:
            return
        seq, plus, qual = fh.readline(), fh.readline(), fh.readline()
        if not qual:
            raise CodecError("truncated FASTQ record")
        yield header, seq, plus, qual


def scan_file(path: Path) -> FileLayout:
    """Headers and layout facts of one file; raise ``CodecError`` on what we cannot wrap."""
    layout = FileLayout()
    with open(path, "rb") as fh:
        for header, seq, plus, qual in iter_records(fh):
            if not qual.endswith(b"\n"):
                layout.final_newline = False
            if b"\r" in header or b"\r" in plus or b"\r" in qual or b"\r" in seq:
                raise CodecError("CRLF line endings are not supported by the CRAM wrapper")
            text = header.rstrip(b"\n")
            if not text.startswith(b"@") or not plus.startswith(b"+"):
                raise CodecError("not a 4-line FASTQ file")
            if b"\t" in text:
                raise CodecError("tab in a FASTQ header is not supported by the CRAM wrapper")
            name, extra = text[1:], plus.rstrip(b"\n")[1:]
            if extra and extra != name:
                raise CodecError("'+' line with text other than the header")
            layout.headers.append(name)
            layout.plus_repeat.append(bool(extra))
    return layout


def choose_separator(layouts: Sequence[FileLayout]) -> bytes:
    used: set[int] = set()
    for layout in layouts:
        for header in layout.headers:
            used.update(header)
    for byte in SEPARATORS:
        if byte not in used:
            return bytes([byte])
    raise CodecError("no separator byte is free in these headers")


def _word(header: bytes) -> bytes:
    return header.split(b" ", 1)[0]


def _comment_ok(header: bytes) -> bool:
    word, space, comment = header.partition(b" ")
    return not space or bool(comment)


def _no_repeats(keys: Sequence[bytes]) -> bool:
    return all(a != b for a, b in zip(keys, keys[1:]))


def _mates_ok(suffix: str, a: bytes, b: bytes) -> bool:
    if suffix == "n":
        return a == b and not a.endswith((b"/1", b"/2"))
    return a.endswith(b"/1") and b.endswith(b"/2") and a[:-2] == b[:-2]


def pair_mode(h1: Sequence[bytes], h2: Sequence[bytes]) -> str | None:
    """The first of ``PAIR_MODES`` under which samtools keeps every pair together."""
    if len(h1) != len(h2):
        return None
    for mode in PAIR_MODES:
        kind, suffix = mode.split("-")
        key = (lambda h: h) if kind == "name" else _word
        k1, k2 = [key(h) for h in h1], [key(h) for h in h2]
        if any(len(k) > MAX_QNAME for k in k1 + k2) or not _no_repeats(k1):
            continue
        if not all(_mates_ok(suffix, a, b) for a, b in zip(k1, k2)):
            continue
        if kind == "co" and not all(_comment_ok(h) for h in (*h1, *h2)):
            continue
        return mode
    return None


def set_single_mode(layout: FileLayout) -> None:
    """Name mode if every header fits a QNAME, else comment-in-CO mode (or fail)."""
    if all(len(h) + 1 <= MAX_QNAME for h in layout.headers):
        layout.single_co = False
        return
    words = [_word(h) for h in layout.headers]
    if (all(len(w) + 1 <= MAX_QNAME for w in words) and _no_repeats(words)
            and all(_comment_ok(h) for h in layout.headers)):
        layout.single_co = True
        return
    raise CodecError("read names longer than SAM's 254-byte limit")


def plan(inputs: Sequence[Path]) -> Side:
    """Scan the input file(s) and decide separator and mode."""
    layouts = [scan_file(p) for p in inputs]
    sep = choose_separator(layouts)
    if len(layouts) == 1:
        set_single_mode(layouts[0])
        return Side(sep, "single", layouts)
    mode = pair_mode(layouts[0].headers, layouts[1].headers)
    if mode is None:
        for layout in layouts:
            set_single_mode(layout)
        mode = "two-singles"
    return Side(sep, mode, layouts)


# --- transformed FASTQ written for `samtools import` -------------------------------------

def import_header(header: bytes, side: Side, single: bool, co: bool) -> bytes:
    """The header line ``samtools import`` sees for an original header (without '@')."""
    tail = side.sep if single else b""
    if not co:
        return b"@" + header.replace(b" ", side.sep) + tail + b"\n"
    word, space, comment = header.partition(b" ")
    tag = b"\tCO:Z:" + comment.replace(b" ", side.sep) if space else b""
    return b"@" + word + tail + tag + b"\n"


def write_import_fastq(src: Path, dst: Path, side: Side, single: bool, co: bool) -> None:
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        for header, seq, _plus, qual in iter_records(fin):
            name = header.rstrip(b"\n")[1:]
            fout.write(import_header(name, side, single, co))
            fout.write(seq)
            fout.write(b"+\n")
            fout.write(qual if qual.endswith(b"\n") else qual + b"\n")


# --- restoring the original bytes from samtools output -----------------------------------

def restore_header(line: bytes, side: Side, single: bool, co: bool) -> bytes:
    """Original header (without '@') from a samtools output header line (without '@')."""
    word, tab, comment = line.partition(b"\tCO:Z:") if co else (line, b"", b"")
    if single:
        if not word.endswith(side.sep):
            raise CodecError("restored read name lacks the wrapper's separator")
        word = word[: -len(side.sep)]
    header = word + (b" " + comment if tab else b"")
    return header.replace(side.sep, b" ")


def restore_fastq(src: Path, dst: Path, side: Side, layout: FileLayout, single: bool,
                  co: bool) -> None:
    """Rewrite samtools' FASTQ output ``src`` into the original bytes at ``dst``."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        last = b""
        for i, (header, seq, _plus, qual) in enumerate(iter_records(fin)):
            name = restore_header(header.rstrip(b"\n")[1:], side, single, co)
            plus = b"+" + name + b"\n" if layout.repeats_plus(i) else b"+\n"
            fout.write(last)
            fout.write(b"@" + name + b"\n" + seq + plus)
            last = qual
        if last and not layout.final_newline:
            last = last.rstrip(b"\n")
        fout.write(last)


# --- side information: a few bytes, counted in the archive size --------------------------

def _pack_bits(bits: Sequence[bool]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            out[i >> 3] |= 1 << (i & 7)
    return bytes(out)


def _unpack_bits(data: bytes, n: int) -> list[bool]:
    return [bool(data[i >> 3] >> (i & 7) & 1) for i in range(n)]


def encode_side(side: Side) -> bytes:
    """version, separator, mode, then per file: flags, u32 read count, [mixed '+' bitmap]."""
    out = bytearray([SIDE_VERSION, side.sep[0], _MODE_CODES[side.mode]])
    for layout in side.files:
        flags = int(layout.final_newline) | _PLUS_CODES[layout.plus_mode] << 1
        flags |= int(layout.single_co) << 3
        out.append(flags)
        if layout.plus_mode == "mixed":
            bitmap = zlib.compress(_pack_bits(layout.plus_repeat), 9)
            out += struct.pack("<II", len(layout.plus_repeat), len(bitmap)) + bitmap
    return bytes(out)


def decode_side(data: bytes, n_files: int) -> Side:
    """Inverse of ``encode_side``."""
    if not data or data[0] != SIDE_VERSION:
        raise CodecError("unknown CRAM wrapper side-information version")
    modes = {v: k for k, v in _MODE_CODES.items()}
    plus_modes = {v: k for k, v in _PLUS_CODES.items()}
    side = Side(bytes([data[1]]), modes[data[2]], [])
    pos = 3
    for _ in range(n_files):
        flags = data[pos]
        pos += 1
        layout = FileLayout(final_newline=bool(flags & 1), single_co=bool(flags >> 3 & 1))
        plus = plus_modes[flags >> 1 & 3]
        if plus == "mixed":
            n, size = struct.unpack_from("<II", data, pos)
            pos += 8
            layout.plus_repeat = _unpack_bits(zlib.decompress(data[pos:pos + size]), n)
            pos += size
        else:
            layout.plus_all = plus == "repeat"
        side.files.append(layout)
    return side

