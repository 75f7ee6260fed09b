"""Alphabets (DNA, protein, text) and sequence input for the heads.

Reads FASTA, FASTQ (plain or gzip) and plain text. FASTA headers may carry
labels as ``KEY=VALUE`` fields (``>id class=beta-lactam gene=blaTEM``); a value
runs up to the next ``KEY=`` field, so UniProt's ``OS=Homo sapiens OX=9606``
gives ``OS`` = ``Homo sapiens``.

Symbols outside an alphabet (``N`` and IUPAC codes in DNA, ``X``/``B``/``Z`` in
protein) encode to ``-1``: the trainer skips them as targets and feeds them as
the start/unknown token.
"""

from __future__ import annotations

import gzip
import io
import os
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import CodecError

__all__ = ["Alphabet", "ALPHABETS", "get_alphabet", "Record", "InputError", "AlphabetMismatchError",
           "LabelError", "read_records", "read_many", "check_alphabet", "guess_alphabet",
           "parse_labels", "labelled", "write_fasta"]

MISSING_VALUES = frozenset({"", "NA", "N/A", "nan", "NaN", "None"})


class InputError(CodecError):
    """An input file is missing, empty or unreadable."""


class AlphabetMismatchError(CodecError):
    """Sequences or a model do not fit the alphabet they are used with."""


class LabelError(CodecError):
    """A label key is unknown, or there are too few labelled records."""


@dataclass(frozen=True)
class Alphabet:
    """A symbol set; ``symbols[i]`` is the character of index ``i``."""

    name: str
    symbols: str
    unknown: str = ""   # characters that are valid in this alphabet's files but not modelled

    @property
    def size(self) -> int:
        return len(self.symbols)

    def _table(self) -> np.ndarray:
        t = np.full(256, -1, dtype=np.int64)
        for i, ch in enumerate(self.symbols):
            t[ord(ch)] = i
            if self.name != "text":
                t[ord(ch.lower())] = i
        if self.name == "dna":
            t[ord("U")] = t[ord("u")] = t[ord("T")]
        return t

    def encode(self, seq: str) -> np.ndarray:
        """Symbol indices (``int64``); symbols outside the alphabet become ``-1``."""
        raw = np.frombuffer(seq.encode("latin-1", errors="replace"), dtype=np.uint8)
        return _TABLES[self.name][raw]

    def decode(self, idx) -> str:
        return "".join(self.symbols[int(i)] if 0 <= int(i) < self.size else "?" for i in idx)

    def valid_fraction(self, seq: str) -> float:
        """Fraction of characters that are symbols or known placeholders (N, X, ...)."""
        if not seq:
            return 1.0
        ok = self.encode(seq) >= 0
        if self.unknown:
            raw = np.frombuffer(seq.upper().encode("latin-1", errors="replace"), dtype=np.uint8)
            ok |= np.isin(raw, np.frombuffer(self.unknown.encode(), dtype=np.uint8))
        return float(ok.mean())


ALPHABETS: dict[str, Alphabet] = {
    "dna": Alphabet("dna", "ACGT", unknown="NRYKMSWBDHV"),
    "protein": Alphabet("protein", "ACDEFGHIKLMNPQRSTVWY", unknown="XBZJUO*"),
    "text": Alphabet("text", "".join(chr(i) for i in range(256))),
}
_TABLES = {name: a._table() for name, a in ALPHABETS.items()}


def get_alphabet(name: str) -> Alphabet:
    try:
        return ALPHABETS[name]
    except KeyError:
        raise AlphabetMismatchError(f"unknown alphabet {name!r} (expected one of: {', '.join(ALPHABETS)})") from None


@dataclass
class Record:
    """One sequence with its header fields."""

    id: str
    seq: str
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)


_LABEL_RE = re.compile(r"(?:^|\s)([A-Za-z_][\w.\-]*)=(.*?)(?=\s+[A-Za-z_][\w.\-]*=|\s*$)")


