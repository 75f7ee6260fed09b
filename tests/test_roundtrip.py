"""Byte-exact round trips: hand-made edge cases, generated FASTQ, real data slices."""

from __future__ import annotations

import gzip
import io
import itertools
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec import CodecConfig, compress, decompress, forked
from codec.api import decompress_stream

from .conftest import good_fastqs, shared_fastqs, shared_pairs

CASES_RUN = {"n": 0}


@pytest.mark.parametrize("level", [1, 5])
@pytest.mark.parametrize("path", good_fastqs(), ids=lambda p: p.name)
def test_handmade_files(path, level):
    data = path.read_bytes()
    assert decompress(compress(data, CodecConfig(level=level))) == data


def test_small_blocks_and_pairs():
    seqs = [b"ACGTN"[i % 5:] * 7 for i in range(300)]
    data = b"".join(b"@r%d/1\n%s\n+\n%s\n" % (i, s, (b"I#" * 20)[:len(s)]) for i, s in enumerate(seqs))
    lines = data.split(b"\n")
    lines[0::4] = [name.replace(b"/1", b"/2") for name in lines[0::4]]
    mate = b"\n".join(lines)
    config = CodecConfig(block_bytes=2048)
    assert decompress(compress(data, config, mate=mate)) == (data, mate)


def test_ten_megabase_read():
    rng = np.random.default_rng(7)
    seq = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, 10_000_000)].tobytes()
    qual = (33 + rng.integers(0, 40, 10_000_000)).astype(np.uint8).tobytes()
    data = b"@long\n" + seq + b"\n+\n" + qual + b"\n"
    assert decompress(compress(data, CodecConfig(level=1))) == data


names = st.binary(max_size=30).filter(lambda b: b"\n" not in b and not b.endswith(b"\r"))
seq_chars = st.sampled_from(list(b"ACGTACGTACGTNacgtnRYKMSWBDHV.-*Uu"))
# how a read is spelled: as drawn, soft-masked (all lowercase), or RNA (U for T): blocks of such
# reads take EXC_SPELLED, whose case runs and letters must come back exactly
spellings = st.sampled_from([lambda s: s, bytes.lower, lambda s: s.replace(b"T", b"U")])


@st.composite
def fastq_files(draw, names=names, max_records: int = 12):
    """FASTQ bytes of up to ``max_records`` records named from ``names``."""
    n = draw(st.integers(0, max_records))
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    records = []
    for _ in range(n):
        name = draw(names)
        length = draw(st.integers(0, 60))
        seq = draw(spellings)(bytes(draw(st.lists(seq_chars, min_size=length, max_size=length))))
        qual = bytes(draw(st.lists(st.integers(33, 126), min_size=length, max_size=length)))
        plus = draw(st.sampled_from([b"", name, b"other text"]))
        records.append(b"@" + name + eol + seq + eol + b"+" + plus + eol + qual)
    body = eol.join(records)
    if records and draw(st.booleans()):
        body += eol * draw(st.integers(1, 6))   # the final newline, then maybe blank lines
    return body


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fastq_files(), st.sampled_from([1, 5]))
def test_generated_fastq_round_trips(data, level):
    CASES_RUN["n"] += 1
    assert decompress(compress(data, CodecConfig(level=level, block_bytes=1024))) == data


def test_generated_cases_ran():
    assert CASES_RUN["n"] >= 100, "the property test ran too few cases"


def _head(path, n_records: int) -> bytes:
    with gzip.open(path, "rb") as fh:
        return b"".join(itertools.islice(fh, 4 * n_records))


@pytest.mark.parametrize("path", shared_fastqs(), ids=lambda p: p.name.split(".")[0])
def test_shared_data_slices(path):
    data = _head(path, 300)
    assert decompress(compress(data)) == data


@pytest.mark.parametrize("pair", shared_pairs(), ids=lambda p: p[0].name.split("_R1")[0])
def test_shared_pairs_slices(pair):
    r1, r2 = (_head(p, 300) for p in pair)
    assert decompress(compress(r1, mate=r2)) == (r1, r2)


def _respelled(data: bytes, spell) -> bytes:
    """``data`` with every sequence line passed through ``spell``."""
    lines = data.split(b"\n")
    lines[1::4] = [spell(line) for line in lines[1::4]]
    return b"\n".join(lines)


@pytest.mark.parametrize("spell", [lambda s: s.replace(b"T", b"U"), lambda s: s[:40].lower() + s[40:]],
                         ids=["rna", "soft-masked"])
