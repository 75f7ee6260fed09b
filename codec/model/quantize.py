"""Post-training quantisation of a :class:`Predictor` into integers only.

A :class:`QuantModel` holds nothing but integers; it *is* the model that
encoder and decoder share (it is what the archive stores). Number formats:

* hidden state ``h``: int8 in [-127, 127], real value ``h / 127``;
* weights: int8 per output row ``j`` with an integer multiplier
  ``m[j] ~ scale_j * 2**32`` (times ``1/127`` where the input is ``h``), so a
  row's contribution to a pre-activation is ``rshift(acc * m[j], MULT_SHIFT)``
  in Q12 fixed point (``acc`` = integer dot product). The trial's pitfall (the
  multipliers rounding to 0 or 1) is avoided by these 20 extra fractional bits;
* embeddings: int8 with a power-of-two scale ``2**-emb_shift[f]`` per feature;
* biases and logits: Q12 int32; gate outputs and ``tanh(c)``: Q15; cell ``c``: Q12.

Lookup tables for sigmoid / tanh / exp are computed with :mod:`decimal`, so
they are the same on every platform (no libm in the loop).
"""

from __future__ import annotations

import lzma
import struct
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ..errors import FormatError
from .config import PredictorConfig

if TYPE_CHECKING:   # torch is imported only where a float model is built (fitting, tests)
    from .core import Predictor

FRAC = 12               # fractional bits of pre-activations, biases, logits, cell state
MULT_BITS = 32          # multipliers: scale * 2**MULT_BITS
MULT_SHIFT = MULT_BITS - FRAC   # shift applied after acc * m (= 20 extra fractional bits)
GATE_ONE = 1 << 15      # gate / tanh outputs in Q15
LUT_SIZE = 4096         # LUT input step 2**-8 over [-8, 8) (gates) or [0, 16) (exp)
LUT_SHIFT = FRAC - 8    # Q12 -> LUT index step
LUT_HALF = LUT_SIZE // 2
CELL_CLAMP = 32 << FRAC # |c| <= 32
EXP_ONE = 1 << 20       # exp LUT values in Q20
FREQ_TOTAL = 1 << 20    # every frequency table sums to this
MAX_EXACT = 1 << 24     # float32 represents every integer below this exactly
H_ONE = 127

_MAGIC_REV = 1


def rshift_round(x: np.ndarray, s: int | np.ndarray) -> np.ndarray:
    """Round-half-up arithmetic right shift of int64 values (``s >= 1``)."""
    x = np.asarray(x, dtype=np.int64)
    s = np.asarray(s, dtype=np.int64)
    return (x + (np.int64(1) << (s - 1))) >> s


def _round_checked(x: np.ndarray) -> np.ndarray:
    """Round float64 values that are provably not near a .5 boundary.

    libm may differ by an ulp across platforms; with a margin of 1e-6 from
    every rounding boundary such differences cannot change the integer.
    """
    frac = np.abs(x - np.floor(x) - 0.5)
    if (frac < 1e-6).any():  # pragma: no cover - the constants below avoid this
        raise AssertionError("LUT entry too close to a rounding boundary")
    return np.rint(x).astype(np.int64)


@lru_cache(maxsize=1)
def luts() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sigmoid Q15, tanh Q15, exp Q20) int64 tables, platform-independent."""
    i = np.arange(LUT_SIZE, dtype=np.float64)
    x = (i - LUT_HALF + 0.5) / 256.0
    sig = _round_checked(GATE_ONE / (1.0 + np.exp(-x)))
    tnh = _round_checked(GATE_ONE * np.tanh(x))
    ex = _round_checked(EXP_ONE * np.exp(-(i + 0.5) / 256.0))
    ex[0] = EXP_ONE
    for a in (sig, tnh, ex):
        a.setflags(write=False)
    return sig, tnh, ex


def luts_decimal() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same tables computed with :mod:`decimal` (slow; tests use it as the reference)."""
    sig = np.empty(LUT_SIZE, dtype=np.int64)
    tnh = np.empty(LUT_SIZE, dtype=np.int64)
    ex = np.empty(LUT_SIZE, dtype=np.int64)
    with localcontext() as ctx:
        ctx.prec = 40
        one = Decimal(1)
        for i in range(LUT_SIZE):
            x = (Decimal(i - LUT_HALF) + Decimal("0.5")) / 256
            s = one / (one + (-x).exp())
            t = 2 * (one / (one + (-2 * x).exp())) - one
            e = (-(Decimal(i) + Decimal("0.5")) / 256).exp() if i else one
            sig[i] = int((s * GATE_ONE).to_integral_value(ROUND_HALF_EVEN))
            tnh[i] = int((t * GATE_ONE).to_integral_value(ROUND_HALF_EVEN))
            ex[i] = int((e * EXP_ONE).to_integral_value(ROUND_HALF_EVEN))
    return sig, tnh, ex


