"""Parser and writer: byte-exact round trips and precise error messages."""

from __future__ import annotations

import numpy as np
import pytest

from codec.errors import FastqFormatError
from codec.fastq.records import EOL_CRLF, PLUS_NAME, PLUS_OTHER, parse_block, write_block

from .conftest import DATA, good_fastqs


@pytest.mark.parametrize("path", good_fastqs(), ids=lambda p: p.name)
def test_parse_write_is_exact_or_verbatim(path):
    data = path.read_bytes()
    block = parse_block(data)
    if path.name == "mixed_eol.fastq":
        assert block is None  # the pipeline stores this one verbatim
    else:
        assert block is not None and write_block(block) == data


def test_layout_facts_are_recorded():
    block = parse_block((DATA / "plus_repeats.fastq").read_bytes())
    assert block.plus_kind.tolist() == [PLUS_NAME, 0, PLUS_OTHER]
    assert block.plus_other == [b"something else"]
    crlf = parse_block((DATA / "crlf_no_final_newline.fastq").read_bytes())
    assert crlf.eol == EOL_CRLF and not crlf.final_newline
    assert crlf.lengths.tolist() == [4, 2]


@pytest.mark.parametrize("name, record, line, words", [
    ("bad_length_mismatch.fastq", 2, 8, "differs from quality length"),
    ("bad_truncated.fastq", 2, 7, "truncated"),
    ("bad_no_at.fastq", 2, 5, "'@'"),
    ("bad_qual_range.fastq", 1, 4, "quality character 0x20"),
])
def test_errors_name_record_and_line(name, record, line, words):
    with pytest.raises(FastqFormatError) as info:
        parse_block((DATA / name).read_bytes())
    err = info.value
    assert (err.record, err.line) == (record, line)
    assert words in str(err)


@pytest.mark.parametrize("wrapped, where, hint, plain", [
    # the sequence wraps: its second line stands where the '+' line should; a plain bad '+'
    # line gets no such guess
    (b"@a\nACGTACGT\nACGT\n+\nIIIIIIII\nIIII\n", (1, 3), "wrapped over several lines",
     b"@a\nACGT\n=\nIIII\n"),
    # only the qualities wrap (as in Biopython's wrapping_original_sanger.fastq), over four
    # more lines that start with '@' and '+' where headers and '+' lines would: the record
    # checks pass, and the lengths tell; a short quality line gets no such guess
    (b"@a\nACGTACGTACGTACGTACGT\n+\nIIII\n@III\nIIII\n+III\nIIII\n@b\nACGT\n+\nIIII\n", (1, 4),
     "qualities wrapped over several lines", b"@a\nACGTACGT\n+\nIIII\n@b\nACGT\n+\nIIII\n"),
], ids=["sequence", "qualities"])
def test_wrapped_records_are_refused_with_a_hint(wrapped, where, hint, plain):
    with pytest.raises(FastqFormatError) as info:
        parse_block(wrapped)
    assert (info.value.record, info.value.line) == where
    assert hint in str(info.value)
    with pytest.raises(FastqFormatError) as info:
        parse_block(plain)
    assert "wrapped" not in str(info.value)


@pytest.mark.parametrize("cut", range(1, 16))
def test_every_truncation_is_an_error_or_valid(cut):
    data = (DATA / "simple.fastq").read_bytes()[:-cut]
    try:
        block = parse_block(data)
    except FastqFormatError as err:
        assert err.record in (1, 2)
    else:  # cutting only the final newline leaves a valid file
        assert block is not None and write_block(block) == data


def test_first_record_offsets_messages():
    with pytest.raises(FastqFormatError) as info:
        parse_block(b"@a\nAC\n+\nI\n", first_record=101)
    assert info.value.record == 101 and info.value.line == 404


def test_lengths_are_int64():
    block = parse_block((DATA / "var_length.fastq").read_bytes())
    assert block.lengths.dtype == np.int64 and block.lengths[0] == 0


def test_block_size_counts_both_files_of_a_pair(tmp_path):
    """A pair's block holds block_bytes of FASTQ in all (so its memory is a single file's)."""
    from codec.api import plan_threads
    from codec.fastq.reader import iter_chunks

    rec = b"@r\n" + b"ACGT" * 25 + b"\n+\n" + b"I" * 100 + b"\n"    # 210 bytes
    r1, r2 = tmp_path / "a_R1.fq", tmp_path / "a_R2.fq"
    r1.write_bytes(rec * 100)
    r2.write_bytes(rec * 100)
    single = list(iter_chunks([str(r1)], 4200))
    pair = list(iter_chunks([str(r1), str(r2)], 4200))
    assert all(len(c[0]) <= 4200 for c in single) and len(single) == 5
    assert all(sum(map(len, c)) <= 4200 for c in pair) and len(pair) == 10
    assert b"".join(c[1] for c, _ in pair) == r2.read_bytes()
    assert plan_threads(0, True)[0] == 1 and plan_threads(0, False)[0] == 1   # auto: one block in memory
    assert plan_threads(3, True) == (1, 3) and plan_threads(3, False) == (3, 1)


@pytest.mark.parametrize("block_bytes", [64, 1 << 20])
def test_blank_lines_ending_a_file_form_a_block_of_their_own(tmp_path, block_bytes):
    """The records are cut as usual and the empty lines after them come last, alone (so the
    pipeline stores them verbatim and still models the records); an empty last quality line
    stays with its record; anything but empty lines after the records is still an error."""
    from codec.fastq.reader import iter_chunks

    records = b"@a\nACGT\n+\nIIII\n@b\n\n+\n\n"
    r1, r2 = tmp_path / "r1.fq", tmp_path / "r2.fq"
    r1.write_bytes(records + b"\n\r\n\n")
    r2.write_bytes(records)
    blocks = list(iter_chunks([str(r1), str(r2)], block_bytes))
    assert blocks[-1] == ([b"\n\r\n\n", b""], [3, 3])
    assert [b"".join(c[i] for c, _ in blocks) for i in (0, 1)] == [r1.read_bytes(), r2.read_bytes()]
    assert all(parse_block(c[0], s[0]).n_records for c, s in blocks[:-1])
    r1.write_bytes(records + b"\n \n")
    with pytest.raises(FastqFormatError, match="empty line"):
        for chunks, starts in iter_chunks([str(r1)], block_bytes):
            parse_block(chunks[0], starts[0])
