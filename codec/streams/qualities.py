"""The QUALITIES stream: the block's quality alphabet, then the best model's payload.

Payload: ``blob alphabet`` (the sorted distinct quality bytes), ``u8 codec_id``,
then that codec's own payload. One distinct value costs nothing more.

Which codec codes a block (the decoder reads the id, so this is encoder policy):

* levels 1 and 2: QUAL_CTX alone (level 2 codes a pair's mates apart, see below).
* levels 3 .. ``MIX_MIN_LEVEL - 1`` (the default 5 included), when
  ``USE_DEFAULTS``: QUAL_MIX in its MODE_DEFAULT payload -- the shipped
  pretrained LSTM of the block's read kind (``codec/weights``, named in the
  payload by kind and sha256; no fitting, no weights stored) mixed step by
  step with the context model. A per-block fit at this speed budget did not
  pay (fitting ~0.25 M symbol-steps/s of CPU, 15-25 kB of stored weights).
* from ``MIX_MIN_LEVEL``: QUAL_MIX with an LSTM fitted per block, or what
  ``SHIPPED_LEVEL`` codes (the shipped models, a pair's mates apart) where that is
  smaller. The fit starts from the shipped model of the block's family
  (:mod:`codec.model.finetune`) and runs a few million symbol-steps on the block.
  From scratch it lost to the default level everywhere (HiFi 16S qualities 1.674
  bits against 1.305, GA IIx read 1s 2.137 / 2.015 at levels 7 / 9 against 1.906);
  from the shipped model it still loses on the files those models trained on (the
  ~15 kB of stored weights), but on a run they never saw it pays: with a model
  trained without GA IIx standing in, the GA IIx read 1s' 2.194 bits (level 5, the
  context model) become 2.075 / 1.993 at levels 7 / 9 (``benchmarks/holdout.py``).

The mixed coder costs up to ten times the context model's CPU. At the levels in
``LSTM_MIN_GAIN`` (3, 4 and the default 5) a block (each mate's half, for a pair) first
codes its first reads (about ``GATE_SAMPLE`` symbols) both ways and keeps the LSTM only
where it saves at least that level's share there: 20 %, 10 %, 5 %, so each level up
buys the LSTM for smaller gains (level 6 asks no gate). Measured on such samples at
format 15.0: 13-29 % on the Illumina files with 40 levels, 29-47 % on HiFi, 4-11 % on
nanopore (a long-read sample overstates the whole block's gain about twofold), and on
binned Illumina 16.5 % for yeast RNA-seq (6 levels) but 0.6-5.8 % for the 4- and 7-level
NovaSeq and MiSeq files. On those the whole stream gained 0.7-3.9 % for about ten times
the CPU (3 s against 0.4 s on the SARS-CoV-2 MiSeq pair), and a context-model stream
with position slots decodes beside the bases instead of after them (it reads only their
N flags; with run slots it follows them batch by batch, see :mod:`.qual_ctx`).

Whenever QUAL_MIX is tried, the mixed encoder also estimates what the context
model alone would cost; only when that estimate is within 1 % of the mixed
payload does it run QUAL_CTX too and keep the smaller, so the stream is never
(beyond that 1 % estimate margin, in practice never) worse than the baseline
while the usual case runs a single encoder.

A block holding both mates of a pair, at levels 2 .. ``MIX_MIN_LEVEL - 1``, codes
its read 1s and its read 2s apart (QUAL_MATES, format 9.0): ``blob(u8 codec_id +
payload)`` for the read 1s, then the same for the read 2s, each as above over
that mate's reads (indices into the block's one alphabet). From level 3 each half gets the
shipped model trained for it (read 1s: ``illumina40_v2``; read 2s: ``illumina40_v3``,
which saw read 2s and codes read 1s 0.1-1.4 % worse) and its own context model, and
the two halves decode in two processes. Measured on the eight pairs here against
one stream: -1.8 % (CRISPR) to +0.03 % (GA IIx) of the quality bytes.

QUAL_LSTM (id 7) is no longer chosen by the encoder but still decodes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import forked
from ..errors import FormatError
from ..varint import Reader, blob
from . import qual_ctx, qual_lstm, qual_mix
from .ids import CodecId
from .stepcoding import leading_reads

Decoder = Callable[..., np.ndarray]
Ready = Callable[[int], None]   # ready(n): returns once the first n codes of the bases are final
MIX_MIN_LEVEL = 7
CTX_ONLY_MAX_LEVEL = 2   # levels up to this one never run the LSTM
USE_DEFAULTS = True   # levels CTX_ONLY_MAX_LEVEL+1..MIX_MIN_LEVEL-1 mix with the shipped default LSTM
GATE_SAMPLE = 1 << 16
LSTM_MIN_GAIN = {3: 0.20, 4: 0.10, 5: 0.05}   # level -> share the LSTM must save on a sample (5: the default)
MATES_LEVELS = range(2, MIX_MIN_LEVEL)   # levels at which a pair's mates are coded apart
SHIPPED_LEVEL = MIX_MIN_LEVEL - 1   # the highest level that codes with the shipped models (no gate)
LATE_MATE_LEAD = 6   # priority steps the read 1s' decoder yields to the read 2s' when bases arrive


def _decoders() -> dict[CodecId, Decoder]:
    return {CodecId.QUAL_CTX: qual_ctx.decode_qualities, CodecId.QUAL_LSTM: qual_lstm.decode_qualities,
            CodecId.QUAL_MIX: qual_mix.decode_qualities}


def _lstm_pays(symbols: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray, k: int,
               level: int, default: tuple[str, np.ndarray]) -> bool:
    """Whether the default LSTM saves at least ``LSTM_MIN_GAIN[level]`` on the block's first reads."""
    n_reads, lens = leading_reads(lengths, GATE_SAMPLE)
    total = int(lens.sum())
    mixed, ctx_estimate = qual_mix.encode_with_estimate(symbols[:total], lens, bases[:total],
                                                        mate[:n_reads], k, level, default=default)
    return ctx_estimate >= (1 + LSTM_MIN_GAIN[level]) * len(mixed)


