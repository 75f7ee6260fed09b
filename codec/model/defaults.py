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

from ..errors import ModelMismatchError
from .intexact import IntPredictor
from .pretrain import KINDS, PHRED_LEVELS, kind_for, phred_map, phred_offset
from .quantize import QuantModel

__all__ = ["KINDS", "PHRED_LEVELS", "kind_for", "phred_map", "phred_offset", "kind_id", "load_default",
           "weight_bytes"]


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
