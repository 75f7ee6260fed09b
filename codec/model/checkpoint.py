"""Checkpoints: ``{config, state_dict, sha256, format_rev, extra}``.

The hash covers the config (canonical JSON) and every weight tensor (name,
dtype, shape, little-endian bytes, in sorted name order), so it identifies a
predictor independently of torch's pickle layout.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np
import torch

from ..errors import ModelMismatchError
from .config import PredictorConfig
from .core import Predictor

FORMAT_REV = 1


def predictor_hash(cfg: PredictorConfig, state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 hex of the config and weights (layout-independent)."""
    h = hashlib.sha256()
    h.update(json.dumps(cfg.to_dict(), sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        arr = t.numpy()
        h.update(name.encode() + b"\0" + str(arr.dtype).encode() + b"\0" + repr(tuple(arr.shape)).encode())
        h.update(np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


def predictor_from_record(record: dict[str, Any], label: str) -> Predictor:
    """Rebuild an eval-mode predictor from a ``{config, state_dict, sha256}`` record
    embedded in a larger file (heads' model files); ``label`` names it in errors."""
    cfg = PredictorConfig.from_dict(record["config"])
    if predictor_hash(cfg, record["state_dict"]) != record["sha256"]:
        raise ModelMismatchError(f"{label} fails its sha256 check")
    model = Predictor(cfg)
    model.load_state_dict(record["state_dict"])
    model.eval()
    return model


def save_predictor(path: str | os.PathLike, model: Predictor, extra: dict | None = None) -> str:
    """Save ``model`` to ``path``; return the sha256 of config + weights."""
    sd = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    digest = predictor_hash(model.cfg, sd)
    torch.save({"config": model.cfg.to_dict(), "state_dict": sd, "sha256": digest,
                "format_rev": FORMAT_REV, "extra": dict(extra or {})}, os.fspath(path))
    return digest


def load_predictor(path: str | os.PathLike) -> tuple[Predictor, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_predictor`; verify its hash."""
    ckpt = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "config" not in ckpt or "state_dict" not in ckpt:
        raise ModelMismatchError(f"{path}: not a seqlm predictor checkpoint")
    if int(ckpt.get("format_rev", 0)) > FORMAT_REV:
        raise ModelMismatchError(f"{path}: checkpoint format_rev {ckpt['format_rev']} is newer than {FORMAT_REV}")
    cfg = PredictorConfig.from_dict(ckpt["config"])
    digest = predictor_hash(cfg, ckpt["state_dict"])
    if digest != ckpt.get("sha256"):
        raise ModelMismatchError(f"{path}: sha256 mismatch (stored {ckpt.get('sha256')}, computed {digest})")
    model = Predictor(cfg)
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, dict(ckpt.get("extra") or {})
