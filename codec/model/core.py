"""The predictor core: embeddings of categorical inputs -> LSTM -> logits.

Training and the float one-step pass live here. Coding never uses these float
outputs: :mod:`codec.model.intexact` turns the same weights into an
integer-exact inference that yields identical frequency tables everywhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import PredictorConfig

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each [layers, B, hidden]


class Predictor(nn.Module):
    """Alphabet-generic LSTM predictor (nanoGPT-style ``forward -> (logits, loss)``)."""

    def __init__(self, cfg: PredictorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embeds = nn.ModuleList(nn.Embedding(v, cfg.embed) for v in cfg.input_vocab)
        self.lstm = nn.LSTM(cfg.n_features * cfg.embed, cfg.hidden, num_layers=cfg.layers,
                            batch_first=True)
        self.head = nn.Linear(cfg.hidden, cfg.n_symbols)

    def initial_state(self, batch: int) -> State:
        p = self.head.weight
        z = torch.zeros(self.cfg.layers, batch, self.cfg.hidden, dtype=p.dtype, device=p.device)
        return (z, z.clone())

    def _embed(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.shape[-1] != self.cfg.n_features:
            raise ValueError(f"expected {self.cfg.n_features} input features, got {inputs.shape[-1]}")
        return torch.cat([emb(inputs[..., f]) for f, emb in enumerate(self.embeds)], dim=-1)

    def hidden_states(self, inputs: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Last-layer outputs ``[B, T, H]`` and the final state."""
        x = self._embed(inputs)
        if state is None:
            state = self.initial_state(inputs.shape[0])
        out, new_state = self.lstm(x, state)
        return out, (new_state[0], new_state[1])

    def forward(self, inputs: torch.Tensor, state: State | None = None,
                targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher-forced pass: ``inputs [B, T, F]`` -> ``(logits [B, T, K], loss)``.

        ``loss`` is the mean cross-entropy over targets ``>= 0`` (``None`` without targets).
        """
        out, _ = self.hidden_states(inputs, state)
        logits = self.head(out)
        loss = None
        if targets is not None:
            flat = targets.reshape(-1)
            valid = flat >= 0
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), flat.clamp_min(0),
                                   reduction="none")
            mask = valid.to(logits.dtype)
            loss = (loss * mask).sum() / mask.sum().clamp_min(1.0)
        return logits, loss

    def step(self, inputs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One position for a batch: ``inputs [B, F]`` -> ``(logits [B, K], state)``."""
        out, new_state = self.hidden_states(inputs[:, None, :], state)
        return self.head(out[:, 0]), new_state
