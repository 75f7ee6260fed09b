"""Simple baselines the heads are measured against, run in the same process.

- :class:`MarkovModel`: order-k Markov chain with additive (KT, alpha=1/2)
  smoothing; :func:`select_markov` picks k on a validation split of the
  training data only.
- :class:`KmerLogReg`: k-mer count logistic regression (scikit-learn).
- :func:`majority_vote_fill`: fill each gap position with the residue most
  often aligned to it over a corpus (global pairwise alignment).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Container

import numpy as np

__all__ = ["MarkovModel", "HashedPPM", "select_markov", "KmerLogReg", "default_kmer", "majority_vote_fill"]


class MarkovModel:
    """Order-``k`` Markov model over symbols ``0..K-1`` (``-1`` = unknown, skipped as target)."""

    def __init__(self, order: int, n_symbols: int, alpha: float = 0.5) -> None:
        self.order, self.n_symbols, self.alpha = int(order), int(n_symbols), float(alpha)
        self._keys = np.zeros(0, dtype=np.int64)
        self._counts = np.zeros(0, dtype=np.int64)
        self._ckeys = np.zeros(0, dtype=np.int64)
        self._ccounts = np.zeros(0, dtype=np.int64)

    def _contexts(self, s: np.ndarray) -> np.ndarray:
        k, base = self.n_symbols, self.n_symbols + 1
        pad = np.concatenate([np.full(self.order, k, dtype=np.int64), np.where(s < 0, k, s)])
        ctx = np.zeros(len(s), dtype=np.int64)
        for j in range(self.order):
            ctx = ctx * base + pad[j:j + len(s)]
        return ctx

    def _pairs(self, seqs) -> tuple[np.ndarray, np.ndarray]:
        ctxs, syms = [], []
        for s in seqs:
            s = np.asarray(s, dtype=np.int64)
            keep = s >= 0
            ctxs.append(self._contexts(s)[keep])
            syms.append(s[keep])
        if not ctxs:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(ctxs), np.concatenate(syms)

    def fit(self, seqs) -> "MarkovModel":
        ctx, sym = self._pairs(seqs)
        self._keys, self._counts = np.unique(ctx * self.n_symbols + sym, return_counts=True)
        self._ckeys, self._ccounts = np.unique(ctx, return_counts=True)
        return self

    @staticmethod
    def _lookup(keys: np.ndarray, counts: np.ndarray, q: np.ndarray) -> np.ndarray:
        if len(keys) == 0:
            return np.zeros(len(q), dtype=np.int64)
        pos = np.clip(np.searchsorted(keys, q), 0, len(keys) - 1)
        return np.where(keys[pos] == q, counts[pos], 0)

    def sequence_bits(self, seqs) -> tuple[np.ndarray, np.ndarray]:
        """Code length in bits of each sequence and its number of coded symbols."""
        bits, counts = [], []
        for s in seqs:
            ctx, sym = self._pairs([s])
            c = self._lookup(self._keys, self._counts, ctx * self.n_symbols + sym)
            n = self._lookup(self._ckeys, self._ccounts, ctx)
            p = (c + self.alpha) / (n + self.alpha * self.n_symbols)
            bits.append(float(-np.log2(p).sum()))
            counts.append(len(sym))
        return np.array(bits), np.array(counts)

    def bits_per_symbol(self, seqs) -> float:
        b, c = self.sequence_bits(seqs)
        return float(b.sum() / max(1, c.sum()))


def select_markov(train, n_symbols: int, *, max_order: int = 8, val_fraction: float = 0.1,
                  seed: int = 0) -> tuple[MarkovModel, dict[int, float]]:
    """Pick the order with the lowest validation bits/symbol, refit on all of ``train``."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    n_val = max(1, int(round(len(train) * val_fraction))) if len(train) > 1 else 0
    val = [train[i] for i in order[:n_val]]
    fit_part = [train[i] for i in order[n_val:]] or list(train)
    scores: dict[int, float] = {}
    for k in range(max_order + 1):
        if (n_symbols + 1) ** k * n_symbols > 2 ** 62:
            break
        scores[k] = MarkovModel(k, n_symbols).fit(fit_part).bits_per_symbol(val or fit_part)
        if k >= 2 and scores[k] > scores[k - 1] > scores[k - 2]:
            break
    best = min(scores, key=scores.get)
    return MarkovModel(best, n_symbols).fit(train), scores


