"""Gap filling with context on both sides.

A forward predictor and a backward one (the same core trained on reversed
sequences) each give a joint probability of a window of the sequence; a fill
is scored by the sum of both log-probabilities over the gap plus ``window``
known symbols after it (forward) and before it (backward), so the symbols on
the far side of the gap vote through the chain rule.

- short gaps (at most ``exact_limit`` candidates): every fill is scored;
- long gaps: forward and backward beam searches propose fills, which are
  rescored by the two-sided score and refined by single-position changes
  until no change helps.

Gaps are filled left to right with later gaps masked, then each gap is
re-solved with all others fixed until nothing changes (coordinate ascent).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import CodecError
from ..model.core import Predictor
from ..model.train import InputSpec, fit, new_predictor
from .alphabet import Alphabet

__all__ = ["GapModels", "GapFillError", "find_gaps", "train_gap_models", "fill_sequence", "gap_accuracy"]


class GapFillError(CodecError):
    """Gapped input, models or truth do not fit together."""


@dataclass
class GapModels:
    alphabet: Alphabet
    forward: Predictor
    forward_spec: InputSpec
    backward: Predictor | None = None
    backward_spec: InputSpec | None = None


def find_gaps(seq: str, gap_char: str) -> list[tuple[int, int]]:
    """Half-open ``(start, end)`` runs of ``gap_char``."""
    runs, i = [], 0
    while i < len(seq):
        if seq[i] == gap_char:
            j = i
            while j < len(seq) and seq[j] == gap_char:
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    return runs


def train_gap_models(seqs: list[np.ndarray], alphabet: Alphabet, *, hidden: int = 128, layers: int = 1,
                     embed: int = 16, context_order: int = 0, epochs: int | None = None,
                     time_budget: float | None = None, seed: int = 0, progress: bool = False) -> GapModels:
    """Forward and backward predictors on ``seqs`` (``-1`` = unknown)."""
    spec = InputSpec.auto(alphabet.size, context_order)
    budget = None if time_budget is None else time_budget / 2
    models = []
    for direction, data in (("forward", seqs), ("backward", [s[::-1].copy() for s in seqs])):
        m = new_predictor(spec, hidden=hidden, layers=layers, embed=embed, seed=seed)
        fit(m, data, spec, epochs=epochs, time_budget=budget, seed=seed, progress=progress)
        models.append(m)
    return GapModels(alphabet, models[0], spec, models[1], spec)


@torch.no_grad()
def _window_logp(model: Predictor, spec: InputSpec, seq: np.ndarray, a: int, b: int,
                 cands: np.ndarray, window: int, batch: int = 4096) -> np.ndarray:
    """log P(seq[a:b+window] with seq[a:b] = cand | seq[:a]) for each candidate row."""
    end = min(len(seq), b + window)
    tail = seq[b:end]
    prefix = seq[:a]
    if a > 0:
        _, state = model.hidden_states(torch.from_numpy(spec.encode(prefix)[None]))
    else:
        state = model.initial_state(1)
    out = np.empty(len(cands))
    for i in range(0, len(cands), batch):
        c = cands[i:i + batch]
        full = np.concatenate([c, np.broadcast_to(tail, (len(c), len(tail)))], axis=1)
        x = torch.from_numpy(spec.encode(full, prefix=prefix[None] if a > 0 else None))
        st = (state[0].expand(-1, len(c), -1).contiguous(), state[1].expand(-1, len(c), -1).contiguous())
        logits, _ = model(x, st)
        logp = torch.log_softmax(logits.float(), dim=-1)
        y = torch.from_numpy(full)
        lp = logp.gather(-1, y.clamp_min(0)[..., None])[..., 0] * (y >= 0)
        out[i:i + len(c)] = lp.sum(dim=1).numpy()
    return out


def _score(models: GapModels, seq: np.ndarray, a: int, b: int, cands: np.ndarray, window: int) -> np.ndarray:
    s = _window_logp(models.forward, models.forward_spec, seq, a, b, cands, window)
    if models.backward is not None:
        n = len(seq)
        s = s + _window_logp(models.backward, models.backward_spec, seq[::-1].copy(), n - b, n - a,
                             cands[:, ::-1].copy(), window)
    return s


@torch.no_grad()
def _beam(model: Predictor, spec: InputSpec, seq: np.ndarray, a: int, b: int, width: int) -> np.ndarray:
    """Top ``width`` fills of ``seq[a:b]`` under one direction's model alone."""
    prefix = seq[:a]
    k = spec.n_symbols
    if a > 0:
        _, state = model.hidden_states(torch.from_numpy(spec.encode(prefix)[None]))
    else:
        state = model.initial_state(1)
    hyps = np.zeros((1, 0), dtype=np.int64)
    scores = np.zeros(1)
    for _ in range(b - a):
        hist = np.concatenate([np.broadcast_to(prefix, (len(hyps), len(prefix))), hyps], axis=1)
        if hist.shape[1] == 0:
            x = spec.encode(np.zeros((len(hyps), 1), dtype=np.int64))[:, 0]
        else:
            x = spec.encode(np.zeros((len(hyps), 1), dtype=np.int64), prefix=hist)[:, 0]
        logits, state = model.step(torch.from_numpy(x), state)
        lp = torch.log_softmax(logits.float(), dim=-1).numpy()
        total = (scores[:, None] + lp).reshape(-1)
        keep = np.argsort(-total, kind="stable")[:width]
        parent, sym = keep // k, keep % k
        hyps = np.concatenate([hyps[parent], sym[:, None]], axis=1)
        scores = total[keep]
        state = (state[0][:, parent], state[1][:, parent])
    return hyps


