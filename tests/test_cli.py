"""The command line: defaults, pipes, pairs, exit codes and one-line errors."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import subprocess
import sys

import pytest

from codec.container import read_header

from .conftest import DATA

SIMPLE = DATA / "simple.fastq"


def test_compress_default_name_and_decompress(tmp_path, cli):
    src = tmp_path / "reads.fastq"
    src.write_bytes(SIMPLE.read_bytes())
    assert cli("compress", src)[0] == 0
    archive = tmp_path / "reads.fastq.seqlm"
    assert archive.exists() and src.exists()  # inputs are kept by default
    src.unlink()
    assert cli("decompress", archive)[0] == 0
    assert src.read_bytes() == SIMPLE.read_bytes()


def test_refuses_to_overwrite_without_force(tmp_path, cli):
    out = tmp_path / "x.seqlm"
    out.write_bytes(b"precious")
    code, _, err = cli("compress", SIMPLE, "-o", out)
    assert code == 1 and b"already exists" in err and out.read_bytes() == b"precious"
    assert cli("compress", SIMPLE, "-o", out, "-f")[0] == 0


def test_stdin_to_stdout_with_gzip_input(cli):
    gz = gzip.compress(SIMPLE.read_bytes())
    code, archive, _ = cli("compress", "-", "-c", input=gz)
    assert code == 0 and archive.startswith(b"\x89SQLM")
    code, restored, _ = cli("decompress", "-", "-c", input=archive)
    assert code == 0 and restored == SIMPLE.read_bytes()


def test_pairs_give_two_files(tmp_path, cli):
    r1 = DATA / "bad_pair_R1.fastq"
    r2 = tmp_path / "r2.fastq"
    r2.write_bytes(r1.read_bytes().replace(b"@r", b"@s"))
    out = tmp_path / "pair.seqlm"
    assert cli("compress", r1, r2, "-o", out)[0] == 0
    code, _, err = cli("decompress", out, "-o", tmp_path / "a.fq")
    assert code == 1 and b"2 file(s)" in err
    assert cli("decompress", out, "-o", tmp_path / "a.fq", "-o", tmp_path / "b.fq")[0] == 0
    assert (tmp_path / "a.fq").read_bytes() == r1.read_bytes()
    assert (tmp_path / "b.fq").read_bytes() == r2.read_bytes()


@pytest.mark.parametrize("name, words", [
    ("bad_length_mismatch.fastq", b"record 2, line 8"),
    ("bad_truncated.fastq", b"truncated"),
    ("bad_no_at.fastq", b"record 2, line 5"),
    ("bad_qual_range.fastq", b"record 1, line 4"),
    ("bad_binary.fastq", b"record 1"),
])
def test_bad_input_one_line_exit_1_no_output(tmp_path, cli, name, words):
    out = tmp_path / "x.seqlm"
    code, _, err = cli("compress", DATA / name, "-o", out)
    assert code == 1
    assert err.count(b"\n") == 1 and name.encode() in err and words in err
    assert b"Traceback" not in err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_pair_with_different_record_counts(tmp_path, cli):
    out = tmp_path / "x.seqlm"
    code, _, err = cli("compress", DATA / "bad_pair_R1.fastq", DATA / "bad_pair_R2.fastq", "-o", out)
    assert code == 1 and b"same number of records" in err and not out.exists()


def test_damaged_archive_verify_and_decompress(tmp_path, cli):
    out = tmp_path / "x.seqlm"
    assert cli("compress", DATA / "var_length.fastq", "-o", out)[0] == 0
    assert cli("verify", out)[0] == 0
    data = bytearray(out.read_bytes())
    _, header_len = read_header(io.BytesIO(data))
    data[header_len + 16] ^= 0xFF  # inside block 0's body ('B', length and CRC take 9 bytes)
    out.write_bytes(bytes(data))
    code, _, err = cli("verify", out)
    assert code == 1 and b"block 0" in err
    code, _, err = cli("decompress", out, "-o", tmp_path / "y.fq")
    assert code == 1 and not (tmp_path / "y.fq").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["x.seqlm"]
    # one line that names the archive, whichever command read it
    for command in (("decompress", out, "-o", tmp_path / "y.fq"), ("verify", out), ("info", out)):
        code, _, err = cli(*command)
        assert code == 1 and err.count(b"\n") == 1 and str(out).encode() + b": " in err, (command, err)


def test_info_json_has_stream_map(tmp_path, cli):
    out = tmp_path / "x.seqlm"
    assert cli("compress", DATA / "n_rich.fastq", "-o", out)[0] == 0
    code, text, _ = cli("info", out, "--json")
    report = json.loads(text)
    assert code == 0 and report["reads"] == 3
    for key in ("names", "lengths", "bases", "qualities", "other"):
        assert report["streams"][key]["bytes"] >= 0
    assert sum(v["bytes"] for v in report["streams"].values()) == out.stat().st_size
    code, text, _ = cli("info", out)
    assert code == 0 and b"qualities" in text


def test_info_shows_verbatim_blocks(tmp_path, cli):
    """A block the parser cannot describe (mixed line endings) is stored verbatim; info lists
    its bytes as a "verbatim" row instead of an empty table."""
    out = tmp_path / "m.seqlm"
    assert cli("compress", DATA / "mixed_eol.fastq", "-o", out)[0] == 0
    code, text, _ = cli("info", out, "--json")
    report = json.loads(text)
    rows = [row for row in report["detail"] if row["stream"] == "verbatim"]
    assert code == 0 and len(rows) == 1 and rows[0]["symbols"] == (DATA / "mixed_eol.fastq").stat().st_size
    assert sum(v["bytes"] for v in report["streams"].values()) == out.stat().st_size
    assert b"verbatim" in cli("info", out)[1]


def test_version_and_help(cli):
    code, text, _ = cli("--version")
    assert code == 0 and b"seqlm" in text and b"format" in text
    code, text, _ = cli("compress", "--help")
    assert code == 0 and b"--level" in text and b"--threads" in text


def test_usage_error_exit_2(cli):
    from click.testing import CliRunner

    from cli.main import main

    assert CliRunner().invoke(main, ["compress", "--level", "12", str(SIMPLE)]).exit_code == 2


def test_threads_do_not_change_bytes(tmp_path, cli):
    data = b"".join(b"@r%d\n%s\n+\n%s\n" % (i, b"ACGT" * 30, b"IIII#" * 24) for i in range(2000))
    src = tmp_path / "in.fq"
    src.write_bytes(data)
    a, b = tmp_path / "a.seqlm", tmp_path / "b.seqlm"
    assert cli("compress", src, "-o", a, "--block-size", "1", "-t", "1")[0] == 0
    assert cli("compress", src, "-o", b, "--block-size", "1", "-t", "2")[0] == 0
    assert a.read_bytes() == b.read_bytes()
    assert cli("decompress", b, "-o", tmp_path / "c.fq", "-t", "2")[0] == 0
    assert (tmp_path / "c.fq").read_bytes() == data
    # one block: its streams are coded on the threads instead; -t 0 = every core
    for t in ("1", "2", "0"):
        assert cli("compress", src, "-o", tmp_path / f"s{t}.seqlm", "-t", t)[0] == 0
        assert cli("decompress", tmp_path / f"s{t}.seqlm", "-o", tmp_path / f"s{t}.fq", "-t", t)[0] == 0
        assert (tmp_path / f"s{t}.fq").read_bytes() == data
    assert (tmp_path / "s1.seqlm").read_bytes() == (tmp_path / "s2.seqlm").read_bytes() \
        == (tmp_path / "s0.seqlm").read_bytes()


def test_console_script_runs_as_subprocess(tmp_path):
    exe = [sys.executable, "-m", "cli.main"]
    out = subprocess.run(exe + ["compress", str(DATA / "bad_no_at.fastq"), "-o", str(tmp_path / "z")],
                         capture_output=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode == 1 and b"Traceback" not in out.stderr and b"line 5" in out.stderr


def _zstd(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    return zstandard.ZstdCompressor().compress(data)


COMPRESSORS = {".bz2": bz2.compress, ".xz": lzma.compress, ".zst": _zstd}


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_bzip2_xz_and_zstd_inputs_read_from_files_pipes_and_stdin(tmp_path, cli, suffix):
    """Detected by their magic bytes (never the name); the restored file drops the suffix."""
    packed = COMPRESSORS[suffix](SIMPLE.read_bytes())
    src = tmp_path / f"reads.fastq{suffix}"
    src.write_bytes(packed)
    assert cli("compress", src)[0] == 0
    assert cli("decompress", tmp_path / f"reads.fastq{suffix}.seqlm")[0] == 0
    assert (tmp_path / "reads.fastq").read_bytes() == SIMPLE.read_bytes()
    code, archive, _ = cli("compress", "-", "-c", input=packed)
    assert code == 0 and cli("decompress", "-", "-c", input=archive)[1] == SIMPLE.read_bytes()
    fifo = tmp_path / "fifo"   # a named pipe cannot seek back over the magic bytes
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"cat '{src}' > '{fifo}'"])
    code, archive, _ = cli("compress", fifo, "-c")
    writer.wait()
    assert code == 0 and cli("decompress", "-", "-c", input=archive)[1] == SIMPLE.read_bytes()
    damaged = tmp_path / f"bad.fastq{suffix}"
    damaged.write_bytes(packed[:len(packed) // 2])
    code, _, err = cli("compress", damaged, "-o", tmp_path / "bad.seqlm")
    assert code == 1 and b"cannot read input" in err and err.count(b"\n") == 1
    assert not (tmp_path / "bad.seqlm").exists()


def test_zstd_input_without_zstandard_says_what_to_install(tmp_path, cli, monkeypatch):
    src = tmp_path / "reads.fastq.zst"
    src.write_bytes(_zstd(SIMPLE.read_bytes()))
    monkeypatch.setitem(sys.modules, "zstandard", None)   # import zstandard -> ImportError
    code, _, err = cli("compress", src, "-o", tmp_path / "x.seqlm")
    assert code == 1 and b"pip install zstandard" in err and err.count(b"\n") == 1
    assert not (tmp_path / "x.seqlm").exists()


def test_output_in_a_missing_directory_names_the_output(tmp_path, cli):
    target = tmp_path / "no" / "such" / "x.seqlm"
    code, _, err = cli("compress", SIMPLE, "-o", target)
    assert code == 1 and str(target).encode() in err and b".tmp" not in err and err.count(b"\n") == 1


def test_gzip_input_restores_plain_fastq_name(tmp_path, cli):
    src = tmp_path / "reads.fastq.gz"
    src.write_bytes(gzip.compress(SIMPLE.read_bytes()))
    assert cli("compress", src)[0] == 0
    assert cli("decompress", tmp_path / "reads.fastq.gz.seqlm")[0] == 0
    assert (tmp_path / "reads.fastq").read_bytes() == SIMPLE.read_bytes()