def default_kmer(n_symbols: int) -> int:
    """Largest k with at most 10^4 distinct k-mers (DNA 6, protein 3)."""
    return max(1, int(math.floor(math.log(1e4) / math.log(max(2, n_symbols)))))


class KmerLogReg:
    """Logistic regression on L2-normalised k-mer counts."""

    def __init__(self, k: int, C: float = 1.0, seed: int = 0) -> None:
        self.k, self.C, self.seed = k, C, seed
        self._pipe = None

    def _make(self):
        from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        return make_pipeline(
            CountVectorizer(analyzer="char", ngram_range=(self.k, self.k), lowercase=False),
            TfidfTransformer(use_idf=False, norm="l2"),
            LogisticRegression(C=self.C, max_iter=3000, random_state=self.seed))

    def fit(self, seqs: list[str], labels: list[str]) -> "KmerLogReg":
        self.classes_ = sorted(set(labels))
        if len(self.classes_) == 1:
            self._pipe = None
            return self
        self._pipe = self._make().fit([s.upper() for s in seqs], labels)
        return self

    def predict(self, seqs: list[str]) -> list[str]:
        if self._pipe is None:
            return [self.classes_[0]] * len(seqs)
        return list(self._pipe.predict([s.upper() for s in seqs]))


def majority_vote_fill(gapped: str, corpus: list[str], gap_char: str = "-", min_identity: float = 0.0) -> str:
    """Fill each gap with the corpus residue most often aligned to that position.

    Each corpus sequence is globally aligned to the gapped query (BLOSUM62 for
    protein, +1/-1 otherwise; free end gaps; gap characters score 0); a position
    no sequence covers keeps the gap character. With ``min_identity`` only the
    sequences that match at least that share of the query's known residues they
    align to vote (homologues: a light chain's gaps are not filled by heavy chains).
    """
    from Bio import Align
    from Bio.Align import substitution_matrices

    al = Align.PairwiseAligner()
    al.mode = "global"
    al.open_gap_score, al.extend_gap_score, al.end_gap_score = -10.0, -0.5, 0.0
    letters = set("".join(corpus[:50]).upper())
    if letters <= set("ACGTUN"):
        al.match_score, al.mismatch_score = 1.0, -1.0
        wildcard, allowed = "N", set("ACGTN")
    else:
        matrix = substitution_matrices.load("BLOSUM62")
        al.substitution_matrix = matrix
        wildcard, allowed = "X", set(matrix.alphabet)
    q = "".join(wildcard if c == gap_char else c.upper() for c in gapped)
    q = "".join(c if c in allowed else wildcard for c in q)
    gaps = [i for i, c in enumerate(gapped) if c == gap_char]
    votes: dict[int, Counter] = {i: Counter() for i in gaps}
    for seq in corpus:
        s = "".join(c if c in allowed else wildcard for c in seq.upper())
        if not s:
            continue
        aln = al.align(q, s)[0]
        pairs = [(qa + off, s[sa + off]) for (qa, qb), (sa, _) in zip(*aln.aligned) for off in range(qb - qa)]
        if min_identity > 0 and not _homologue(q, pairs, votes, min_identity):
            continue
        for i, c in pairs:
            if i in votes and c != wildcard:
                votes[i][c] += 1
    out = list(gapped)
    for i in gaps:
        if votes[i]:
            out[i] = votes[i].most_common(1)[0][0]
    return "".join(out)


def _homologue(query: str, pairs: list[tuple[int, str]], gaps: Container[int], min_identity: float) -> bool:
    """Whether the aligned ``(query position, residue)`` pairs match at least ``min_identity``
    of the query's known residues they cover (positions in ``gaps`` are not known)."""
    known = [query[i] == c for i, c in pairs if i not in gaps]
    return sum(known) >= min_identity * max(len(known), 1)


