"""Golden archives: files written by format 1.x must keep decoding to the same bytes.

Regenerate on purpose only (``REGENERATE_GOLDEN=1 pytest tests/test_golden.py``) and
only together with a changelog entry in ``codec/FORMAT.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from codec import CodecConfig, compress, decompress

GOLDEN = Path(__file__).parent / "golden" / "v1"
SOURCES = ["simple.fastq", "crlf_no_final_newline.fastq", "plus_repeats.fastq", "n_rich.fastq",
           "lowercase.fastq", "var_length.fastq", "mixed_eol.fastq", "all_quals.fastq"]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _regenerate() -> None:
    from .conftest import DATA

    manifest = {}
    for name in SOURCES:
        data = (DATA / name).read_bytes()
        for level in (1, 5):
            archive = compress(data, CodecConfig(level=level))
            target = GOLDEN / f"{name}.L{level}.seqlm"
            target.write_bytes(archive)
            manifest[target.name] = {"source": name, "fastq_sha256": _sha(data), "archive_sha256": _sha(archive)}
    (GOLDEN / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if os.environ.get("REGENERATE_GOLDEN") == "1":
    _regenerate()

MANIFEST = json.loads((GOLDEN / "MANIFEST.json").read_text()) if (GOLDEN / "MANIFEST.json").exists() else {}


def test_golden_cases_exist():
    assert len(MANIFEST) >= 10, "no golden archives: the golden test would prove nothing"


@pytest.mark.parametrize("name", sorted(MANIFEST), ids=str)
def test_golden_archive_decodes(name):
    entry = MANIFEST[name]
    archive = (GOLDEN / name).read_bytes()
    assert _sha(archive) == entry["archive_sha256"], "golden archive changed on disk"
    assert _sha(decompress(archive)) == entry["fastq_sha256"]
