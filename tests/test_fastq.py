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
