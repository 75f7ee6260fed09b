"""The LENGTHS stream: every mode round-trips, the encoder keeps the smaller of modes 1 and 2,
and damaged mode-2 payloads are refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codec.errors import FormatError
from codec.fastq.records import parse_block
from codec.streams import lengths
from codec.streams.general import pack_best
from codec.streams.ids import CodecId
from codec.streams.order0 import Order0Table
from codec.varint import blob, encode_uvarint, encode_uvarints

from .conftest import DATA

TRIMMED_PAIR = ("novaseq_trimmed_pair_100_R1.fastq", "novaseq_trimmed_pair_100_R2.fastq")


def _round_trip(lens: np.ndarray, files: int = 1) -> tuple[bytes, CodecId]:
    payload, codec = lengths.encode_lengths(lens, files)
    assert lengths.decode_lengths(payload, len(lens), files).tolist() == lens.tolist()
    return payload, codec


def _pair_lengths() -> np.ndarray:
    return np.concatenate([parse_block((DATA / name).read_bytes()).lengths for name in TRIMMED_PAIR])


def test_constant_and_short_lists():
    assert _round_trip(np.full(9, 150)) == (b"\x00" + bytes([150, 1]), CodecId.VARINT_LZMA)
    _round_trip(np.array([5, 0, 300, 7], dtype=np.int64))
    _round_trip(np.zeros(0, dtype=np.int64))


def test_trimmed_pair_takes_the_gap_tables_and_beats_varints():
    """Trimmed NovaSeq pairs: mode 2, and smaller than the varints under lzma it replaces."""
    lens = _pair_lengths()
    payload, codec = _round_trip(lens, 2)
    varints = 1 + len(pack_best(encode_uvarints(lens)))
    assert codec == CodecId.LEN_ORDER0 and len(payload) < 0.8 * varints
    alone, mates = lengths._encode_gaps(lens, 1), lengths._encode_gaps(lens, 2)
    assert (alone[0], mates[0]) == (2, 3) and payload == min(alone, mates, key=len)
    # 100 pairs: mode 3's six tables cost more than they save; 2000 drawn from them, they pay
    assert len(alone) < len(mates)
    pick = np.random.default_rng(5).integers(0, 100, 2000)
    assert _round_trip(np.concatenate([lens[:100][pick], lens[100:][pick]]), 2)[0][0] == 3


def test_long_reads_keep_varints():
    """Lengths that share nothing (long reads) stay with mode 1: mode 2 would only add escapes."""
    lens = np.random.default_rng(3).integers(1_000, 400_000, 300)
    payload, codec = _round_trip(lens)
    assert codec == CodecId.VARINT_LZMA and payload[0] == 1


def test_escapes_in_both_files():
    """Gaps and mate differences of 255 or more go through the escape list, in read order."""
    r1 = np.array([150, 149, 10, 150, 1 << 33, 0, 150, 148] * 40, dtype=np.int64)
    r2 = np.array([150, 150, 9, 1, 150, 0, 400, 149] * 40, dtype=np.int64)
    lens = np.concatenate([r1, r2])
    _round_trip(lens, 2)
    for files in (1, 2):
        payload = lengths._encode_gaps(lens, files)
        assert lengths.decode_lengths(payload, len(lens), 2).tolist() == lens.tolist()


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3).flatmap(lambda files: st.tuples(
    st.just(files),
    st.lists(st.one_of(st.integers(0, 3), st.integers(140, 151), st.integers(0, 1 << 34)),
             min_size=files, max_size=60 * files).map(lambda v: v[:len(v) - len(v) % files]))))
def test_any_lengths_round_trip(case):
    files, values = case
    lens = np.array(values, dtype=np.int64)
    _round_trip(lens, files)
    for coded_as in {1, files}:   # modes 2 and 3 themselves, even where another is kept
        gaps = lengths._encode_gaps(lens, coded_as)
        assert lengths.decode_lengths(gaps, len(lens), files).tolist() == lens.tolist()


def test_damaged_gap_payloads_are_refused():
    """Cut anywhere, a mode-2 payload gives a FormatError or other lengths, never a crash."""
    lens = _pair_lengths()
    payload = lengths._encode_gaps(lens, 2)
    for cut in range(1, len(payload)):
        try:
            lengths.decode_lengths(payload[:cut], len(lens), 2)
        except FormatError:
            pass
    with pytest.raises(FormatError, match="split"):
        lengths.decode_lengths(payload, len(lens) - 1, 2)
    with pytest.raises(FormatError, match="unknown lengths mode"):
        lengths.decode_lengths(b"\x04" + payload[1:], len(lens), 2)
    with pytest.raises(FormatError, match="one file"):
        lengths.decode_lengths(payload, len(lens), 1)


def test_mate_contexts_must_match_the_reads():
    """The mask of mate tables is checked against the contexts file 0's reads give."""
    lens = np.concatenate([np.full(50, 150), np.full(50, 149), np.full(50, 150), np.full(50, 148)])
    payload = lengths._encode_gaps(lens, 2)
    table0 = Order0Table.of(np.repeat(np.uint8([0, 1]), 50))
    head = b"\x03" + encode_uvarint(150) + blob(pack_best(b"")) + table0.header()
    assert payload.startswith(head) and payload[len(head)] == 0b11   # mates of gaps 0 and 1
    for mask in (0b01, 0b111, 0b100011):
        damaged = head + bytes([mask]) + payload[len(head) + 1:]
        with pytest.raises(FormatError):
            lengths.decode_lengths(damaged, 200, 2)
