"""``benchmarks.memory``: memory summed over a call's processes, repeated inputs, a tiny run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmarks import memory
from benchmarks.datasets import DatasetSource

# Touches 120 MiB, forks, and both processes hold the (shared) pages for a while.
_FORKED_HOLDER = """
import os, time
block = b"\\x01" * (120 << 20)
pid = os.fork()
time.sleep(1.0)
if pid:
    os.waitpid(pid, 0)
"""


def _pair(where: Path, n: int = 40) -> list[Path]:
    r1, r2 = where / "tiny_R1.fastq", where / "tiny_R2.fastq"
    r1.write_text("".join(f"@read{i} 1:N:0:ACGT\nACGTACGTNACGTTGA\n+\nIIIIHHHH#GGFFFFE\n" for i in range(n)))
    r2.write_text("".join(f"@read{i} 2:N:0:ACGT\nTTGCAACGTACGAACC\n+\nFFFFGGGG#HHIIIIH\n" for i in range(n)))
    return [r1, r2]


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="no PSS here (Linux < 4.14)")
def test_shared_pages_count_once_in_pss_and_per_process_in_rss(tmp_path: Path) -> None:
    peak = memory.peak_memory([sys.executable, "-c", _FORKED_HOLDER], tmp_path / "log")
    assert peak.returncode == 0
    assert peak.processes == 2
    assert peak.rss_sum_mib >= 2 * 120                  # each process maps all 120 MiB
    assert 120 <= peak.pss_mib < 120 + 0.5 * 120       # ... but they exist once


def test_repeated_input_keeps_mates_in_step(tmp_path: Path) -> None:
    r1, r2 = _pair(tmp_path)
    raw = r1.stat().st_size + r2.stat().st_size
    work = tmp_path / "work"
    work.mkdir()
    big = memory.repeated_input(DatasetSource("tiny", (r1, r2)), work, 2 * raw + 1)
    assert [p.name for p in big] == ["big_R1.fastq", "big_R2.fastq"]
    assert big[0].read_bytes() == r1.read_bytes() * 3
    assert big[1].read_bytes() == r2.read_bytes() * 3
    assert sorted(p.name for p in work.iterdir()) == ["big_R1.fastq", "big_R2.fastq"]


def test_tiny_run_writes_a_byte_exact_table(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    raw = sum(p.stat().st_size for p in _pair(data))
    assert memory.main(["--data-dir", str(data), "--mb", str(2.5 * raw / 1e6), "--out", str(out), "tiny"]) == 0
    result = json.loads((out / "memory.json").read_text())
    assert [row["options"] for row in result["rows"]] == [[], ["-t", "2"]]
    for row in result["rows"]:
        assert row["byte_exact"] and row["raw_bytes"] == 3 * raw
        for op in ("compress", "decompress"):
            assert row[op]["returncode"] == 0 and row[op]["pss_mib"] > 0
    table = [line for line in (out / "memory.md").read_text().splitlines() if line.startswith("| tiny")]
    assert len(table) == 4 and all(line.endswith("| yes |") for line in table)