def _refine(models: GapModels, seq: np.ndarray, a: int, b: int, best: np.ndarray, best_score: float,
            window: int, max_sweeps: int = 8) -> tuple[np.ndarray, float]:
    """Change one position at a time while the two-sided score improves."""
    k = models.alphabet.size
    for _ in range(max_sweeps):
        cands = np.repeat(best[None], (b - a) * k, axis=0)
        rows = np.arange(len(cands))
        cands[rows, rows // k] = rows % k
        sc = _score(models, seq, a, b, cands, window)
        i = int(np.argmax(sc))
        if sc[i] <= best_score + 1e-9:
            break
        best, best_score = cands[i].copy(), float(sc[i])
    return best, best_score


def _solve_gap(models: GapModels, seq: np.ndarray, a: int, b: int, *, exact_limit: int, beam: int,
               window: int) -> np.ndarray:
    k = models.alphabet.size
    g = b - a
    if k ** g <= exact_limit:
        cands = np.array(list(itertools.product(range(k), repeat=g)), dtype=np.int64)
        sc = _score(models, seq, a, b, cands, window)
        return cands[int(np.argmax(sc))]
    pools = [_beam(models.forward, models.forward_spec, seq, a, b, beam)]
    if models.backward is not None:
        n = len(seq)
        rev = _beam(models.backward, models.backward_spec, seq[::-1].copy(), n - b, n - a, beam)
        pools.append(rev[:, ::-1])
    cands = np.unique(np.concatenate(pools, axis=0), axis=0)
    sc = _score(models, seq, a, b, cands, window)
    i = int(np.argmax(sc))
    best, _ = _refine(models, seq, a, b, cands[i].copy(), float(sc[i]), window)
    return best


def fill_sequence(models: GapModels, gapped: str, gap_char: str = "-", *, exact_limit: int = 8000,
                  beam: int = 64, window: int = 32, max_passes: int = 3) -> str:
    """``gapped`` with every ``gap_char`` replaced by the best-scoring symbols."""
    alpha = models.alphabet
    gaps = find_gaps(gapped, gap_char)
    if not gaps:
        return gapped
    seq = alpha.encode(gapped.replace(gap_char, "\0"))
    for a, b in gaps:
        seq[a:b] = -1
    fills: dict[tuple[int, int], np.ndarray] = {}
    for _ in range(max_passes):
        changed = False
        for a, b in gaps:
            work = seq.copy()
            work[a:b] = -1
            f = _solve_gap(models, work, a, b, exact_limit=exact_limit, beam=beam, window=window)
            if (a, b) not in fills or not np.array_equal(fills[(a, b)], f):
                changed = True
            fills[(a, b)] = f
            seq[a:b] = f
        if not changed:
            break
    out = list(gapped)
    for (a, b), f in fills.items():
        out[a:b] = list(alpha.decode(f))
    return "".join(out)


def gap_accuracy(gapped: str, filled: str, truth: str, gap_char: str = "-") -> tuple[int, int]:
    """(right, total) over the gap positions."""
    if len(truth) != len(gapped):
        raise GapFillError(f"truth has length {len(truth)}, gapped sequence {len(gapped)}")
    pos = [i for i, c in enumerate(gapped) if c == gap_char]
    return sum(filled[i].upper() == truth[i].upper() for i in pos), len(pos)
