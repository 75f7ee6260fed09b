"""Container framing, version refusal and damage detection."""

from __future__ import annotations

import io
import random
import struct

import pytest

from codec import CodecConfig, compress, decompress
from codec.container import FORMAT_MAJOR, MAGIC, read_header
from codec.errors import CodecError, FormatError, VersionError

from .conftest import DATA

SAMPLE = (DATA / "n_rich.fastq").read_bytes() + (DATA / "simple.fastq").read_bytes()


@pytest.fixture(scope="module")
def archive() -> bytes:
    return compress(SAMPLE, CodecConfig(block_bytes=1024))


def test_header_is_little_endian_and_versioned(archive):
    assert archive.startswith(MAGIC)
    major, minor, flags, size = struct.unpack_from("<BBHI", archive, len(MAGIC))
    assert (major, flags) == (FORMAT_MAJOR, 0) and 0 < size < 4096
    header, _ = read_header(io.BytesIO(archive))
    assert header["config"]["block_bytes"] == 1024 and header["n_files"] == 1


def test_newer_major_version_is_refused(archive):
    newer = bytearray(archive)
    newer[len(MAGIC)] = FORMAT_MAJOR + 1
    with pytest.raises(VersionError, match="newer than this seqlm"):
        decompress(bytes(newer))


def test_wrong_magic():
    with pytest.raises(FormatError, match="not a seqlm archive"):
        decompress(b"\x1f\x8b" + b"\x00" * 40)


def test_every_truncation_is_detected(archive):
    for cut in range(len(archive)):
        with pytest.raises(CodecError):
            decompress(archive[:cut])


def test_trailing_garbage_is_detected(archive):
    with pytest.raises(FormatError):
        decompress(archive + b"\x00")


def test_random_byte_flips_never_give_wrong_output(archive):
    rng = random.Random(1234)
    detected = 0
    for trial in range(300):
        damaged = bytearray(archive)
        for _ in range(rng.choice([1, 1, 2, 5])):
            damaged[rng.randrange(len(damaged))] ^= rng.randrange(1, 256)
        try:
            out = decompress(bytes(damaged))
        except CodecError:
            detected += 1
        else:
            assert out == SAMPLE, f"trial {trial}: wrong output without an error"
    assert detected > 250


def test_flipped_block_byte_names_the_block():
    data = b"".join(b"@r%d\nACGTACGT\n+\nIIIIIIII\n" % i for i in range(400))
    blob = bytearray(compress(data, CodecConfig(block_bytes=2048)))
    # one-file trailer: 'T' u32 n_blocks u64 n_records u8 n_files (u64, u32) n_blocks*u64 u32 end(8)
    n_blocks = next(n for n in range(1, 10_000)
                    if blob[len(blob) - (38 + 8 * n)] == ord("T")
                    and struct.unpack_from("<I", blob, len(blob) - (37 + 8 * n))[0] == n)
    last = struct.unpack_from("<Q", blob, len(blob) - 12 - 8)[0]
    assert n_blocks > 2
    for where in (last + 20, last, last + 3):  # body, tag, length field of the last block
        damaged = bytearray(blob)
        damaged[where] ^= 1
        with pytest.raises(FormatError) as info:
            decompress(bytes(damaged))
        assert f"block {n_blocks - 1}" in str(info.value)
