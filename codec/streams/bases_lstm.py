"""Base codec mixing the integer-exact LSTM with the context model (``CodecId.BASE_LSTM``).

The context model (:mod:`codec.streams.bases_ctx`) holds what other reads said: counts
of k-mers across the block, both strands. What it cannot hold is the read itself as a
sequence: how its own recent misses, position and bases bear on the next base. The LSTM
(:class:`~codec.model.intexact.IntPredictor`, fitted per block like the quality LSTM)
reads, at each position of a row, the previous base, the row's position in its read and
a token summing up the context model's table there: its top and second symbols and how
sure it is (the cross-read k-mer memory as a clean input, as issue #4 asks). Its table is
then mixed with the context model's, as the quality mixer does::

    f[s] = 1 + (w * fl[s] + (2**16 - w) * fc[s]) >> 16

with a Q16 weight ``w`` per (sureness of the context table, whether the two tables agree on
their top symbol), moved after each base by :func:`~codec.streams.tables.step_weight`.
Both models advance in lock-step in the context model's own rows and batches (the batch
driver of :mod:`codec.streams.stepcoding`), on the encoder and the decoder alike; the LSTM
feeds nothing back into the counts, so the context model's tables are those of a plain
BASE_CTX payload with the same parameters.

The encoder fits the LSTM on the tables the context model's own encode made (the tokens
of every coded position, seen through ``watch_tables``), so this codec costs one
plain context-model encode, a fit, and a second, stepped encode with both models. It is
tried from level BASE_LSTM_LEVEL on blocks of at least MIN_BASES bases, and kept only when
smaller than the plain payload.

Payload (after the BASES stream's codec byte)::

    u8      version (1)
    u8      lr_shift (mixer learning rate 2**-lr_shift), u8 w0 (initial weight, in 1/256)
    blob    quantised LSTM (uvarint length + QuantModel.to_bytes())
    ...     the context model's head (bases_ctx.payload_head: version, parameters,
            segment, batch_rows)
    rest    range-coded words, in the context model's batch, step, row order
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..entropy.coder import StepDecoder, StepEncoder
from ..errors import FormatError
from ..jit import njit
from ..model.config import PredictorConfig
from ..model.features import fit_on_windows
from ..model.intexact import IntPredictor
from ..model.quantize import QuantModel, quantize
from ..model.threads import fitting, single_thread
from ..varint import Reader, blob
from . import bases_ctx
from .bases_ctx import BaseCtxModel
from .stepcoding import make_rows, run
from .tables import W_ONE, step_weight

VERSION = 1
BASE_LSTM_LEVEL = 9        # the codec is tried at this level
MIN_BASES = 1 << 18        # ... on blocks of at least this many bases (the model costs ~3 kB)
HIDDEN = 16
EMBED = 4
SURE = bases_ctx.CAL_SURE   # sureness buckets of the context table (as its calibration stage counts them)
N_TOKENS = 4 * SURE        # (top symbol, sureness) of the context table
NO_TABLE = N_TOKENS        # token of a position the context model does not code (an exception)
POS_STEP = 16              # position feature: the read position in steps of this ...
N_POS = 16                 # ... up to this many buckets
START = 4                  # previous-base input at a row's start, or after an exception
LR_SHIFT = 4
W0 = 64                    # initial weight of the LSTM, in 1/256
N_MIX = SURE * 2
WINDOW = 128               # fitting: rows are sampled in windows of this many bases ...
BATCH = 64                 # ... this many at a time ...
FIT_STEPS = 800            # ... for this many optimiser steps
SEED = 0


def vocab() -> tuple[int, ...]:
    """Input features: previous base (0..3, START), context token, position bucket."""
    return (5, N_TOKENS + 1, N_POS)


@njit(cache=True, nogil=True, inline="always")
def _token(f, j):
    """The token of table row ``j``: its top symbol (lowest on ties) and its sureness, as
    bases_ctx's calibration stage measures it (``top * SURE + sure``)."""
    top = bases_ctx.top_symbol(f, j)
    total = f[j, 0] + f[j, 1] + f[j, 2] + f[j, 3]
    return top * SURE + bases_ctx.sureness(total - f[j, top])


@njit(cache=True, nogil=True)
def _record_tokens(where, tables, tokens):
    """``tokens[where[j]]`` = the token of ``tables[j]`` (the encoder's fitting inputs)."""
    for j in range(len(where)):
        tokens[where[j]] = _token(tables, j)


