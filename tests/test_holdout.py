"""``benchmarks/holdout.py``: the held-out check of the shipped quality models, on a tiny scale."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import holdout
from codec.model import defaults, pretrain
from tests.conftest import SHARED

LONG_FILE = "ont-2d-denovohybrid-test_read_nanopore.fastq.gz"

needs_data = pytest.mark.skipif(not (SHARED / LONG_FILE).exists(), reason="shared data not found")


@needs_data
def test_cases_cover_training_files_then_unseen_ones():
    cs = holdout.cases(SHARED)
    trained = [c for c in cs if c.trained]
    assert {(c.family, c.file, c.skip) for c in trained} == {
        (f, n, k) for f, files in pretrain.TRAIN.items() for n, k in files}
    unseen = [c for c in cs if not c.trained]
    assert unseen and not {c.file for c in unseen} & {c.file for c in trained}
    assert all(c.skip == 0 and c.family in pretrain.TRAIN for c in unseen)
    assert any(c.family == "long" for c in unseen) and any(c.family == "binned" for c in unseen)


@needs_data
def test_later_reads_start_after_the_skipped_ones():
    q_all, lens_all, _ = pretrain.read_fastq(SHARED / LONG_FILE, 12)
    sym, lens, bases, mate, k, phred = holdout.later_reads(SHARED / LONG_FILE, 10, 2)
    assert np.array_equal(lens, lens_all[10:])
    assert len(sym) == len(bases) == int(lens.sum()) and not mate.any()
    start = int(lens_all[:10].sum())
    offset = defaults.phred_offset(np.unique(q_all[start:]))
    assert np.array_equal(phred[sym], q_all[start:].astype(np.int64) - offset)
    assert len(phred) == k


@needs_data
def test_models_with_and_without_the_file_differ_and_the_shipped_weights_stay():
    shipped = defaults.weight_bytes("long")
    all_blob = holdout.train_model("long", None, SHARED, steps_scale=0.004)  # one Adam step
    held_blob = holdout.train_model("long", LONG_FILE, SHARED, steps_scale=0.004)
    assert all_blob != held_blob
    row = holdout.measure(holdout.Case(LONG_FILE, "long", 600, True), SHARED, all_blob, held_blob, max_reads=20)
    assert row.family == "long" and row.reads == 20 and row.held_out is not None
    assert row.held_out != row.all
    assert min(row.ctx, row.all, row.held_out, row.current) > 0.5
    assert defaults.weight_bytes("long") == shipped
    report = holdout.report([row], {"argv": "", "date": "d", "cpu": "c", "revision": "r", "wall_s": 1.0})
    assert LONG_FILE in report and "held out vs all" in report
