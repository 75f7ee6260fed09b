"""The BASES stream: ACGT as codes 0..3 under the best available model.

Payload: ``u8 codec_id`` then that codec's payload. Candidates are the
context-mixing model (:mod:`codec.streams.bases_ctx`) and lzma over the codes,
one byte per base (byte-aligned, so LZ77 finds long exact repeats in every
phase: HiFi reads of one locus): plain (LZMA) for short reads, with the reads
turned to face one way (LZMA_TURNED, :mod:`codec.streams.orientation`) for long
ones. Positions in the exception mask are not coded here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ..config import DEFAULT_LEVEL
from ..errors import FormatError
from ..varint import Reader, blob
from . import bases_ctx, bases_lstm, orientation, overlap
from .general import pack_best, unpack
from .ids import CodecId

LONG_READ_MEAN = 500     # mean read length of a long-read block ...
NOISY_ERROR_RATE = 0.01  # ... whose qualities promise more errors than this: lzma never tried (level < 7)
LZMA_SAMPLE = 1 << 20    # about this many first bases (a batch boundary of the model) are compared ...
LZMA_MARGIN = 1.05       # ... and the full lzma run is tried when lzma is below this times the model there
LZMA_ONLY_MIN = 1 << 20  # accurate long-read blocks from this many bases skip the context model (level < 7) ...
LZMA_ONLY_SHARED = 0.5   # ... where at least this share of their sampled k-mers recurs (overlap.shared_fraction)
SHORT_LZMA_LEVEL = DEFAULT_LEVEL + 1   # short reads try lzma (the check, then maybe the full run) from here


def error_rate(qual: np.ndarray) -> float | None:
    """Mean error probability the quality bytes promise (Phred+33), or None when they
    promise nothing: no qualities, or one value throughout. Placeholder qualities
    (SRA Lite's constant '?', '!' or 'I' where the caller had none) would otherwise pass for
    a real error rate: '!' made accurate HiFi reads 'noisy' (the context model only,
    +9 % over lzma on the E. coli reads), a constant Q30 made nanopore reads 'accurate'
    (lzma only, +4.5 % over the context model on the 2D reads)."""
    counts = np.bincount(np.asarray(qual, dtype=np.uint8), minlength=256)[33:].astype(np.float64)
    total = counts.sum()
    if np.count_nonzero(counts) < 2:
        return None
    return float((counts * 10.0 ** (-np.arange(len(counts)) / 10.0)).sum() / total)


def encode_bases(codes: np.ndarray, lengths: np.ndarray, mate: np.ndarray, level: int,
                 errors: float | None = 0.0) -> tuple[bytes, CodecId]:
    """``errors``: the block's expected base error rate (:func:`error_rate`), None when
    the qualities do not say.

    LZ77 gains from long exact repeats; with an error rate ``e`` exact matches run
    about ``1/e`` bases. On noisy long reads (nanopore, e > 1 %) matches are shorter
    than the context model's longest order, so below level 7 lzma is not tried at all.
    Short reads try lzma from SHORT_LZMA_LEVEL, one above the default: they first need
    it to come close to the context model on their first reads (:func:`_lzma_may_win`),
    and at level 7 and above the full lzma always runs, on a thread beside the context
    model. At the default level the guard was all cost: the check (lzma -9e over the
    first 2^20 bases) is 1-1.5 s of CPU per block, the full run where the check passes
    another 4 s (BCR), and lzma lost to the context model on every short-read file here,
    by 5 % (BCR) to 71 % (10x index reads) of the base stream. A library where it would
    win is one of exact copies far apart; ``--level 6`` looks for that.

    Long reads go to lzma turned (LZMA_TURNED, :mod:`.orientation`): overlapping reads
    face the same way, so LZ77 also finds the copies on the other strand, for one flag
    per read. On accurate long reads (HiFi) that beats the context model by a wide
    margin on every kind measured (16S amplicons -21 %, E. coli -17 %, human -35 %), and
    lzma also decodes ~30x faster, which matters because the quality LSTM reads the
    bases: below level 7 such blocks (from LZMA_ONLY_MIN bases) skip the context model,
    1-3 s of CPU on compression's critical path. That margin comes from overlapping reads:
    where they barely overlap (a low-coverage sample of a large genome) the context model
    wins instead (first quarter of the E. coli reads, 0.25x: 1.830 bits/base against lzma's
    1.943; first tenth of the human reads: 1.340 against 1.421). So the skip needs at least
    LZMA_ONLY_SHARED of the block's sampled 24-mers to recur (:mod:`.overlap`; 16S 0.98,
    human 0.87, E. coli 0.59 here, against 0.16 and 0.46 for those subsets); below it the
    context model codes the block alone (lzma did not win on any such subset measured, and
    beside the model it would cost the CPU the qualities need). Short reads keep plain lzma: on the
    short-read files here turning moved lzma's stream by -9 % to +3 % with the flags
    (one bit per read: 12.5 kB on the 10x index reads, whose lzma stream is 2.8 kB),
    and where lzma wins on short reads it is by copies, not by strands.

    Long reads whose error rate is unknown (``errors`` None) run both, lzma on a thread
    beside the context model, and keep the smaller: neither wins on every kind."""
    total = int(lengths.sum()) if len(lengths) else 0
    long_reads = bool(len(lengths)) and total >= LONG_READ_MEAN * len(lengths)
    noisy_long = long_reads and errors is not None and errors > NOISY_ERROR_RATE
    lzma_allowed = level >= 7 or (level >= 2 and not noisy_long and (long_reads or level >= SHORT_LZMA_LEVEL))
    flat = np.where(codes > 3, 0, codes).astype(np.uint8) if lzma_allowed else None
    if flat is not None and long_reads and errors is not None and not noisy_long and level < 7 \
            and total >= LZMA_ONLY_MIN:
        if overlap.shared_fraction(flat, lengths) >= LZMA_ONLY_SHARED:
            return _lzma_candidate(flat, lengths, turned=True)
        flat = None   # reads that barely overlap: the context model alone
    with ThreadPoolExecutor(max_workers=1) as pool:
        # lzma releases the GIL and the context model's kernels do too: the two overlap
        eager = pool.submit(_lzma_candidate, flat, lengths, long_reads) \
            if flat is not None and (level >= 7 or long_reads) else None
        early = _EarlyLzma(pool, flat, lengths) if flat is not None and eager is None else None
        params = bases_ctx.choose_params(codes, lengths, level)
        checkpoints: list[tuple[int, float]] = []
        recorder = bases_lstm.TokenRecorder(len(codes)) \
            if level >= bases_lstm.BASE_LSTM_LEVEL and total >= bases_lstm.MIN_BASES else None
        ctx_payload = bases_ctx.encode_bases(codes, lengths, mate, level, params, checkpoints, early, recorder)
        payload = bytes([CodecId.BASE_CTX]) + ctx_payload
        if eager is not None:
            lz: tuple[bytes, CodecId] | None = eager.result()
        elif early is not None:
            lz = early.result(checkpoints)
        else:
            lz = None
    if lz is not None and len(lz[0]) < len(payload):
        return lz
    if recorder is not None:
        mixed = bytes([CodecId.BASE_LSTM]) + bases_lstm.encode_bases(codes, lengths, ctx_payload, recorder.tokens)
        if len(mixed) < len(payload):
            return mixed, CodecId.BASE_LSTM
    return payload, CodecId.BASE_CTX


class _EarlyLzma:
    """The lzma check and, where it passes, the full lzma run, started while the context
    model is still coding the block.

    Called with each ``(n, bytes)`` checkpoint of the context model's first encode; once
    the checkpoint nearest LZMA_SAMPLE is known, lzma codes that prefix on the pool's thread
    and, if it comes within LZMA_MARGIN, the whole block. Done after the encode, the two
    put the check and lzma's run end to end behind the context model on one core (BCR
    repertoire: 3.4 s + 0.9 s + 6.1 s) while the qualities' workers were long finished.
    The decision is :func:`_lzma_may_win` on the final encode's checkpoints, as before;
    when the first encode's figures started the full run and the final ones (coded again
    without calibration) would not have, the smaller payload is kept all the same."""

    def __init__(self, pool: ThreadPoolExecutor, flat: np.ndarray, lengths: np.ndarray) -> None:
        self.pool, self.flat, self.lengths = pool, flat, lengths
        self.below: tuple[int, float] | None = None   # the last checkpoint under LZMA_SAMPLE
        self.job: Future[tuple[int, int | None, tuple[bytes, CodecId] | None]] | None = None

    def __call__(self, n: int, ctx_bytes: float) -> None:
        if self.job is not None or n >= len(self.flat):
            return   # started already, or the encode is over: result() decides as before
        if n < LZMA_SAMPLE:
            self.below = (n, ctx_bytes)
            return
        nearest = _nearest_sample([c for c in (self.below, (n, ctx_bytes)) if c is not None])
        self.job = self.pool.submit(self._run, *nearest)

    def _run(self, n: int, ctx_bytes: float) -> tuple[int, int | None, tuple[bytes, CodecId] | None]:
        """(prefix, lzma's size for it or None, the full lzma payload where the check passed)."""
        passes, size = _lzma_check(self.flat, n, ctx_bytes)
        return n, size, _lzma_candidate(self.flat, self.lengths, turned=False) if passes else None

    def result(self, checkpoints: list[tuple[int, float]]) -> tuple[bytes, CodecId] | None:
        """lzma's payload where :func:`_lzma_may_win` says to try it (or it was run already)."""
        known = None
        if self.job is not None:
            n, size, full = self.job.result()
            if full is not None:
                return full
            known = None if size is None else (n, size)
        if _lzma_may_win(self.flat, checkpoints, known):
            return _lzma_candidate(self.flat, self.lengths, turned=False)
        return None


def _lzma_candidate(flat: np.ndarray, lengths: np.ndarray, turned: bool) -> tuple[bytes, CodecId]:
    """The whole block's bases (codes 0..3) through lzma, as a BASES payload; ``turned``
    first reverse-complements the reads :func:`orientation.choose_flips` flags, in
    ``flat`` itself (the caller's scratch copy of the codes: no second block-sized copy)."""
    if not turned:
        return bytes([CodecId.LZMA]) + _full_lzma(flat.tobytes()), CodecId.LZMA
    flips = orientation.choose_flips(flat, lengths)
    orientation.turn_in_place(flat, lengths, flips)
    body = _full_lzma(flat.tobytes())
    flags = blob(pack_best(np.packbits(flips).tobytes()))
    return bytes([CodecId.LZMA_TURNED]) + flags + body, CodecId.LZMA_TURNED


def _full_lzma(data: bytes) -> bytes:
    """The whole block's bases through lzma (the slow run the check guards)."""
    return pack_best(data, (CodecId.LZMA,))


def _lzma_may_win(data: bytes | np.ndarray, checkpoints: list[tuple[int, float]],
                  known: tuple[int, int] | None = None) -> bool:
    """Whether lzma comes within LZMA_MARGIN of the context model on the block's first reads.

    ``checkpoints`` are the context model's ``(bases, bytes)`` after each batch of its
    full encode (:func:`bases_ctx.encode_bases`); lzma codes the prefix of the checkpoint
    nearest LZMA_SAMPLE bases, so both coders are measured on the same bases and the
    context model's side costs nothing (it once re-coded the sample: ~0.3 s per block).
    Same bases matter: a paired block starts with read 1, whose bases are cleaner than
    read 2's, and scaling lzma's size on them to the whole block (as this check once did)
    ran the full lzma for nothing on the SARS-CoV-2 MiSeq, CRISPR and velvet pairs
    (1.4-2.6 s of CPU each, on compression's critical path). ``known`` = ``(n, size)``:
    lzma's size for a prefix already coded (:class:`_EarlyLzma`), used when ``n`` matches."""
    if not checkpoints:
        return False   # nothing was coded
    n, ctx_bytes = _nearest_sample(checkpoints)
    return _lzma_check(data, n, ctx_bytes, known[1] if known is not None and known[0] == n else None)[0]


def _lzma_check(data: bytes | np.ndarray, n: int, ctx_bytes: float,
                size: int | None = None) -> tuple[bool, int | None]:
    """(whether lzma on the first ``n`` codes comes within LZMA_MARGIN of the context
    model's ``ctx_bytes`` there, lzma's size for them: ``size`` when known, None when
    not needed)."""
    if 2 * n >= len(data):
        return True, None   # a small block: the check (lzma on half of it) costs as much as the full run
    if size is None:
        size = len(pack_best(bytes(data[:n]), (CodecId.LZMA,)))   # the prefix only
    return size < LZMA_MARGIN * ctx_bytes, size


def _nearest_sample(checkpoints: list[tuple[int, float]]) -> tuple[int, float]:
    """The checkpoint nearest LZMA_SAMPLE bases (by ratio; the first of a tie)."""
    return min(checkpoints, key=lambda c: abs(math.log(max(c[0], 1) / LZMA_SAMPLE)))


def decode_bases(payload: bytes, lengths: np.ndarray, mate: np.ndarray, exceptions: np.ndarray,
                 out: np.ndarray | None = None, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Codes 0..3, with 4 at exception positions; in ``out`` when given, with ``progress(n)``
    called whenever the first ``n`` codes are final (see :class:`codec.forked.Feed`)."""
    r = Reader(payload)
    codec_id = r.u8()
    total = int(lengths.sum())
    if codec_id == CodecId.BASE_CTX:
        return bases_ctx.decode_bases(r.take(r.remaining()), lengths, mate, exceptions, out, progress)
    if codec_id == CodecId.BASE_LSTM:
        return bases_lstm.decode_bases(r.take(r.remaining()), lengths, exceptions, out, progress)
    if codec_id not in (CodecId.LZMA, CodecId.LZMA_TURNED):
        raise FormatError(f"unknown base codec id {codec_id}")
    flips = _read_flips(r, len(lengths)) if codec_id == CodecId.LZMA_TURNED else None
    codes = np.frombuffer(unpack(r.take(r.remaining()), limit=total), dtype=np.uint8).copy()
    if len(codes) != total or (codes > 3).any():
        raise FormatError("lzma base stream has the wrong size or symbols")
    if flips is not None:
        orientation.turn_in_place(codes, lengths, flips)
    codes[exceptions] = 4
    if out is not None:
        out[:] = codes
        codes = out
    if progress is not None:
        progress(total)
    return codes


def _read_flips(r: Reader, n_reads: int) -> np.ndarray:
    """The per-read orientation flags of an LZMA_TURNED payload."""
    n_bytes = (n_reads + 7) // 8
    packed = unpack(r.blob(limit=n_bytes + 64), limit=n_bytes)
    if len(packed) != n_bytes:
        raise FormatError("orientation flags have the wrong size")
    return np.unpackbits(np.frombuffer(packed, dtype=np.uint8), count=n_reads)
