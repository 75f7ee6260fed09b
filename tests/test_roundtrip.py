"""Byte-exact round trips: hand-made edge cases, generated FASTQ, real data slices."""

from __future__ import annotations

import gzip
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec import CodecConfig, compress, decompress

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
seq_chars = st.sampled_from(list(b"ACGTACGTACGTNacgtnRYKMSWBDHV.-*"))


@st.composite
def fastq_files(draw):
    n = draw(st.integers(0, 12))
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    records = []
    for _ in range(n):
        name = draw(names)
        length = draw(st.integers(0, 60))
        seq = bytes(draw(st.lists(seq_chars, min_size=length, max_size=length)))
        qual = bytes(draw(st.lists(st.integers(33, 126), min_size=length, max_size=length)))
        plus = draw(st.sampled_from([b"", name, b"other text"]))
        records.append(b"@" + name + eol + seq + eol + b"+" + plus + eol + qual)
    body = eol.join(records)
    if records and draw(st.booleans()):
        body += eol
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


def test_shared_data_present():
    assert len(shared_fastqs()) >= 20, "../shared/data is missing: the real-data tests ran nothing"


@pytest.mark.slow
@pytest.mark.parametrize("path", shared_fastqs(), ids=lambda p: p.name.split(".")[0])
def test_shared_data_whole_files(path, tmp_path, cli):
    out = tmp_path / "x.seqlm"
    assert cli("compress", path, "-o", out, "-q")[0] == 0
    assert cli("decompress", out, "-o", tmp_path / "x.fq", "-q")[0] == 0
    assert (tmp_path / "x.fq").read_bytes() == gzip.open(path).read()
