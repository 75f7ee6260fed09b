"""Generic teacher-forced trainer for the predictor core (minGPT ``Trainer`` shape).

Sequences are integer symbol arrays (``-1`` = unknown: never a target, fed as
the start/unknown token). :class:`InputSpec` turns a sequence into the core's
categorical input features: feature 0 is the previous symbol (``K`` = start or
unknown); with ``context_order > 0`` feature 1 is the hashed identity of the
previous ``context_order`` symbols, the per-position context feature the
design gives the core, which lets the LSTM hold order-k statistics in an
embedding table.

Used by ``seqlm train`` and the heads; nothing here prints (progress bars only
when the caller asks for one).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .config import PredictorConfig
from .core import Predictor

__all__ = ["InputSpec", "History", "new_predictor", "fit", "sequence_bits", "split_holdout"]

LN2 = math.log(2.0)


@dataclass(frozen=True)
class InputSpec:
    """How a symbol sequence becomes input features ``[T, F]``."""

    n_symbols: int
    context_order: int = 0
    context_buckets: int = 0

    def __post_init__(self) -> None:
        if self.context_order < 0 or (self.context_order > 0 and self.context_buckets < 2):
            raise ValueError("context_order > 0 needs context_buckets >= 2")

    @classmethod
    def auto(cls, n_symbols: int, context_order: int, max_buckets: int = 1 << 14) -> "InputSpec":
        """Exact context ids when ``(K+1)**k`` fits in ``max_buckets``, else hashed."""
        if context_order <= 0:
            return cls(n_symbols)
        return cls(n_symbols, context_order, min(max_buckets, (n_symbols + 1) ** context_order))

    @property
    def input_vocab(self) -> tuple[int, ...]:
        if self.context_order:
            return (self.n_symbols + 1, self.context_buckets)
        return (self.n_symbols + 1,)

    def to_dict(self) -> dict:
        return {"n_symbols": self.n_symbols, "context_order": self.context_order,
                "context_buckets": self.context_buckets}

    @classmethod
    def from_dict(cls, d: dict) -> "InputSpec":
        return cls(int(d["n_symbols"]), int(d.get("context_order", 0)), int(d.get("context_buckets", 0)))

    def encode(self, seq: np.ndarray, prefix: np.ndarray | None = None) -> np.ndarray:
        """Inputs ``[..., T, F]`` (int64) for predicting ``seq[..., t]`` from what precedes it.

        ``seq`` is ``[..., T]``; ``prefix [..., P]`` holds the symbols before
        ``seq[..., 0]`` (to continue from a state); without it the first symbol
        is predicted from the start token.
        """
        seq = np.asarray(seq, dtype=np.int64)
        k = self.n_symbols
        lead = seq.shape[:-1]
        if prefix is None:
            pre = np.full(lead + (1,), k, dtype=np.int64)
        else:
            pre = np.broadcast_to(np.asarray(prefix, dtype=np.int64), lead + (np.shape(prefix)[-1],))
            if pre.shape[-1] == 0:
                pre = np.full(lead + (1,), k, dtype=np.int64)
        p = pre.shape[-1]
        full = np.concatenate([pre, seq], axis=-1)
        full = np.where((full < 0) | (full >= k), k, full)
        n = seq.shape[-1]
        prev = full[..., p - 1:p - 1 + n]
        if not self.context_order:
            return prev[..., None]
        need = self.context_order
        if p < need:
            full = np.concatenate([np.full(lead + (need - p,), k, dtype=np.int64), full], axis=-1)
            p = need
        base = k + 1
        exact = base ** self.context_order <= self.context_buckets
        ctx = np.zeros(lead + (n,), dtype=np.int64)
        for j in range(need, 0, -1):
            ctx = ctx * base + full[..., p - j:p - j + n]
            if not exact:
                ctx = ctx % 2_147_483_629
        ctx = ctx % self.context_buckets
        return np.stack([prev, ctx], axis=-1)


@dataclass
class History:
    """What a :func:`fit` run did."""

    epochs: int = 0
    steps: int = 0
    seconds: float = 0.0
    train_symbols: int = 0
    heldout_symbols: int = 0
    train_bits: list[float] = field(default_factory=list)    # per epoch, bits/symbol
    heldout_bits: list[float] = field(default_factory=list)  # per epoch, bits/symbol
    best_epoch: int = -1
    best_heldout_bits: float = float("nan")

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def new_predictor(spec: InputSpec, *, hidden: int = 64, layers: int = 1, embed: int = 16,
                  seed: int = 0) -> Predictor:
    torch.manual_seed(seed)
    cfg = PredictorConfig(n_symbols=spec.n_symbols, input_vocab=spec.input_vocab, embed=embed,
                          hidden=hidden, layers=layers)
    return Predictor(cfg)


def split_holdout(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, held-out) index split; held-out empty when ``n < 2``."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_hold = int(round(n * fraction)) if fraction > 0 else 0
    n_hold = min(max(n_hold, 1 if fraction > 0 and n >= 2 else 0), n - 1) if n >= 2 else 0
    return np.sort(order[n_hold:]), np.sort(order[:n_hold])


def _windows(seqs: list[np.ndarray], targets: list[np.ndarray], spec: InputSpec, max_len: int):
    """(inputs [T, F], targets [T]) windows of at most ``max_len`` positions."""
    out = []
    for s, tg in zip(seqs, targets):
        if not (tg >= 0).any():
            continue
        x = spec.encode(s)
        for a in range(0, len(s), max_len):
            t = tg[a:a + max_len]
            if (t >= 0).any():
                out.append((x[a:a + max_len], t))
    return out


def _batch(items) -> tuple[torch.Tensor, torch.Tensor]:
    t_max = max(len(t) for _, t in items)
    f = items[0][0].shape[1]
    x = np.zeros((len(items), t_max, f), dtype=np.int64)
    y = np.full((len(items), t_max), -1, dtype=np.int64)
    for i, (xi, ti) in enumerate(items):
        x[i, :len(ti)] = xi
        y[i, :len(ti)] = ti
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def sequence_bits(model: Predictor, seqs: list[np.ndarray], spec: InputSpec, *,
                  targets: list[np.ndarray] | None = None,
                  batch_symbols: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Code length in bits of each whole sequence, and its count of coded symbols.

    With ``targets`` (same shapes, ``-1`` = skip) only those positions are counted.
    """
    was_training = model.training
    model.eval()
    seqs = [np.asarray(s, dtype=np.int64) for s in seqs]
    tgts = seqs if targets is None else [np.asarray(t, dtype=np.int64) for t in targets]
    bits = np.zeros(len(seqs))
    counts = np.array([int((t >= 0).sum()) for t in tgts], dtype=np.int64)
    order = [i for i in sorted(range(len(seqs)), key=lambda i: len(seqs[i])) if counts[i]]
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and (j - i + 1) * len(seqs[order[j]]) <= batch_symbols:
            j += 1
        idx = order[i:j]
        x, y = _batch([(spec.encode(seqs[k]), tgts[k]) for k in idx])
        logits, _ = model(x)
        logp = torch.log_softmax(logits.float(), dim=-1)
        nll = -logp.gather(-1, y.clamp_min(0)[..., None])[..., 0] * (y >= 0)
        bits[idx] = (nll.sum(dim=1) / LN2).numpy()
        i = j
    model.train(was_training)
    return bits, counts


