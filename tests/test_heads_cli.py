"""The heads' click commands, in-process with CliRunner: happy paths and one-line errors."""

from __future__ import annotations

import click
import numpy as np
import pytest
from click.testing import CliRunner

from cli.heads import classify_group, gapfill_cmd, generate_cmd, train_cmd


@click.group()
def seqlm() -> None:
    """Stand-in for the main group (cli.main registers the same objects)."""


for _cmd in (train_cmd, generate_cmd, gapfill_cmd, classify_group):
    seqlm.add_command(_cmd)


def run(*args: str, ok: bool = True):
    res = CliRunner().invoke(seqlm, [str(a) for a in args])
    if ok:
        assert res.exit_code == 0, res.output
    else:
        assert res.exit_code == 1, res.output
        assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
        err = res.output.strip().splitlines()
        assert err and err[-1].startswith("seqlm: error: ")
    return res


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("heads")
    rng = np.random.default_rng(0)
    with open(d / "dna.fa", "w") as fh:
        for i in range(30):
            fh.write(f">d{i} cls={'at' if i % 2 else 'gc'}\n")
            fh.write("".join(rng.choice(list("AATTAC" if i % 2 else "GGCCGT"), 40)) + "\n")
    with open(d / "prot.fa", "w") as fh:
        for i in range(30):
            fh.write(f">p{i} kind=x\nMKVLAAGIVGLLLAQPE{'KR'[i % 2]}WTSPQ\n")
    (d / "empty.fa").write_text("")
    (d / "corpus.fa").write_text("".join(f">c{i}\n{'ACGT' * 10}\n" for i in range(24)))
    (d / "gapped.fa").write_text(">g1\nACGTACG--CGTACGTAC\n")
    (d / "truth.fa").write_text(">g1\nACGTACGTACGTACGTAC\n")
    run("train", d / "dna.fa", "-o", d / "dna.pt", "--alphabet", "dna", "--hidden", 8, "--epochs", 2)
    run("train", d / "prot.fa", "-o", d / "prot.pt", "--alphabet", "protein", "--hidden", 8, "--epochs", 1)
    run("classify", "fit", d / "dna.fa", "--label", "cls", "-o", d / "clf.pt", "--hidden", 8, "--time-budget", 2)
    return d


def test_train_prints_heldout_bits(data) -> None:
    res = run("train", data / "corpus.fa", "-o", data / "c.pt", "--alphabet", "dna", "--hidden", 8,
              "--epochs", 2, "--backward", "--seed", 3)
    assert "held-out bits per symbol:" in res.output and (data / "c.pt").exists()


def test_generate_fasta_reproducible(data, tmp_path) -> None:
    args = ("generate", data / "dna.pt", "-n", 3, "--length", 15, "--seed", 7, "--prompt", "AC", "--top-k", 3)
    a, b = run(*args).output, run(*args).output
    assert a == b and a.count(">sample_") == 3
    seqs = [line for line in a.splitlines() if not line.startswith(">")]
    assert all(len(s) == 17 and s.startswith("AC") for s in seqs)
    run(*args, "-o", tmp_path / "out.fa")
    assert (tmp_path / "out.fa").read_text() == a


def test_gapfill_trains_and_reports_accuracy(data, tmp_path) -> None:
    out = tmp_path / "filled.fa"
    res = run("gapfill", data / "gapped.fa", "--train", data / "corpus.fa", "--truth", data / "truth.fa",
              "--hidden", 16, "--epochs", 5, "--time-budget", 30, "-o", out)
    assert "gap accuracy: 2/2" in res.output
    assert out.read_text().splitlines()[1] == "ACGTACGTACGTACGTAC"


def test_classify_fit_predict_cv(data) -> None:
    res = run("classify", "predict", data / "clf.pt", data / "dna.fa")
    rows = [line.split("\t") for line in res.output.strip().splitlines()]
    assert len(rows) == 30 and all(len(r) == 3 and r[1] in ("at", "gc") and 0 <= float(r[2]) <= 1 for r in rows)
    assert sum(r[1] == ("at" if int(r[0][1:]) % 2 else "gc") for r in rows) >= 27
    res = run("classify", "cv", data / "dna.fa", "--label", "cls", "--folds", 2, "--hidden", 8,
              "--time-budget", 1.5, "--method", "head")
    assert "head" in res.output and "kmer6-logreg" in res.output and "confusion matrix" in res.output
    assert "macro-F1" in res.output


@pytest.mark.parametrize("args, message", [
    (("classify", "fit", "{d}/dna.fa", "--label", "nosuchkey", "-o", "{d}/x.pt"), "unknown label key 'nosuchkey'"),
    (("classify", "cv", "{d}/dna.fa", "--label", "nosuchkey"), "unknown label key"),
    (("classify", "fit", "{d}/empty.fa", "--label", "cls", "-o", "{d}/x.pt"), "empty file"),
    (("classify", "cv", "{d}/empty.fa", "--label", "cls"), "empty file"),
    (("classify", "predict", "{d}/clf.pt", "{d}/empty.fa"), "empty file"),
    (("classify", "predict", "{d}/clf.pt", "{d}/prot.fa"), "not dna"),
    (("classify", "predict", "{d}/dna.pt", "{d}/dna.fa"), "not a seqlm classifier"),
    (("train", "{d}/empty.fa", "-o", "{d}/x.pt", "--alphabet", "dna"), "empty file"),
    (("train", "{d}/prot.fa", "-o", "{d}/x.pt", "--alphabet", "dna"), "not dna"),
    (("generate", "{d}/empty.fa", "--length", "5"), "not a seqlm"),
    (("generate", "{d}/clf.pt", "--length", "5"), "not a seqlm"),
    (("generate", "{d}/dna.pt", "--length", "5", "--prompt", "MKV"), "outside the dna alphabet"),
    (("gapfill", "{d}/empty.fa", "-o", "{d}/x.fa"), "empty file"),
    (("gapfill", "{d}/gapped.fa", "--model", "{d}/prot.pt", "-o", "{d}/x.fa"), "not protein"),
    (("gapfill", "{d}/gapped.fa", "--model", "{d}/dna.pt", "--truth", "{d}/prot.fa", "-o", "{d}/x.fa"),
     "truth has length"),
])
def test_bad_input_is_one_line_error(data, args, message) -> None:
    res = run(*(a.format(d=data) for a in args), ok=False)
    assert message in res.output
