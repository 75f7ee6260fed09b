"""The predictor core: a small LSTM over categorical inputs, with integer-exact inference.

Nothing here imports the container, the CLI or the heads.
"""

from .config import PredictorConfig

__all__ = ["PredictorConfig", "Predictor", "save_predictor", "load_predictor", "predictor_hash"]

_LAZY = {"Predictor": ".core", "save_predictor": ".checkpoint", "load_predictor": ".checkpoint",
         "predictor_hash": ".checkpoint"}


def __getattr__(name: str):
    """Import torch-backed names on first use: the codec's decode path needs no torch (saves ~1 s)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
