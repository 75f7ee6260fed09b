"""The shipped default quality models (``codec/weights/<kind>.qlstm``).

Trained by :mod:`codec.model.pretrain` (see ``codec/weights/PROVENANCE.md``),
loaded with :mod:`importlib.resources` so they work from a wheel as well as a
checkout. An archive names the model by kind id and the sha256 of the weight
file's bytes; :func:`load_default` refuses any other file with
:class:`~codec.errors.ModelMismatchError`.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import ModelMismatchError
from .intexact import IntPredictor
from .quantize import QuantModel

__all__ = ["CURRENT", "CURRENT_PAIRED", "KINDS", "PHRED_LEVELS", "SEES_MATE", "family_for", "family_of",
           "kind_for", "kind_id", "load_default", "phred_map", "phred_offset", "sees_mate", "weight_bytes"]

PHRED_LEVELS = 94          # Phred 0..93 (bytes '!'..'~' at offset 33)
# Every weight file ever shipped, by archive id (append-only: an archive names its model by this
# index, so an older file stays installed for as long as archives that use it must decode).
KINDS = ("binned", "illumina40", "long", "illumina40_v2", "long_v2", "illumina40_v3")
# The model new archives use for each read family (see family_for) ...
CURRENT = {"binned": "binned", "illumina40": "illumina40_v2", "long": "long_v2"}
# ... and for blocks that hold read 2s, where a family has a model trained on both mates. Why not
# everywhere: on the reads no model was trained on, illumina40_v3 codes read 2s 0.1-4.9 % smaller
# than illumina40_v2 but read 1s 0.1-1.4 % larger (the same 32 units now serve both mates), so
# single-end blocks keep illumina40_v2.
CURRENT_PAIRED = {"illumina40": "illumina40_v3"}
# Kinds trained on both mates that see the mate input (read 2 = 1); the others are given 0 there.
SEES_MATE = frozenset({"illumina40_v3"})


def phred_offset(alphabet: np.ndarray) -> int:
    """64 when every quality byte is >= '@' (Phred+64 data), else 33."""
    return 64 if len(alphabet) and int(np.min(alphabet)) >= 64 else 33


def phred_map(alphabet: np.ndarray, offset: int) -> np.ndarray:
    """Phred value (0..93) of each symbol of the block alphabet (sorted quality bytes)."""
    return np.clip(np.asarray(alphabet, dtype=np.int64) - offset, 0, PHRED_LEVELS - 1)


def family_for(alphabet: np.ndarray, lengths: np.ndarray) -> str:
    """Read family of a block: long reads, then binned (<= 8 values), else Illumina 40-level."""
    k = len(alphabet)
    mean = float(np.mean(lengths)) if len(lengths) else 0.0
    if k > 45 or mean > 500:
        return "long"
    if k <= 8:
        return "binned"
    return "illumina40"


def kind_for(alphabet: np.ndarray, lengths: np.ndarray, paired: bool = False) -> str:
    """The weight file new archives use for a block: the current model of its family, the one
    trained on both mates when the block holds read 2s (``paired``) and the family has one."""
    family = family_for(alphabet, lengths)
    return CURRENT_PAIRED.get(family, CURRENT[family]) if paired else CURRENT[family]


def family_of(kind: str) -> str:
    """Read family a weight file was trained for (``illumina40_v2`` -> ``illumina40``)."""
    return kind.split("_v")[0]


def sees_mate(kind: str) -> bool:
    """Whether the model of ``kind`` is given the mate input (else 0, as it was trained)."""
    return kind in SEES_MATE


def kind_id(kind: str) -> int:
    """Archive id of a kind (index in KINDS; append-only)."""
    return KINDS.index(kind)


def weight_bytes(kind: str) -> bytes:
    """Raw bytes of the shipped weight file of ``kind``."""
    if kind not in KINDS:
        raise ModelMismatchError(f"unknown default quality model kind {kind!r}")
    try:
        return resources.files("codec").joinpath("weights", f"{kind}.qlstm").read_bytes()
    except (FileNotFoundError, OSError) as exc:
        raise ModelMismatchError(f"default quality model {kind!r} is not installed: {exc}") from exc


@lru_cache(maxsize=8)
def _load(kind: str, data: bytes) -> tuple[IntPredictor, bytes]:
    qm = QuantModel.from_bytes(data)
    if qm.cfg.n_symbols != PHRED_LEVELS:
        raise ModelMismatchError(f"default quality model {kind!r} does not predict {PHRED_LEVELS} Phred values")
    return IntPredictor(qm), hashlib.sha256(data).digest()


def load_default(kind: str, sha256: bytes | None = None) -> tuple[IntPredictor, bytes]:
    """(predictor, sha256 digest of the weight file) of ``kind``; with ``sha256`` given, the
    installed file must have exactly that digest (else :class:`ModelMismatchError`)."""
    data = weight_bytes(kind)
    digest = hashlib.sha256(data).digest()
    if sha256 is not None and digest != bytes(sha256):
        raise ModelMismatchError(f"default quality model {kind!r}: archive wants sha256 {bytes(sha256).hex()}, "
                                 f"installed {digest.hex()}")
    return _load(kind, data)
