"""``codec.model.finetune``: the shipped quality models as the start of a block's fit (levels 7-9)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from codec.model import defaults
from codec.model.finetune import dequantize, restrict, start_model
from codec.model.quantize import quantize
from codec.streams import qual_mix
from tests.test_qualities import _real_block


@pytest.mark.parametrize("kind", defaults.KINDS)
def test_dequantized_weights_quantize_back_to_the_shipped_file(kind: str) -> None:
    ip, _ = defaults.load_default(kind)
    assert quantize(dequantize(ip.qm)).to_bytes() == defaults.weight_bytes(kind)


def _random_inputs(k: int, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Block-space inputs: q1/q2 symbols 0..k (k = start), the other features anywhere."""
    x = np.stack([rng.integers(0, v, shape) for v in (k + 1, k + 1, 128, 125, 16, 2)], axis=-1)
    return x.astype(np.int64)


def test_restricted_model_gives_the_shipped_logits_of_the_block_values() -> None:
    rng = np.random.default_rng(5)
    full = dequantize(defaults.load_default("illumina40_v2")[0].qm)
    phred = np.array([2, 7, 14, 20, 25, 30, 33, 37, 40], dtype=np.int64)
    small = restrict(full, phred)
    assert small.cfg.n_symbols == len(phred)
    x = _random_inputs(len(phred), rng, (3, 40))
    to_phred = np.append(phred, defaults.PHRED_LEVELS)   # symbol s -> Phred, start -> start
    x_full = x.copy()
    x_full[..., :2] = to_phred[x[..., :2]]
    with torch.no_grad():
        got, _ = small(torch.from_numpy(x))
        want, _ = full(torch.from_numpy(x_full))
    assert torch.allclose(got, want[..., torch.from_numpy(phred)], atol=1e-5)


def test_a_model_blind_to_the_mate_starts_read_2s_where_read_1s_are() -> None:
    phred = np.arange(3, 40)
    blind = start_model("illumina40_v2", phred)
    assert torch.equal(blind.embeds[5].weight[1], blind.embeds[5].weight[0])
    seeing = start_model("illumina40_v3", phred)
    assert not torch.equal(seeing.embeds[5].weight[1], seeing.embeds[5].weight[0])
    with pytest.raises(ValueError):
        start_model("illumina40_v2", np.array([3, 94]))


def test_fit_from_the_shipped_model_codes_smaller_than_from_scratch() -> None:
    """The level-7 budget on 1500 real reads: starting from the shipped model keeps what it knew
    (both payloads carry a fitted model of the same size class, so the difference is coding)."""
    raw, lengths, bases = _real_block(1500)
    alphabet = np.unique(raw)
    sym = np.searchsorted(alphabet, raw).astype(np.uint8)
    mate = np.zeros(len(lengths), np.uint8)
    k = len(alphabet)
    start = qual_mix.default_mapping(alphabet, lengths, mate)
    scratch, _ = qual_mix.encode_with_estimate(sym, lengths, bases, mate, k, 7)
    tuned, _ = qual_mix.encode_with_estimate(sym, lengths, bases, mate, k, 7, start=start)
    assert len(tuned) < 0.95 * len(scratch)
    for payload in (scratch, tuned):
        assert np.array_equal(qual_mix.decode_qualities(payload, lengths, bases, mate, k), sym)
