"""Heads over the predictor core: generation, gap filling and classification.

Each head is a sibling module that imports the core (``codec.model``) and the
shared helpers here (``alphabet`` for alphabets, input files and model files;
``baselines`` for the simple models the heads are measured against), never the
container or another head.

- :mod:`codec.heads.generate`: temperature / top-k sampling with a prompt.
- :mod:`codec.heads.gapfill`: forward + backward scoring, exact search over
  short gaps, beam search plus refinement over long ones.
- :mod:`codec.heads.classify`: per-class code length, or a linear head on the
  shared LSTM state; k-fold cross-validation against a k-mer baseline.
"""

__all__ = ["alphabet", "baselines", "generate", "gapfill", "classify"]
