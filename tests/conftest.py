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