class HashedPPM:
    """Interpolated Witten-Bell n-gram model of order ``order`` over hashed contexts (vectorised).

    ``P_n(x|h) = (c(h,x) + u(h) P_{n-1}(x|h')) / (c(h) + u(h))`` for ``n = 1..order``
    (``u(h)``: distinct symbols seen after ``h``; a context never seen passes
    ``P_{n-1}`` through), order 0 the add-1/2 frequency. Long contexts seen in
    training act as a copy model (PPM-style blending). ``-1`` = unknown: never
    a target, and contexts spanning it are not used.
    """

    MOD = (1 << 56) - 5   # keeps context * K inside int64 for K <= 127

    def __init__(self, order: int, n_symbols: int) -> None:
        self.order, self.k = int(order), int(n_symbols)
        self.tables = []

    def _ctx(self, s: np.ndarray):
        """Per order n = 1..order: hashed context ids [T] and a validity mask."""
        k, base = self.k, self.k + 1
        out = []
        h = np.zeros(len(s), dtype=np.int64)
        ok = np.ones(len(s), dtype=bool)
        for n in range(1, self.order + 1):
            prev = np.full(len(s), -1, dtype=np.int64)
            prev[n:] = s[:-n] if n < len(s) else prev[n:]
            ok = ok & (prev >= 0)
            h = (h * base + np.where(prev >= 0, prev, k) + 1) % self.MOD
            out.append((h.copy(), ok.copy()))
        return out

    def fit(self, seqs) -> "HashedPPM":
        uni = np.zeros(self.k)
        per = [([], []) for _ in range(self.order)]
        for s in seqs:
            s = np.asarray(s, dtype=np.int64)
            t = s >= 0
            uni += np.bincount(s[t], minlength=self.k)
            for n, (h, ok) in enumerate(self._ctx(s)):
                m = ok & t
                per[n][0].append(h[m])
                per[n][1].append(s[m])
        self.p0 = (uni + 0.5) / (uni.sum() + 0.5 * self.k)
        self.tables = []
        for hs, xs in per:
            h = np.concatenate(hs) if hs else np.zeros(0, np.int64)
            x = np.concatenate(xs) if xs else np.zeros(0, np.int64)
            pk, pc = np.unique(h * self.k + x, return_counts=True)
            ck, cc = np.unique(h, return_counts=True)
            uk, uc = np.unique(pk // self.k, return_counts=True) if len(pk) else (pk, pc)
            self.tables.append((pk, pc, ck, cc, uk, uc))
        return self

    @staticmethod
    def _look(keys, counts, q):
        if len(keys) == 0:
            return np.zeros(len(q), dtype=np.float64)
        pos = np.clip(np.searchsorted(keys, q), 0, len(keys) - 1)
        return np.where(keys[pos] == q, counts[pos], 0).astype(np.float64)

    def symbol_probs(self, s: np.ndarray) -> np.ndarray:
        """Probability of each symbol of ``s`` given what precedes it (1 at unknowns)."""
        s = np.asarray(s, dtype=np.int64)
        t = s >= 0
        x = np.where(t, s, 0)
        p = self.p0[x]
        for (h, ok), (pk, pc, ck, cc, uk, uc) in zip(self._ctx(s), self.tables):
            c_hx = self._look(pk, pc, h * self.k + x)
            c_h = self._look(ck, cc, h)
            u_h = self._look(uk, uc, h)
            seen = ok & (c_h > 0)
            p = np.where(seen, (c_hx + u_h * p) / np.maximum(c_h + u_h, 1.0), p)
        return np.where(t, p, 1.0)

    def sequence_bits(self, seqs) -> tuple[np.ndarray, np.ndarray]:
        bits = np.array([float(-np.log2(self.symbol_probs(s)).sum()) for s in seqs])
        return bits, np.array([int((np.asarray(s) >= 0).sum()) for s in seqs])
