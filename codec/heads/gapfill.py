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
    ngram_forward: "NgramModel | None" = None
    ngram_backward: "NgramModel | None" = None
    lstm_weight: float = 1.0        # mixture weight of the LSTM against the n-gram model, per position


class NgramModel:
    """Interpolated Witten-Bell n-gram model (PPM-style blending) over symbols ``0..K-1``.

    ``P_n(x|h) = (c(h,x) + u(h) P_{n-1}(x|h')) / (c(h) + u(h))`` with ``u(h)``
    the number of distinct symbols seen after ``h`` and ``h'`` the context one
    shorter; order 0 is the add-1/2 symbol frequency. A long context seen once
    predicts its follower with weight 1/2, so repeated motifs in the sequence
    are copied. Contexts are cut at an unknown symbol (``-1``).
    """

    def __init__(self, n_symbols: int, order: int, seqs, fit_weights: bool = False) -> None:
        self.k, self.order = int(n_symbols), int(order)
        self.weights: np.ndarray | None = None
        self.tables: list[dict] = [dict() for _ in range(self.order + 1)]
        for s in seqs:
            s = [int(v) for v in s]
            for t, x in enumerate(s):
                if x < 0:
                    continue
                for n in range(self.order + 1):
                    if n > t or (n and s[t - n] < 0):
                        break
                    h = tuple(s[t - n:t])
                    row = self.tables[n].get(h)
                    if row is None:
                        row = self.tables[n][h] = np.zeros(self.k)
                    row[x] += 1
        self._cache: dict = {}
        if fit_weights:
            self.weights = self._fit_order_weights(seqs)

    def _context(self, hist, order: int) -> tuple:
        h = []
        for v in reversed(hist[-order:] if order else []):
            if v < 0:
                break
            h.append(int(v))
        return tuple(reversed(h))

    def order_dist(self, hist, order: int, leave_out: int | None = None) -> np.ndarray:
        """Witten-Bell probabilities up to ``order``; ``leave_out`` removes one occurrence of
        that symbol after this context from every level (the symbol's own count, for
        leave-one-out estimates)."""
        h = self._context(hist, order)
        row = self.tables[0].get((), np.zeros(self.k)).astype(float)
        if leave_out is not None:
            row[leave_out] -= 1
        p = (row + 0.5) / (row.sum() + 0.5 * self.k)
        for n in range(1, len(h) + 1):
            row = self.tables[n].get(h[len(h) - n:])
            if row is None:
                break
            if leave_out is not None:
                row = row.copy()
                row[leave_out] -= 1
            c, u = row.sum(), float((row > 0).sum())
            if c <= 0:
                break
            p = (row + u * p) / (c + u)
        return p

    def _fit_order_weights(self, seqs, iterations: int = 100) -> np.ndarray:
        """Mixture weights of orders 0..order that maximise the leave-one-out likelihood of ``seqs``.

        Deleted interpolation: each known symbol is predicted by every order with its own
        count removed, and EM finds the weights. On a few hundred symbols the long orders
        only echo the symbol itself and get no weight, so the model falls back to what
        the data can support (down to the symbol frequencies)."""
        rows = []
        for s in seqs:
            s = [int(v) for v in s]
            for t, x in enumerate(s):
                if x >= 0:
                    rows.append([self.order_dist(s[:t], n, x)[x] for n in range(self.order + 1)])
        w = np.full(self.order + 1, 1.0 / (self.order + 1))
        if not rows:
            return w
        probs = np.maximum(np.array(rows), 1e-12)
        for _ in range(iterations):
            r = probs * w
            r /= r.sum(axis=1, keepdims=True)
            w = r.mean(axis=0)
        return w

    def dist(self, hist) -> np.ndarray:
        """Next-symbol probabilities after the symbol list ``hist``."""
        h = self._context(hist, self.order)
        p = self._cache.get(h)
        if p is not None:
            return p
        if self.weights is None:
            p = self.order_dist(h, self.order)
        else:
            p = sum(w * self.order_dist(h, n) for n, w in enumerate(self.weights) if w > 0)
        self._cache[h] = p
        return p

    def window_p(self, seq: np.ndarray, a: int, b: int, cands: np.ndarray, window: int) -> np.ndarray:
        """Per-position probabilities ``[N, L]`` of ``seq[a:b+window]`` with ``seq[a:b]`` = each candidate."""
        end = min(len(seq), b + window)
        pre = [int(v) for v in seq[max(0, a - self.order):a]]
        tail = [int(v) for v in seq[b:end]]
        out = np.ones((len(cands), b - a + len(tail)))
        for i, c in enumerate(cands):
            full = pre + [int(v) for v in c] + tail
            for j in range(b - a + len(tail)):
                x = full[len(pre) + j]
                if x >= 0:
                    out[i, j] = self.dist(full[:len(pre) + j])[x]
        return out


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
    """Per-position log P of seq[a:b+window] with seq[a:b] = cand, given seq[:a] (``[N, L]``; 0 at unknowns)."""
    end = min(len(seq), b + window)
    tail = seq[b:end]
    prefix = seq[:a]
    if a > 0:
        _, state = model.hidden_states(torch.from_numpy(spec.encode(prefix)[None]))
    else:
        state = model.initial_state(1)
    out = np.empty((len(cands), b - a + len(tail)))
    for i in range(0, len(cands), batch):
        c = cands[i:i + batch]
        full = np.concatenate([c, np.broadcast_to(tail, (len(c), len(tail)))], axis=1)
        x = torch.from_numpy(spec.encode(full, prefix=prefix[None] if a > 0 else None))
        st = (state[0].expand(-1, len(c), -1).contiguous(), state[1].expand(-1, len(c), -1).contiguous())
        logits, _ = model(x, st)
        logp = torch.log_softmax(logits.float(), dim=-1)
        y = torch.from_numpy(full)
        lp = logp.gather(-1, y.clamp_min(0)[..., None])[..., 0] * (y >= 0)
        out[i:i + len(c)] = lp.numpy()
    return out