def test_respelled_reads_cost_what_their_bases_cost(spell, tmp_path):
    """Direct-RNA reads (U for T) and soft-masked reads (lowercase runs) code their letters as
    bases (EXC_SPELLED): within 2 % of the same reads spelled ACGT; as exceptions U cost +6 %."""
    from codec.inspect import archive_info

    data = _head(next(p for p in shared_fastqs() if "sarscov2-artic-FAK" in p.name), 300)
    plain = compress(data)
    respelled = _respelled(data, spell)
    archive = compress(respelled)
    assert decompress(archive) == respelled
    (tmp_path / "x.seqlm").write_bytes(archive)
    rows = {row["stream"]: row for row in archive_info(str(tmp_path / "x.seqlm"))["detail"]}
    assert rows["exceptions"]["model"] == "exc_spelled"
    assert len(archive) <= 1.02 * len(plain)


def test_shared_data_present():
    assert len(shared_fastqs()) >= 20, "../shared/data is missing: the real-data tests ran nothing"


@pytest.mark.slow
@pytest.mark.parametrize("path", shared_fastqs(), ids=lambda p: p.name.split(".")[0])
def test_shared_data_whole_files(path, tmp_path, cli):
    out = tmp_path / "x.seqlm"
    assert cli("compress", path, "-o", out, "-q")[0] == 0
    assert cli("decompress", out, "-o", tmp_path / "x.fq", "-q")[0] == 0
    assert (tmp_path / "x.fq").read_bytes() == gzip.open(path).read()


def _paired_streams(n_records: int = 400) -> tuple:
    """(base payload, quality payload, lengths, mate, exception mask, codes, quality bytes) of a
    real pair's first reads: QUAL_MATES qualities whose LSTM halves read the bases."""
    from codec.pipeline import _parse_all
    from codec.streams import bases, qualities
    from codec.streams.exceptions import BASE_CODE

    pair = next(p for p in shared_pairs() if "crispr" in p[0].name)
    chunks = [_head(p, n_records) for p in pair]
    parsed = _parse_all(chunks, [1, 1], [str(p) for p in pair])
    lens = np.concatenate([b.lengths for b in parsed])
    mate = np.repeat(np.arange(2, dtype=np.uint8), n_records)
    codes = BASE_CODE[np.frombuffer(b"".join(b.seq for b in parsed), dtype=np.uint8)]
    qual = np.frombuffer(b"".join(b.qual for b in parsed), dtype=np.uint8)
    base_payload, _ = bases.encode_bases(codes, lens, mate, 5, bases.error_rate(qual))
    qual_payload, _ = qualities.encode_qualities(qual, lens, codes, mate, 5, 1)
    assert not qualities.reads_only_n_flags(qual_payload)
    return base_payload, qual_payload, lens, mate, codes == 4, codes, qual


@pytest.mark.skipif(not forked.available(), reason="no fork on this platform")
def test_qualities_decoded_as_the_bases_arrive_are_the_same(monkeypatch):
    """With two stream threads the qualities decode in a child while the bases decode here
    (pipeline._decode_fed): same bytes as one after the other; a stream that fails on
    either side is an error here and leaves no process behind."""
    from codec import pipeline
    from codec.errors import FormatError

    base_payload, qual_payload, lens, mate, mask, codes, qual = _paired_streams()
    got_codes, got_qual = pipeline._decode_fed(base_payload, qual_payload, lens, mate, mask, 2)
    assert np.array_equal(got_codes, codes) and np.array_equal(got_qual, qual)
    for bad_bases, bad_quals in ((b"\x05\xff" + base_payload[2:], qual_payload),
                                 (base_payload, qual_payload[:-40] + bytes(40))):
        with pytest.raises((FormatError, forked.WorkerError)):
            pipeline._decode_fed(bad_bases, bad_quals, lens, mate, mask, 2)
        with pytest.raises(ChildProcessError):
            os.waitpid(-1, os.WNOHANG)
    real_fed, calls = pipeline._decode_fed, []
    monkeypatch.setattr(pipeline, "_decode_fed", lambda *a: calls.append(a[-1]) or real_fed(*a))
    r1, r2 = (_head(p, 300) for p in next(p for p in shared_pairs() if "crispr" in p[0].name))
    outs = [io.BytesIO(), io.BytesIO()]
    decompress_stream(io.BytesIO(compress(r1, mate=r2)), outs, threads=2)
    assert calls == [2] and [o.getvalue() for o in outs] == [r1, r2]


def test_qualities_ask_for_the_bases_chunk_by_chunk():
    """The quality decoder asks ``ready`` for each chunk's reads only, in growing prefixes
    of each mate's bases (read 2s' shifted past read 1s'), before it reads them."""
    from codec.streams import qualities

    _, qual_payload, lens, mate, _, codes, qual = _paired_streams()
    asked = []
    got = qualities.decode_qualities(qual_payload, lens, codes, mate, 1, ready=asked.append)
    half = int(lens[mate == 0].sum())
    firsts, seconds = [n for n in asked if n <= half], [n for n in asked if n > half]
    assert np.array_equal(got, qual) and len(firsts) > 3 and len(seconds) > 3
    assert firsts == sorted(firsts) and seconds == sorted(seconds)
    assert firsts[0] < half // 10 and seconds[0] < half + half // 10 and max(asked) == len(codes)