def _encode_symbols(symbols: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                    k: int, level: int, alphabet: np.ndarray, workers: int = 1,
                    others_done: Callable[[], bool] | None = None) -> tuple[bytes, CodecId]:
    if level <= CTX_ONLY_MAX_LEVEL or (level < MIX_MIN_LEVEL and not USE_DEFAULTS):
        return qual_ctx.encode_qualities(symbols, lengths, bases, mate, k, level), CodecId.QUAL_CTX
    mapping = qual_mix.default_mapping(alphabet, lengths, mate)
    default, start = (mapping, None) if level < MIX_MIN_LEVEL else (None, mapping)
    if default is not None and level in LSTM_MIN_GAIN and not _lstm_pays(symbols, lengths, bases, mate, k, level,
                                                                          default):
        return qual_ctx.encode_qualities(symbols, lengths, bases, mate, k, level), CodecId.QUAL_CTX
    mixed, ctx_estimate = qual_mix.encode_with_estimate(symbols, lengths, bases, mate, k, level,
                                                        default=default, start=start, workers=workers,
                                                        others_done=others_done)
    if ctx_estimate < 1.01 * len(mixed):
        plain = qual_ctx.encode_qualities(symbols, lengths, bases, mate, k, level)
        if len(plain) <= len(mixed):
            return plain, CodecId.QUAL_CTX
    return mixed, CodecId.QUAL_MIX


