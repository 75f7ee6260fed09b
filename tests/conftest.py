"""Shared fixtures: hand-made FASTQ files, the shared real datasets, a CLI runner."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent
DATA = HERE / "data"
SHARED = Path(os.environ.get("SEQLM_SHARED_DATA", HERE.parent.parent / "shared" / "data"))


def good_fastqs() -> list[Path]:
    files = sorted(p for p in DATA.glob("*.fastq") if not p.name.startswith("bad_"))
    assert files, "no hand-made FASTQ files found"
    return files


def shared_fastqs() -> list[Path]:
    return sorted(Path(p) for p in glob.glob(str(SHARED / "*.fastq.gz")))


def shared_pairs() -> list[tuple[Path, Path]]:
    out = []
    for r1 in shared_fastqs():
        if "_R1." in r1.name:
            r2 = r1.with_name(r1.name.replace("_R1.", "_R2."))
            if r2.exists():
                out.append((r1, r2))
    return out


@pytest.fixture
def cli():
    """Run the seqlm CLI in-process; returns (exit_code, stdout, stderr)."""
    from click.testing import CliRunner

    from cli.main import main

    def invoke(*args: str, input: bytes | None = None):
        runner = CliRunner()
        result = runner.invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)
        return result.exit_code, result.stdout_bytes, result.stderr_bytes

    return invoke


def assert_rejects_damage(decode, payload: bytes, bad_version: bytes, extra: tuple[bytes, ...] = ()) -> None:
    """``decode(blob)`` raises FormatError on the usual damage of a valid ``payload``: nothing,
    an unknown version byte, an unknown mode, truncation, a zeroed crc, a flipped byte at 40
    (plus ``extra``), and random words after a valid version/mode head."""
    import numpy as np

    from codec.errors import FormatError

    bad = [b"", bad_version, payload[:1] + b"\x05" + payload[2:], payload[:len(payload) // 2],
           payload[:-4] + bytes(4), payload[:40] + bytes([payload[40] ^ 0xFF]) + payload[41:], *extra]
    for blob in bad:
        with pytest.raises(FormatError):
            decode(blob)
    rng = np.random.default_rng(0)
    for _ in range(5):
        junk = bytes([1, 1]) + rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
        with pytest.raises(FormatError):
            decode(junk)


def long_read_block():
    """(quals 0..8, lengths, bases, mate) of a block with reads longer than a segment and an empty read."""
    import numpy as np

    rng = np.random.default_rng(4)
    lengths = np.array([3000, 5, 1200, 0])
    total = int(lengths.sum())
    quals = rng.integers(0, 9, total).astype(np.uint8)
    bases = rng.integers(0, 4, total).astype(np.uint8)
    return quals, lengths, bases, np.zeros(4, np.uint8)
