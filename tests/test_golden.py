"""Golden archives: files written by every earlier format (``golden/v1`` = 1.x,
``golden/v2`` = 2.x, ...) must keep decoding to the same bytes.

``REGENERATE_GOLDEN=1 pytest tests/test_golden.py`` writes the current major's
directory; do it on purpose only, once per major, together with a changelog entry
in ``docs/FORMAT.md`` (older directories are never rewritten).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import pytest

from codec import FORMAT_MAJOR, CodecConfig, compress, decompress

GOLDEN_ROOT = Path(__file__).parent / "golden"
SOURCES = ["simple.fastq", "crlf_no_final_newline.fastq", "plus_repeats.fastq", "n_rich.fastq",
           "lowercase.fastq", "var_length.fastq", "mixed_eol.fastq", "all_quals.fastq", "chipseq_300.fastq",
           "hifi_16s_20.fastq",  # 20 PacBio HiFi 16S reads: LZMA_TURNED bases (v5+), long_v2 qualities (v6+)
           "mgi_names_300.fastq",  # MGI-style names: NAME_TOK method TOKENS_SPLIT (v12+)
           # 120 ONT SARS-CoV-2 reads cut to 100 bases, under Guppy 6 style names made up around their read ids:
           # ~80 tokens, parent_read_id copies the read id (v13+: methods 7-10, COPY tokens)
           "ont_guppy_names_120.fastq",
           # 60 of those reads, cut to 150 bases and spelled with U for T as direct-RNA reads are:
           # EXCEPTIONS codec EXC_SPELLED (v14+; lowercase.fastq takes it too, for its lowercase runs)
           "ont_rna_u_60.fastq",
           # the 100 trimmed NovaSeq pairs and the 100 MGI pairs below, each interleaved into one file:
           # block mode 2, coded as pairs (v18+; the MGI names end in /1 and /2)
           "novaseq_trimmed_interleaved_200.fastq", "mgi_interleaved_200.fastq"]
# pairs (R1, R2) compressed together (from v8): blocks with read 2s get illumina40_v3 qualities
# (v9: read 1s and read 2s coded apart, QUAL_MATES, read 1s with illumina40_v2)
BASE_LSTM_SOURCE = "chipseq_300.fastq"   # (v15+) also at level 9, its bases coded BASE_LSTM
PAIRS = [("gaiix_pair_100_R1.fastq", "gaiix_pair_100_R2.fastq"),
         ("mgi_pair_100_R1.fastq", "mgi_pair_100_R2.fastq"),  # (v12+) read 2 names: TOKENS_MATE_SPLIT
         # 100 adapter-trimmed NovaSeq pairs (the msspe pair's first records): lengths LEN_ORDER0 (v17+)
         ("novaseq_trimmed_pair_100_R1.fastq", "novaseq_trimmed_pair_100_R2.fastq")]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _regenerate() -> None:
    from .conftest import DATA
    from .test_bases_lstm import base_lstm_archive

    target_dir = GOLDEN_ROOT / f"v{FORMAT_MAJOR}"
    target_dir.mkdir(exist_ok=True)
    manifest = {}
    for name, mate_name in [(name, None) for name in SOURCES] + PAIRS:
        data = (DATA / name).read_bytes()
        mate = (DATA / mate_name).read_bytes() if mate_name else None
        for level in (1, 5):
            archive = compress(data, CodecConfig(level=level), mate)
            target = target_dir / f"{name}.L{level}.seqlm"
            target.write_bytes(archive)
            manifest[target.name] = {"source": name, "fastq_sha256": _sha(data), "archive_sha256": _sha(archive)}
            if mate is not None:
                manifest[target.name].update(mate_source=mate_name, mate_sha256=_sha(mate))
    if FORMAT_MAJOR >= 15:
        data = (DATA / BASE_LSTM_SOURCE).read_bytes()
        archive = base_lstm_archive(data)
        target = target_dir / f"{BASE_LSTM_SOURCE}.L9.seqlm"
        target.write_bytes(archive)
        manifest[target.name] = {"source": BASE_LSTM_SOURCE, "fastq_sha256": _sha(data), "archive_sha256": _sha(archive)}
    (target_dir / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")

if os.environ.get("REGENERATE_GOLDEN") == "1":
    _regenerate()

MANIFESTS = {d.name: json.loads((d / "MANIFEST.json").read_text())
             for d in sorted(GOLDEN_ROOT.glob("v*")) if (d / "MANIFEST.json").exists()}
CASES = [f"{version}/{name}" for version, manifest in MANIFESTS.items() for name in sorted(manifest)]


def test_golden_cases_exist():
    assert "v1" in MANIFESTS, "the 1.x golden archives are missing"
    for version, manifest in MANIFESTS.items():
        assert len(manifest) >= 10, f"too few golden archives in {version}: the test would prove little"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_golden_archive_decodes(case):
    version, name = case.split("/")
    entry = MANIFESTS[version][name]
    archive = (GOLDEN_ROOT / version / name).read_bytes()
    assert _sha(archive) == entry["archive_sha256"], "golden archive changed on disk"
    if "mate_sha256" in entry:
        r1, r2 = decompress(archive)
        assert (_sha(r1), _sha(r2)) == (entry["fastq_sha256"], entry["mate_sha256"])
    else:
        assert _sha(decompress(archive)) == entry["fastq_sha256"]


def test_info_reports_the_archive_format():
    """``seqlm info`` names the format the archive was written in, not the reader's."""
    from codec.inspect import archive_info

    for version in MANIFESTS:
        path = next((GOLDEN_ROOT / version).glob("*.L5.seqlm"))
        assert archive_info(str(path))["format_version"].split(".")[0] == version[1:]


