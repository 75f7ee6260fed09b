"""The benchmark harness (``benchmarks/``): quick mode end to end, and its building blocks.

The end-to-end test runs ``python -m benchmarks --quick`` (in-process) into a temporary
directory: the first 1000 reads of one shared pair, gzip / xz / seqlm / CRAM, one run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks import cram_wrap, report, run
from benchmarks.cram import CramLossless, parse_cram_size
from benchmarks.datasets import group_sources
from benchmarks.schedule import Budget, plan_repeats, rotate
from benchmarks.seqlm_codec import REPO_ROOT, seqlm_command

HAVE_PYSAM = importlib.util.find_spec("pysam") is not None
RESULTS_JSON = run.DEFAULT_OUT / "results.json"


def _seqlm_unusable() -> str:
    """Why seqlm cannot be run at all here ('' when it can)."""
    cmd = seqlm_command()
    if cmd is None:
        return "seqlm is not installed and cli/main.py is missing"
    proc = subprocess.run([*cmd, "--help"], capture_output=True, cwd=REPO_ROOT, timeout=120,
                          check=False)
    if proc.returncode != 0:
        return f"`seqlm --help` exits {proc.returncode}: {proc.stderr.decode()[-200:]}"
    return ""


def _write_pair(tmp: Path) -> list[Path]:
    """A tiny hand-made pair, used when ../shared/data is absent."""
    r1, r2 = tmp / "tiny_R1.fastq", tmp / "tiny_R2.fastq"
    recs1 = [f"@read{i} 1:N:0:ACGT\nACGTACGTNACG\n+\nIIIIHHHH#GGF\n" for i in range(50)]
    recs2 = [f"@read{i} 2:N:0:ACGT\nTTGCAACGTACG\n+\nFFFFGGGG#HHI\n" for i in range(50)]
    r1.write_text("".join(recs1))
    r2.write_text("".join(recs2))
    return [r1, r2]


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "out"
    before = RESULTS_JSON.stat().st_mtime_ns if RESULTS_JSON.exists() else None
    argv = ["--quick", "--out", str(out)]
    if not run.DEFAULT_DATA_DIR.is_dir():
        argv += [str(p) for p in _write_pair(tmp)]
    assert run.main(argv) == 0
    after = RESULTS_JSON.stat().st_mtime_ns if RESULTS_JSON.exists() else None
    assert before == after, "--quick must never write into benchmarks/results/"
    results = json.loads((out / "results.json").read_text())
    return {"out": out, "results": results,
            "rows": {r["codec"]: r for d in results["datasets"] for r in d["rows"]}}


def test_quick_produces_rows_table_json_and_plot(quick: dict[str, Any]) -> None:
    results, out = quick["results"], quick["out"]
    assert results["schema_version"] == run.SCHEMA_VERSION
    assert len(results["datasets"]) == 1
    n_rows = sum(len(d["rows"]) for d in results["datasets"])
    assert n_rows > 0, "the harness produced zero rows"
    assert results["machine"]["python"]
    markdown = (out / "results.md").read_text()
    # "AMD EPYC" alone hides a 1.6x spread in seqlm's speed: the core is recorded and shown
    assert results["machine"]["cpu_core"] and results["machine"]["cpu_core"] in markdown
    assert "| gzip -9 |" in markdown and "| xz -9 -T1 |" in markdown
    assert "## Headline" in markdown
    assert list((out / "plots").glob("*.png"))
    assert report.render(results) == markdown  # report.py re-renders the same Markdown


@pytest.mark.parametrize("codec", ["gzip", "xz"])
def test_quick_general_purpose_rows_are_byte_exact(quick: dict[str, Any], codec: str) -> None:
    row = quick["rows"][codec]
    assert row["status"] == "ok", row["error"]
    assert row["byte_exact"] is True
    assert row["compressed_bytes"] > 0 and row["bits_per_base"] > 0
    assert row["comp_mb_s"] > 0 and row["decomp_mb_s"] > 0
    assert row["comp_peak_rss_mb"] > 0


@pytest.mark.skipif(not HAVE_PYSAM, reason="pysam is not installed")
def test_quick_cram_rows(quick: dict[str, Any]) -> None:
    lossless = quick["rows"]["cram-lossless"]
    assert lossless["status"] == "ok", lossless["error"]
    assert lossless["byte_exact"] is True
    streams = lossless["streams"]
    assert sum(streams.values()) == lossless["compressed_bytes"]
    assert min(streams["names"], streams["bases"], streams["qualities"]) > 0
    assert quick["rows"]["cram"]["status"] == "ok"


def test_quick_seqlm_row(quick: dict[str, Any]) -> None:
    reason = _seqlm_unusable()
    if reason:
        pytest.skip(f"seqlm cannot be run here: {reason}")
    row = quick["rows"]["seqlm"]
    assert row["status"] == "ok", row["error"]
    assert row["byte_exact"] is True
    assert row["streams"] is not None, "seqlm info --json gave no stream breakdown"
    assert sum(row["streams"].values()) == row["compressed_bytes"]
    # kernels are compiled before the first timed run, which would otherwise pay for them
    assert quick["results"]["warm_up_s"]["seqlm"] > 0
    assert "Warm-up of `seqlm` before any timed run" in (quick["out"] / "results.md").read_text()
    # and its fixed start-up is measured on one record, each call timed as the rows are
    fixed = quick["results"]["startup_s"]["seqlm"]
    assert fixed["runs"] == run.STARTUP_RUNS and 0 < fixed["compress_s"] < row["comp_s"] + 5
    assert fixed["decompress_s"] > 0
    assert "## Start-up: what every `seqlm` call pays" in (quick["out"] / "results.md").read_text()


# --- building blocks ------------------------------------------------------------------------

def test_pairs_are_grouped_by_r1_r2_suffix() -> None:
    paths = [Path("a_R1.fastq.gz"), Path("a_R2.fastq.gz"), Path("b.fastq.gz"),
             Path("c_R1.fastq.gz"), Path("d_I1.fastq.gz")]
    groups = {s.name: [p.name for p in s.files] for s in group_sources(paths)}
    assert groups == {"a": ["a_R1.fastq.gz", "a_R2.fastq.gz"], "b": ["b.fastq.gz"],
                      "c_R1": ["c_R1.fastq.gz"], "d_I1": ["d_I1.fastq.gz"]}


def test_rotation_and_repeat_budget() -> None:
    assert rotate(["a", "b", "c"], 4) == ["b", "c", "a"]
    cost = {"fast": 1.0, "slow": 100.0}
    assert plan_repeats(cost, ["fast", "slow"], 2, None) == {"fast": 2, "slow": 2}
    tight = Budget(limit_s=50.0, total_mb=10.0)
    assert plan_repeats(cost, ["fast", "slow"], 2, tight) == {"fast": 2}
    # the subject's repeats come first, however slow it is
    assert plan_repeats(cost, ["fast", "slow"], 2, Budget(limit_s=201.0, total_mb=10.0), ["slow"]) == {"slow": 2}
    # ... and whatever the budget: it is spent on the anchors' repeats only
    assert plan_repeats(cost, ["fast", "slow"], 2, tight, ["slow"]) == {"slow": 2}


def test_seqlm_repeats_whatever_its_speed_and_anchors_only_when_fast() -> None:
    from types import SimpleNamespace

    def row(anchor: bool, seconds: float) -> dict:
        return {"status": "ok", "is_anchor": anchor, "comp_s_runs": [seconds], "decomp_s_runs": [seconds],
                "notes": ""}

    rows = {"seqlm": row(False, 20.0), "gzip": row(True, 1.0), "xz": row(True, 10.0)}
    args = SimpleNamespace(runs=None, repeat_below_mb=20.0, repeat_max_s=15.0)
    small = SimpleNamespace(raw_bytes=5_000_000)
    cost = {"seqlm": 40.0, "gzip": 2.0, "xz": 20.0}
    assert run.repeat_plan(args, small, rows, cost, None) == {"seqlm": 2, "gzip": 2}
    assert run.repeat_plan(args, SimpleNamespace(raw_bytes=30_000_000), rows, cost, None) == {}


def test_cram_size_parsing() -> None:
    text = """#   Content_ID  Uncomp.size    Comp.size   Ratio Method  Data_series
