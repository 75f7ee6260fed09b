"""A shipped quality model as the starting point of a per-block fit (levels 7-9).

A fit from scratch within a block's time budget learns far less than the shipped models
(:mod:`codec.model.defaults`) learned from their training files, and the shipped models
lose part of their edge on runs they never saw (``benchmarks/results/holdout.md``). Starting
the block's fit from the shipped model keeps what it knows and adapts it to the run.

The shipped models predict the 94 Phred values; a block codes K symbols, its sorted quality
bytes. :func:`start_model` turns the integer weights back into a float :class:`Predictor`
whose q1/q2 inputs and outputs are the block's symbols (``phred[s]`` for symbol ``s``; the
start token stays the start token), so the fitted model is an ordinary K-symbol model that
the archive stores like any other (QUAL_MIX mode 1): the decoder never needs the shipped file.
"""

from __future__ import annotations

import numpy as np
import torch

from .config import PredictorConfig
from .core import Predictor
from .defaults import PHRED_LEVELS, load_default, sees_mate
from .features import qual_vocab
from .quantize import FRAC, H_ONE, MULT_BITS, QuantModel

__all__ = ["dequantize", "restrict", "start_model"]


def _rows_float(q: np.ndarray, mult: np.ndarray, in_scale: float) -> np.ndarray:
    """Float rows of int8 weights ``q`` whose multipliers are ``scale_j * in_scale * 2**32``."""
    scale = mult.astype(np.float64) / (in_scale * 2.0 ** MULT_BITS)
    return q.astype(np.float64) * scale[:, None]


def dequantize(qm: QuantModel) -> Predictor:
    """A float predictor that :func:`~codec.model.quantize.quantize` turns back into ``qm``
    exactly (``tests/test_finetune.py`` checks every shipped file): the fit starts from the very
    model the default level codes with."""
    cfg = qm.cfg
    sd: dict[str, np.ndarray] = {}
    for f in range(cfg.n_features):
        sd[f"embeds.{f}.weight"] = qm.emb[f].astype(np.float64) / 2.0 ** int(qm.emb_shift[f])
    sd["lstm.weight_ih_l0"] = _rows_float(qm.w_ih0, qm.m_ih0, 1.0)
    for layer in range(cfg.layers):
        if layer:
            sd[f"lstm.weight_ih_l{layer}"] = _rows_float(qm.w_ih[layer - 1], qm.m_ih[layer - 1], 1.0 / H_ONE)
        sd[f"lstm.weight_hh_l{layer}"] = _rows_float(qm.w_hh[layer], qm.m_hh[layer], 1.0 / H_ONE)
        sd[f"lstm.bias_ih_l{layer}"] = qm.bias[layer].astype(np.float64) / (1 << FRAC)
        sd[f"lstm.bias_hh_l{layer}"] = np.zeros(4 * cfg.hidden)
    sd["head.weight"] = _rows_float(qm.w_out, qm.m_out, 1.0 / H_ONE)
    sd["head.bias"] = qm.b_out.astype(np.float64) / (1 << FRAC)
    model = Predictor(cfg)
    model.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in sd.items()})
    return model.eval()


def restrict(model: Predictor, phred: np.ndarray, same_mates: bool = False) -> Predictor:
    """The K-symbol model of a Phred-valued ``model`` for a block whose symbol ``s`` is Phred
    ``phred[s]``: q1/q2 embedding rows and output rows ``phred``, start token last. The other
    inputs are copied; ``same_mates`` copies the mate-0 embedding to mate 1 (for a model that
    was trained with the mate input held at 0, so read 2s start where read 1s do)."""
    phred = np.asarray(phred, dtype=np.int64)
    k, start = len(phred), model.cfg.n_symbols
    if k < 1 or start != PHRED_LEVELS or phred.min() < 0 or phred.max() >= start:
        raise ValueError("phred must map the block's symbols into the model's Phred outputs")
    cfg = PredictorConfig(n_symbols=k, input_vocab=qual_vocab(k), embed=model.cfg.embed,
                          hidden=model.cfg.hidden, layers=model.cfg.layers)
    q_rows = torch.from_numpy(np.append(phred, start))
    new = Predictor(cfg)
    with torch.no_grad():
        for f, emb in enumerate(new.embeds):
            src = model.embeds[f].weight
            emb.weight.copy_(src[q_rows] if f < 2 else src)
        if same_mates:
            new.embeds[5].weight[1].copy_(new.embeds[5].weight[0])
        new.lstm.load_state_dict(model.lstm.state_dict())
        new.head.weight.copy_(model.head.weight[q_rows[:k]])
        new.head.bias.copy_(model.head.bias[q_rows[:k]])
    return new.eval()


def start_model(kind: str, phred: np.ndarray) -> Predictor:
    """The shipped model of ``kind`` as a float K-symbol model for a block (see :func:`restrict`)."""
    ip, _ = load_default(kind)
    return restrict(dequantize(ip.qm), phred, same_mates=not sees_mate(kind))