def _bits_per_symbol(model, seqs, spec, targets=None) -> float:
    b, c = sequence_bits(model, seqs, spec, targets=targets)
    return float(b.sum() / max(1, c.sum()))


def _split(seqs: list[np.ndarray], fraction: float, seed: int):
    """(train inputs, train targets, held-out inputs, held-out targets).

    With at least 20 sequences whole sequences are held out; with fewer, a
    random ``fraction`` of positions is (their targets are hidden from training).
    """
    if len(seqs) >= 20 or fraction <= 0:
        tr, ho = split_holdout(len(seqs), fraction, seed)
        return [seqs[i] for i in tr], [seqs[i] for i in tr], [seqs[i] for i in ho], [seqs[i] for i in ho]
    rng = np.random.default_rng(seed)
    tr_t, ho_t = [], []
    for s in seqs:
        hide = rng.random(len(s)) < fraction
        tr_t.append(np.where(hide, -1, s))
        ho_t.append(np.where(hide, s, -1))
    return seqs, tr_t, seqs, ho_t


def fit(model: Predictor, sequences: list[np.ndarray], spec: InputSpec, *,
        epochs: int | None = None, time_budget: float | None = None, seed: int = 0,
        holdout: float = 0.1, heldout: list[np.ndarray] | None = None,
        batch_size: int = 32, max_len: int = 200, lr: float = 3e-3, weight_decay: float = 0.0,
        min_steps: int = 20, patience: int = 4, progress: bool = False, extra_loss=None) -> History:
    """Teacher-forced training with Adam; returns a :class:`History`.

    Stops after ``epochs`` passes or ``time_budget`` seconds (whichever comes
    first; 10 epochs when neither is given). ``heldout`` sequences, or a
    ``holdout`` fraction of ``sequences`` split off by ``seed``, are scored
    after each epoch (at least ``min_steps`` batches); the weights of the best
    held-out epoch are kept, the learning rate halves after an epoch without
    improvement and training stops after ``patience`` such epochs in a row.
    """
    if spec.input_vocab != model.cfg.input_vocab:
        raise ValueError("input spec does not match the predictor's input_vocab")
    t0 = time.monotonic()
    seqs = [np.asarray(s, dtype=np.int64) for s in sequences]
    if heldout is None:
        seqs, tr_tg, heldout, ho_tg = _split(seqs, holdout, seed)
    else:
        tr_tg = seqs
        heldout = [np.asarray(s, dtype=np.int64) for s in heldout]
        ho_tg = heldout
    if epochs is None and time_budget is None:
        epochs = 10
    max_epochs = epochs if epochs is not None else 1_000_000
    windows = _windows(seqs, tr_tg, spec, max_len)
    if not windows:
        raise ValueError("no training symbols")
    hist = History(train_symbols=int(sum(int((t >= 0).sum()) for _, t in windows)),
                   heldout_symbols=int(sum(int((t >= 0).sum()) for t in ho_tg)))
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    best_state, best = None, float("inf")
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=None, unit="batch", leave=False)
    model.train()
    out_of_time = False
    n_batches = max(min_steps, (len(windows) + batch_size - 1) // batch_size)
    order = np.zeros(0, dtype=np.int64)
    stale = 0
    for epoch in range(max_epochs):
        tot_loss, tot_n = 0.0, 0
        for _ in range(n_batches):
            if len(order) < min(batch_size, len(windows)):
                order = np.concatenate([order, rng.permutation(len(windows))])
            pick, order = order[:batch_size], order[batch_size:]
            x, y = _batch([windows[i] for i in pick])
            _, loss = model(x, targets=y)
            n = int((y >= 0).sum())
            total = loss if extra_loss is None else loss + extra_loss(model)
            opt.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            tot_loss += float(loss.detach()) * n
            tot_n += n
            hist.steps += 1
            if bar is not None:
                bar.update(1)
            if time_budget is not None and time.monotonic() - t0 > time_budget:
                out_of_time = True
                break
        hist.epochs = epoch + 1
        hist.train_bits.append(tot_loss / max(1, tot_n) / LN2)
        if hist.heldout_symbols:
            ho = _bits_per_symbol(model, heldout, spec, ho_tg)
            hist.heldout_bits.append(ho)
            if bar is not None:
                bar.set_postfix(heldout_bits=f"{ho:.4f}")
            if ho < best - 1e-4:
                best, hist.best_epoch, stale = ho, epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
                if stale >= patience:
                    break
                for g in opt.param_groups:
                    g["lr"] *= 0.5
        if out_of_time:
            break
    if bar is not None:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
        hist.best_heldout_bits = best
    model.eval()
    hist.seconds = time.monotonic() - t0
    return hist