def _mate_masks(lengths: np.ndarray, mate: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """For mates 0 and 1: (which reads, which quality symbols) of the block are that mate's."""
    per_symbol = np.repeat(np.asarray(mate, dtype=np.uint8), np.asarray(lengths, dtype=np.int64))
    return [(mate == m, per_symbol == m) for m in (0, 1)]


def _is_pair(mate: np.ndarray) -> bool:
    mate = np.asarray(mate)
    return bool(np.any(mate == 0) and np.any(mate == 1))


def _encode_mates(symbols: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                  k: int, level: int, alphabet: np.ndarray, workers: int) -> bytes:
    """QUAL_MATES payload: each mate's reads coded apart (see the module docstring)."""
    masks = _mate_masks(lengths, mate)

    def job(m: int) -> bytes:
        reads, syms = masks[m]
        payload, codec_id = _encode_symbols(symbols[syms], lengths[reads], bases[syms], mate[reads], k, level,
                                            alphabet)
        return bytes([codec_id]) + payload

    # side by side in children at lower priority than the base stream (as qual_mix's parts)
    return b"".join(blob(part) for part in forked.run_jobs([lambda: job(0), lambda: job(1)], workers,
                                                             qual_mix.ENCODE_NICE))


def encode_qualities(qual: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                     level: int, workers: int = 1, others_done: Callable[[], bool] | None = None
                     ) -> tuple[bytes, CodecId]:
    """``qual``: raw quality bytes of the block; ``bases``: codes 0..4. ``workers``: processes
    the block's independent halves (a pair's mates, a long-read block's parts) may be coded on;
    it never changes the bytes. ``others_done()``, when given, says whether the block's other
    heavy coder (the bases) has finished: a long-read block's parts take turns until then."""
    alphabet = np.unique(qual)
    head = blob(alphabet.tobytes())
    if len(alphabet) <= 1:
        return head + bytes([CodecId.CONST]), CodecId.CONST
    lut = np.zeros(256, dtype=np.uint8)
    lut[alphabet] = np.arange(len(alphabet), dtype=np.uint8)
    symbols = lut[qual]
    payload, codec_id = _encode_at(symbols, lengths, bases, mate, level, alphabet, workers, others_done)
    if level >= MIX_MIN_LEVEL:
        shipped, shipped_id = _encode_at(symbols, lengths, bases, mate, SHIPPED_LEVEL, alphabet, workers)
        if len(shipped) < len(payload):
            payload, codec_id = shipped, shipped_id
    return head + bytes([codec_id]) + payload, codec_id


def _encode_at(symbols: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray, level: int,
               alphabet: np.ndarray, workers: int, others_done: Callable[[], bool] | None = None
               ) -> tuple[bytes, CodecId]:
    """(codec payload, codec id) of the block's symbols as ``level`` codes them."""
    if level in MATES_LEVELS and _is_pair(mate):
        return _encode_mates(symbols, lengths, bases, mate, len(alphabet), level, alphabet,
                             workers), CodecId.QUAL_MATES
    return _encode_symbols(symbols, lengths, bases, mate, len(alphabet), level, alphabet, workers, others_done)


def _read_head(payload: bytes) -> tuple[np.ndarray, int, Reader]:
    """(alphabet, codec id, reader at the codec's own payload) of a QUALITIES stream."""
    r = Reader(payload)
    alphabet = np.frombuffer(r.blob(limit=256), dtype=np.uint8)
    return alphabet, r.u8(), r


def _mate_parts(r: Reader) -> list[tuple[int, bytes]]:
    """(codec id, payload) of each mate's half of a QUAL_MATES stream."""
    parts = [r.blob(limit=r.remaining()) for _ in range(2)]
    if r.remaining() or not all(parts):
        raise FormatError("bad qual_mates payload")
    return [(part[0], part[1:]) for part in parts]


def _codecs(payload: bytes) -> tuple[np.ndarray, list[tuple[int, bytes]]]:
    """(alphabet, [(codec id, codec payload)]): one entry, or one per mate for QUAL_MATES."""
    alphabet, codec_id, r = _read_head(payload)
    if codec_id == CodecId.QUAL_MATES:
        return alphabet, _mate_parts(r)
    return alphabet, [(codec_id, r.take(r.remaining()))]


def reads_only_n_flags(payload: bytes) -> bool:
    """Whether decoding ``payload`` needs no more of the bases than where the N's are.

    The context model with position slots reads only the N flag of each position, so a
    decoder can run it beside the base stream; with run slots, and the LSTM models, it
    reads the neighbouring bases."""
    return all(codec_id == CodecId.CONST or (codec_id == CodecId.QUAL_CTX and not qual_ctx.reads_bases(part))
               for codec_id, part in _codecs(payload)[1])


def shipped_model(payload: bytes) -> str | None:
    """Which shipped default model (``codec/weights``) coded this stream, if one did
    (``read1model/read2model`` when the mates are coded apart); ``runs`` for a context
    model with run slots (:mod:`codec.streams.qual_ctx`)."""
    alphabet, parts = _codecs(payload)
    kinds = [qual_mix.default_kind(p, len(alphabet)) if c == CodecId.QUAL_MIX
             else "runs" if c == CodecId.QUAL_CTX and qual_ctx.reads_bases(p) else None for c, p in parts]
    return "/".join(kind or "-" for kind in kinds) if any(kinds) else None


def decode_qualities(payload: bytes, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                     workers: int = 1, ready: Ready | None = None,
                     arrived: Callable[[], bool] | None = None) -> np.ndarray:
    """Raw quality bytes of the block (``workers`` as in :func:`encode_qualities`).

    ``ready(n)``, when given, blocks until the first ``n`` codes of ``bases`` are final
    (they may still be decoding in another process, :class:`codec.forked.Feed`): QUAL_MIX
    asks chunk by chunk, QUAL_CTX batch by batch, QUAL_LSTM for all of them first. ``arrived()`` says,
    without waiting, whether all of them are (QUAL_MIX parts take turns until then)."""
    alphabet, codec_id, r = _read_head(payload)
    if len(alphabet) == 0 and int(lengths.sum()) > 0:
        raise FormatError("empty quality alphabet")
    total = int(lengths.sum())
    if codec_id == CodecId.CONST:
        if len(alphabet) > 1:
            raise FormatError("constant quality stream with several values")
        return np.full(total, alphabet[0] if len(alphabet) else 33, dtype=np.uint8)
    if codec_id == CodecId.QUAL_MATES:
        symbols = _decode_mates(_mate_parts(r), lengths, bases, mate, len(alphabet), workers, ready)
    else:
        symbols = _decode_symbols(codec_id, r.take(r.remaining()), lengths, bases, mate, len(alphabet), workers,
                                  ready, arrived)
    return alphabet[symbols]


def _decode_symbols(codec_id: int, payload: bytes, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                    k: int, workers: int, ready: Ready | None = None,
                    arrived: Callable[[], bool] | None = None) -> np.ndarray:
    decoders = _decoders()
    if codec_id not in decoders:
        raise FormatError(f"unknown quality codec id {codec_id}")
    if codec_id == CodecId.QUAL_MIX:
        return qual_mix.decode_qualities(payload, lengths, bases, mate, k, workers, ready, arrived)
    if codec_id == CodecId.QUAL_CTX:
        return qual_ctx.decode_qualities(payload, lengths, bases, mate, k, ready)
    if ready is not None:
        ready(len(bases))
    return decoders[CodecId(codec_id)](payload, lengths, bases, mate, k)


def _mate_bases(bases: np.ndarray, syms: np.ndarray, ready: Ready | None) -> tuple[np.ndarray, Ready | None]:
    """One mate's bases and its ``ready``: a view and ``ready`` shifted by the mate's offset
    where its symbols are one run (a block's read 1s come first), else a copy made once
    every base is final."""
    if ready is None:
        return bases[syms], None
    where = np.flatnonzero(syms)
    lo, hi = (int(where[0]), int(where[-1]) + 1) if len(where) else (0, 0)
    if hi - lo != len(where):
        ready(len(bases))
        return bases[syms], None
    return bases[lo:hi], lambda n: ready(lo + n)


def _decode_mates(parts: list[tuple[int, bytes]], lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                  k: int, workers: int, ready: Ready | None = None) -> np.ndarray:
    """Inverse of :func:`_encode_mates`: each half over its mate's reads, put back in place."""
    if not _is_pair(mate):
        raise FormatError("qual_mates stream in a block without both mates")
    masks = _mate_masks(lengths, mate)

    def job(m: int) -> np.ndarray:
        reads, syms = masks[m]
        codec_id, payload = parts[m]
        if codec_id == CodecId.QUAL_MATES:
            raise FormatError("nested qual_mates stream")
        mate_bases, mate_ready = _mate_bases(bases, syms, ready)
        return np.asarray(_decode_symbols(codec_id, payload, lengths[reads], mate_bases, mate[reads], k, 1,
                                          mate_ready), dtype=np.uint8)

    out = np.empty(int(np.sum(lengths)), dtype=np.uint8)
    # bases arriving (a child of the base decoder's): the read 2s' come after every read 1's,
    # so an LSTM half of theirs (the costly kind) starts late: the read 1s yield to it, and
    # the halves end closer together (BCR MiSeq pair: 0.7 instead of 1.5 s apart)
    first_nice = LATE_MATE_LEAD if ready is not None and parts[1][0] == CodecId.QUAL_MIX else 0
    for (_, syms), symbols in zip(masks, forked.run_jobs([lambda: job(0), lambda: job(1)], workers,
                                                         first_nice=first_nice)):
        out[syms] = symbols
    return out