@dataclass
class QuantModel:
    """Integer-only predictor weights (gate order i, f, g, o as in torch)."""

    cfg: PredictorConfig
    emb: list[np.ndarray]          # int8 [V_f, E]
    emb_shift: np.ndarray          # int64 [F]
    w_ih0: np.ndarray              # int8 [4H, F*E]
    m_ih0: np.ndarray              # int64 [4H]   scale_j * 2**32
    w_ih: list[np.ndarray]         # layers >= 1: int8 [4H, H]
    m_ih: list[np.ndarray]         # int64 [4H]   scale_j / 127 * 2**32
    w_hh: list[np.ndarray]         # int8 [4H, H]
    m_hh: list[np.ndarray]         # int64 [4H]
    bias: list[np.ndarray]         # int64 [4H] Q12
    w_out: np.ndarray              # int8 [K, H]
    m_out: np.ndarray              # int64 [K]
    b_out: np.ndarray              # int64 [K] Q12

    def check_bounds(self) -> None:
        """Assert every integer dot product stays below 2**24 (exact in float32)."""
        mats = [self.w_out, *self.w_hh, *self.w_ih]
        for w in mats:
            worst = int(np.abs(w.astype(np.int64)).sum(axis=1).max(initial=0)) * H_ONE
            if worst >= MAX_EXACT:
                raise ValueError(f"partial sums may reach {worst} >= 2**24; hidden size too large")
        for e in self.emb:
            worst_e = int(np.abs(e.astype(np.int64)).max(initial=0)) * int(np.abs(self.w_ih0.astype(np.int64)).sum(axis=1).max(initial=0))
            if worst_e >= MAX_EXACT:
                raise ValueError("embedding dot products may reach 2**24")

    # ---- serialisation -------------------------------------------------
    def to_bytes(self) -> bytes:
        c = self.cfg
        head = struct.pack("<BHHHHB", _MAGIC_REV, c.n_symbols, c.embed, c.hidden, c.layers, c.n_features)
        head += b"".join(struct.pack("<I", v) for v in c.input_vocab)
        parts = [*self.emb, self.emb_shift.astype("<i1"), self.w_ih0, self.m_ih0.astype("<i8")]
        for layer in range(c.layers):
            if layer:
                parts += [self.w_ih[layer - 1], self.m_ih[layer - 1].astype("<i8")]
            parts += [self.w_hh[layer], self.m_hh[layer].astype("<i8"), self.bias[layer].astype("<i4")]
        parts += [self.w_out, self.m_out.astype("<i8"), self.b_out.astype("<i4")]
        body = b"".join(np.ascontiguousarray(p).astype(p.dtype.newbyteorder("<")).tobytes() for p in parts)
        return head + lzma.compress(body, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}])

    @classmethod
    def from_bytes(cls, data: bytes) -> "QuantModel":
        try:
            rev, k, e, h, layers, nf = struct.unpack_from("<BHHHHB", data, 0)
            if rev != _MAGIC_REV:
                raise FormatError(f"unknown quantised-model revision {rev}")
            if not (1 <= k <= 4096 and 1 <= e <= 256 and 1 <= h <= 1024 and 1 <= layers <= 4 and 1 <= nf <= 32):
                raise FormatError("quantised-model dimensions out of range")
            vocab = struct.unpack_from(f"<{nf}I", data, 10)
            if max(vocab) > 1 << 20:
                raise FormatError("quantised-model vocabulary too large")
            cfg = PredictorConfig(n_symbols=k, input_vocab=tuple(vocab), embed=e, hidden=h, layers=layers)
            dec = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}])
            body = dec.decompress(data[10 + 4 * nf:], max_length=64 << 20)
        except (struct.error, ValueError, lzma.LZMAError) as exc:
            raise FormatError(f"bad quantised model: {exc}") from exc
        pos = 0

        def take(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
            nonlocal pos
            n = int(np.prod(shape)) * np.dtype(dtype).itemsize
            if pos + n > len(body):
                raise FormatError("truncated quantised model")
            arr = np.frombuffer(body, dtype=dtype, count=int(np.prod(shape)), offset=pos).reshape(shape)
            pos += n
            return arr.astype(np.dtype(dtype).newbyteorder("="))

        g = 4 * h
        emb = [take("i1", (v, e)) for v in vocab]
        emb_shift = take("i1", (nf,)).astype(np.int64)
        w_ih0 = take("i1", (g, nf * e))
        m_ih0 = take("<i8", (g,))
        w_ih, m_ih, w_hh, m_hh, bias = [], [], [], [], []
        for layer in range(layers):
            if layer:
                w_ih.append(take("i1", (g, h)))
                m_ih.append(take("<i8", (g,)))
            w_hh.append(take("i1", (g, h)))
            m_hh.append(take("<i8", (g,)))
            bias.append(take("<i4", (g,)).astype(np.int64))
        w_out = take("i1", (k, h))
        m_out = take("<i8", (k,))
        b_out = take("<i4", (k,)).astype(np.int64)
        if pos != len(body):
            raise FormatError("trailing bytes in quantised model")
        qm = cls(cfg, emb, emb_shift, w_ih0, m_ih0, w_ih, m_ih, w_hh, m_hh, bias, w_out, m_out, b_out)
        if (emb_shift < 0).any() or (emb_shift > 30).any():
            raise FormatError("embedding shift out of range")
        for m in [m_ih0, *m_ih, *m_hh, m_out]:
            if (m < 0).any() or (m >= 1 << 40).any():
                raise FormatError("multiplier out of range")
        try:
            qm.check_bounds()
        except ValueError as exc:
            raise FormatError(str(exc)) from exc
        return qm


def _row_quant(w: np.ndarray, in_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """int8 rows and multipliers ``round(scale_j * in_scale * 2**32)``."""
    w = np.asarray(w, dtype=np.float64)
    amax = np.abs(w).max(axis=1)
    scale = np.where(amax > 0, amax / 127.0, 1.0 / 127.0)
    q = np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8)
    mult = np.rint(scale * in_scale * 2.0 ** MULT_BITS).astype(np.int64)
    return q, np.clip(mult, 0, (1 << 40) - 1)


def quantize(model: Predictor) -> QuantModel:
    """Quantise a float predictor (post-training, per-row int8)."""
    cfg = model.cfg
    sd = {k: v.detach().cpu().double().numpy() for k, v in model.state_dict().items()}
    emb, shifts = [], []
    for f in range(cfg.n_features):
        e = sd[f"embeds.{f}.weight"]
        amax = float(np.abs(e).max()) or 1.0
        k = int(np.clip(np.floor(np.log2(127.0 / amax)), 0, 30))
        emb.append(np.clip(np.rint(e * 2.0 ** k), -127, 127).astype(np.int8))
        shifts.append(k)
    w_ih0, m_ih0 = _row_quant(sd["lstm.weight_ih_l0"], 1.0)
    w_ih, m_ih, w_hh, m_hh, bias = [], [], [], [], []
    for layer in range(cfg.layers):
        if layer:
            q, m = _row_quant(sd[f"lstm.weight_ih_l{layer}"], 1.0 / H_ONE)
            w_ih.append(q)
            m_ih.append(m)
        q, m = _row_quant(sd[f"lstm.weight_hh_l{layer}"], 1.0 / H_ONE)
        w_hh.append(q)
        m_hh.append(m)
        b = sd[f"lstm.bias_ih_l{layer}"] + sd[f"lstm.bias_hh_l{layer}"]
        bias.append(np.clip(np.rint(b * (1 << FRAC)), -(1 << 30), 1 << 30).astype(np.int64))
    w_out, m_out = _row_quant(sd["head.weight"], 1.0 / H_ONE)
    b_out = np.clip(np.rint(sd["head.bias"] * (1 << FRAC)), -(1 << 30), 1 << 30).astype(np.int64)
    qm = QuantModel(cfg, emb, np.array(shifts, dtype=np.int64), w_ih0, m_ih0, w_ih, m_ih, w_hh, m_hh,
                    bias, w_out, m_out, b_out)
    qm.check_bounds()
    return qm


def random_quant_model(cfg: PredictorConfig, seed: int = 0, gain: float = 1.0) -> QuantModel:
    """A seeded random-init model, quantised (tests: losslessness never depends on training)."""
    import torch

    from .core import Predictor

    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
        model = Predictor(cfg)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(gain)
    return quantize(model)
