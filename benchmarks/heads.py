"""Benchmark of the heads against simple baselines run in the same process.

    python -m benchmarks.heads            # full run (about 20 minutes on 2 cores)
    python -m benchmarks.heads --quick    # a smoke run of every section (about 2 minutes)

Writes ``benchmarks/results/heads[-quick].json`` and ``.md``. Sections:

- gapfill: the alemtuzumab light chain with the origin document's 29 gaps,
  trained on the input alone and on the input plus the antibody corpus
  (alemtuzumab dropped by name and by >= 95% identity), against a
  position-wise majority vote over the same corpus, by every sequence and by
  homologues only (sequences at least HOMOLOGUE_IDENTITY identical to the
  query's known residues: a light chain's gaps filled from light chains);
- classify: 5-fold CV (same folds) of both seqlm methods and the k-mer
  logistic-regression baseline on the promoter, ResFinder and germline sets;
- generate: held-out bits/symbol against an order-k Markov model (k chosen on
  a validation split of the training data) on DNA and protein, and a sample.

Large sets are subsampled deterministically (seeded, recorded in the output).
Budgets are wall-clock seconds, so figures move a little with machine load.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import time

import numpy as np
import torch

from codec.heads.alphabet import get_alphabet, labelled, read_many, read_records
from codec.heads.baselines import majority_vote_fill, select_markov
from codec.heads.classify import ClassifierSettings, cross_validate
from codec.heads.gapfill import gap_accuracy, near_duplicates, prepare_training, fill_records
from codec.heads.generate import bits_per_symbol, generate
from codec.model.train import InputSpec, fit, new_predictor, split_holdout

DATA = os.environ.get("SEQLM_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
SCHEMA_VERSION = 1


def auto_order(n_symbols: int, buckets: int = 1 << 14) -> int:
    """Largest k whose exact context table fits in ``buckets`` (DNA 6, protein 3)."""
    k = 0
    while (n_symbols + 1) ** (k + 1) <= buckets:
        k += 1
    return k


def _subsample(items, n: int, seed: int = 0):
    if len(items) <= n:
        return list(items), None
    idx = np.sort(np.random.default_rng(seed).permutation(len(items))[:n])
    return [items[i] for i in idx], f"seeded subsample of {n} of {len(items)}"


HOMOLOGUE_IDENTITY = 0.5   # the homologue vote's cut: members of one family share about half their residues


def bench_gapfill(quick: bool) -> dict:
    prot = get_alphabet("protein")
    gapped = read_records(os.path.join(DATA, "alemtuzumab-light-chain-gapped.fa"))
    truth = read_records(os.path.join(DATA, "alemtuzumab-light-chain.fa"))[0].seq
    corpus_files = sorted(glob.glob(os.path.join(DATA, "antibody-*.fa.gz")))
    g = gapped[0].seq
    out: dict = {"gaps": g.count("-"), "corpus_files": [os.path.basename(f) for f in corpus_files]}
    corpus = [r.seq for r in read_many(corpus_files) if "alemtuzumab" not in r.id.lower()]
    # the same exclusions as the seqlm corpus run below: by name, then near-duplicates of the query
    corpus = [s for s, dup in zip(corpus, near_duplicates([g], corpus, {"-"}, 0.95)) if not dup]
    for key, min_identity in (("majority_vote", 0.0), ("majority_vote_homologues", HOMOLOGUE_IDENTITY)):
        t0 = time.monotonic()
        mv = majority_vote_fill(g, corpus, min_identity=min_identity)
        out[key] = {"right": gap_accuracy(g, mv, truth)[0], "seconds": round(time.monotonic() - t0, 1),
                    "min_identity": min_identity, "fill": "".join(mv[i] for i, c in enumerate(g) if c == "-")}
    # both runs as `seqlm gapfill` does by default (--method auto): ~185 known residues alone are too
    # few for an LSTM, so the input-only run gets the interpolated n-gram model (order weights fitted
    # by leave-one-out on the known residues, never the truth); the corpus run gets the LSTMs
    runs = [("input_only", [], 6 if quick else 30, 64, dict(method="auto")),
            ("antibody_corpus", corpus_files, 20 if quick else 240, 128, dict(method="auto"))]
    for name, files, budget, hidden, extra in runs:
        t0 = time.monotonic()
        lm, report = prepare_training(gapped, prot, {"-"}, files, ["alemtuzumab"], 0.95, hidden=hidden,
                                      time_budget=budget, seed=0, **extra)
        filled = fill_records(lm, gapped, {"-"})[0]
        right, total = gap_accuracy(g, filled, truth)
        out[name] = {"right": right, "total": total, "accuracy": round(right / total, 4), "hidden": hidden,
                     "train_budget_s": budget, "method": "ngram" if (getattr(lm, "info", {}) or {}).get("ngram_mix") else "lstm", "seconds": round(time.monotonic() - t0, 1), "report": report,
                     "fill": "".join(filled[i] for i, c in enumerate(g) if c == "-")}
    out["truth"] = "".join(truth[i] for i, c in enumerate(g) if c == "-")
    return out


CLASSIFY_SETS = [
    ("promoter", "dna-promoter-core-70bp-labelled-A.fa.gz", "label", 4200, 20.0, 10.0),
    ("resfinder", "dna-amr-genes-resfinder-class-labelled-A.fa.gz", "class", 1000, 35.0, 15.0),
    ("germline", "antibody-tcr-germline-v-j-species-labelled-anarci.fa.gz", "species", 2400, 25.0, 10.0),
]


def bench_classify(quick: bool) -> dict:
    out = {}
    for name, fname, key, max_n, budget, head_budget in CLASSIFY_SETS:
        path = os.path.join(DATA, fname)
        recs, labels = labelled(read_records(path), key, path)
        pairs, note = _subsample(list(zip(recs, labels)), 300 if quick else max_n)
        alpha = get_alphabet("dna" if fname.startswith("dna") else "protein")
        t0 = time.monotonic()
        res = {}
        for method, b in (("codelength", budget), ("head", head_budget)):
            st = ClassifierSettings(method=method, hidden=64, context_order=auto_order(alpha.size),
                                    time_budget=(3.0 if quick else b), seed=0)
            r = cross_validate([r.seq for r, _ in pairs], [y for _, y in pairs], alpha, key, st,
                               methods=(method,), folds=5, seed=0, kmer_baseline=method == "codelength")
            res.update(r["results"])
        out[name] = {"file": fname, "label": key, "n": len(pairs), "subsample": note, "classes": r["classes"],
                     "context_order": auto_order(alpha.size), "budget_s_per_fold": {"codelength": budget,
                     "head": head_budget}, "results": res, "seconds": round(time.monotonic() - t0, 1)}
    return out


GENERATE_SETS = [
    ("dna", "dna-promoter-core-70bp-labelled-A.fa.gz", 4200, 0, 70),
    ("protein", "protein-uniprot-organism-labelled-A.fa.gz", 3000, 1000, 100),
]


def bench_generate(quick: bool) -> dict:
    out = {}
    for name, fname, max_n, max_len, sample_len in GENERATE_SETS:
        alpha = get_alphabet(name)
        recs, note = _subsample(read_records(os.path.join(DATA, fname)), 400 if quick else max_n)
        seqs = [alpha.encode(r.seq[:max_len] if max_len else r.seq) for r in recs]
        tr, te = split_holdout(len(seqs), 0.1, seed=0)
        train, test = [seqs[i] for i in tr], [seqs[i] for i in te]
        t0 = time.monotonic()
        markov, scores = select_markov(train, alpha.size, max_order=10)
        mk = markov.bits_per_symbol(test)
        tm = time.monotonic() - t0
        spec = InputSpec.auto(alpha.size, auto_order(alpha.size))
        model = new_predictor(spec, hidden=128, seed=0)
        hist = fit(model, train, spec, time_budget=8 if quick else 60, seed=0)
        lstm = bits_per_symbol(model, spec, test)
        sample = generate(model, spec, alpha, n=1, length=sample_len, temperature=1.0, seed=0)[0]
        out[name] = {"file": fname, "subsample": note, "truncated_to": max_len or None,
                     "train_symbols": int(sum((s >= 0).sum() for s in train)),
                     "test_symbols": int(sum((s >= 0).sum() for s in test)),
                     "markov": {"order": markov.order, "validation_bits": {str(k): round(v, 4) for k, v in scores.items()},
                                "test_bits_per_symbol": round(mk, 4), "seconds": round(tm, 1)},
                     "seqlm": {"hidden": 128, "context_order": spec.context_order, "epochs": hist.epochs,
                               "test_bits_per_symbol": round(lstm, 4), "seconds": round(hist.seconds, 1)},
                     "sample": sample}
    return out


def to_markdown(res: dict) -> str:
    L = [f"# Heads benchmark{' (quick)' if res['quick'] else ''}", "",
         f"{res['machine']}, torch {res['torch']}, {res['threads']} thread(s), total {res['seconds']:.0f} s.", ""]
    L += [f"Note: {n}" for n in res.get("notes", [])] + ([""] if res.get("notes") else [])
    g = res["gapfill"]
    L += ["## Gap filling: alemtuzumab light chain, 29 gaps", "", "| method | right | accuracy |", "|---|---|---|"]
    mv = g["majority_vote"]
    L.append(f"| position-wise majority vote (antibody corpus) | {mv['right']}/{g['gaps']} | "
             f"{mv['right'] / g['gaps']:.1%} |")
    hv = g.get("majority_vote_homologues")   # runs from before 2026-12-06 lack it
    if hv:
        L.append(f"| the same vote, homologues only (identity >= {hv['min_identity']:.0%}) | "
                 f"{hv['right']}/{g['gaps']} | {hv['right'] / g['gaps']:.1%} |")
    for k, label in (("input_only", "seqlm, input only (no corpus)"), ("antibody_corpus", "seqlm + antibody corpus")):
        L.append(f"| {label} | {g[k]['right']}/{g[k]['total']} | {g[k]['accuracy']:.1%} |")
    L += ["", f"truth `{g['truth']}`; corpus run `{g['antibody_corpus']['fill']}`; "
          f"majority `{mv['fill']}`; " + (f"homologues `{hv['fill']}`; " if hv else "")
          + f"input-only `{g['input_only']['fill']}`", "",
          f"Corpus: {g['antibody_corpus']['report']}.", ""]
    L += ["## Classification: 5-fold CV accuracy / macro-F1", "", "| set | n | codelength | head | k-mer LR |",
          "|---|---|---|---|---|"]
    for name, c in res["classify"].items():
        r = c["results"]
        km = next(k for k in r if k.startswith("kmer"))
        cell = lambda k: f"{r[k]['accuracy']:.3f} / {r[k]['macro_f1']:.3f}"  # noqa: E731
        L.append(f"| {name} ({c['label']}) | {c['n']}{' *' if c['subsample'] else ''} | {cell('codelength')} | "
                 f"{cell('head')} | {cell(km)} ({km}) |")
    L += ["", "\\* " + "; ".join(f"{n}: {c['subsample']}" for n, c in res["classify"].items() if c["subsample"]), ""]
    L += ["## Generation: held-out bits per symbol", "", "| alphabet | data | order-k Markov | seqlm |",
          "|---|---|---|---|"]
    for name, v in res["generate"].items():
        L.append(f"| {name} | {v['file']} ({v['test_symbols']} test symbols) | {v['markov']['test_bits_per_symbol']:.4f} "
                 f"(k={v['markov']['order']}) | {v['seqlm']['test_bits_per_symbol']:.4f} |")
    L += [""] + [f"Sample ({name}, temperature 1, seed 0): `{v['sample']}`" for name, v in res["generate"].items()]
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small subsamples and budgets (smoke run)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", choices=["gapfill", "classify", "generate"], action="append")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.monotonic()
    res = {"schema_version": SCHEMA_VERSION, "quick": args.quick, "torch": torch.__version__,
           "machine": f"{platform.machine()} {os.cpu_count()} cpus", "threads": args.threads}
    for section, fn in (("gapfill", bench_gapfill), ("classify", bench_classify), ("generate", bench_generate)):
        if args.only and section not in args.only:
            continue
        ts = time.monotonic()
        res[section] = fn(args.quick)
        print(f"{section}: {time.monotonic() - ts:.0f} s", flush=True)
    res["seconds"] = round(time.monotonic() - t0, 1)
    stem = os.path.join(args.out, "heads-quick" if args.quick else "heads")
    os.makedirs(args.out, exist_ok=True)
    with open(stem + ".json", "w") as fh:
        json.dump(res, fh, indent=1)
    if not args.only:
        with open(stem + ".md", "w") as fh:
            fh.write(to_markdown(res))
    print(json.dumps({k: res[k] for k in res if k in ("gapfill",)}, indent=1) if "gapfill" in res else "")
    print(f"wrote {stem}.json ({res['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
