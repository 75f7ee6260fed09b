"""The LAYOUT stream: line endings, '+' lines and the final newline of each file.

These are the byte-level facts a parser usually throws away. For each input
file of the block: ``u8 eol, u8 final_newline``, the per-record '+' kinds
(one byte each unless all equal), and the other '+' texts, newline-separated.
The whole stream is packed with :func:`codec.streams.general.pack_best`.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..fastq.records import PLUS_OTHER, FastqBlock
from ..varint import Reader, blob, encode_uvarint
from .general import pack_best, unpack


def encode_layout(blocks: list[FastqBlock]) -> bytes:
    out = bytearray()
    for block in blocks:
        out += bytes([block.eol, int(block.final_newline)])
        kinds = block.plus_kind
        if len(kinds) and (kinds == kinds[0]).all():
            out += b"\x01" + bytes([int(kinds[0])])
        else:
            out += b"\x00" + kinds.tobytes()
        out += encode_uvarint(len(block.plus_other))
        out += blob(b"\n".join(block.plus_other))
    return pack_best(bytes(out))


def decode_layout(payload: bytes, n_files: int, n_records: int) -> list[tuple[int, bool, np.ndarray, list[bytes]]]:
    """Per file: (eol, final_newline, plus_kind, plus_other)."""
    r = Reader(unpack(payload, limit=64 * n_records + (1 << 30)))
    files = []
    for _ in range(n_files):
        eol, final = r.take(2)
        if eol > 1 or final > 1:
            raise FormatError("bad layout flags")
        if r.u8():
            kinds = np.full(n_records, r.u8(), dtype=np.uint8)
        else:
            kinds = np.frombuffer(r.take(n_records), dtype=np.uint8).copy()
        if kinds.size and kinds.max() > PLUS_OTHER:
            raise FormatError("bad '+' line kind")
        n_other = r.uvarint(limit=n_records)
        text = r.blob()
        other = text.split(b"\n") if n_other else []
        if len(other) != n_other or n_other != int((kinds == PLUS_OTHER).sum()):
            raise FormatError("'+' line texts do not match their count")
        files.append((eol, bool(final), kinds, other))
    return files
