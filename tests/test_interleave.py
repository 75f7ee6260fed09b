"""Interleaved pairs in one file: recognised by name, coded as a pair (block mode 2), put back in turn."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec import CodecConfig, compress, decompress
from codec.errors import ChecksumError, FastqFormatError, FormatError
from codec.fastq import interleave
from codec.fastq.reader import iter_chunks
from codec.inspect import archive_info
from codec.pipeline import MODE_INTERLEAVED, MODE_MODELLED, compress_block, decompress_block

from .conftest import DATA
from .test_roundtrip import fastq_files

CASES_RUN = {"n": 0}


def _interleaved(r1: bytes, r2: bytes) -> bytes:
    """The records of ``r1`` and ``r2`` in turn (both end with a newline)."""
    ones, twos = (interleave._records(data) for data in (r1, r2))
    return b"".join(rec for pair in zip(ones, twos) for rec in pair)


def _pair(name: str) -> tuple[bytes, bytes]:
    return (DATA / f"{name}_R1.fastq").read_bytes(), (DATA / f"{name}_R2.fastq").read_bytes()


@pytest.mark.parametrize("first, second, mates", [
    (b"A00111:471:HNLTVDMXX:2:2280:2980:35149 1:N:0:CGAT", b"A00111:471:HNLTVDMXX:2:2280:2980:35149 2:N:0:CGAT", True),
    (b"ERR127302.84 HWI-EAS350_0441:1:34:16191:2123#0/1", b"ERR127302.84 HWI-EAS350_0441:1:34:16191:2123#0/2", True),
    (b"V300012345L2C004R0010000103/1", b"V300012345L2C004R0010000103/2", True),
    (b"SRR1.7 7 length=100", b"SRR1.7 7 length=100", True),
    (b"V300012345L2C004R0010000103/2", b"V300012345L2C004R0010000103/1", False),   # read 2 first
    (b"V300012345L2C004R0010000103/1", b"V300012345L2C004R0010000104/2", False),
    (b"read7", b"read8", False),
    (b"", b"", False),
    (b" x", b" x", False),
])
def test_mates_by_name(first, second, mates):
    assert interleave.are_mates(first, second) is mates


def _records_named(*names: bytes) -> bytes:
    return b"".join(b"@%s\nACGT\n+\nIIII\n" % name for name in names)


def test_split_pairs_needs_whole_pairs():
    assert interleave.split_pairs(_records_named(b"a/1", b"a/2", b"b 1", b"b 2")) == (
        _records_named(b"a/1", b"b 1"), _records_named(b"a/2", b"b 2"))
    assert interleave.split_pairs(_records_named(b"a/1", b"a/2", b"b/1")) is None     # odd count
    assert interleave.split_pairs(_records_named(b"a/1", b"a/2", b"b/1", b"c/2")) is None
    assert interleave.split_pairs(_records_named(b"", b"")) is None
    assert interleave.split_pairs(_records_named(b"a")) is None
    assert interleave.split_pairs(b"") is None


mate_names = st.tuples(st.sampled_from([b"a", b"b.7", b"V3L2C004R01"]), st.sampled_from([(b"", b""), (b"/1", b"/2")]),
                       st.sampled_from([b"", b" 1:N:0", b"\tx"]))
bodies = st.binary(max_size=5).filter(lambda b: b"\n" not in b)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(mate_names, bodies, bodies), max_size=6), st.sampled_from([b"\n", b"\r\n"]),
       st.booleans())
def test_split_then_merge_gives_the_bytes_back(pairs, eol, final_newline):
    recs = []
    for (word, (one, two), rest), body1, body2 in pairs:
        recs += [b"@" + word + one + rest + eol + body1 + eol + b"+" + eol + body1,
                 b"@" + word + two + rest + eol + body2 + eol + b"+" + eol + body2]
    data = eol.join(recs) + (eol if recs and final_newline else b"")
    halves = interleave.split_pairs(data)
    if not pairs:
        assert halves is None
        return
    assert halves is not None
    assert halves[0].count(b"\n") == halves[1].count(b"\n") + (0 if final_newline else 1)
    assert interleave.merge(*halves) == data


def test_merge_refuses_unequal_halves():
    with pytest.raises(FormatError, match="2 read 1s but 1 read 2s"):
        interleave.merge(b"@a\nA\n+\nI\n@b\nA\n+\nI\n", b"@a\nA\n+\nI\n")


@pytest.mark.parametrize("name", ["novaseq_trimmed_pair_100", "mgi_pair_100", "gaiix_pair_100"])
def test_interleaved_block_is_the_pair_block(name):
    """An interleaved file's block holds exactly the streams of its R1/R2 pair's block: only
    the mode byte differs, so it costs what the pair costs."""
    r1, r2 = _pair(name)
    single = compress_block([_interleaved(r1, r2)], [1], 5)
    pair = compress_block([r1, r2], [1, 1], 5)
    mode_at = struct.calcsize("<IB")
    assert single.body[mode_at] == MODE_INTERLEAVED and pair.body[mode_at] == MODE_MODELLED
    assert single.body[:mode_at] + single.body[mode_at + 1:] == pair.body[:mode_at] + pair.body[mode_at + 1:]
    assert (single.n_records, pair.n_records) == (200, 100)
    raw, n_records = decompress_block(single.body, 0)
    assert raw == [_interleaved(r1, r2)] and n_records == 200


def _as_crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


@pytest.mark.parametrize("variant", ["plain", "crlf", "no_final_newline", "crlf_no_final_newline"])
def test_interleaved_variants_round_trip(variant, tmp_path):
    data = _interleaved(*_pair("mgi_pair_100"))
    if "crlf" in variant:
        data = _as_crlf(data)
    if "no_final_newline" in variant:
        data = data.rstrip(b"\r\n")
    archive = compress(data)
    assert decompress(archive) == data
    path = tmp_path / "a.seqlm"
    path.write_bytes(archive)
    assert archive_info(str(path))["interleaved_blocks"] == 1


@pytest.mark.parametrize("change", ["odd_count", "stranger_inside"])
def test_records_that_do_not_pair_are_coded_as_one_file(change, tmp_path):
    data = _interleaved(*_pair("mgi_pair_100"))
    recs = interleave._records(data)
    if change == "odd_count":
        recs = recs[:-1]
    else:
        recs[101] = recs[101].replace(b"/2", b"/3", 1)
    data = b"".join(recs)
    archive = compress(data)
    assert decompress(archive) == data
    path = tmp_path / "a.seqlm"
    path.write_bytes(archive)
    assert archive_info(str(path))["interleaved_blocks"] == 0


@pytest.mark.parametrize("record", [1, 150, 200])
def test_errors_in_interleaved_files_name_the_record_in_the_file(record):
    """A malformed record of an interleaved file is reported as in any file: by its number in
    the file, not in a half."""
    recs = interleave._records(_interleaved(*_pair("mgi_pair_100")))
    head, seq, plus, qual = recs[record - 1].split(b"\n")[:4]
    recs[record - 1] = b"\n".join([head, seq, plus, qual[:-1], b""])   # quality one short
    with pytest.raises(FastqFormatError) as caught:
        compress(b"".join(recs))
    assert (caught.value.record, caught.value.line) == (record, 4 * record)
    assert "differs from quality length" in caught.value.message


def test_single_files_are_cut_after_whole_pairs(tmp_path):
    data = _interleaved(*_pair("gaiix_pair_100"))
    path = tmp_path / "i.fastq"
    path.write_bytes(data + b"@lone\nACGT\n+\nIIII\n")   # 201 records
    counts = [chunks[0].count(b"\n") // 4 for chunks, _ in iter_chunks([str(path)], 3000)]
    assert len(counts) > 5 and sum(counts) == 201
    assert all(n % 2 == 0 for n in counts[:-1]) and counts[-1] % 2 == 1
    archive = compress(path.read_bytes(), CodecConfig(block_bytes=3000))
    assert decompress(archive) == path.read_bytes()
    out = tmp_path / "i.seqlm"
    out.write_bytes(archive)
    assert archive_info(str(out))["interleaved_blocks"] == len(counts) - 1


def test_damaged_interleaved_block_is_reported():
    r1, r2 = _pair("mgi_pair_100")
    body = bytearray(compress_block([_interleaved(r1, r2)], [1], 1).body)
    one_file = bytearray(body)
    one_file[4] = 1   # n_files 1 with mode 2
    with pytest.raises(FormatError, match="bad block header"):
        decompress_block(bytes(one_file), 0)
    crc_at = struct.calcsize("<IBB") + 8   # read 1s' crc32
    body[crc_at] ^= 1
    with pytest.raises(ChecksumError, match="read 1s of the interleaved pairs"):
        decompress_block(bytes(body), 0)


# names drawn so that records often, but not always, pair up
pair_names = st.sampled_from([b"r", b"r/1", b"r/2", b"s 1:N", b"s 2:N", b"t"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fastq_files(pair_names, 24), st.sampled_from([1, 5]), st.sampled_from([1024, 1 << 20]))
def test_generated_maybe_interleaved_round_trips(data, level, block_bytes):
    CASES_RUN["n"] += 1
    assert decompress(compress(data, CodecConfig(level=level, block_bytes=block_bytes))) == data


def test_generated_cases_ran():
    assert CASES_RUN["n"] >= 50, "the property test ran too few cases"


def test_cli_info_names_interleaved_blocks(tmp_path, cli):
    src = tmp_path / "i.fastq"
    src.write_bytes(_interleaved(*_pair("novaseq_trimmed_pair_100")))
    assert cli("compress", str(src), "-o", str(tmp_path / "i.seqlm"))[0] == 0
    code, out, _ = cli("info", str(tmp_path / "i.seqlm"))
    assert code == 0 and b"200 reads" in out and b"1 of interleaved pairs" in out


def test_interleave_ends_a_last_read_1_without_its_line_end():
    assert interleave.interleave(b"@a\nAC\n+\nII", b"@a\nGT\n+\nJJ") == b"@a\nAC\n+\nII\n@a\nGT\n+\nJJ"
    assert interleave.interleave(b"", b"") == b""


def test_cli_writes_a_paired_archive_to_stdout_interleaved(tmp_path, cli):
    r1, r2 = _pair("gaiix_pair_100")
    r1 = r1[:-1]   # the R1 file lacks its final newline: its last record still gets one
    archive = tmp_path / "pair.seqlm"
    archive.write_bytes(compress(r1, CodecConfig(block_bytes=3000), mate=r2))   # several blocks
    expected = _interleaved(r1 + b"\n", r2)
    code, out, _ = cli("decompress", archive, "-c")
    assert code == 0 and out == expected
    code, out, _ = cli("decompress", "-", input=archive.read_bytes())
    assert code == 0 and out == expected
    # compressed again, the stream is recognised as the pairs it is
    (tmp_path / "i.fastq").write_bytes(expected)
    assert cli("compress", tmp_path / "i.fastq", "--block-size", 1)[0] == 0
    assert archive_info(str(tmp_path / "i.fastq.seqlm"))["interleaved_blocks"] == 1


def test_cli_paired_archive_from_stdin_to_two_files(tmp_path, cli):
    r1, r2 = _pair("mgi_pair_100")
    data = compress(r1, mate=r2)
    a, b = tmp_path / "a.fq", tmp_path / "b.fq"
    assert cli("decompress", "-", "-o", a, "-o", b, input=data)[0] == 0
    assert a.read_bytes() == r1 and b.read_bytes() == r2
    # one -o: one line, exit 1, nothing left behind, whether the archive is a file or stdin
    (tmp_path / "pair.seqlm").write_bytes(data)
    for source, stdin in (("-", data), (tmp_path / "pair.seqlm", None)):
        code, _, err = cli("decompress", source, "-o", tmp_path / "one.fq", input=stdin)
        assert code == 1 and err.count(b"\n") == 1 and b"2 file(s)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fq", "b.fq", "pair.seqlm"]
