"""Configuration of the predictor core (a small LSTM over categorical inputs)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PredictorConfig:
    """Shape of a :class:`~codec.model.core.Predictor`.

    ``input_vocab[f]`` is the number of values categorical input feature ``f``
    takes. Feature 0 is the previous symbol, with index ``n_symbols`` as the
    start token, so ``input_vocab[0] == n_symbols + 1``.
    """

    n_symbols: int
    input_vocab: tuple[int, ...]
    embed: int = 16
    hidden: int = 64
    layers: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_vocab", tuple(int(v) for v in self.input_vocab))
        if self.n_symbols < 1:
            raise ValueError("n_symbols must be >= 1")
        if not self.input_vocab:
            raise ValueError("input_vocab must name at least the previous-symbol feature")
        if self.input_vocab[0] != self.n_symbols + 1:
            raise ValueError("input_vocab[0] must be n_symbols + 1 (previous symbol + start token)")
        if min(self.input_vocab) < 1 or self.embed < 1 or self.hidden < 1 or self.layers < 1:
            raise ValueError("vocab sizes, embed, hidden and layers must be >= 1")

    @property
    def n_features(self) -> int:
        return len(self.input_vocab)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_vocab"] = list(self.input_vocab)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PredictorConfig":
        return cls(n_symbols=int(d["n_symbols"]), input_vocab=tuple(int(v) for v in d["input_vocab"]),
                   embed=int(d.get("embed", 16)), hidden=int(d.get("hidden", 64)),
                   layers=int(d.get("layers", 1)))
