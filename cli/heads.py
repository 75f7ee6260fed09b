"""Click commands of the heads: ``train``, ``generate``, ``gapfill`` and the ``classify`` group.

Standalone command objects; ``cli.main`` registers them on the ``seqlm`` group
with ``main.add_command(...)``. Bad input gives one line on stderr and exit 1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from codec.errors import CodecError

__all__ = ["train_cmd", "generate_cmd", "gapfill_cmd", "classify_group"]

ALPHABET_CHOICE = click.Choice(["dna", "protein", "text"])


class HeadsCliError(click.ClickException):
    """One line on stderr, exit code 1."""

    def show(self, file=None) -> None:  # noqa: D102 - click API
        click.echo(f"seqlm: error: {self.format_message()}", err=True)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except BrokenPipeError:
        # the reader went away (``... | head``): stop quietly, as a filter should
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        raise SystemExit(0) from None
    except CodecError as exc:
        raise HeadsCliError(str(exc)) from None
    except OSError as exc:
        raise HeadsCliError(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from None


def _threads() -> None:
    import torch
    torch.set_num_threads(1)


def _note(msg: str) -> None:
    click.echo(msg, err=True)


def _open_out(path: str | None):
    if path is None or path == "-":
        return contextmanager(lambda: (yield sys.stdout))()
    return open(path, "w", encoding="latin-1", newline="\n")


# ---------------------------------------------------------------- train
@click.command("train")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Model file to write.")
@click.option("--alphabet", type=ALPHABET_CHOICE, required=True)
@click.option("--hidden", type=click.IntRange(4, 2048), default=128, show_default=True)
@click.option("--layers", type=click.IntRange(1, 4), default=1, show_default=True)
@click.option("--embed", type=click.IntRange(2, 512), default=16, show_default=True)
@click.option("--context-order", type=click.IntRange(0, 12), default=0, show_default=True,
              help="Also feed the hashed previous-k-symbol context as an input feature.")
@click.option("--epochs", type=click.IntRange(1, 100000), default=None, help="Passes over the data (default 10).")
@click.option("--time-budget", type=click.FloatRange(1, None), default=None, help="Seconds of training.")
@click.option("--holdout", type=click.FloatRange(0.01, 0.5), default=0.1, show_default=True)
@click.option("--backward/--no-backward", default=False, show_default=True,
              help="Also train a backward model (used by gapfill).")
@click.option("--seed", type=int, default=0, show_default=True)
def train_cmd(inputs, output, alphabet, hidden, layers, embed, context_order, epochs, time_budget, holdout,
              backward, seed) -> None:
    """Fit a predictor on FASTA, FASTQ or text files and print held-out bits per symbol."""
    from codec.heads.alphabet import LanguageModel, check_alphabet, get_alphabet, read_many, save_lm
    from codec.model.train import InputSpec, fit, new_predictor

    _threads()
    with _errors():
        alpha = get_alphabet(alphabet)
        records = read_many(inputs, text_mode=alphabet == "text")
        check_alphabet(alpha, [r.seq for r in records], ", ".join(inputs))
        seqs = [alpha.encode(r.seq) for r in records]
        if not any((s >= 0).any() for s in seqs):
            raise CodecError(f"{', '.join(inputs)}: no {alphabet} symbols to train on")
        spec = InputSpec.auto(alpha.size, context_order)
        tty = sys.stderr.isatty()
        budget = None if time_budget is None else (time_budget / 2 if backward else time_budget)
        fwd = new_predictor(spec, hidden=hidden, layers=layers, embed=embed, seed=seed)
        hist = fit(fwd, seqs, spec, epochs=epochs, time_budget=budget, seed=seed, holdout=holdout, progress=tty)
        bwd = None
        if backward:
            bwd = new_predictor(spec, hidden=hidden, layers=layers, embed=embed, seed=seed)
            fit(bwd, [s[::-1].copy() for s in seqs], spec, epochs=epochs, time_budget=budget, seed=seed,
                holdout=holdout, progress=tty)
        info = {"heldout_bits": hist.best_heldout_bits, "epochs": hist.epochs,
                "train_symbols": hist.train_symbols, "heldout_symbols": hist.heldout_symbols,
                "inputs": [os.path.basename(p) for p in inputs]}
        digest = save_lm(output, LanguageModel(alpha, spec, fwd, bwd, info))
    click.echo(f"held-out bits per symbol: {hist.best_heldout_bits:.4f} "
               f"({hist.heldout_symbols} held-out symbols, {hist.train_symbols} training symbols, "
               f"{hist.epochs} epochs, {hist.seconds:.1f} s)")
    _note(f"wrote {output} (sha256 {digest[:16]})")


# ---------------------------------------------------------------- generate
@click.command("generate")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-n", "count", type=click.IntRange(1, 1_000_000), default=1, show_default=True)
@click.option("--length", type=click.IntRange(1, 10_000_000), required=True, help="Symbols to sample per sequence.")
@click.option("--prompt", default="", help="Start every sample with this text.")
@click.option("--temperature", type=click.FloatRange(0, None), default=1.0, show_default=True)
@click.option("--top-k", type=click.IntRange(0, None), default=0, show_default=True, help="0 = no cut.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Default: stdout.")
def generate_cmd(model, count, length, prompt, temperature, top_k, seed, output) -> None:
    """Sample sequences from a trained model (FASTA, or plain text for text models)."""
    from codec.heads.alphabet import load_lm, write_fasta
    from codec.heads.generate import generate

    _threads()
    with _errors():
        lm = load_lm(model)
        samples = generate(lm.forward, lm.spec, lm.alphabet, n=count, length=length, prompt=prompt,
                           temperature=temperature, top_k=top_k, seed=seed)
        with _open_out(output) as fh:
            if lm.alphabet.name == "text":
                for s in samples:
                    fh.write(s + "\n")
            else:
                write_fasta(((f"sample_{i + 1} seed={seed} temperature={temperature:g} top_k={top_k}", s)
                             for i, s in enumerate(samples)), fh)


# ---------------------------------------------------------------- gapfill
@click.command("gapfill")
@click.argument("gapped", type=click.Path(dir_okay=False))
@click.option("--model", type=click.Path(dir_okay=False), default=None, help="A model from `seqlm train`.")
@click.option("--train", "train_files", multiple=True, type=click.Path(dir_okay=False),
              help="Extra FASTA to train on (repeatable).")
@click.option("--exclude", multiple=True, help="Drop training records whose name contains this (repeatable).")
@click.option("--max-identity", type=click.FloatRange(0, 1), default=0.95, show_default=True,
              help="Drop training records at least this identical to a gapped sequence (1 = keep all).")
@click.option("--gap-char", default=None, help="Gap character (default '-', and also 'N' for DNA).")
@click.option("--alphabet", type=ALPHABET_CHOICE, default=None, help="Default: guessed from the input.")
@click.option("--truth", type=click.Path(dir_okay=False), default=None, help="FASTA of the true sequences.")
@click.option("--hidden", type=click.IntRange(4, 2048), default=128, show_default=True)
@click.option("--time-budget", type=click.FloatRange(1, None), default=120.0, show_default=True,
              help="Seconds of training (both directions together) when no --model.")
@click.option("--epochs", type=click.IntRange(1, 100000), default=None)
@click.option("--beam", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option("--method", type=click.Choice(["auto", "lstm", "ngram"]), default="auto", show_default=True,
              help="Model trained when no --model: forward/backward LSTMs, or an interpolated n-gram "
                   "model (orders 0-3, weights fitted by leave-one-out); auto = n-gram below 20,000 "
                   "known symbols.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
def gapfill_cmd(gapped, model, train_files, exclude, max_identity, gap_char, alphabet, truth, hidden, time_budget,
                epochs, beam, method, seed, output) -> None:
    """Fill gap characters using context on both sides of each gap."""
    from codec.heads.alphabet import get_alphabet, guess_alphabet, load_lm, read_records, write_fasta
    from codec.heads.gapfill import fill_records, prepare_training

    _threads()
    with _errors():
        records = read_records(gapped)
        if model is not None:
            lm = load_lm(model)
            alpha = lm.alphabet
            if alphabet is not None and alphabet != alpha.name:
                raise CodecError(f"{model}: model alphabet is {alpha.name}, not {alphabet}")
        else:
            alpha = get_alphabet(alphabet or guess_alphabet([r.seq for r in records]))
            lm = None
        gaps = set(gap_char) if gap_char else ({"-", "N", "n"} if alpha.name == "dna" else {"-"})
        if gap_char is not None and len(gap_char) != 1:
            raise CodecError(f"--gap-char must be one character (got {gap_char!r})")
        if lm is None:
            lm, report = prepare_training(records, alpha, gaps, train_files, exclude, max_identity,
                                          hidden=hidden, time_budget=time_budget, epochs=epochs, seed=seed,
                                          progress=sys.stderr.isatty(), method=method)
            _note(report)
        filled = fill_records(lm, records, gaps, beam=beam, what=gapped)
        with _open_out(output) as fh:
            write_fasta(((r.id + (" " + r.description if r.description else ""), f) for r, f in
                         zip(records, filled)), fh)
        if truth is not None:
            from codec.heads.gapfill import truth_accuracy
            right, total, lines = truth_accuracy(records, filled, read_records(truth), gaps)
            for line in lines:
                click.echo(line)
            click.echo(f"gap accuracy: {right}/{total} = {100 * right / max(1, total):.1f}%")


# ---------------------------------------------------------------- classify
@click.group("classify")
def classify_group() -> None:
    """Label sequences by per-class code length or a head on the LSTM state."""


def _labelled_input(path: str, label: str, alphabet: str | None):
    from codec.heads.alphabet import check_alphabet, get_alphabet, guess_alphabet, labelled, read_records

    records = read_records(path)
    records, labels = labelled(records, label, path)
    alpha = get_alphabet(alphabet or guess_alphabet([r.seq for r in records[:500]]))
    check_alphabet(alpha, [r.seq for r in records], path)
    return records, labels, alpha


def _settings(method, hidden, time_budget, seed):
    from codec.heads.classify import ClassifierSettings
    return ClassifierSettings(method=method, hidden=hidden, time_budget=time_budget, seed=seed)


def _classify_options(func):
    func = click.option("--seed", type=int, default=0, show_default=True)(func)
    func = click.option("--time-budget", type=click.FloatRange(1, None), default=60.0, show_default=True,
                        help="Seconds of training per fitted classifier.")(func)
    func = click.option("--hidden", type=click.IntRange(4, 2048), default=64, show_default=True)(func)
    func = click.option("--alphabet", type=ALPHABET_CHOICE, default=None, help="Default: guessed.")(func)
    func = click.option("--label", "label", required=True, help="Header field KEY of KEY=VALUE labels.")(func)
    return func


@classify_group.command("fit")
@click.argument("labelled_fasta", type=click.Path(dir_okay=False))
@_classify_options
@click.option("--method", type=click.Choice(["codelength", "head"]), default="codelength", show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
def classify_fit(labelled_fasta, label, alphabet, hidden, time_budget, seed, method, output) -> None:
    """Fit a classifier on FASTA with KEY=VALUE labels in the headers."""
    from codec.heads.classify import fit_classifier, save_classifier

    _threads()
    with _errors():
        records, labels, alpha = _labelled_input(labelled_fasta, label, alphabet)
        clf = fit_classifier([alpha.encode(r.seq) for r in records], labels, alpha, label,
                             _settings(method, hidden, time_budget, seed))
        save_classifier(output, clf)
    _note(f"wrote {output}: {method} classifier, {len(clf.classes)} classes, {len(records)} sequences")


@classify_group.command("predict")
@click.argument("classifier", type=click.Path(dir_okay=False))
@click.argument("seqs", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Default: stdout.")
def classify_predict(classifier, seqs, output) -> None:
    """Print id<TAB>label<TAB>probability for each sequence."""
    from codec.heads.alphabet import check_alphabet, read_records
    from codec.heads.classify import load_classifier

    _threads()
    with _errors():
        clf = load_classifier(classifier)
        records = read_records(seqs)
        check_alphabet(clf.alphabet, [r.seq for r in records], f"{seqs} (classifier alphabet {clf.alphabet.name})")
        labels, probs = clf.predict([clf.alphabet.encode(r.seq) for r in records])
        with _open_out(output) as fh:
            for r, lab, p in zip(records, labels, probs):
                fh.write(f"{r.id}\t{lab}\t{p:.4f}\n")


@classify_group.command("cv")
@click.argument("labelled_fasta", type=click.Path(dir_okay=False))
@_classify_options
@click.option("--method", type=click.Choice(["codelength", "head", "both"]), default="codelength",
              show_default=True)
@click.option("--folds", type=click.IntRange(2, 100), default=5, show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Also write results here.")
def classify_cv(labelled_fasta, label, alphabet, hidden, time_budget, seed, method, folds, json_out) -> None:
    """k-fold cross-validation against a k-mer logistic-regression baseline on the same folds."""
    from codec.heads.classify import cross_validate

    _threads()
    with _errors():
        records, labels, alpha = _labelled_input(labelled_fasta, label, alphabet)
        methods = ("codelength", "head") if method == "both" else (method,)
        res = cross_validate([r.seq for r in records], labels, alpha, label,
                             _settings(methods[0], hidden, time_budget, seed), methods=methods, folds=folds,
                             seed=seed, on_fold=(lambda f: _note(f"fold {f + 1}/{folds} done"))
                             if sys.stderr.isatty() else None)
    click.echo(format_cv(res))
    if json_out:
        with open(json_out, "w") as fh:
            json.dump(res, fh, indent=1)


def format_cv(res: dict) -> str:
    """Plain-text report: one line per method, then each confusion matrix."""
    lines = [f"{res['folds']}-fold CV on {res['n']} sequences, label {res['label']!r}, {len(res['classes'])} classes"]
    for name, r in res["results"].items():
        lines.append(f"{name:<16} accuracy {r['accuracy']:.4f}  macro-F1 {r['macro_f1']:.4f}")
    short = [c[:10] for c in res["classes"]]
    w = max(6, max(len(c) for c in short) + 1)
    for name, r in res["results"].items():
        lines.append(f"\nconfusion matrix, {name} (rows: true, columns: predicted)")
        lines.append(" " * w + "".join(f"{c:>{w}}" for c in short))
        for c, row in zip(short, r["confusion"]):
            lines.append(f"{c:<{w}}" + "".join(f"{v:>{w}}" for v in row))
    return "\n".join(lines)