def _direction_logp(model, spec, ngram, w: float, seq, a, b, cands, window) -> np.ndarray:
    """Summed log-probability of each candidate's window under one direction's (mixed) model."""
    if ngram is None or w >= 1.0:
        return _window_logp(model, spec, seq, a, b, cands, window).sum(axis=1)
    p = ngram.window_p(seq, a, b, cands, window)
    if model is not None and w > 0.0:
        p = w * np.exp(_window_logp(model, spec, seq, a, b, cands, window)) + (1.0 - w) * p
    return np.log(p).sum(axis=1)


def _score(models: GapModels, seq: np.ndarray, a: int, b: int, cands: np.ndarray, window: int) -> np.ndarray:
    w = models.lstm_weight
    s = _direction_logp(models.forward, models.forward_spec, models.ngram_forward, w, seq, a, b, cands, window)
    if models.backward is not None or models.ngram_backward is not None:
        n = len(seq)
        s = s + _direction_logp(models.backward, models.backward_spec, models.ngram_backward, w,
                                seq[::-1].copy(), n - b, n - a, cands[:, ::-1].copy(), window)
    return s


@torch.no_grad()
def _beam(model: Predictor, spec: InputSpec, seq: np.ndarray, a: int, b: int, width: int,
          ngram: NgramModel | None = None, w: float = 1.0) -> np.ndarray:
    """Top ``width`` fills of ``seq[a:b]`` under one direction's (mixed) model alone."""
    prefix = seq[:a]
    if model is None or (ngram is not None and w <= 0.0):
        return _ngram_beam(ngram, seq, a, b, width)
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
        if ngram is not None and w < 1.0:
            pn = np.stack([ngram.dist(list(h)) for h in hist])
            lp = np.log(w * np.exp(lp) + (1.0 - w) * pn)
        total = (scores[:, None] + lp).reshape(-1)
        keep = np.argsort(-total, kind="stable")[:width]
        parent, sym = keep // k, keep % k
        hyps = np.concatenate([hyps[parent], sym[:, None]], axis=1)
        scores = total[keep]
        state = (state[0][:, parent], state[1][:, parent])
    return hyps