BLOCK     CORE            0            0 100.00% .
BLOCK       11         8774          432   4.92% N       RN
BLOCK       12        49811        14413  28.94% f       QS
BLOCK       25          398           51  12.81% a       RL
BLOCK       30        49811         8933  17.93% g       BA
BLOCK  4411226         1800           47   2.61% g       COZ
Total file size                    24636
"""
    assert parse_cram_size(text) == {"names": 479, "bases": 8933, "qualities": 14413,
                                     "other": 24636 - 479 - 8933 - 14413}


@pytest.mark.parametrize("h1, h2, mode", [
    ([b"r1 x/1", b"r2 x/1"], [b"r1 x/2", b"r2 x/2"], "name-N"),
    ([b"r1", b"r2"], [b"r1", b"r2"], "name-n"),
    ([b"r1 1:N:0:AC", b"r2 1:N:0:AC"], [b"r1 2:N:0:AC", b"r2 2:N:0:AC"], "co-n"),
    ([b"r1/1 a", b"r2/1 b"], [b"r1/2 c", b"r2/2 d"], "co-N"),
    ([b"SRR1.1 r", b"SRR1.2 r"], [b"SRR2.1 r", b"SRR2.2 r"], None),
    ([b"r1", b"r1"], [b"r1", b"r1"], None),
])
def test_cram_wrapper_pair_modes(h1: list[bytes], h2: list[bytes], mode: str | None) -> None:
    assert cram_wrap.pair_mode(h1, h2) == mode


def test_cram_wrapper_side_info_round_trip() -> None:
    layout = cram_wrap.FileLayout(plus_repeat=[True, False, True], final_newline=False)
    side = cram_wrap.Side(b"|", "two-singles", [layout, cram_wrap.FileLayout()])
    data = cram_wrap.encode_side(side)
    back = cram_wrap.decode_side(data, 2)
    assert (back.sep, back.mode) == (b"|", "two-singles")
    assert [back.files[0].repeats_plus(i) for i in range(3)] == [True, False, True]
    assert not back.files[0].final_newline and back.files[1].final_newline
    assert cram_wrap.decode_side(cram_wrap.encode_side(
        cram_wrap.Side(b"~", "single", [cram_wrap.FileLayout()])), 1).files[0].repeats_plus(9) \
        is False


def _records(names: list[str], plus_repeat: bool = False) -> str:
    return "".join(f"@{n}\nACGTN\n+{n if plus_repeat else ''}\nII#GF\n" for n in names)


@pytest.mark.skipif(not HAVE_PYSAM, reason="pysam is not installed")
@pytest.mark.parametrize("case", ["sra-pair", "single-slash1-mixed-plus-no-eol"])
def test_cram_wrapper_is_byte_exact_on_awkward_files(tmp_path: Path, case: str) -> None:
    if case == "sra-pair":  # first words differ -> two single-end CRAMs
        texts = [_records([f"SRR9.{i} len=5" for i in range(1, 9)], plus_repeat=True),
                 _records([f"SRR9.{i} len=5" for i in range(9, 17)])]
        expected_mode = "two-singles"
    else:
        text = _records([f"r{i}/1" for i in range(4)]) + _records(["x/1"], plus_repeat=True)
        texts = [text.rstrip("\n")]
        expected_mode = "single"
    inputs = []
    for i, text in enumerate(texts):
        path = tmp_path / f"in_{i}.fastq"
        path.write_text(text)
        inputs.append(path)
    (tmp_path / "a").mkdir()
    (tmp_path / "r").mkdir()
    codec = CramLossless()
    archives = codec.compress(inputs, tmp_path / "a")
    assert codec.notes() == f"wrapper mode: {expected_mode}"
    restored = codec.decompress(archives, tmp_path / "r", len(inputs))
    for src, dst in zip(inputs, restored):
        assert dst.read_bytes() == src.read_bytes()


def test_seqlm_version_is_probed_as_the_timed_runs_run_it():
    """The version probe gets the timed runs' environment (this checkout first on
    PYTHONPATH): a console script that cannot import the checkout by itself once put a
    traceback's first line into results.md's codec table."""
    from benchmarks.seqlm_codec import SeqlmCodec

    assert SeqlmCodec().version().startswith("seqlm ")


def test_python_children_run_from_cached_bytecode(monkeypatch):
    """Timed Python children cache their bytecode outside the source tree even where the
    shell forbids writing it, so no timed call recompiles seqlm's modules."""
    from benchmarks.codecs import BYTECODE_CACHE, REPO_ROOT, child_env

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    env = child_env()
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PYTHONPYCACHEPREFIX"] == str(BYTECODE_CACHE)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(REPO_ROOT)


