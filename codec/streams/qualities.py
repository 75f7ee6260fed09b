"""The QUALITIES stream: the block's quality alphabet, then the best model's payload.

Payload: ``blob alphabet`` (the sorted distinct quality bytes), ``u8 codec_id``,
then that codec's own payload. One distinct value costs nothing more.

Which codec codes a block (the decoder reads the id, so this is encoder policy):

* level 1: QUAL_CTX alone.
* levels 2 .. ``MIX_MIN_LEVEL - 1`` (the default 5 included), when
  ``USE_DEFAULTS``: QUAL_MIX in its MODE_DEFAULT payload -- the shipped
  pretrained LSTM of the block's read kind (``codec/weights``, named in the
  payload by kind and sha256; no fitting, no weights stored) mixed step by
  step with the context model. A per-block fit at this speed budget did not
  pay (fitting ~0.25 M symbol-steps/s of CPU, 15-25 kB of stored weights).
* from ``MIX_MIN_LEVEL``: QUAL_MIX with an LSTM fitted per block.

The LSTM step costs 3-4x the context model's. Long-read blocks at levels up to
``GATE_MAX_LEVEL`` (the default included) first code their first reads (about
``GATE_SAMPLE`` symbols) both ways and keep the LSTM only where it saves at least
``GATE_MIN_GAIN`` there: with the ``long_v2`` model, HiFi qualities gain 20-40 % on such a
sample, noisy nanopore ones 4-11 % (a sample overstates the whole block's gain about twofold).

Whenever QUAL_MIX is tried, the mixed encoder also estimates what the context
model alone would cost; only when that estimate is within 1 % of the mixed
payload does it run QUAL_CTX too and keep the smaller, so the stream is never
(beyond that 1 % estimate margin, in practice never) worse than the baseline
while the usual case runs a single encoder.

QUAL_LSTM (id 7) is no longer chosen by the encoder but still decodes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import FormatError
from ..model import defaults
from ..varint import Reader, blob
from . import qual_ctx, qual_lstm, qual_mix
from .ids import CodecId
from .stepcoding import leading_reads

Decoder = Callable[..., np.ndarray]
MIX_MIN_LEVEL = 7
USE_DEFAULTS = True   # levels 2..MIX_MIN_LEVEL-1 mix with the shipped default LSTM
GATE_MAX_LEVEL = 5    # long-read blocks up to this level must show the LSTM pays on a sample
GATE_SAMPLE = 1 << 16
GATE_MIN_GAIN = 0.05


def _decoders() -> dict[CodecId, Decoder]:
    return {CodecId.QUAL_CTX: qual_ctx.decode_qualities, CodecId.QUAL_LSTM: qual_lstm.decode_qualities,
            CodecId.QUAL_MIX: qual_mix.decode_qualities}


def _lstm_pays(symbols: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray, k: int,
               level: int, default: tuple[str, np.ndarray]) -> bool:
    """Whether the default LSTM saves at least GATE_MIN_GAIN on the block's first reads."""
    n_reads, total = leading_reads(lengths, GATE_SAMPLE)
    mixed, ctx_estimate = qual_mix.encode_with_estimate(symbols[:total], lengths[:n_reads], bases[:total],
                                                        mate[:n_reads], k, level, default=default)
    return ctx_estimate >= (1 + GATE_MIN_GAIN) * len(mixed)


def _encode_symbols(symbols: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                    k: int, level: int, alphabet: np.ndarray, workers: int = 1) -> tuple[bytes, CodecId]:
    if level < MIX_MIN_LEVEL and (level <= 1 or not USE_DEFAULTS):
        return qual_ctx.encode_qualities(symbols, lengths, bases, mate, k, level), CodecId.QUAL_CTX
    default = qual_mix.default_mapping(alphabet, lengths, mate) if level < MIX_MIN_LEVEL else None
    if default is not None and defaults.family_of(default[0]) == "long" and level <= GATE_MAX_LEVEL \
            and not _lstm_pays(symbols, lengths, bases, mate, k, level, default):
        return qual_ctx.encode_qualities(symbols, lengths, bases, mate, k, level), CodecId.QUAL_CTX
    mixed, ctx_estimate = qual_mix.encode_with_estimate(symbols, lengths, bases, mate, k, level,
                                                        default=default, workers=workers)
    if ctx_estimate < 1.01 * len(mixed):
        plain = qual_ctx.encode_qualities(symbols, lengths, bases, mate, k, level)
        if len(plain) <= len(mixed):
            return plain, CodecId.QUAL_CTX
    return mixed, CodecId.QUAL_MIX


def encode_qualities(qual: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                     level: int, workers: int = 1) -> tuple[bytes, CodecId]:
    """``qual``: raw quality bytes of the block; ``bases``: codes 0..4. ``workers``: processes
    the LSTM mix may code a long-read block's parts on (never changes the bytes)."""
    alphabet = np.unique(qual)
    head = blob(alphabet.tobytes())
    if len(alphabet) <= 1:
        return head + bytes([CodecId.CONST]), CodecId.CONST
    lut = np.zeros(256, dtype=np.uint8)
    lut[alphabet] = np.arange(len(alphabet), dtype=np.uint8)
    symbols = lut[qual]
    payload, codec_id = _encode_symbols(symbols, lengths, bases, mate, len(alphabet), level, alphabet, workers)
    return head + bytes([codec_id]) + payload, codec_id


def _read_head(payload: bytes) -> tuple[np.ndarray, int, Reader]:
    """(alphabet, codec id, reader at the codec's own payload) of a QUALITIES stream."""
    r = Reader(payload)
    alphabet = np.frombuffer(r.blob(limit=256), dtype=np.uint8)
    return alphabet, r.u8(), r


def reads_only_n_flags(payload: bytes) -> bool:
    """Whether decoding ``payload`` needs no more of the bases than where the N's are.

    The context model reads only the N flag of each position, so a decoder can run
    it beside the base stream; the LSTM models read the neighbouring bases."""
    return _read_head(payload)[1] in (CodecId.CONST, CodecId.QUAL_CTX)


def shipped_model(payload: bytes) -> str | None:
    """Which shipped default model (``codec/weights``) coded this stream, if one did."""
    alphabet, codec_id, r = _read_head(payload)
    if codec_id != CodecId.QUAL_MIX:
        return None
    return qual_mix.default_kind(r.take(r.remaining()), len(alphabet))


def decode_qualities(payload: bytes, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                     workers: int = 1) -> np.ndarray:
    """Raw quality bytes of the block (``workers`` as in :func:`encode_qualities`)."""
    alphabet, codec_id, r = _read_head(payload)
    if len(alphabet) == 0 and int(lengths.sum()) > 0:
        raise FormatError("empty quality alphabet")
    total = int(lengths.sum())
    if codec_id == CodecId.CONST:
        if len(alphabet) > 1:
            raise FormatError("constant quality stream with several values")
        return np.full(total, alphabet[0] if len(alphabet) else 33, dtype=np.uint8)
    decoders = _decoders()
    if codec_id not in decoders:
        raise FormatError(f"unknown quality codec id {codec_id}")
    extra = {"workers": workers} if codec_id == CodecId.QUAL_MIX else {}
    symbols = decoders[CodecId(codec_id)](r.take(r.remaining()), lengths, bases, mate, len(alphabet), **extra)
    return alphabet[symbols]
