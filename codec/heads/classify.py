"""Sequence classification over the predictor core.

Two methods:

- ``codelength``: one predictor per class (each fine-tuned from a predictor
  fitted on all training sequences, so rare classes start from general
  statistics); a sequence gets the class whose model codes it in the fewest
  bits, after adding ``-log2`` of the class prior (the code length of the label).
  Probabilities are the normalised ``2**-bits``.
- ``head``: a linear layer on the mean- and max-pooled LSTM states of one
  shared predictor, trained jointly with the predictor (cross-entropy on the
  label plus the next-symbol loss, which keeps the state a language model).

Classifiers are saved as one file holding every predictor (config, weights,
sha256) plus the head, alphabet, label key and class names.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import CodecError, ModelMismatchError
from ..model.checkpoint import predictor_from_record, predictor_hash
from ..model.core import Predictor
from ..model.train import InputSpec, fit, new_predictor, sequence_bits
from .alphabet import Alphabet, LabelError, get_alphabet

__all__ = ["Classifier", "ClassifierSettings", "fit_classifier", "save_classifier", "load_classifier",
           "stratified_folds", "METHODS"]

METHODS = ("codelength", "head")
FORMAT = "seqlm-classifier"
VERSION = 1


@dataclass
class ClassifierSettings:
    method: str = "codelength"
    hidden: int = 64
    layers: int = 1
    embed: int = 16
    context_order: int = 0
    time_budget: float = 60.0       # seconds for the whole fit
    max_len: int = 1024             # head: symbols per sequence fed to the classifier
    seed: int = 0
    ppm_orders: tuple[int, ...] = (2, 4, 6, 8, 10, 12)   # codelength: candidate orders of the per-class PPM


@dataclass
class Classifier:
    method: str
    alphabet: Alphabet
    label: str
    classes: list[str]
    priors: np.ndarray
    spec: InputSpec
    members: list[Predictor]                  # codelength: one per class; head: one shared
    head: torch.nn.Linear | None = None
    max_len: int = 1024
    info: dict = field(default_factory=dict)
    ppm: list | None = None                   # codelength: per-class HashedPPM mixed with each member
    lstm_weight: float = 1.0

    def log_probs(self, seqs: list[np.ndarray]) -> np.ndarray:
        """Natural-log class posteriors ``[N, C]``."""
        if self.method == "codelength":
            if self.ppm:
                bits = np.stack([_mixed_bits(m, p, self.lstm_weight, seqs, self.spec)
                                 for m, p in zip(self.members, self.ppm)], axis=1)
            else:
                bits = np.stack([sequence_bits(m, seqs, self.spec)[0] for m in self.members], axis=1)
            score = -bits * math.log(2.0) + np.log(self.priors)[None]
        else:
            score = _head_logits(self.members[0], self.head, seqs, self.spec, self.max_len)
        score = score - score.max(axis=1, keepdims=True)
        return score - np.log(np.exp(score).sum(axis=1, keepdims=True))

    def predict(self, seqs: list[np.ndarray]) -> tuple[list[str], np.ndarray]:
        lp = self.log_probs(seqs)
        best = lp.argmax(axis=1)
        return [self.classes[i] for i in best], np.exp(lp[np.arange(len(best)), best])


@torch.no_grad()
def _symbol_probs(model: Predictor, seqs: list[np.ndarray], spec: InputSpec) -> list[np.ndarray]:
    """The predictor's probability of each symbol of each sequence (1 at unknowns)."""
    model.eval()
    out = []
    for s in seqs:
        s = np.asarray(s, dtype=np.int64)
        if len(s) == 0:
            out.append(np.ones(0))
            continue
        logits, _ = model(torch.from_numpy(spec.encode(s)[None]))
        lp = torch.log_softmax(logits[0].float(), dim=-1)
        p = lp.gather(-1, torch.from_numpy(np.maximum(s, 0))[:, None])[:, 0].exp().numpy().astype(np.float64)
        out.append(np.where(s >= 0, p, 1.0))
    return out