def parse_labels(description: str) -> dict[str, str]:
    """``KEY=VALUE`` fields of a header line (values may contain spaces)."""
    return {m.group(1): m.group(2).strip() for m in _LABEL_RE.finditer(description)}


def _open_text(path: str) -> str:
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    return data.decode("latin-1")


def _parse_fasta(text: str, path: str) -> list[Record]:
    records: list[Record] = []
    header: str | None = None
    chunks: list[str] = []
    for lineno, line in enumerate(io.StringIO(text), 1):
        line = line.rstrip("\r\n")
        if line.startswith(">"):
            if header is not None:
                records.append(_make_record(header, "".join(chunks)))
            header, chunks = line[1:].strip(), []
        elif header is None:
            if line.strip():
                raise InputError(f"{path}: line {lineno}: sequence data before the first '>' header")
        else:
            chunks.append(line.strip())
    if header is not None:
        records.append(_make_record(header, "".join(chunks)))
    return records


def _make_record(header: str, seq: str) -> Record:
    rid, _, desc = header.partition(" ")
    return Record(id=rid, seq=seq.replace(" ", ""), description=desc, labels=parse_labels(desc))


def _parse_fastq(text: str, path: str) -> list[Record]:
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) % 4:
        raise InputError(f"{path}: FASTQ has {len(lines)} lines, not a multiple of 4")
    records = []
    for i in range(0, len(lines), 4):
        if not lines[i].startswith("@") or not lines[i + 2].startswith("+"):
            raise InputError(f"{path}: line {i + 1}: not a FASTQ record")
        rid, _, desc = lines[i][1:].partition(" ")
        records.append(Record(id=rid, seq=lines[i + 1].strip(), description=desc, labels=parse_labels(desc)))
    return records


def read_records(path: str, *, text_mode: bool = False) -> list[Record]:
    """Records of a FASTA, FASTQ or text file (gzip detected by magic).

    A file that is neither FASTA nor FASTQ is one record holding the whole text
    when ``text_mode``; otherwise it is an error. Empty files are an error.
    """
    text = _open_text(path)
    head = text.lstrip()
    if not head:
        raise InputError(f"{path}: empty file")
    if head.startswith(">"):
        records = _parse_fasta(text, path)
    elif head.startswith("@") and not text_mode:
        records = _parse_fastq(text, path)
    elif text_mode:
        records = [Record(id=os.path.basename(path), seq=text)]
    else:
        raise InputError(f"{path}: not FASTA or FASTQ (first character {head[0]!r})")
    records = [r for r in records if r.seq]
    if not records:
        raise InputError(f"{path}: no sequences")
    return records


def read_many(paths, *, text_mode: bool = False) -> list[Record]:
    out: list[Record] = []
    for p in paths:
        out.extend(read_records(os.fspath(p), text_mode=text_mode))
    return out


def guess_alphabet(seqs) -> str:
    """'dna' when >= 90% of letters are nucleotide codes, else 'protein' if
    >= 90% are amino-acid codes, else 'text'."""
    sample = "".join(s for s in seqs)[:200_000].upper()
    letters = [c for c in sample if c.isalpha()]
    if not letters or len(letters) < 0.9 * len(sample.replace("-", "").replace("\n", "")):
        return "text"
    arr = np.frombuffer("".join(letters).encode("latin-1", errors="replace"), dtype=np.uint8)
    if np.isin(arr, np.frombuffer(b"ACGTUN", dtype=np.uint8)).mean() >= 0.9:
        return "dna"
    if np.isin(arr, np.frombuffer(b"ACDEFGHIKLMNPQRSTVWYXBZJUO", dtype=np.uint8)).mean() >= 0.9:
        return "protein"
    return "text"