def test_info_names_the_shipped_quality_model():
    """An archive keeps naming the weight file it was coded with, superseded or current."""
    from codec.inspect import archive_info

    from .conftest import DATA

    def quality_models(path) -> set[str]:
        return {row["model"] for row in archive_info(str(path))["detail"] if row["stream"] == "qualities"}

    assert quality_models(GOLDEN_ROOT / "v5" / "chipseq_300.fastq.L5.seqlm") == {"qual_mix+illumina40"}
    archive = compress((DATA / "chipseq_300.fastq").read_bytes(), CodecConfig(level=5))
    with tempfile.NamedTemporaryFile(suffix=".seqlm") as fh:
        fh.write(archive)
        fh.flush()
        assert quality_models(fh.name) == {"qual_mix+illumina40_v2"}
    assert quality_models(GOLDEN_ROOT / "v5" / "chipseq_300.fastq.L1.seqlm") == {"qual_ctx"}
    assert quality_models(GOLDEN_ROOT / "v8" / "gaiix_pair_100_R1.fastq.L5.seqlm") == {"qual_mix+illumina40_v3"}
    # format 16.0: a context model keyed by homopolymer runs (long-read qualities)
    assert quality_models(GOLDEN_ROOT / "v16" / "hifi_16s_20.fastq.L1.seqlm") == {"qual_ctx+runs"}
    assert quality_models(GOLDEN_ROOT / "v16" / "chipseq_300.fastq.L1.seqlm") == {"qual_ctx"}


def test_info_names_the_lengths_model():
    """Format 17.0 codes trimmed reads' lengths with order-0 gap tables; constant ones stay one varint."""
    from codec.inspect import archive_info

    def lengths_models(path) -> set[str]:
        return {row["model"] for row in archive_info(str(path))["detail"] if row["stream"] == "lengths"}

    assert lengths_models(GOLDEN_ROOT / "v17" / "novaseq_trimmed_pair_100_R1.fastq.L5.seqlm") == {"len_order0"}
    assert lengths_models(GOLDEN_ROOT / "v17" / "gaiix_pair_100_R1.fastq.L5.seqlm") == {"varint_lzma"}


def test_info_counts_interleaved_blocks():
    """Format 18.0 codes a file of interleaved pairs as a pair (block mode 2)."""
    from codec.inspect import archive_info

    for name in ("novaseq_trimmed_interleaved_200.fastq", "mgi_interleaved_200.fastq"):
        report = archive_info(str(GOLDEN_ROOT / "v18" / f"{name}.L5.seqlm"))
        assert (report["files"], report["reads"], report["interleaved_blocks"]) == (1, 200, 1)
    assert archive_info(str(GOLDEN_ROOT / "v18" / "simple.fastq.L5.seqlm"))["interleaved_blocks"] == 0