def _mixed_bits(model, ppm, w: float, seqs, spec) -> np.ndarray:
    """Code length of each sequence under the per-symbol mixture ``w * LSTM + (1 - w) * PPM``."""
    lstm = _symbol_probs(model, seqs, spec) if w > 0 else [None] * len(seqs)
    out = np.zeros(len(seqs))
    for i, (s, pl) in enumerate(zip(seqs, lstm)):
        p = ppm.symbol_probs(s)
        if pl is not None:
            p = w * pl + (1.0 - w) * p
        out[i] = -np.log2(p).sum()
    return out


def _choose_ppm(seqs, y, n_symbols: int, orders, seed: int):
    """PPM order with the lowest held-out class-conditional code length on a split of the training data."""
    from .baselines import HashedPPM

    fit_idx, ho_idx = _split_train([str(v) for v in y], 0.1, seed)
    if len(ho_idx) == 0:
        return max(orders), fit_idx, ho_idx, {}
    scores = {}
    for k in orders:
        tot = 0.0
        for c in np.unique(y[ho_idx]):
            m = HashedPPM(k, n_symbols).fit([seqs[i] for i in fit_idx if y[i] == c])
            tot += float(m.sequence_bits([seqs[i] for i in ho_idx if y[i] == c])[0].sum())
        scores[k] = tot
    return min(scores, key=scores.get), fit_idx, ho_idx, scores


def stratified_folds(labels: list[str], k: int, seed: int = 0) -> np.ndarray:
    """Fold index per item: each class is shuffled and dealt round-robin
    (classes with fewer than ``k`` members simply miss some folds)."""
    rng = np.random.default_rng(seed)
    folds = np.zeros(len(labels), dtype=np.int64)
    offset = 0
    for c in sorted(set(labels)):
        idx = np.array([i for i, y in enumerate(labels) if y == c])
        idx = idx[rng.permutation(len(idx))]
        folds[idx] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)
    return folds


def _pool_batch(model: Predictor, seqs: list[np.ndarray], spec: InputSpec, max_len: int):
    """Pooled LSTM features ``[B, 2H]`` (mean and max over positions), and inputs/targets for the LM loss."""
    cut = [np.asarray(s[:max_len], dtype=np.int64) for s in seqs]
    t_max = max(1, max(len(s) for s in cut))
    f = len(spec.input_vocab)
    x = np.zeros((len(cut), t_max, f), dtype=np.int64)
    y = np.full((len(cut), t_max), -1, dtype=np.int64)
    mask = np.zeros((len(cut), t_max), dtype=bool)
    for i, s in enumerate(cut):
        if len(s):
            x[i, :len(s)] = spec.encode(s)
            y[i, :len(s)] = s
            mask[i, :len(s)] = True
    xt, yt, mt = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(mask)
    hs, _ = model.hidden_states(xt)
    m = mt[..., None].to(hs.dtype)
    mean = (hs * m).sum(1) / m.sum(1).clamp_min(1.0)
    mx = hs.masked_fill(~mt[..., None], -1e4).amax(1)
    mx = torch.where(mt.any(1, keepdim=True), mx, torch.zeros_like(mx))
    return torch.cat([mean, mx], dim=1), hs, yt


@torch.no_grad()
def _head_logits(model, head, seqs, spec, max_len, batch: int = 64) -> np.ndarray:
    model.eval()
    order = np.argsort([len(s) for s in seqs], kind="stable")
    res = np.zeros((len(seqs), head.out_features))
    for i in range(0, len(order), batch):
        idx = order[i:i + batch]
        feats, _, _ = _pool_batch(model, [seqs[j] for j in idx], spec, max_len)
        res[idx] = head(feats).numpy()
    return res