def check_alphabet(alphabet: Alphabet, seqs, what: str, *, ignore: str = "") -> None:
    """Raise :class:`AlphabetMismatchError` when ``seqs`` do not look like ``alphabet``.

    Text accepts anything. DNA and protein need >= 95% valid characters, and a
    protein model refuses input that looks like DNA.
    """
    if alphabet.name == "text":
        return
    seqs = [s.translate({ord(c): None for c in ignore}) if ignore else s for s in seqs]
    total = sum(len(s) for s in seqs)
    if total == 0:
        raise InputError(f"{what}: no sequence characters")
    valid = sum(alphabet.valid_fraction(s) * len(s) for s in seqs) / total
    guessed = guess_alphabet(seqs)
    if valid < 0.95 or (alphabet.name == "protein" and guessed == "dna" and total >= 12):
        raise AlphabetMismatchError(
            f"{what}: sequences look like {guessed}, not {alphabet.name} "
            f"({100 * valid:.0f}% of characters are valid {alphabet.name} symbols)")


def labelled(records: list[Record], key: str, what: str) -> tuple[list[Record], list[str]]:
    """Records that carry label ``key`` (missing values such as NA dropped) and their labels."""
    present = [r for r in records if key in r.labels]
    if not present:
        seen = sorted({k for r in records for k in r.labels})
        hint = f"; keys present: {', '.join(seen)}" if seen else "; headers carry no KEY=VALUE fields"
        raise LabelError(f"{what}: unknown label key {key!r}{hint}")
    keep = [r for r in present if r.labels[key] not in MISSING_VALUES]
    if not keep:
        raise LabelError(f"{what}: label {key!r} has no non-missing values")
    return keep, [r.labels[key] for r in keep]


def write_fasta(records, fh, width: int = 0) -> None:
    """Write ``(header, seq)`` pairs as FASTA (one sequence line unless ``width``)."""
    for header, seq in records:
        fh.write(f">{header}\n")
        if width:
            for i in range(0, len(seq), width):
                fh.write(seq[i:i + width] + "\n")
        else:
            fh.write(seq + "\n")


# --- language-model files ----------------------------------------------------------------------
# A head model file is a predictor checkpoint (codec.model.checkpoint) whose ``extra`` names the
# kind, alphabet and input spec; a backward predictor (for gap filling) rides along inside it.

LM_KIND = "seqlm-lm"


@dataclass
class LanguageModel:
    alphabet: Alphabet
    spec: object            # codec.model.train.InputSpec
    forward: object         # codec.model.core.Predictor
    backward: object | None = None
    info: dict = field(default_factory=dict)


def save_lm(path: str, lm: LanguageModel) -> str:
    from ..model.checkpoint import predictor_hash, save_predictor

    extra = {"kind": LM_KIND, "alphabet": lm.alphabet.name, "spec": lm.spec.to_dict(), "info": dict(lm.info)}
    if lm.backward is not None:
        sd = {k: v.detach().cpu().clone() for k, v in lm.backward.state_dict().items()}
        extra["backward"] = {"config": lm.backward.cfg.to_dict(), "state_dict": sd,
                             "sha256": predictor_hash(lm.backward.cfg, sd)}
    return save_predictor(path, lm.forward, extra)


def load_lm(path: str) -> LanguageModel:
    """Load a file written by :func:`save_lm`; one-line errors for anything else."""
    from ..errors import ModelMismatchError
    from ..model.checkpoint import load_predictor, predictor_from_record
    from ..model.train import InputSpec

    if not os.path.isfile(path):
        raise InputError(f"{path}: no such model file")
    try:
        model, extra = load_predictor(path)
    except CodecError:
        raise
    except Exception as exc:  # not a torch file at all
        raise ModelMismatchError(f"{path}: not a seqlm model ({type(exc).__name__})") from None
    if extra.get("kind") != LM_KIND:
        raise ModelMismatchError(f"{path}: not a seqlm language model (kind {extra.get('kind')!r})")
    backward = None
    if extra.get("backward"):
        backward = predictor_from_record(extra["backward"], f"{path}: backward predictor")
    spec = InputSpec.from_dict(extra["spec"])
    return LanguageModel(get_alphabet(extra["alphabet"]), spec, model, backward, dict(extra.get("info") or {}))
