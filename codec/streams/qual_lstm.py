"""Quality stream codec driven by the integer-exact LSTM (``CodecId.QUAL_LSTM``).

The encoder fits a small :class:`~codec.model.core.Predictor` on a sample of
the block (a deterministic amount of work set by ``level``, single-threaded,
seeded: the same input gives the same bytes on any machine), quantises it and
stores it in the payload. Both directions then run
:class:`~codec.model.intexact.IntPredictor` step by step over a batch of rows
(reads, long reads cut into segments), one range-coder call per step.

Payload (little-endian)::

    u8      version (1)
    u8      mode: 0 = nothing coded (no symbols, or K == 1), 1 = LSTM
    -- mode 1 only --
    uvarint K (must equal n_symbols)
    uvarint seg_len (rows hold at most this many symbols of one read)
    uvarint chunk (rows advanced together; rows are coded chunk by chunk)
    blob    quantised model (uvarint length + QuantModel.to_bytes())
    u32     crc32 of the decoded quality symbols (uint8)
    rest    range-coded words ('<u4'), symbols in chunk, step, row order
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..entropy.coder import StepDecoder, StepEncoder
from ..errors import FormatError
from ..model.config import PredictorConfig
from ..model.features import (all_features, fit_on_windows, gather_symbols, qual_vocab, sample_windows,
                              scatter_symbols, segment_rows, step_advance, step_features)
from ..model.intexact import IntPredictor
from ..model.quantize import QuantModel, quantize
from ..model.threads import fitting, single_thread
from ..varint import Reader, blob, encode_uvarint

if TYPE_CHECKING:   # torch is imported only when a model is fitted (levels >= 7)
    from ..model.core import Predictor

VERSION = 1
MODE_EMPTY = 0
MODE_LSTM = 1
HIDDEN = 32
EMBED = 8
CHUNK = 4096
WINDOW = 512
BATCH = 256
# training work per level, in symbol-steps: (per input symbol, minimum, maximum)
_WORK = {2: (0.25, 2e5, 1e6), 3: (0.5, 3e5, 2e6), 4: (0.75, 4e5, 3e6), 5: (1.0, 5e5, 4e6),
         6: (1.5, 8e5, 8e6), 7: (2.0, 1e6, 1.6e7), 8: (3.0, 1.5e6, 3e7), 9: (5.0, 2e6, 6e7)}


def _seg_len(lengths: np.ndarray) -> int:
    total = int(lengths.sum())
    return max(512, int(math.ceil(total / 2048 / 64)) * 64)


def _rows(lengths: np.ndarray, mate: np.ndarray, seg_len: int) -> dict[str, np.ndarray]:
    rows = segment_rows(lengths, seg_len, mate)
    return rows


def _check_inputs(lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray) -> tuple[np.ndarray, ...]:
    """(lengths, bases as uint8 codes 0..4, mate) after :func:`_check_shapes`. One byte per
    base, not eight: a long-read block holds millions, and new memory costs when first written."""
    lengths, mate = _check_shapes(lengths, len(bases), mate)
    return lengths, np.minimum(np.asarray(bases, dtype=np.uint8), 4), mate


def _check_shapes(lengths: np.ndarray, n_bases: int, mate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lengths as int64, mate as 0/1): one mate per read, the lengths summing to ``n_bases``."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if (lengths < 0).any():
        raise ValueError("negative read length")
    mate = np.minimum(np.asarray(mate, dtype=np.int64), 1)
    if len(mate) != len(lengths):
        raise ValueError("mate must have one entry per read")
    if int(lengths.sum()) != n_bases:
        raise ValueError("bases and lengths disagree")
    return lengths, mate


def fit_model(quals: np.ndarray, rows: dict[str, np.ndarray], bases: np.ndarray, k: int, level: int,
              seed: int = 0, work: float | None = None, init: Callable[[], Predictor] | None = None
              ) -> Predictor:
    """Fit a float predictor on a sample of rows (deterministic work, seeded), from scratch or
    from the K-symbol model ``init()`` builds. ``init`` runs inside :func:`fitting`, as a fresh
    model's initial weights do: building a torch model draws from the global generator, which
    another block's fit on another thread may be drawing from."""
    import torch

    from ..model.core import Predictor

    cfg = PredictorConfig(n_symbols=k, input_vocab=qual_vocab(k), embed=EMBED, hidden=HIDDEN, layers=1)
    x_all = all_features(quals, k, rows["flat"], rows["len"], rows["pos0"], rows["read_start"],
                         rows["read_len"], rows["mate"], bases)
    n = len(quals)
    if work is None:
        per, lo, hi = _WORK[min(max(level, 2), 9)]
        work = min(max(per * n, lo), hi, 4.0 * n)  # tiny blocks: at most ~4 epochs
    win = int(min(WINDOW, rows["len"].max()))
    steps = max(1, int(work // (BATCH * win)))
    rng = np.random.default_rng(seed)
    q_all = torch.from_numpy(quals.astype(np.int64))
    x_t = torch.from_numpy(x_all.astype(np.int64))

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        idx, valid = sample_windows(rows, rng, BATCH, win)
        idx = torch.from_numpy(idx)
        return x_t[idx], torch.where(torch.from_numpy(valid), q_all[idx], -1)

    with fitting(seed):
        model = Predictor(cfg) if init is None else init()
        if model.cfg != cfg:
            raise ValueError("init must be a model of the block's K symbols")
        fit_on_windows(model, steps, draw)
    return model


def _run(ip: IntPredictor, rows: dict[str, np.ndarray], bases: np.ndarray, k: int, chunk: int,
         quals: np.ndarray, coder: StepEncoder | StepDecoder) -> None:
    """Shared encode/decode loop: chunk by chunk, step by step, one coder call per step."""
    offsets = ip.offsets
    nrows = len(rows["len"])
    encoding = isinstance(coder, StepEncoder)
    for c0 in range(0, nrows, chunk):
        sl = slice(c0, min(nrows, c0 + chunk))
        rlen = rows["len"][sl]
        m = len(rlen)
        steps = int(rlen[0]) if m else 0
        counts = np.searchsorted(-rlen, -np.arange(steps), side="left")  # rows with len > t
        flat, pos0 = rows["flat"][sl], rows["pos0"][sl]
        rstart, rlen_read, mate = rows["read_start"][sl], rows["read_len"][sl], rows["mate"][sl]
        h, c = ip.initial_state(m)
        q1 = np.full(m, k, dtype=np.int64)
        q2 = np.full(m, k, dtype=np.int64)
        dcnt = np.zeros(m, dtype=np.int64)
        x = np.empty((m, len(offsets)), dtype=np.int64)
        freq = np.empty((m, k), dtype=np.float64)
        sym = np.empty(m, dtype=np.int64)
        for t in range(steps):
            n = int(counts[t])
            step_features(t, n, pos0, rstart, rlen_read, mate, bases, q1, q2, dcnt, offsets, x)
            ip.step_rows(x[:n], h, c, freq)
            if encoding:
                gather_symbols(t, n, flat, quals, sym)
                coder.encode(sym[:n], freq[:n])
            else:
                s = coder.decode(freq[:n])
                sym[:n] = s
                scatter_symbols(t, n, flat, sym, quals)
            step_advance(t, n, sym, q1, q2, dcnt)


def check_encode_inputs(quals: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                        n_symbols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Validated (quals, lengths, bases, mate, K) for the LSTM quality encoders."""
    lengths, bases, mate = _check_inputs(lengths, bases, mate)
    quals = np.asarray(quals, dtype=np.uint8)
    if len(quals) != len(bases):
        raise ValueError("quals and bases disagree")
    k = int(n_symbols)
    if len(quals) and int(quals.max()) >= k:
        raise ValueError("quality symbol out of range")
    if len(quals) and k > 1 and k > 255:
        raise ValueError("at most 255 quality symbols")
    return quals, lengths, bases, mate, k


def encode_qualities(quals: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                     n_symbols: int, level: int) -> bytes:
    """Compress quality symbols (indices 0..n_symbols-1) of one block."""
    quals, lengths, bases, mate, k = check_encode_inputs(quals, lengths, bases, mate, n_symbols)
    if len(quals) == 0 or k <= 1:
        return struct.pack("<BB", VERSION, MODE_EMPTY)
    seg = _seg_len(lengths)
    rows = _rows(lengths, mate, seg)
    with single_thread():
        model = fit_model(quals, rows, bases, k, level)
        qm = quantize(model)
        ip = IntPredictor(qm)
        enc = StepEncoder()
        _run(ip, rows, bases, k, CHUNK, quals, enc)
    head = struct.pack("<BB", VERSION, MODE_LSTM) + encode_uvarint(k) + encode_uvarint(seg)
    head += encode_uvarint(CHUNK) + blob(qm.to_bytes()) + struct.pack("<I", zlib.crc32(quals.tobytes()))
    return head + enc.finish()


def read_payload_head(rd: Reader, k: int, total: int, name: str, modes: tuple[int, ...],
                      version: int = VERSION) -> tuple[int, int, int] | None:
    """The start shared by the LSTM quality payloads: ``(mode, seg_len, chunk)``,
    or None for an empty payload (mode 0, nothing coded)."""
    got_version, mode = rd.unpack("<BB")
    if got_version != version:
        raise FormatError(f"unknown {name} version {got_version}")
    if mode == MODE_EMPTY:
        if total and k > 1:
            raise FormatError(f"{name} payload is empty but the block has quality symbols")
        if rd.remaining():
            raise FormatError(f"trailing bytes after empty {name} payload")
        return None
    if mode not in modes:
        raise FormatError(f"unknown {name} mode {mode}")
    if rd.uvarint(255) != k:
        raise FormatError(f"{name} alphabet size does not match the block")
    seg = rd.uvarint(1 << 40)
    chunk = rd.uvarint(1 << 20)
    if seg < 1 or chunk < 1:
        raise FormatError(f"{name} segment length or chunk is zero")
    return mode, seg, chunk


def read_crc_and_words(rd: Reader, payload: bytes, name: str, aligned: bool = True) -> tuple[int, bytes]:
    """The crc32 of the decoded symbols and the range-coded words that follow it
    (``aligned``: a whole number of 4-byte words; else the caller checks its parts)."""
    (crc,) = rd.unpack("<I")
    words = payload[rd.pos:]
    if aligned and len(words) % 4:
        raise FormatError(f"{name} coded words are not a multiple of 4 bytes")
    return crc, words


def read_fitted_model(rd: Reader, k: int, name: str) -> QuantModel:
    """The quantised model stored in the payload, refused unless it fits ``k`` symbols."""
    qm = QuantModel.from_bytes(rd.blob(limit=16 << 20))
    if qm.cfg.n_symbols != k or qm.cfg.input_vocab != qual_vocab(k):
        raise FormatError(f"{name} model does not fit the quality alphabet")
    return qm


def checked_symbols(quals: np.ndarray, crc: int, name: str) -> np.ndarray:
    """Decoded symbols as uint8, refused unless they match the payload's crc32."""
    out = quals.astype(np.uint8)
    if zlib.crc32(out.tobytes()) != crc:
        raise FormatError(f"{name} decoded symbols fail their crc32 (corrupt payload)")
    return out


def decode_qualities(payload: bytes, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                     n_symbols: int) -> np.ndarray:
    """Inverse of :func:`encode_qualities`; returns a flat uint8 array."""
    lengths, bases, mate = _check_inputs(lengths, bases, mate)
    k = int(n_symbols)
    rd = Reader(payload)
    total = len(bases)
    head = read_payload_head(rd, k, total, "qual_lstm", (MODE_LSTM,))
    if head is None:
        return np.zeros(total, dtype=np.uint8)
    _, seg, chunk = head
    qm = read_fitted_model(rd, k, "qual_lstm")
    crc, words = read_crc_and_words(rd, payload, "qual_lstm")
    rows = _rows(lengths, mate, seg)
    quals = np.zeros(total, dtype=np.uint8)
    with single_thread():
        ip = IntPredictor(qm)
        _run(ip, rows, bases, k, chunk, quals, StepDecoder(words))
    return checked_symbols(quals, crc, "qual_lstm")