def _split_train(labels: list[str], fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (fit, held-out) indices; classes with one member stay in fit."""
    rng = np.random.default_rng(seed + 1)
    fit_idx, ho_idx = [], []
    for c in sorted(set(labels)):
        idx = np.array([i for i, y in enumerate(labels) if y == c])
        idx = idx[rng.permutation(len(idx))]
        n_ho = int(round(len(idx) * fraction)) if len(idx) >= 3 else 0
        ho_idx.extend(idx[:n_ho])
        fit_idx.extend(idx[n_ho:])
    return np.sort(np.array(fit_idx, dtype=np.int64)), np.sort(np.array(ho_idx, dtype=np.int64))


def _train_head(model: Predictor, seqs, y: np.ndarray, n_classes: int, spec: InputSpec,
                s: ClassifierSettings, deadline: float) -> torch.nn.Linear:
    head = torch.nn.Linear(2 * model.cfg.hidden, n_classes)
    fit_idx, ho_idx = _split_train([str(v) for v in y], 0.1, s.seed)
    opt = torch.optim.Adam([{"params": model.parameters(), "lr": 1e-3},
                            {"params": head.parameters(), "lr": 3e-3}])
    rng = np.random.default_rng(s.seed)
    batch = 32
    best, best_state, stale = float("inf"), None, 0
    order = np.argsort([len(seqs[i]) for i in fit_idx], kind="stable")
    for epoch in range(200):
        model.train()
        # length-bucketed batches in random order
        buckets = [fit_idx[order[i:i + batch]] for i in range(0, len(order), batch)]
        for bi in rng.permutation(len(buckets)):
            idx = buckets[bi]
            feats, hs, yt = _pool_batch(model, [seqs[i] for i in idx], spec, s.max_len)
            logits = head(feats)
            loss = F.cross_entropy(logits, torch.from_numpy(y[idx]))
            lm_logits = model.head(hs)
            valid = yt >= 0
            if valid.any():
                loss = loss + 0.5 * F.cross_entropy(lm_logits[valid], yt[valid])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(head.parameters()), 1.0)
            opt.step()
            if time.monotonic() > deadline:
                break
        if len(ho_idx):
            lg = _head_logits(model, head, [seqs[i] for i in ho_idx], spec, s.max_len)
            ce = float(F.cross_entropy(torch.from_numpy(lg), torch.from_numpy(y[ho_idx])))
            if ce < best - 1e-4:
                best, stale = ce, 0
                best_state = (copy.deepcopy(model.state_dict()), copy.deepcopy(head.state_dict()))
            else:
                stale += 1
        if time.monotonic() > deadline or stale >= 4:
            break
    if best_state is not None:
        model.load_state_dict(best_state[0])
        head.load_state_dict(best_state[1])
    model.eval()
    return head


def fit_classifier(seqs: list[np.ndarray], labels: list[str], alphabet: Alphabet, label_key: str,
                   settings: ClassifierSettings) -> Classifier:
    """Fit a classifier on encoded sequences and their labels."""
    s = settings
    if s.method not in METHODS:
        raise LabelError(f"unknown method {s.method!r} (expected one of: {', '.join(METHODS)})")
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise LabelError(f"label {label_key!r} has only one value ({classes[0]!r}); need at least two classes")
    t0 = time.monotonic()
    y = np.array([classes.index(v) for v in labels], dtype=np.int64)
    priors = np.bincount(y, minlength=len(classes)).astype(float) + 0.5
    priors /= priors.sum()
    spec = InputSpec.auto(alphabet.size, s.context_order)
    base = new_predictor(spec, hidden=s.hidden, layers=s.layers, embed=s.embed, seed=s.seed)
    share = 0.35 if s.method == "codelength" else 0.4
    info = {"n_train": len(seqs)}
    ppm_order, w = None, 1.0
    if s.method == "codelength" and s.ppm_orders:
        # order and LSTM/PPM mixture weight chosen on a held-out tenth of the training data
        from .baselines import HashedPPM

        ppm_order, fit_idx, ho_idx, _ = _choose_ppm(seqs, y, alphabet.size, s.ppm_orders, s.seed)
        fit(base, [seqs[i] for i in fit_idx], spec, time_budget=s.time_budget * share, epochs=30, seed=s.seed,
            heldout=[seqs[i] for i in ho_idx] or None)
        if len(ho_idx):
            pl = np.concatenate(_symbol_probs(base, [seqs[i] for i in ho_idx], spec))
            pooled = HashedPPM(ppm_order, alphabet.size).fit([seqs[i] for i in fit_idx])
            pp = np.concatenate([pooled.symbol_probs(seqs[i]) for i in ho_idx])
            grid = np.linspace(0.0, 1.0, 21)
            w = float(grid[int(np.argmax([np.log(g * pl + (1 - g) * pp).sum() for g in grid]))])
        info.update(ppm_order=ppm_order, lstm_weight=w)
    else:
        fit(base, seqs, spec, time_budget=s.time_budget * share, epochs=30, seed=s.seed)
    if s.method == "codelength":
        members = []
        sizes = np.array([sum(len(seqs[i]) for i in np.flatnonzero(y == c)) for c in range(len(classes))], float)
        remaining = max(1.0, s.time_budget - (time.monotonic() - t0))
        for c in range(len(classes)):
            m = copy.deepcopy(base)
            budget = remaining * (0.2 / len(classes) + 0.8 * sizes[c] / sizes.sum())
            fit(m, [seqs[i] for i in np.flatnonzero(y == c)], spec, time_budget=budget, epochs=30,
                seed=s.seed + c, lr=1e-3)
            members.append(m)
        ppm = None
        if ppm_order is not None:
            from .baselines import HashedPPM

            ppm = [HashedPPM(ppm_order, alphabet.size).fit([seqs[i] for i in np.flatnonzero(y == c)])
                   for c in range(len(classes))]
        return Classifier("codelength", alphabet, label_key, classes, priors, spec, members, None, s.max_len, info,
                          ppm, w)
    deadline = t0 + s.time_budget
    head = _train_head(base, seqs, y, len(classes), spec, s, deadline)
    return Classifier("head", alphabet, label_key, classes, priors, spec, [base], head, s.max_len, info)


def save_classifier(path: str | os.PathLike, clf: Classifier) -> None:
    members = []
    for m in clf.members:
        sd = {k: v.detach().cpu().clone() for k, v in m.state_dict().items()}
        members.append({"config": m.cfg.to_dict(), "state_dict": sd, "sha256": predictor_hash(m.cfg, sd)})
    blob = {"format": FORMAT, "version": VERSION, "method": clf.method, "alphabet": clf.alphabet.name,
            "label": clf.label, "classes": list(clf.classes), "priors": [float(p) for p in clf.priors],
            "spec": clf.spec.to_dict(), "max_len": clf.max_len, "members": members,
            "head": None if clf.head is None else {k: v.detach().clone() for k, v in clf.head.state_dict().items()},
            "lstm_weight": float(clf.lstm_weight),
            "ppm": None if not clf.ppm else [
                {"order": m.order, "n_symbols": m.k, "p0": torch.from_numpy(m.p0),
                 "tables": [[torch.from_numpy(np.asarray(a)) for a in t] for t in m.tables]} for m in clf.ppm]}
    torch.save(blob, os.fspath(path))


def load_classifier(path: str | os.PathLike) -> Classifier:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CodecError(f"{path}: no such classifier file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        raise ModelMismatchError(f"{path}: not a seqlm classifier ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ModelMismatchError(f"{path}: not a seqlm classifier")
    if int(blob.get("version", 0)) > VERSION:
        raise ModelMismatchError(f"{path}: classifier version {blob['version']} is newer than {VERSION}")
    members = []
    for i, d in enumerate(blob["members"]):
        members.append(predictor_from_record(d, f"{path}: predictor {i}"))
    head = None
    if blob.get("head") is not None:
        w = blob["head"]["weight"]
        head = torch.nn.Linear(w.shape[1], w.shape[0])
        head.load_state_dict(blob["head"])
        head.eval()
    ppm = None
    if blob.get("ppm"):
        from .baselines import HashedPPM

        ppm = []
        for d in blob["ppm"]:
            m = HashedPPM(int(d["order"]), int(d["n_symbols"]))
            m.p0 = d["p0"].numpy()
            m.tables = [tuple(a.numpy() for a in t) for t in d["tables"]]
            ppm.append(m)
    return Classifier(blob["method"], get_alphabet(blob["alphabet"]), blob["label"], list(blob["classes"]),
                      np.array(blob["priors"]), InputSpec.from_dict(blob["spec"]), members, head,
                      int(blob.get("max_len", 1024)), {}, ppm, float(blob.get("lstm_weight", 1.0)))


def metrics(y_true: list[str], y_pred: list[str], classes: list[str]) -> dict:
    """Accuracy, macro-F1 (over classes present in truth or predictions) and confusion matrix."""
    idx = {c: i for i, c in enumerate(classes)}
    cm = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        cm[idx[t], idx[p]] += 1
    f1s = []
    for i in range(len(classes)):
        tp, fp, fn = cm[i, i], cm[:, i].sum() - cm[i, i], cm[i, :].sum() - cm[i, i]
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return {"accuracy": float(np.trace(cm) / max(1, cm.sum())), "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
            "confusion": cm.tolist()}


def cross_validate(texts: list[str], labels: list[str], alphabet: Alphabet, label_key: str,
                   settings: ClassifierSettings, *, methods: tuple[str, ...] | None = None, folds: int = 5,
                   seed: int = 0, kmer_baseline: bool = True, on_fold=None) -> dict:
    """k-fold CV of the seqlm method(s) and the k-mer logistic-regression baseline on the same folds."""
    from .baselines import KmerLogReg, default_kmer

    if folds < 2:
        raise LabelError(f"--folds must be at least 2 (got {folds})")
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise LabelError(f"label {label_key!r} has only one value; need at least two classes")
    if len(labels) < folds:
        raise LabelError(f"{len(labels)} labelled sequences cannot make {folds} folds")
    methods = methods or (settings.method,)
    seqs = [alphabet.encode(t) for t in texts]
    fold = stratified_folds(labels, folds, seed)
    preds: dict[str, list] = {m: [None] * len(labels) for m in methods}
    k = default_kmer(alphabet.size)
    if kmer_baseline:
        preds[f"kmer{k}-logreg"] = [None] * len(labels)
    seconds = {name: 0.0 for name in preds}
    for f in range(folds):
        tr, te = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        if len(te) == 0:
            continue
        for m in methods:
            t0 = time.monotonic()
            st = copy.copy(settings)
            st.method = m
            clf = fit_classifier([seqs[i] for i in tr], [labels[i] for i in tr], alphabet, label_key, st)
            p, _ = clf.predict([seqs[i] for i in te])
            for i, v in zip(te, p):
                preds[m][i] = v
            seconds[m] += time.monotonic() - t0
        if kmer_baseline:
            t0 = time.monotonic()
            km = KmerLogReg(k, seed=seed).fit([texts[i] for i in tr], [labels[i] for i in tr])
            for i, v in zip(te, km.predict([texts[i] for i in te])):
                preds[f"kmer{k}-logreg"][i] = v
            seconds[f"kmer{k}-logreg"] += time.monotonic() - t0
        if on_fold is not None:
            on_fold(f)
    out = {"label": label_key, "classes": classes, "folds": folds, "n": len(labels), "results": {}}
    for name, p in preds.items():
        out["results"][name] = metrics(labels, p, classes) | {"seconds": round(seconds[name], 1)}
    return out