def test_startup_section_nets_the_fixed_cost_out_of_each_rows_time() -> None:
    row = {"codec": "seqlm", "is_anchor": False, "status": "ok", "comp_s": 3.0, "decomp_s": 0.9, "comp_mb_s": 2.0, "decomp_mb_s": 6.67}
    results = {"startup_s": {"seqlm": {"dataset": "x", "runs": 5, "compress_s": 1.0, "decompress_s": 1.0}},
               "datasets": [{"name": "x", "paired": False, "raw_bytes": 6_000_000, "rows": [row]}]}
    lines = report.startup_section(results)
    assert lines[0].startswith("## Start-up")
    cells = [c.strip() for c in lines[-2].strip("|").split("|")]
    assert cells[1:] == ["2.00", "3.00", "6.67", ""]   # 6 MB over 3 - 1 s; no time left past 1 s
    assert report.startup_section({"datasets": []}) == []


def test_host_factor_from_anchors_md_tables() -> None:
    """Per-dataset ANCHORS.md rows give reference compression times; the factor is the
    geometric mean of this run's over them, counting neither short references nor subsets."""
    from benchmarks import hostspeed

    text = "\n".join([
        "### shared — setA (R1+R2)", "",
        "| tool | version | threads | compressed bytes | comp s | decomp s |",
        "|---|---|--:|--:|--:|--:|",
        "| gzip -9 | gzip 1.12 | 1 | 10 | 1.00 | 0.02 |",
        "| xz -9 -T1 | xz 5.4.1 | 1 | 9 | 2.00 | 0.03 |",
        "| bzip2 -9 | bzip2 | 1 | 9 | 0.10 | 0.03 |",
        "| CRAM 3.1 archive (pysam 0.24.1) + header wrapper | x | 1 | 8 | 1.00 | 0.10 |",
        "### shared — setB", "",
        "| tool | version | threads | compressed bytes | comp s | decomp s |",
        "| zstd -19 --long=27 | zstd | 1 | 9 | 4.00 | — |",
    ])
    ref = hostspeed.reference_times(text)
    assert ref == {("setA", "gzip"): 1.0, ("setA", "xz"): 2.0, ("setA", "bzip2"): 0.1, ("setB", "zstd"): 4.0}

    def row(codec: str, comp_s: float) -> dict[str, Any]:
        return {"codec": codec, "status": "ok", "comp_s": comp_s, "is_anchor": codec != "seqlm",
                "comp_mb_s": 2.0, "decomp_mb_s": 3.0, "byte_exact": True, "compressed_bytes": 1}

    results = {"datasets": [
        {"name": "setA", "subset": "", "paired": True, "rows": [row("gzip", 2.0), row("xz", 8.0), row("bzip2", 9.0),
                                                                 row("seqlm", 5.0)]},
        {"name": "setB", "subset": "first 1000 reads of each file", "paired": False, "rows": [row("zstd", 1.0)]},
    ]}
    factor, pairs = hostspeed.host_factor(results, ref)
    assert pairs == 2 and factor == pytest.approx(2.0 ** 1.5)   # sqrt(2/1 * 8/2); bzip2 (0.1 s) and setB left out
    lines = "\n".join(report.host_section(results, ref))
    assert "2.83x" in lines and "| setA (R1+R2) | 2.00 | 3.00 | 5.66 | 8.49 |" in lines
    assert report.host_section(results, {}) == []
