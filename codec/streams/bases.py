"""The BASES stream: ACGT as codes 0..3 under the best available model.

Payload: ``u8 codec_id`` then that codec's payload. Candidates are the
context-mixing model (:mod:`codec.streams.bases_ctx`) and lzma over the codes,
one byte per base (byte-aligned, so LZ77 finds long exact repeats in every
phase: HiFi reads of one locus), tried when a sample says it could win.
Positions in the exception mask are not coded here.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import FormatError
from ..varint import Reader
from . import bases_ctx
from .general import pack_best, unpack
from .ids import CodecId

LONG_READ_MEAN = 500     # mean read length of a long-read block ...
NOISY_ERROR_RATE = 0.01  # ... whose qualities promise more errors than this: lzma never tried (level < 7)
LZMA_SAMPLE = 1 << 20    # about this many first bases (a batch boundary of the model) are compared ...
LZMA_MARGIN = 1.05       # ... and the full lzma run is tried when lzma is below this times the model there


def error_rate(qual: np.ndarray) -> float:
    """Mean error probability the quality bytes promise (Phred+33; 1.0 when there are none)."""
    counts = np.bincount(np.asarray(qual, dtype=np.uint8), minlength=256)[33:].astype(np.float64)
    total = counts.sum()
    return float((counts * 10.0 ** (-np.arange(len(counts)) / 10.0)).sum() / total) if total else 1.0


def encode_bases(codes: np.ndarray, lengths: np.ndarray, mate: np.ndarray, level: int,
                 errors: float = 0.0) -> tuple[bytes, CodecId]:
    """``errors``: the block's expected base error rate (:func:`error_rate`).

    LZ77 gains from long exact repeats; with an error rate ``e`` exact matches run
    about ``1/e`` bases. On noisy long reads (nanopore, e > 1 %) matches are shorter
    than the context model's longest order, so below level 7 lzma is not tried at all.
    On accurate long reads (HiFi), and at level 7 and above, the full lzma always runs,
    on a thread beside the context model. Short reads first need lzma to come close to
    the context model on their first reads (:func:`_lzma_may_win`).

    HiFi skips that check because it mispredicts there and the cost of a wrong skip
    falls on the decoder. LZ77's advantage grows with the block (E. coli HiFi: lzma
    1.09 x the context model on the first MiB, 1.04 on two, 0.998 on the whole), and
    the quality LSTM reads the bases, so a context-model base decode (~2 s there)
    runs before it where lzma's takes 0.05 s: skipping lzma on E. coli made
    compression 1.7 s faster and decompression 2 s slower, for a 0.2 % larger stream."""
    long_reads = bool(len(lengths)) and int(lengths.sum()) >= LONG_READ_MEAN * len(lengths)
    noisy_long = long_reads and errors > NOISY_ERROR_RATE
    lzma_allowed = level >= 7 or (level >= 2 and not noisy_long)
    data = np.where(codes > 3, 0, codes).astype(np.uint8).tobytes() if lzma_allowed else b""
    with ThreadPoolExecutor(max_workers=1) as pool:
        # lzma releases the GIL and the context model's kernels do too: the two overlap
        eager = pool.submit(_full_lzma, data) if data and (level >= 7 or long_reads) else None
        params = bases_ctx.choose_params(codes, lengths, level)
        checkpoints: list[tuple[int, float]] = []
        payload = bases_ctx.encode_bases(codes, lengths, mate, level, params, checkpoints)
        if eager is not None:
            packed = eager.result()
        elif data and _lzma_may_win(data, checkpoints):
            packed = _full_lzma(data)
        else:
            packed = None
    if packed is not None and len(packed) < len(payload):
        return bytes([CodecId.LZMA]) + packed, CodecId.LZMA
    return bytes([CodecId.BASE_CTX]) + payload, CodecId.BASE_CTX


def _full_lzma(data: bytes) -> bytes:
    """The whole block's bases through lzma (the slow run the check guards)."""
    return pack_best(data, (CodecId.LZMA,))


def _lzma_may_win(data: bytes, checkpoints: list[tuple[int, float]]) -> bool:
    """Whether lzma comes within LZMA_MARGIN of the context model on the block's first reads.

    ``checkpoints`` are the context model's ``(bases, bytes)`` after each batch of its
    full encode (:func:`bases_ctx.encode_bases`); lzma codes the prefix of the checkpoint
    nearest LZMA_SAMPLE bases, so both coders are measured on the same bases and the
    context model's side costs nothing (it once re-coded the sample: ~0.3 s per block).
    Same bases matter: a paired block starts with read 1, whose bases are cleaner than
    read 2's, and scaling lzma's size on them to the whole block (as this check once did)
    ran the full lzma for nothing on the SARS-CoV-2 MiSeq, CRISPR and velvet pairs
    (1.4-2.6 s of CPU each, on compression's critical path)."""
    if not checkpoints:
        return False   # nothing was coded
    n, ctx_bytes = min(checkpoints, key=lambda c: abs(math.log(max(c[0], 1) / LZMA_SAMPLE)))
    if 2 * n >= len(data):
        return True   # a small block: the check (lzma on half of it) costs as much as the full run
    return len(pack_best(data[:n], (CodecId.LZMA,))) < LZMA_MARGIN * ctx_bytes


def decode_bases(payload: bytes, lengths: np.ndarray, mate: np.ndarray, exceptions: np.ndarray) -> np.ndarray:
    """Codes 0..3, with 4 at exception positions."""
    r = Reader(payload)
    codec_id = r.u8()
    body = r.take(r.remaining())
    total = int(lengths.sum())
    if codec_id == CodecId.BASE_CTX:
        return bases_ctx.decode_bases(body, lengths, mate, exceptions)
    if codec_id == CodecId.LZMA:
        codes = np.frombuffer(unpack(body, limit=total), dtype=np.uint8).copy()
        if len(codes) != total or (codes > 3).any():
            raise FormatError("lzma base stream has the wrong size or symbols")
        codes[exceptions] = 4
        return codes
    raise FormatError(f"unknown base codec id {codec_id}")
