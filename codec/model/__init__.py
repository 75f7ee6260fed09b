"""The predictor core: a small LSTM over categorical inputs, with integer-exact inference.

Nothing here imports the container, the CLI or the heads.
"""

from .checkpoint import load_predictor, predictor_hash, save_predictor
from .config import PredictorConfig
from .core import Predictor

__all__ = ["PredictorConfig", "Predictor", "save_predictor", "load_predictor", "predictor_hash"]
