"""Heads library: alphabets and input, trainer, baselines, generate, gapfill, classify."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from codec.errors import CodecError
from codec.heads.alphabet import (AlphabetMismatchError, InputError, LabelError, LanguageModel, check_alphabet,
                                  get_alphabet, guess_alphabet, labelled, load_lm, parse_labels, read_records,
                                  save_lm)
from codec.heads.baselines import KmerLogReg, MarkovModel, default_kmer, majority_vote_fill, select_markov
from codec.heads.classify import (ClassifierSettings, cross_validate, fit_classifier, load_classifier, metrics,
                                  save_classifier, stratified_folds)
from codec.heads.gapfill import (GapModels, fill_sequence, find_gaps, gap_accuracy, near_duplicates,
                                 train_gap_models)
from codec.heads.generate import GenerateError, bits_per_symbol, generate
from codec.model.train import InputSpec, fit, new_predictor, sequence_bits

torch.set_num_threads(1)
DNA, PROT, TEXT = get_alphabet("dna"), get_alphabet("protein"), get_alphabet("text")


# ------------------------------------------------------------------ alphabets and input
def test_encode_decode_and_unknowns() -> None:
    x = DNA.encode("ACGTNacgu-")
    assert x.tolist() == [0, 1, 2, 3, -1, 0, 1, 2, 3, -1]
    assert DNA.decode([0, 1, 2, 3]) == "ACGT"
    assert PROT.encode("MKX").tolist() == [PROT.symbols.index("M"), PROT.symbols.index("K"), -1]
    assert TEXT.decode(TEXT.encode("héllo\n")) == "héllo\n"


def test_parse_labels_values_with_spaces() -> None:
    d = parse_labels("Genome polyprotein OS=Dengue virus 3 PE=4 SV=1")
    assert d == {"OS": "Dengue virus 3", "PE": "4", "SV": "1"}
    assert parse_labels("class=beta-lactam gene=blaTEM-1 family=bla(TEM)") == {
        "class": "beta-lactam", "gene": "blaTEM-1", "family": "bla(TEM)"}
    assert parse_labels("no labels here") == {}


def test_read_fasta_fastq_gzip_text(tmp_path) -> None:
    fa = tmp_path / "a.fa.gz"
    fa.write_bytes(gzip.compress(b">r1 k=v\nACGT\nAC\n>r2\nGG\n"))
    recs = read_records(str(fa))
    assert [(r.id, r.seq, r.labels) for r in recs] == [("r1", "ACGTAC", {"k": "v"}), ("r2", "GG", {})]
    fq = tmp_path / "a.fq"
    fq.write_text("@q1 x=1\nACGT\n+\nIIII\n@q2\nTT\n+q2\nII\n")
    assert [r.seq for r in read_records(str(fq))] == ["ACGT", "TT"]
    txt = tmp_path / "t.txt"
    txt.write_text("hello world\n")
    assert read_records(str(txt), text_mode=True)[0].seq == "hello world\n"
    with pytest.raises(InputError, match="not FASTA or FASTQ"):
        read_records(str(txt))
    empty = tmp_path / "e.fa"
    empty.write_text("")
    with pytest.raises(InputError, match="empty file"):
        read_records(str(empty))
    with pytest.raises(InputError, match="no such file"):
        read_records(str(tmp_path / "missing.fa"))


def test_guess_and_check_alphabet() -> None:
    assert guess_alphabet(["ACGTTGCANACGT"]) == "dna"
    assert guess_alphabet(["MKVLAAGIVGLLLAQPE"]) == "protein"
    assert guess_alphabet(["Hello, world! 123"]) == "text"
    check_alphabet(DNA, ["ACGTN"], "x")
    with pytest.raises(AlphabetMismatchError, match="look like protein"):
        check_alphabet(DNA, ["MKVLEEPQRSTW"], "x")
    with pytest.raises(AlphabetMismatchError, match="look like dna"):
        check_alphabet(PROT, ["ACGTACGTTGCAACGTAGCT"], "x")
    with pytest.raises(AlphabetMismatchError):
        get_alphabet("rna")


def test_labelled_records() -> None:
    from codec.heads.alphabet import Record
    recs = [Record("a", "AC", labels={"y": "1"}), Record("b", "AC", labels={"y": "NA"}), Record("c", "AC")]
    keep, labels = labelled(recs, "y", "f")
    assert [r.id for r in keep] == ["a"] and labels == ["1"]
    with pytest.raises(LabelError, match="unknown label key 'z'; keys present: y"):
        labelled(recs, "z", "f")


# ------------------------------------------------------------------ trainer
def test_input_spec_context_feature() -> None:
    spec = InputSpec.auto(4, 2)
    assert spec.input_vocab == (5, 25)
    x = spec.encode(np.array([0, 1, 2, -1]))
    assert x[:, 0].tolist() == [4, 0, 1, 2]
    assert x[:, 1].tolist() == [4 * 5 + 4, 4 * 5 + 0, 0 * 5 + 1, 1 * 5 + 2]
    # continuing from a prefix gives the same features as encoding the whole sequence
    whole = spec.encode(np.array([3, 2, 0, 1, 2]))
    assert np.array_equal(spec.encode(np.array([1, 2]), prefix=np.array([3, 2, 0])), whole[3:])
    hashed = InputSpec.auto(20, 5, max_buckets=1000)
    assert hashed.context_buckets == 1000 and hashed.encode(np.arange(20) % 20)[:, 1].max() < 1000


def test_fit_learns_and_bits_match_loss() -> None:
    spec = InputSpec(4)
    seqs = [np.array([0, 1, 2, 3] * 10) for _ in range(24)]
    m = new_predictor(spec, hidden=16, seed=0)
    before = bits_per_symbol(m, spec, seqs)
    hist = fit(m, seqs, spec, epochs=8, seed=0)
    after = bits_per_symbol(m, spec, seqs)
    assert hist.epochs >= 1 and hist.heldout_symbols > 0 and after < before and after < 1.0
    bits, counts = sequence_bits(m, seqs[:3], spec)
    x = torch.from_numpy(np.stack([spec.encode(s) for s in seqs[:3]]))
    with torch.no_grad():
        _, loss = m(x, targets=torch.from_numpy(np.stack(seqs[:3])))
    assert counts.tolist() == [40, 40, 40]
    assert bits.sum() / counts.sum() == pytest.approx(float(loss) / np.log(2), rel=1e-4)


def test_fit_single_sequence_holds_out_positions() -> None:
    spec = InputSpec(4)
    m = new_predictor(spec, hidden=8)
    hist = fit(m, [np.array([0, 1, 2, 3] * 30)], spec, epochs=2, holdout=0.2)
    assert 0 < hist.heldout_symbols < 120 and hist.train_symbols + hist.heldout_symbols == 120


# ------------------------------------------------------------------ baselines
def test_markov_and_selection() -> None:
    seqs = [np.array([0, 1, 2, 3] * 25)] * 10
    m1 = MarkovModel(1, 4).fit(seqs)
    assert m1.bits_per_symbol(seqs) < 0.2 < MarkovModel(0, 4).fit(seqs).bits_per_symbol(seqs)
    model, scores = select_markov(seqs, 4, max_order=4)
    assert model.order >= 1 and set(scores) >= {0, 1, 2}
    assert default_kmer(4) == 6 and default_kmer(20) == 3


def test_kmer_logreg_and_majority_vote() -> None:
    rng = np.random.default_rng(0)
    a = ["".join(rng.choice(list("AAT"), 40)) for _ in range(20)]
    b = ["".join(rng.choice(list("GGC"), 40)) for _ in range(20)]
    km = KmerLogReg(3).fit(a + b, ["a"] * 20 + ["b"] * 20)
    assert km.predict(["AATATA" * 5, "GCGGCG" * 5]) == ["a", "b"]
    corpus = ["MKTAYIAKQR", "MKTAYIAKQR", "MKSAYIAKQR"]
    assert majority_vote_fill("MK-AYI-KQR", corpus) == "MKTAYIAKQR"
    # three unrelated sequences outvote the homologue, unless only homologues vote
    strangers = ["MKWAYIWKQR"] * 3 + ["MKTWWWAWWW"]
    assert majority_vote_fill("MKTAYI-KQR", strangers) == "MKTAYIWKQR"
    assert majority_vote_fill("MKTAYI-KQR", strangers + ["MKTAYIAKQR"], min_identity=0.9) == "MKTAYIAKQR"


# ------------------------------------------------------------------ generate
def _tiny_lm(alpha, seqs, epochs: int = 6, context: int = 0):
    spec = InputSpec.auto(alpha.size, context)
    m = new_predictor(spec, hidden=16, seed=1)
    fit(m, seqs, spec, epochs=epochs, seed=1)
    return m, spec


def test_generate_reproducible_prompt_and_greedy() -> None:
    m, spec = _tiny_lm(DNA, [DNA.encode("ACGT" * 12)] * 24, context=2)
    a = generate(m, spec, DNA, n=3, length=12, prompt="AC", seed=5)
    assert a == generate(m, spec, DNA, n=3, length=12, prompt="AC", seed=5)
    assert all(s.startswith("AC") and len(s) == 14 and set(s) <= set("ACGT") for s in a)
    greedy = generate(m, spec, DNA, n=2, length=8, prompt="A", temperature=0)
    assert greedy[0] == greedy[1] == generate(m, spec, DNA, n=1, length=8, prompt="A", top_k=1, seed=9)[0]
    assert greedy[0] == "ACGTACGTA"
    with pytest.raises(AlphabetMismatchError):
        generate(m, spec, DNA, n=1, length=3, prompt="HELLO")
    with pytest.raises(GenerateError):
        generate(m, spec, DNA, n=1, length=3, temperature=-1)


def test_lm_file_roundtrip(tmp_path) -> None:
    m, spec = _tiny_lm(PROT, [PROT.encode("MKVLAAGIVG")] * 8, epochs=1)
    path = str(tmp_path / "m.pt")
    save_lm(path, LanguageModel(PROT, spec, m, m, {"x": 1}))
    lm = load_lm(path)
    assert lm.alphabet is PROT and lm.spec == spec and lm.backward is not None and lm.info == {"x": 1}
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(CodecError):
        load_lm(str(bad))


# ------------------------------------------------------------------ gapfill
def test_find_gaps_and_accuracy() -> None:
    assert find_gaps("--AB-C--", "-") == [(0, 2), (4, 5), (6, 8)]
    assert gap_accuracy("A-C-", "ABCX", "ABCD") == (1, 2)


@pytest.mark.parametrize("gapped", ["ACGTAC--ACGTACGTAC", "ACGTACGTACGTAC-------TACGTACGT", "---TACGTACGTACGT"])
def test_gapfill_periodic(gapped: str) -> None:
    seqs = [DNA.encode("ACGT" * 10)] * 24 + [DNA.encode("TTACGTACGTAC")] * 4
    models = train_gap_models(seqs, DNA, hidden=16, epochs=6, seed=0)
    filled = fill_sequence(models, gapped, "-", exact_limit=4 ** 3, beam=8)
    truth = ("ACGT" * 10)[:len(gapped)] if not gapped.startswith("-") else "ACG" + gapped[3:]
    assert "-" not in filled and gap_accuracy(gapped, filled, truth) == (gapped.count("-"),) * 2


def test_gapfill_forward_only_model() -> None:
    m, spec = _tiny_lm(DNA, [DNA.encode("ACGT" * 10)] * 24)
    filled = fill_sequence(GapModels(DNA, m, spec), "ACGTA-GTACGT", "-")
    assert filled == "ACGTACGTACGT"


def test_near_duplicates() -> None:
    q = "DIQMTQSPSSLSASVGDRVTITCK---NIDKYLNWYQQKPGKAPKLLIY"
    same = "DIQMTQSPSSLSASVGDRVTITCKASQNIDKYLNWYQQKPGKAPKLLIY"
    other = "EVQLVESGGGLVQPGGSLRLSCAASGFTFSSYAMSWVRQAPGKGLEWVS"
    close = "DIQMTQSPSSLSASVGDRVTITCRASQDISNYLAWYQQKPGKAPKLLIY"
    assert near_duplicates([q], [same, other, close], {"-"}, 0.95) == [True, False, False]


# ------------------------------------------------------------------ classify
def _toy_labelled(n: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        c = "at" if i % 2 else "gc"
        texts.append("".join(rng.choice(list("AATTAC" if c == "at" else "GGCCGT"), 50)))
        labels.append(c)
    return texts, labels


def test_stratified_folds_and_metrics() -> None:
    labels = ["a"] * 10 + ["b"] * 5 + ["c"]
    f = stratified_folds(labels, 5, seed=1)
    for c in "ab":
        counts = np.bincount(f[[i for i, y in enumerate(labels) if y == c]], minlength=5)
        assert counts.max() - counts.min() <= 1
    assert np.array_equal(f, stratified_folds(labels, 5, seed=1))
    r = metrics(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    assert r["accuracy"] == pytest.approx(2 / 3) and r["confusion"] == [[1, 1], [0, 1]]
    assert r["macro_f1"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("method", ["codelength", "head"])
def test_classifier_fit_predict_save_load(tmp_path, method: str) -> None:
    texts, labels = _toy_labelled()
    seqs = [DNA.encode(t) for t in texts]
    clf = fit_classifier(seqs, labels, DNA, "cls", ClassifierSettings(method=method, hidden=12, time_budget=4))
    pred, prob = clf.predict(seqs)
    assert np.mean([p == y for p, y in zip(pred, labels)]) >= 0.9
    assert ((prob >= 0.5) & (prob <= 1.0)).all()
    path = tmp_path / "c.pt"
    save_classifier(path, clf)
    again = load_classifier(path)
    assert again.classes == clf.classes and again.method == method
    np.testing.assert_allclose(again.log_probs(seqs), clf.log_probs(seqs), rtol=1e-5, atol=1e-6)


def test_cross_validate_reports_every_method() -> None:
    texts, labels = _toy_labelled(20)
    res = cross_validate(texts, labels, DNA, "cls", ClassifierSettings(hidden=8, time_budget=1.5), folds=2)
    assert set(res["results"]) == {"codelength", "kmer6-logreg"}
    for r in res["results"].values():
        assert sum(map(sum, r["confusion"])) == 20 and 0 <= r["accuracy"] <= 1
    with pytest.raises(LabelError):
        cross_validate(texts, ["x"] * 20, DNA, "cls", ClassifierSettings(), folds=2)


def test_hashed_ppm_and_ngram_copy_repeats():
    import numpy as np
    from codec.heads.baselines import HashedPPM
    from codec.heads.gapfill import NgramModel

    s = np.array([0, 1, 2, 3] * 20, dtype=np.int64)
    m = HashedPPM(4, 4).fit([s])
    p = m.symbol_probs(s)
    assert p.shape == s.shape and (p > 0).all() and (p <= 1).all()
    assert p[-1] > 0.9                      # long repeated context predicts its follower
    assert m.sequence_bits([s[::-1].copy()])[0][0] > m.sequence_bits([s])[0][0]
    ng = NgramModel(4, 3, [s])
    d = ng.dist([0, 1, 2])
    assert abs(d.sum() - 1) < 1e-9 and d.argmax() == 3


def test_ngram_order_weights_follow_the_data():
    """Leave-one-out weights: a repeated motif earns the long orders, i.i.d. symbols only order 0."""
    import numpy as np
    from codec.heads.gapfill import NgramModel, pick_method

    motif = NgramModel(4, 3, [np.array([0, 1, 2, 3, 3, 1] * 40, dtype=np.int64)], fit_weights=True)
    assert motif.weights[3] > 0.5 and abs(motif.weights.sum() - 1) < 1e-9
    assert motif.dist([0, 1, 2]).argmax() == 3
    noise = np.random.default_rng(0).choice(20, 200, p=np.r_[0.2, np.full(19, 0.8 / 19)])
    iid = NgramModel(20, 3, [noise], fit_weights=True)
    assert iid.weights[0] > 0.8
    assert iid.dist([5, 6, 7]).argmax() == 0 and abs(iid.dist([5, 6, 7]).sum() - 1) < 1e-9
    assert pick_method("auto", 185) == "ngram" and pick_method("auto", 10 ** 6) == "lstm"
    assert pick_method("lstm", 5) == "lstm"