def _ngram_beam(ngram: NgramModel, seq: np.ndarray, a: int, b: int, width: int) -> np.ndarray:
    prefix = [int(v) for v in seq[max(0, a - ngram.order):a]]
    hyps, scores = [[]], np.zeros(1)
    for _ in range(b - a):
        lp = np.log(np.stack([ngram.dist(prefix + h) for h in hyps]))
        total = (scores[:, None] + lp).reshape(-1)
        keep = np.argsort(-total, kind="stable")[:width]
        hyps = [hyps[i // ngram.k] + [int(i % ngram.k)] for i in keep]
        scores = total[keep]
    return np.array(hyps, dtype=np.int64).reshape(len(hyps), b - a)


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
    w = models.lstm_weight
    pools = [_beam(models.forward, models.forward_spec, seq, a, b, beam, models.ngram_forward, w)]
    if models.backward is not None or models.ngram_backward is not None:
        n = len(seq)
        rev = _beam(models.backward, models.backward_spec, seq[::-1].copy(), n - b, n - a, beam,
                    models.ngram_backward, w)
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
    fills = fill_encoded(models, seq, gaps, exact_limit=exact_limit, beam=beam, window=window, max_passes=max_passes)
    out = list(gapped)
    for (a, b), f in fills.items():
        out[a:b] = list(alpha.decode(f))
    return "".join(out)


def marginal_fill(models: GapModels, seq: np.ndarray, gaps: list[tuple[int, int]], fills: dict, *,
                  sweeps: int = 25, burn: int = 5, window: int = 32, seed: int = 0) -> dict:
    """Per-position posterior-marginal fill (maximises the expected number of right symbols).

    Gibbs sampling over all gap positions from the joint fill ``fills``: each
    position is resampled from its two-sided conditional given everything
    else; the most frequent symbol after ``burn`` sweeps is kept.
    """
    rng = np.random.default_rng(seed)
    k = models.alphabet.size
    seq = seq.copy()
    for (a, b), f in fills.items():
        seq[a:b] = f
    counts = {g: np.zeros((g[1] - g[0], k)) for g in gaps}
    cands = np.repeat(np.arange(k)[:, None], 1, axis=1)
    for sweep in range(sweeps):
        for a, b in gaps:
            for i in range(a, b):
                work = seq.copy()
                work[i] = -1
                sc = _score(models, work, i, i + 1, cands, window)
                p = np.exp(sc - sc.max())
                seq[i] = rng.choice(k, p=p / p.sum())
                if sweep >= burn:
                    counts[(a, b)][i - a, seq[i]] += 1
    return {g: c.argmax(axis=1).astype(np.int64) for g, c in counts.items()}


def fill_encoded(models: GapModels, seq: np.ndarray, gaps: list[tuple[int, int]], *, exact_limit: int = 8000,
                 beam: int = 64, window: int = 32, max_passes: int = 3, decode: str = "joint") -> dict:
    """Best fill of each ``(start, end)`` run of ``seq`` (symbol indices), keyed by run.

    ``decode="joint"``: the most probable fill of each gap; ``"marginal"``:
    the most probable symbol at each gap position (:func:`marginal_fill`).
    """
    seq = seq.copy()
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
    if decode == "marginal":
        fills = marginal_fill(models, seq, gaps, fills, window=window)
    return fills


def gap_accuracy(gapped: str, filled: str, truth: str, gap_char: str = "-") -> tuple[int, int]:
    """(right, total) over the gap positions."""
    if len(truth) != len(gapped):
        raise GapFillError(f"truth has length {len(truth)}, gapped sequence {len(gapped)}")
    pos = [i for i, c in enumerate(gapped) if c == gap_char]
    return sum(filled[i].upper() == truth[i].upper() for i in pos), len(pos)


# --- corpus preparation and whole-file helpers (used by the CLI and the benchmark) ------------------

def _identity(query: str, subject: str, gaps: set[str], aligner) -> tuple[float, int]:
    """Identity over aligned columns where the query is known, and that column count."""
    q = "".join("X" if c in gaps else c for c in query.upper())
    aln = aligner.align(q, subject)[0]
    same = cols = 0
    for (qa, qb), (sa, _) in zip(*aln.aligned):
        for off in range(qb - qa):
            qc = q[qa + off]
            if qc != "X":
                cols += 1
                same += qc == subject[sa + off]
    return (same / cols if cols else 0.0), cols


def near_duplicates(queries: list[str], corpus: list[str], gaps: set[str], min_identity: float,
                    kmer: int = 8) -> list[bool]:
    """Which corpus sequences are at least ``min_identity`` identical to a query.

    Identity counts the known query positions aligned to the corpus sequence
    (global alignment, free end gaps), over at least 30 columns or half the
    shorter sequence; sequences sharing fewer than 3 known ``kmer``-mers are
    not aligned at all.
    """
    from Bio import Align

    al = Align.PairwiseAligner()
    al.mode = "global"
    al.match_score, al.mismatch_score = 1.0, -1.0
    al.open_gap_score, al.extend_gap_score, al.end_gap_score = -5.0, -0.5, 0.0
    qk = []
    for q in queries:
        up = q.upper()
        qk.append({up[i:i + kmer] for i in range(len(up) - kmer + 1) if not (set(up[i:i + kmer]) & gaps)})
    out = []
    for s in corpus:
        up = "".join(c for c in s.upper() if c.isalpha())
        hit = False
        for q, ks in zip(queries, qk):
            if sum(up[i:i + kmer] in ks for i in range(len(up) - kmer + 1)) < 3:
                continue
            ident, cols = _identity(q, up, gaps, al)
            known = sum(c not in gaps for c in q)
            if cols >= min(30, 0.5 * min(known, len(up))) and ident >= min_identity:
                hit = True
                break
        out.append(hit)
    return out


def encode_gapped(alphabet: Alphabet, seq: str, gaps: set[str]) -> np.ndarray:
    """Symbol indices with gap positions (and unknown symbols) as ``-1``."""
    x = alphabet.encode(seq)
    mask = np.array([c in gaps for c in seq], dtype=bool)
    x[mask] = -1
    return x


SMALL_DATA = 20_000   # known symbols below which an LSTM cannot learn more than an n-gram model
NGRAM_ORDER = 3


def pick_method(method: str, known_symbols: int) -> str:
    """``"lstm"`` or ``"ngram"``; ``"auto"`` decides by the amount of training data.

    Below SMALL_DATA symbols (one protein, a few genes) the LSTM only memorises the
    input and copies its motifs into the gaps; an interpolated n-gram model whose
    order weights are fitted by leave-one-out uses no more context than the data
    supports."""
    if method == "auto":
        return "ngram" if known_symbols < SMALL_DATA else "lstm"
    if method not in ("lstm", "ngram"):
        raise GapFillError(f"unknown gap-fill method {method!r}")
    return method


def prepare_training(records, alphabet: Alphabet, gaps: set[str], train_files=(), exclude=(),
                     max_identity: float = 0.95, *, hidden: int = 128, time_budget: float | None = 120.0,
                     epochs: int | None = None, seed: int = 0, progress: bool = False,
                     ngram_order: int = 0, lstm_weight: float = 1.0, decode: str = "joint",
                     method: str = "manual"):
    """Train forward and backward models on the gapped input's known parts plus a corpus.

    ``method`` ``"lstm"``, ``"ngram"`` or ``"auto"`` (:func:`pick_method`) overrides
    ``ngram_order``, ``lstm_weight`` and ``decode``; ``"manual"`` keeps them. Returns a
    :class:`~codec.heads.alphabet.LanguageModel` and a one-line report.
    """
    from .alphabet import LanguageModel, check_alphabet, read_many

    queries = [r.seq for r in records]
    check_alphabet(alphabet, queries, "gapped input", ignore="".join(gaps))
    corpus = read_many(train_files) if train_files else []
    if corpus:
        check_alphabet(alphabet, [r.seq for r in corpus], ", ".join(train_files))
    n0 = len(corpus)
    low = [e.lower() for e in exclude]
    corpus = [r for r in corpus if not any(e in (r.id + " " + r.description).lower() for e in low)]
    by_name = n0 - len(corpus)
    by_identity = 0
    if corpus and max_identity < 1.0:
        dup = near_duplicates(queries, [r.seq for r in corpus], gaps, max_identity)
        by_identity = sum(dup)
        corpus = [r for r, d in zip(corpus, dup) if not d]
    seqs = [encode_gapped(alphabet, q, gaps) for q in queries] + [alphabet.encode(r.seq) for r in corpus]
    if not any((s >= 0).any() for s in seqs):
        raise GapFillError("nothing to train on: the input has no known symbols and no --train corpus")
    ngram_mix = False
    if method != "manual":   # otherwise the ngram_order / lstm_weight / decode given
        known = int(sum(int((s >= 0).sum()) for s in seqs))
        method = pick_method(method, known)
        ngram_mix = method == "ngram"
        ngram_order, lstm_weight, decode = (NGRAM_ORDER, 0.0, "joint") if ngram_mix else (0, 1.0, "joint")
    if lstm_weight > 0:
        models = train_gap_models(seqs, alphabet, hidden=hidden, time_budget=time_budget, epochs=epochs, seed=seed,
                                  progress=progress)
    else:   # n-gram only: no LSTM to train
        spec = InputSpec.auto(alphabet.size, 0)
        models = GapModels(alphabet, new_predictor(spec, hidden=8, seed=seed), spec)
    report = (f"trained on {len(queries)} gapped + {len(corpus)} corpus sequences "
              f"({by_name} excluded by name, {by_identity} by identity >= {max_identity:g})")
    if ngram_mix:
        report += (f"; too few known symbols for an LSTM: interpolated n-gram model, orders 0-{ngram_order}, "
                   "weights fitted by leave-one-out")
    lm = LanguageModel(alphabet, models.forward_spec, models.forward, models.backward,
                       {"corpus": len(corpus), "excluded_name": by_name, "excluded_identity": by_identity,
                        "ngram_order": ngram_order, "lstm_weight": lstm_weight, "decode": decode,
                        "ngram_mix": ngram_mix})
    if ngram_order > 0 or lstm_weight < 1:
        lm.ngram_seqs = seqs[len(queries):]   # corpus part; each record's own known symbols are added at fill time
    return lm, report


def fill_records(lm, records, gaps: set[str], *, beam: int = 64, what: str = "input") -> list[str]:
    """Filled sequence of each record (records without gaps come back unchanged)."""
    from .alphabet import check_alphabet

    check_alphabet(lm.alphabet, [r.seq for r in records], f"{what} (model alphabet {lm.alphabet.name})",
                   ignore="".join(gaps))
    info = getattr(lm, "info", {}) or {}
    order, w = int(info.get("ngram_order", 0)), float(info.get("lstm_weight", 1.0))
    decode = info.get("decode", "joint")
    out = []
    for r in records:
        models = GapModels(lm.alphabet, lm.forward, lm.spec, lm.backward, lm.spec if lm.backward is not None else None)
        if order > 0 or w < 1:
            own = encode_gapped(lm.alphabet, r.seq, gaps)
            data = [own] + list(getattr(lm, "ngram_seqs", []))
            mix = bool(info.get("ngram_mix", False))
            models.ngram_forward = NgramModel(lm.alphabet.size, order, data, fit_weights=mix)
            models.ngram_backward = NgramModel(lm.alphabet.size, order, [d[::-1].copy() for d in data],
                                               fit_weights=mix)
            models.lstm_weight = w
            if w <= 0:
                models.forward = models.backward = None
        g = next(iter(gaps))
        unified = "".join(g if c in gaps else c for c in r.seq)
        seq = lm.alphabet.encode(unified.replace(g, "\0"))
        runs = find_gaps(unified, g)
        fills = fill_encoded(models, seq, runs, beam=beam, decode=decode) if runs else {}
        chars = list(unified)
        for (a, b), f in fills.items():
            chars[a:b] = list(lm.alphabet.decode(f))
        out.append("".join(chars))
    return out


def truth_accuracy(records, filled: list[str], truth_records, gaps: set[str]):
    """(right, total, per-record lines) over gap positions; truth matched by id, else by order."""
    by_id = {t.id: t.seq for t in truth_records}
    right = total = 0
    lines = []
    for i, (r, f) in enumerate(zip(records, filled)):
        t = by_id.get(r.id)
        if t is None:
            if i >= len(truth_records):
                raise GapFillError(f"no truth sequence for record {r.id!r}")
            t = truth_records[i].seq
        g = next(iter(gaps))
        unified = "".join(g if c in gaps else c for c in r.seq)
        a, n = gap_accuracy(unified, f, t, g)
        right, total = right + a, total + n
        lines.append(f"{r.id}\t{a}/{n}")
    return right, total, lines
