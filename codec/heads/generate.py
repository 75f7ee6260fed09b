"""Sampling from a trained predictor: temperature, top-k, an optional prompt.

The prompt is run through the teacher-forced pass once; the samples then step
the predictor one position at a time as a batch. A seeded ``torch.Generator``
makes the output reproducible (on the same torch build and thread count).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import CodecError
from ..model.core import Predictor
from ..model.train import InputSpec, sequence_bits
from .alphabet import Alphabet, AlphabetMismatchError

__all__ = ["GenerateError", "generate", "bits_per_symbol"]


class GenerateError(CodecError):
    """Bad sampling parameters or prompt."""


@torch.no_grad()
def generate(model: Predictor, spec: InputSpec, alphabet: Alphabet, *, n: int, length: int,
             prompt: str = "", temperature: float = 1.0, top_k: int = 0, seed: int = 0,
             batch: int = 256) -> list[str]:
    """``n`` sequences, each ``prompt`` followed by ``length`` sampled symbols.

    ``temperature == 0`` takes the most likely symbol at every step; ``top_k > 0``
    samples among the ``top_k`` most likely symbols only.
    """
    if n < 0 or length < 0:
        raise GenerateError("-n and --length must not be negative")
    if temperature < 0:
        raise GenerateError(f"temperature must be >= 0 (got {temperature})")
    if top_k < 0:
        raise GenerateError(f"top-k must be >= 0 (got {top_k})")
    pre = alphabet.encode(prompt) if prompt else np.zeros(0, dtype=np.int64)
    if prompt and (pre < 0).any():
        bad = sorted({c for c, v in zip(prompt, pre) if v < 0})
        raise AlphabetMismatchError(f"prompt has characters outside the {alphabet.name} alphabet: {''.join(bad)!r}")
    model.eval()
    gen = torch.Generator().manual_seed(int(seed))
    out: list[str] = []
    for start in range(0, n, batch):
        b = min(batch, n - start)
        if len(pre):
            _, state = model.hidden_states(torch.from_numpy(spec.encode(pre)[None]))
            state = (state[0].repeat(1, b, 1), state[1].repeat(1, b, 1))
        else:
            state = model.initial_state(b)
        hist = np.broadcast_to(pre, (b, len(pre))).copy()
        for _ in range(length):
            x = spec.encode(np.zeros((b, 1), dtype=np.int64), prefix=hist if hist.shape[1] else None)[:, 0]
            logits, state = model.step(torch.from_numpy(x), state)
            logits = logits.float()
            if temperature == 0:
                sym = logits.argmax(dim=-1)
            else:
                logits = logits / temperature
                if 0 < top_k < logits.shape[-1]:
                    kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                sym = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=gen)[:, 0]
            hist = np.concatenate([hist, sym.numpy()[:, None]], axis=1)
        out.extend(prompt + alphabet.decode(row[len(pre):]) for row in hist)
    return out


def bits_per_symbol(model: Predictor, spec: InputSpec, seqs: list[np.ndarray]) -> float:
    """Held-out code length of ``seqs`` in bits per coded symbol."""
    bits, counts = sequence_bits(model, seqs, spec)
    return float(bits.sum() / max(1, counts.sum()))