@njit(cache=True, nogil=True)
def _inputs(t, n, m, fc, which, starts, pos0, flat, offsets, x, tok):
    """Feature rows (table row indices) of the first ``n`` rows at step ``t``; ``tok[j]``,
    the context token, for the ``m`` coded rows ``which[j]``."""
    for i in range(n):
        p = starts[i] + t
        prev = START if t == 0 else min(np.int64(flat[p - 1]), START)
        x[i, 0] = offsets[0] + prev
        x[i, 1] = offsets[1] + NO_TABLE
        x[i, 2] = offsets[2] + min(N_POS - 1, (pos0[i] + t) // POS_STEP)
    for j in range(m):
        tok[j] = _token(fc, j)
        x[which[j], 1] = offsets[1] + tok[j]


@njit(cache=True, nogil=True)
def _mix(m, fc, fl, which, tok, w, mctx, out):
    """The mixed tables of the ``m`` coded rows, and each row's mixer context in ``mctx``
    (the context token ``tok[j]`` holds the context table's top symbol and sureness)."""
    for j in range(m):
        i = which[j]
        agree = 1 if bases_ctx.top_symbol(fl, i) == tok[j] // SURE else 0
        c = (tok[j] % SURE) * 2 + agree
        mctx[j] = c
        wc = w[c]
        for s in range(4):
            out[j, s] = ((wc * np.int64(fl[i, s]) + (W_ONE - wc) * fc[j, s]) >> 16) + 1


@njit(cache=True, nogil=True)
def _learn(t, m, fc, fl, which, starts, flat, w, mctx, shift):
    for j in range(m):
        i = which[j]
        s = flat[starts[i] + t]
        c = mctx[j]
        w[c] = step_weight(w[c], np.int64(fl[i, s]), fc[j, s], shift)


class MixedBaseModel:
    """The context model and the LSTM stepping together (a :class:`stepcoding.StepModel`)."""

    n_symbols = 4

    def __init__(self, ctx: BaseCtxModel, ip: IntPredictor, lr_shift: int, w0: int) -> None:
        self.ctx, self.ip, self.shift = ctx, ip, lr_shift
        self.w = np.full(N_MIX, w0 << 8, dtype=np.int64)

    def begin_batch(self, starts, pos0, lens, read) -> None:
        self.ctx.begin_batch(starts, pos0, lens, read)
        b = len(starts)
        self.starts, self.pos0 = starts, pos0
        self.h, self.c = self.ip.initial_state(b)
        self.x = np.empty((b, 3), dtype=np.int64)
        self.fl = np.empty((b, 4), dtype=np.int64)
        self.tok = np.empty(b, dtype=np.int64)
        self.mctx = np.empty(b, dtype=np.int64)
        self.out = np.empty((b, 4), dtype=np.int64)

    def freqs(self, t: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        fc, which = self.ctx.freqs(t, n)
        m = len(which)
        self.fc, self.which = fc, which
        _inputs(t, n, m, fc, which, self.starts, self.pos0, self.ctx.flat, self.ip.offsets, self.x, self.tok)
        self.ip.step_rows(self.x[:n], self.h, self.c, self.fl)
        _mix(m, fc, self.fl, which, self.tok, self.w, self.mctx, self.out)
        return self.out[:m], which

    def advance(self, t: int, n: int, flat: np.ndarray) -> None:
        _learn(t, len(self.which), self.fc, self.fl, self.which, self.starts, flat, self.w, self.mctx, self.shift)
        self.ctx.advance(t, n, flat)

    def end_batch(self) -> None:
        self.ctx.end_batch()


def _fit(codes: np.ndarray, lengths: np.ndarray, tokens: np.ndarray, segment: int) -> QuantModel:
    """Fit the float LSTM on windows of the block's rows (seeded), and quantise it."""
    import torch

    from ..model.core import Predictor

    rows = make_rows(lengths, segment)
    flat = np.minimum(codes, START).astype(np.int64)
    prev = np.concatenate(([START], flat[:-1]))
    prev[rows.starts] = START
    within = np.arange(len(flat)) - np.repeat(rows.starts, rows.lens)   # rows tile the block in order
    pos = np.minimum(N_POS - 1, (np.repeat(rows.pos0, rows.lens) + within) // POS_STEP)
    x_all = torch.from_numpy(np.stack([prev, tokens.astype(np.int64), pos], axis=1))
    y_all = torch.from_numpy(np.where(flat < 4, flat, -1))
    rng = np.random.default_rng(SEED)
    win = int(min(WINDOW, rows.lens.max()))
    offs = np.arange(win)

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        pick = rng.integers(0, len(rows.lens), BATCH)
        room = np.maximum(rows.lens[pick] - win + 1, 1)
        start = rows.starts[pick] + (rng.random(BATCH) * room).astype(np.int64)
        inside = offs[None, :] < (rows.starts[pick] + rows.lens[pick] - start)[:, None]
        idx = torch.from_numpy(np.where(inside, start[:, None] + offs[None, :], 0))
        return x_all[idx], torch.where(torch.from_numpy(inside), y_all[idx], -1)

    with fitting(SEED):
        model = Predictor(model_config())
        fit_on_windows(model, FIT_STEPS, draw)
    return quantize(model)


class TokenRecorder:
    """``watch_tables`` for :func:`bases_ctx.encode_bases`: the context token of every coded
    position (NO_TABLE elsewhere), the LSTM's fitting input."""

    def __init__(self, n: int) -> None:
        self.tokens = np.full(n, NO_TABLE, dtype=np.int16)

    def __call__(self, where: np.ndarray, tables: np.ndarray) -> None:
        _record_tokens(where, tables, self.tokens)


def model_config() -> PredictorConfig:
    return PredictorConfig(n_symbols=4, input_vocab=vocab(), embed=EMBED, hidden=HIDDEN)


def encode_bases(codes: np.ndarray, lengths: np.ndarray, ctx_payload: bytes, tokens: np.ndarray,
                 qm: QuantModel | None = None) -> bytes:
    """The BASE_LSTM payload of a block whose plain context-model payload is ``ctx_payload``
    (same parameters), ``tokens`` as its encode recorded them (:class:`TokenRecorder`).
    ``qm``: the LSTM to use instead of one fitted here (tests)."""
    params, segment, batch_rows = bases_ctx.read_payload_head(Reader(ctx_payload))
    with single_thread():
        qm = qm or _fit(codes, lengths, tokens, segment)
        enc = StepEncoder()
        model = MixedBaseModel(BaseCtxModel(params, codes), IntPredictor(qm), LR_SHIFT, W0)
        run(model, make_rows(lengths, segment), codes, enc, None, max_rows=batch_rows)
    head = bytes([VERSION, LR_SHIFT, W0]) + blob(qm.to_bytes())
    return head + bases_ctx.payload_head(params, segment, batch_rows) + enc.finish()


def _read_head(r: Reader) -> tuple[int, int, QuantModel]:
    """(lr_shift, w0, model) of a payload, checked."""
    version, lr_shift, w0 = r.take(3)
    if version != VERSION:
        raise FormatError(f"unknown base LSTM payload version {version}")
    if not 1 <= lr_shift <= 16:
        raise FormatError("bad base LSTM mixer parameters")
    qm = QuantModel.from_bytes(r.blob(limit=16 << 20))
    if qm.cfg.n_symbols != 4 or qm.cfg.input_vocab != vocab() or qm.cfg.layers != 1:
        raise FormatError("base LSTM model does not fit the base alphabet")
    return lr_shift, w0, qm


def read_model(payload: bytes) -> QuantModel:
    """The LSTM a payload stores (``seqlm info``, tests)."""
    return _read_head(Reader(payload))[2]


def decode_bases(payload: bytes, lengths: np.ndarray, exceptions: np.ndarray, out: np.ndarray | None = None,
                 progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Inverse of :func:`encode_bases`, as :func:`bases_ctx.decode_bases` (codes, 4 at exceptions)."""
    r = Reader(payload)
    lr_shift, w0, qm = _read_head(r)
    params, segment, batch_rows = bases_ctx.read_payload_head(r)
    if out is None:
        out = np.empty(len(exceptions), dtype=np.uint8)
    out[:] = np.where(exceptions, np.uint8(4), np.uint8(0))
    with single_thread():
        model = MixedBaseModel(BaseCtxModel(params, out), IntPredictor(qm), lr_shift, w0)
        run(model, make_rows(lengths, segment), out, None, StepDecoder(r.take(r.remaining())), progress,
            max_rows=batch_rows)
    return out
