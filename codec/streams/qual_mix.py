"""Quality codec mixing the integer-exact LSTM with the context model (``CodecId.QUAL_MIX``).

Both models run in lock-step over the same rows in the same order on encoder
and decoder: the LSTM of :mod:`codec.streams.qual_lstm` (fitted per block on a
capped, deterministic sample, quantised, stored in the payload) and the
batch-adaptive context model :class:`~codec.streams.qual_ctx.QualCtxModel`.
At every step each row's two integer tables are mixed linearly::

    f[s] = 1 + (w * fl[s] + (2**16 - w) * fc[s]) >> 16

where ``fl`` (the LSTM table, total 2**20) and ``fc`` (the context table,
total 2**20 + O(K)) are both integers and ``w`` (Q16, 0..2**16) is a weight
chosen by a small mixing context (position bucket x mate x q1 bucket). After the
symbol ``s`` is known, the weight moves along the gradient of the code length
of the mixture, in integers only::

    pm = (w * fl[s] + (2**16 - w) * fc[s]) >> 16
    w += (((fl[s] - fc[s]) << 16) // (pm + 1)) >> lr_shift      (clamped to 0..2**16)

(``//`` floors, ``>>`` is arithmetic), so the weights and every table are
bit-identical on any machine. Mixing is never much worse than the better of the
two models and is usually well below both.

Payload (little-endian)::

    u8      version (1)
    u8      mode: 0 = nothing coded (no symbols, or K == 1), 1 = mixed (fitted LSTM),
            2 = mixed with a shipped default LSTM (no weights stored)
    -- mode 1 only --
    uvarint K (must equal n_symbols)
    uvarint seg_len (rows hold at most this many symbols of one read)
    uvarint chunk (most rows advanced together; chunks of 16, 32, 64, ... rows up to chunk,
            in row order: rows are segments sorted longest first, as in qual_lstm)
    u8      ctx pos_shift, uvarint beta_lo, beta_mid, beta_full (context model, see qual_ctx)
    u8      lr_shift (mixer learning rate 2**-lr_shift), u8 w0 (initial weight, in 1/256)
    blob    quantised LSTM (uvarint length + QuantModel.to_bytes())
    u32     crc32 of the decoded quality symbols (uint8)
    rest    range-coded words ('<u4'), symbols in chunk, step, row order
    -- mode 2 (MODE_DEFAULT): as mode 1 up to and including w0, then --
    u8      kind id (index in codec.model.defaults.KINDS: 0 binned, 1 illumina40, 2 long,
            3 illumina40_v2, 4 long_v2, 5 illumina40_v3)
    32 B    sha256 of the weight file codec/weights/<kind>.qlstm (QuantModel.to_bytes());
            a decoder whose installed file differs raises ModelMismatchError
    K B     Phred value (0..93) of each block symbol, in symbol order
    u32     crc32 of the decoded quality symbols (uint8)
    rest    range-coded words, as in mode 1

Version 2 (written when :func:`n_parts` > 1: long-read blocks of at least
2 * PART_MIN_SYMBOLS symbols) is version 1 with the rows dealt round-robin into
independent parts (row ``i`` to part ``i % parts``), each with its own context
model, mixing weights and coder, so a decoder runs them side by side (in child
processes, :mod:`codec.forked`). After the crc: ``u8 parts`` (2..8), ``parts - 1``
uvarint byte lengths of the first parts' words, then every part's words in part order.

Versions 3 and 4 (written when the block's longest read is at most ``MAX_POS``)
are versions 1 and 2 with the :class:`~codec.streams.qual_mixers.PositionMixer`
in place of the bucket mixer above: weights keyed by the exact position, then a
second stage with adaptive counts per (position, mate, q1). Same payload layout.

Versions 5-8 (format 7.0, what encoders write now) are versions 1-4 with one more
field, ``uvarint first`` (rows of the first chunk, 1..chunk) right after ``chunk``;
versions 1-4 start with 16 rows. See :func:`first_chunk`.

In mode 2 the LSTM's previous-quality inputs are ``phred[q]`` (start token: 94),
its mate input is 0 (the row's mate for kinds in ``defaults.SEES_MATE``), and its
table is the integer softmax of the logits of output columns ``phred[0..K-1]`` only
(``IntPredictor.restrict``), total 2**20, every entry >= 1. Mixing, context model and
coding order are those of mode 1.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ..entropy.coder import StepDecoder, StepEncoder
from .. import forked
from ..errors import FormatError
from ..jit import nb
from ..model import defaults
from ..model.features import gather_symbols, scatter_symbols, step_advance, step_features_mapped
from ..model.intexact import IntPredictor
from ..model.quantize import quantize
from ..model.threads import single_thread
from ..varint import Reader, blob, encode_uvarint
from . import qual_ctx
from .qual_mixers import (MAX_POS, N_BUCKETS, N_MIX_POS, N_MIX_Q, W_ONE, BucketMixer,  # noqa: F401
                          PositionMixer, mix_tables, mix_update)
from .qual_lstm import (_check_inputs, _check_shapes, _rows, _seg_len, check_encode_inputs,
                        checked_symbols, fit_model, read_crc_and_words, read_fitted_model, read_payload_head)

if TYPE_CHECKING:   # torch is imported only when a model is fitted (levels >= 7)
    from ..model.core import Predictor

VERSION = 1
VERSION_PARTS = 2
VERSION_POS = 3        # version 1 with the PositionMixer (reads up to MAX_POS long)
VERSION_POS_PARTS = 4  # version 2 with the PositionMixer
VERSION_FIRST = 5      # versions 5-8: versions 1-4 with the size of the first chunk in the payload
LAST_VERSION = VERSION_FIRST + VERSION_POS_PARTS - VERSION
MAX_PARTS = 8
PART_MIN_SYMBOLS = 1 << 19  # a block splits into two parts from twice this many symbols ...
PART_MIN_MEAN = 500         # ... of long reads (short-read steps are wide, decoding is fast already)
MODE_EMPTY = 0
MODE_MIX = 1
MODE_DEFAULT = 2  # shipped default model (no weights in the payload, no fitting)
CHUNK = 4096
FIRST_CHUNK = 16        # rows of the first chunk (versions 1-4: always) ...
FIRST_CHUNK_LONG = 128  # ... and in versions 5-8 when the block's longest row has LONG_ROW symbols or more
LONG_ROW = 512          # the shortest segment (qual_lstm._seg_len): rows this long are cut from long reads
LR_SHIFT = 7
W0 = 128          # initial weight in 1/256 (0.5)
W0_DEFAULT = 192  # initial weight of the default model (it is good from the first read)
ENCODE_NICE = 5   # priority of the encoder's part processes below the base stream's (_encode_parts)
YIELD_STEPS = 256  # steps between turns when parts take turns in one process (_take_turns_then_split)
T = TypeVar("T")
# fitting work per level in symbol-steps: (per input symbol, minimum, maximum)
# (level 5 and below: qualities.py uses the context model alone, see its docstring)
WORK = {2: (0.1, 1e5, 2e5), 3: (0.15, 1.5e5, 3e5), 4: (0.2, 2e5, 4e5), 5: (0.25, 2.5e5, 5e5),
        6: (0.75, 7.5e5, 3e6), 7: (1.0, 1e6, 4e6), 8: (2.0, 1.5e6, 1.6e7), 9: (4.0, 2e6, 4e7)}
_NJ = dict(nogil=True, cache=True, fastmath=False, error_model="numpy")


@nb.njit(**_NJ)
def ctx_cost(n, sym, fc):
    """Bits the context model alone would have spent on this step (encoder-side estimate)."""
    bits = 0.0
    for r in range(n):
        tot = 0
        for s in range(fc.shape[1]):
            tot += fc[r, s]
        bits -= np.log2(fc[r, sym[r]] / tot)
    return bits


def first_chunk(longest_row: int) -> int:
    """Rows of the first chunk an encoder writes (payload versions 5-8).

    Small early chunks let the context model learn late positions from the first
    reads before most reads are coded (a flat 4096-row start costs ~1 % on gaiix). But
    every chunk costs as many steps as its longest row, and a step has a fixed cost:
    with rows of long-read segments (hundreds to thousands of symbols) the chunks of 16,
    32 and 64 rows took half the steps of a part for a tenth of its symbols. Measured
    on the long-read files: 128 rows first changes their quality bytes by +-0.03 %."""
    return FIRST_CHUNK_LONG if longest_row >= LONG_ROW else FIRST_CHUNK


def _chunks(nrows: int, chunk: int, first: int = FIRST_CHUNK) -> list[tuple[int, int]]:
    """Row ranges coded together: ``first`` rows, doubling up to ``chunk`` rows."""
    out, lo, size = [], 0, first
    while lo < nrows:
        hi = min(nrows, lo + min(size, chunk))
        out.append((lo, hi))
        lo, size = hi, size * 2
    return out


def _n_mix(k: int) -> int:
    return N_BUCKETS


def _drain(steps: Generator[None, None, T]) -> T:
    """Run a step generator (:func:`_run_steps`) to its end; its return value."""
    try:
        while True:
            next(steps)
    except StopIteration as end:
        return end.value


def _run_steps(ip: IntPredictor, rows: dict[str, np.ndarray], bases: np.ndarray, k: int, chunk: int,
               ctx_shift: int, betas: tuple[int, int, int], lr_shift: int, w0: int, quals: np.ndarray,
               coder: StepEncoder | StepDecoder, qin: np.ndarray | None = None, use_mate: bool = True,
               longest: int = 0, first: int = FIRST_CHUNK, need: Callable[[int], None] | None = None
               ) -> Generator[None, None, float]:
    """Shared encode/decode loop: chunk by chunk, step by step, one coder call per step.
    A generator that pauses every YIELD_STEPS steps, so that one process can take turns
    between parts (:func:`_take_turns_then_split`); :func:`_drain` runs it through.

    ``qin`` maps symbols (and the start token K) to the LSTM's previous-quality inputs
    (identity for fitted models, Phred values for the defaults); ``use_mate`` feeds the
    mate to the LSTM (shipped defaults see 0 unless ``defaults.sees_mate``); ``longest`` > 0 (the block's longest read)
    selects the PositionMixer of payload versions 3-4 and 7-8, 0 the BucketMixer; ``first``
    is the first chunk's row count (:func:`_chunks`); ``need(n)``, when given, is called
    before a chunk reads the first ``n`` entries of ``bases`` (:class:`_ArrivingBases`). Returns
    (encoder only) an estimate of the bits the context model alone would need."""
    if qin is None:
        qin = np.arange(k + 1, dtype=np.int64)
    offsets = ip.offsets
    nrows = len(rows["len"])
    encoding = isinstance(coder, StepEncoder)
    ctx = qual_ctx.QualCtxModel(k, bases, rows["mate"], ctx_shift, betas)
    width = min(chunk, nrows)
    if longest:
        mixer: BucketMixer | PositionMixer = PositionMixer(k, width, w0, lr_shift, longest)
    else:
        mixer = BucketMixer(k, width, w0, lr_shift, qual_ctx.pos_shift_for(rows["read_len"]) if nrows else 0)
    ctx_bits = 0.0
    for c0, c1 in _chunks(nrows, chunk, first):
        sl = slice(c0, c1)
        rlen = rows["len"][sl]
        m = len(rlen)
        steps = int(rlen[0]) if m else 0
        counts = np.searchsorted(-rlen, -np.arange(steps), side="left")  # rows with len > t
        flat, pos0 = rows["flat"][sl], rows["pos0"][sl]
        rstart, rlen_read, mate = rows["read_start"][sl], rows["read_len"][sl], rows["mate"][sl]
        if need is not None and m:
            need(int(np.max(rstart + rlen_read)))
        ctx.begin_batch(flat, pos0, rlen, np.arange(c0, c0 + m, dtype=np.int64))
        h, c = ip.initial_state(m)
        q1 = np.full(m, k, dtype=np.int64)
        q2 = np.full(m, k, dtype=np.int64)
        dcnt = np.zeros(m, dtype=np.int64)
        x = np.empty((m, len(offsets)), dtype=np.int64)
        fl = np.empty((m, k), dtype=np.int64)
        sym = np.empty(m, dtype=np.int64)
        for t in range(steps):
            n = int(counts[t])
            step_features_mapped(t, n, pos0, rstart, rlen_read, mate, bases, q1, q2, dcnt, qin, use_mate,
                                 offsets, x)
            ip.step_rows(x[:n], h, c, fl)
            fc, _ = ctx.freqs(t, n)
            fm = mixer.tables(t, n, pos0, mate, q1, fl, fc)
            if encoding:
                gather_symbols(t, n, flat, quals, sym)
                coder.encode(sym[:n], fm)
                ctx_bits += ctx_cost(n, sym, fc)
            else:
                sym[:n] = coder.decode(fm)
                scatter_symbols(t, n, flat, sym, quals)
            mixer.update(n, sym, fl, fc)
            ctx.advance(t, n, quals)
            step_advance(t, n, sym, q1, q2, dcnt)
            if t % YIELD_STEPS == YIELD_STEPS - 1:
                yield
        ctx.end_batch()
    return ctx_bits


def _fit_work(n: int, level: int) -> float:
    per, lo, hi = WORK[min(max(level, 2), 9)]
    return min(max(per * n, lo), hi, 4.0 * n)


def n_parts(lengths: np.ndarray) -> int:
    """Independent parts a block's rows are dealt into (see the module docstring)."""
    total = int(np.sum(lengths))
    return 2 if total >= 2 * PART_MIN_SYMBOLS and total >= PART_MIN_MEAN * len(lengths) else 1


def _split_rows(rows: dict[str, np.ndarray], parts: int) -> list[dict[str, np.ndarray]]:
    """Row ``i`` to part ``i % parts``: every part keeps the longest-first order."""
    if parts == 1:
        return [rows]
    return [{key: np.ascontiguousarray(v[p::parts]) for key, v in rows.items()} for p in range(parts)]


def _encode_parts(run_part: Callable[[dict[str, np.ndarray], StepEncoder], Generator[None, None, float]],
                  rows: dict[str, np.ndarray], parts: int, workers: int,
                  others_done: Callable[[], bool] | None = None) -> tuple[float, list[bytes]]:
    """``run_part(rows, encoder)`` (a :func:`_run_steps` generator) over each part: (summed
    context-model estimate, words per part). ``others_done()``, when given, says whether the
    base stream's coder has finished: until then the parts take turns in one child
    (:func:`_take_turns_then_split`); without it they split at once."""
    def steps(part: dict[str, np.ndarray]) -> Generator[None, None, tuple[float, bytes]]:
        enc = StepEncoder()
        bits = yield from run_part(part, enc)
        return bits, enc.finish()

    split = [steps(p) for p in _split_rows(rows, parts)]
    if workers > 1 and parts > 1:
        # every part in children at lower priority: the base stream, coded beside on a thread
        # of this process, is one indivisible run (lzma, or the context model) while the parts
        # share whatever it leaves, so it should never wait for them
        done = forked.start(lambda: _take_turns_then_split(split, others_done or _at_once), ENCODE_NICE).result()
    else:
        done = [_drain(part) for part in split]
    return sum(bits for bits, _ in done), [words for _, words in done]


def _decode_parts(run_part: Callable[[dict[str, np.ndarray], StepDecoder], Generator[None, None, float]],
                  rows: dict[str, np.ndarray], words: list[bytes], quals: np.ndarray, workers: int,
                  arrived: Callable[[], bool] | None = None) -> None:
    """``run_part(rows, decoder)`` (a :func:`_run_steps` generator) over each part, filling
    ``quals`` (zeros before). ``arrived()``, when given, says whether the bases have all
    arrived: until then the parts take turns here (:func:`_take_turns_then_split`); without
    it they split at once (in children: the step loop holds the GIL too often for threads).

    A forked part sends back its own copy of ``quals``, in which only its rows are
    filled (the rest are still zero), so OR-ing the copies in merges them."""
    split = _split_rows(rows, len(words))
    if workers <= 1 or len(words) < 2:
        for part_rows, w in zip(split, words):
            _drain(run_part(part_rows, StepDecoder(w)))
        return

    def part(part_rows: dict[str, np.ndarray], w: bytes) -> Generator[None, None, np.ndarray]:
        yield from run_part(part_rows, StepDecoder(w))
        return quals.astype(np.uint8)

    for copy in _take_turns_then_split([part(p, w) for p, w in zip(split, words)], arrived or _at_once):
        quals |= copy


def _at_once() -> bool:
    """``done`` for :func:`_take_turns_then_split` when nothing is coded beside: split at once."""
    return True


def _take_turns_then_split(parts: list[Generator[None, None, T]], done: Callable[[], bool]) -> list[T]:
    """The parts' results, in order: their step generators (:func:`_run_steps`) run in turns
    in this process until ``done()`` (the other stream's coder has finished), then each
    part left in a process of its own (the first here).

    Why: while the other stream (the bases) is still being coded, its coder holds one core
    and the parts share the other. Forked from the start, each part in its own process, they
    got unequal shares of that core (the scheduler puts one beside the base coder and lets
    the other run), and one part ended up to a second after the other with a core idle.
    Taking turns in one process keeps them level; once the base coder is done each gets a
    core of its own. A fork copies each part's coder, model and state as they are: the same
    integers follow whichever process runs them, so the bytes cannot depend on when it
    happens."""
    results: dict[int, T] = {}
    live = list(enumerate(parts))
    while live and not done():
        still = []
        for i, steps in live:
            try:
                next(steps)
                still.append((i, steps))
            except StopIteration as end:
                results[i] = end.value
        live = still
    if live:
        (_, first), rest = live[0], live[1:]
        outs = forked.run_beside(lambda: _drain(first), [lambda s=steps: _drain(s) for _, steps in rest])
        results.update((i, out) for (i, _), out in zip(live, outs))
    return [results[i] for i in range(len(parts))]


def _parts_tail(words: list[bytes]) -> bytes:
    """After the crc: nothing for one part, else the part count and word lengths, then the words."""
    if len(words) == 1:
        return words[0]
    return bytes([len(words)]) + b"".join(encode_uvarint(len(w)) for w in words[:-1]) + b"".join(words)


def _payload_version(parts: int, longest: int) -> int:
    """Version written for a block cut into ``parts`` whose longest read is ``longest``."""
    if longest <= MAX_POS:
        layout = VERSION_POS if parts == 1 else VERSION_POS_PARTS
    else:
        layout = VERSION if parts == 1 else VERSION_PARTS
    return layout + VERSION_FIRST - VERSION


def _layout(version: int) -> int:
    """Versions 5-8 are laid out as versions 1-4, plus the first-chunk field."""
    return version - (VERSION_FIRST - VERSION) if version >= VERSION_FIRST else version


def _has_first(version: int) -> bool:
    return version >= VERSION_FIRST


def _has_parts(version: int) -> bool:
    return _layout(version) in (VERSION_PARTS, VERSION_POS_PARTS)


def _uses_positions(version: int) -> bool:
    return _layout(version) in (VERSION_POS, VERSION_POS_PARTS)


def _read_parts(words: bytes, version: int) -> list[bytes]:
    if not _has_parts(version):
        return [words]
    rd = Reader(words)
    parts = rd.u8()
    if not 2 <= parts <= MAX_PARTS:
        raise FormatError(f"qual_mix part count {parts} out of range")
    sizes = [rd.uvarint(len(words)) for _ in range(parts - 1)]
    out = [rd.take(n) for n in sizes] + [rd.take(rd.remaining())]
    if any(len(w) % 4 for w in out):
        raise FormatError("qual_mix part words are not a multiple of 4 bytes")
    return out


def encode_qualities(quals: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                     n_symbols: int, level: int = 7, workers: int = 1) -> bytes:
    """Compress quality symbols (indices 0..n_symbols-1) of one block."""
    return encode_with_estimate(quals, lengths, bases, mate, n_symbols, level, workers=workers)[0]


def default_mapping(alphabet: np.ndarray, lengths: np.ndarray, mate: np.ndarray | None = None
                    ) -> tuple[str, np.ndarray]:
    """(default model kind, Phred value of each symbol) for a block's sorted quality bytes
    (``mate``: the block's mate flags; a block with read 2s may get a model trained on both)."""
    alphabet = np.asarray(alphabet, dtype=np.uint8)
    paired = mate is not None and bool(np.any(np.asarray(mate)))
    return (defaults.kind_for(alphabet, lengths, paired),
            defaults.phred_map(alphabet, defaults.phred_offset(alphabet)).astype(np.uint8))


def _default_parts(kind: str, phred: np.ndarray, k: int, sha: bytes | None
                   ) -> tuple[IntPredictor, bytes, np.ndarray]:
    base, digest = defaults.load_default(kind, sha)
    cols = np.asarray(phred, dtype=np.int64)
    qin = np.append(cols, defaults.PHRED_LEVELS)  # start token -> the model's start token
    return base.restrict(cols), digest, qin


def encode_with_estimate(quals: np.ndarray, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                         n_symbols: int, level: int = 7, *, default: tuple[str, np.ndarray] | None = None,
                         start: tuple[str, np.ndarray] | None = None, workers: int = 1,
                         others_done: Callable[[], bool] | None = None) -> tuple[bytes, float]:
    """Payload, and an estimate (bytes) of what the context model alone would have coded.

    ``default = (kind, phred)`` (see :func:`default_mapping`) codes with the shipped
    default model of ``kind`` (MODE_DEFAULT: no fitting, no weights in the payload);
    ``phred[s]`` is the Phred value (0..93) of symbol ``s``. Without it the block's LSTM is
    fitted and stored (MODE_MIX): from scratch, or from the shipped model ``start = (kind,
    phred)`` (:func:`codec.model.finetune.start_model`). ``workers`` > 1 codes the
    parts of a long-read block (:func:`n_parts`) side by side; the bytes are the same, and so
    with ``others_done`` (see :func:`_encode_parts`)."""
    quals, lengths, bases, mate, k = check_encode_inputs(quals, lengths, bases, mate, n_symbols)
    if len(quals) == 0 or k <= 1:
        return struct.pack("<BB", VERSION, MODE_EMPTY), 0.0
    seg = _seg_len(lengths)
    rows = _rows(lengths, mate, seg)
    shift = qual_ctx.pos_shift_for(lengths)
    betas = qual_ctx.BETAS
    parts = n_parts(lengths)
    longest = int(lengths.max())
    version = _payload_version(parts, longest)
    longest = longest if _uses_positions(version) else 0
    first = first_chunk(int(rows["len"].max()))
    if default is not None:
        kind, phred = default
        phred = np.asarray(phred, dtype=np.uint8)
        if len(phred) != k or int(phred.max()) >= defaults.PHRED_LEVELS:
            raise ValueError("phred map must give one value 0..93 per symbol")
        ip, digest, qin = _default_parts(kind, phred, k, None)
        with single_thread():
            ctx_bits, words = _encode_parts(
                lambda part, enc: _run_steps(ip, part, bases, k, CHUNK, shift, betas, LR_SHIFT, W0_DEFAULT, quals,
                                             enc, qin, defaults.sees_mate(kind), longest, first),
                rows, parts, workers, others_done)
        head = _head(version, MODE_DEFAULT, k, seg, first, shift, betas, W0_DEFAULT)
        head += bytes([defaults.kind_id(kind)]) + digest + phred.tobytes()
        head += struct.pack("<I", zlib.crc32(quals.tobytes()))
        return head + _parts_tail(words), ctx_bits / 8
    with single_thread():
        init = None if start is None else _start(*start)
        model = fit_model(quals, rows, bases, k, level, work=_fit_work(len(quals), level), init=init)
        qm = quantize(model)
        ip = IntPredictor(qm)
        ctx_bits, words = _encode_parts(lambda part, enc: _run_steps(ip, part, bases, k, CHUNK, shift, betas,
                                                                     LR_SHIFT, W0, quals, enc, longest=longest,
                                                                     first=first),
                                        rows, parts, workers, others_done)
    head = _head(version, MODE_MIX, k, seg, first, shift, betas, W0)
    head += blob(qm.to_bytes()) + struct.pack("<I", zlib.crc32(quals.tobytes()))
    return head + _parts_tail(words), ctx_bits / 8


def _start(kind: str, phred: np.ndarray) -> Callable[[], Predictor]:
    """Builds the shipped model of ``kind`` as a block's start (:func:`fit_model` calls it)."""
    def build() -> Predictor:
        from ..model.finetune import start_model   # torch: only where a model is fitted
        return start_model(kind, phred)
    return build


def _head(version: int, mode: int, k: int, seg: int, first: int, shift: int, betas: tuple[int, int, int],
          w0: int) -> bytes:
    """The fields both modes share, from the version byte to ``w0`` (``first`` from version 5)."""
    head = struct.pack("<BB", version, mode) + encode_uvarint(k) + encode_uvarint(seg) + encode_uvarint(CHUNK)
    if _has_first(version):
        head += encode_uvarint(first)
    return head + bytes([shift]) + b"".join(encode_uvarint(b) for b in betas) + bytes([LR_SHIFT, w0])


def _read_params(rd: Reader, version: int, chunk: int) -> tuple[int, int, tuple[int, int, int], int, int]:
    """(first chunk, context pos_shift, context betas, mixer lr_shift, w0): the fields after the
    shared head."""
    first = rd.uvarint(chunk) if _has_first(version) else FIRST_CHUNK
    shift = rd.u8()
    betas = tuple(rd.uvarint(1 << 20) for _ in range(3))
    lr_shift, w0 = rd.take(2)
    if first < 1 or shift > 40 or lr_shift > 30 or w0 > 255:
        raise FormatError("bad qual_mix parameters")
    return first, shift, betas, lr_shift, w0


def _version_of(payload: bytes) -> int:
    """The payload version a decoder expects: the first byte when it names a later version."""
    return payload[0] if payload and VERSION < payload[0] <= LAST_VERSION else VERSION


def default_kind(payload: bytes, n_symbols: int) -> str | None:
    """The shipped model a MODE_DEFAULT payload names (for ``seqlm info``); None in other modes."""
    rd = Reader(payload)
    version = _version_of(payload)
    head = read_payload_head(rd, n_symbols, 0, "qual_mix", (MODE_MIX, MODE_DEFAULT), version)
    if head is None or head[0] != MODE_DEFAULT:
        return None
    _read_params(rd, version, head[2])
    kid = rd.u8()
    return defaults.KINDS[kid] if kid < len(defaults.KINDS) else f"kind{kid}"


class _ArrivingBases:
    """The block's bases as codes 0..4 (uint8), copied in from ``src`` as far as each
    chunk needs once ``ready(n)`` says the first ``n`` are decoded: the qualities then decode
    while the bases still do (:class:`codec.forked.Feed`)."""

    def __init__(self, src: np.ndarray, ready: Callable[[int], None]) -> None:
        self.src, self.ready, self.done = src, ready, 0
        self.codes = np.zeros(len(src), dtype=np.uint8)

    def need(self, n: int) -> None:
        if n > self.done:
            self.ready(n)
            self.codes[self.done:n] = np.minimum(self.src[self.done:n], 4)
            self.done = n


def decode_qualities(payload: bytes, lengths: np.ndarray, bases: np.ndarray, mate: np.ndarray,
                     n_symbols: int, workers: int = 1, ready: Callable[[int], None] | None = None,
                     arrived: Callable[[], bool] | None = None) -> np.ndarray:
    """Inverse of :func:`encode_qualities`; returns a flat uint8 array (``workers`` as there).
    ``ready(n)``, when given, blocks until the first ``n`` of ``bases`` are final: the
    bases may still be decoding in another process; ``arrived()`` says, without waiting,
    whether they all are."""
    need = None
    if ready is None:
        lengths, bases, mate = _check_inputs(lengths, bases, mate)
    else:
        lengths, mate = _check_shapes(lengths, len(bases), mate)
        arriving = _ArrivingBases(bases, ready)
        bases, need = arriving.codes, arriving.need
    k = int(n_symbols)
    rd = Reader(payload)
    total = len(bases)
    version = _version_of(payload)
    longest = int(lengths.max()) if _uses_positions(version) and total else 0
    if longest > MAX_POS:
        raise FormatError(f"qual_mix version {version} needs reads of at most {MAX_POS} symbols")
    head = read_payload_head(rd, k, total, "qual_mix", (MODE_MIX, MODE_DEFAULT), version)
    if head is None:
        return np.zeros(total, dtype=np.uint8)
    mode, seg, chunk = head
    first, shift, (b0, b1, b2), lr_shift, w0 = _read_params(rd, version, chunk)
    qin, use_mate = None, True
    if mode == MODE_DEFAULT:
        kid = rd.u8()
        if kid >= len(defaults.KINDS):
            raise FormatError(f"unknown default quality model kind id {kid}")
        sha = rd.take(32)
        phred = np.frombuffer(rd.take(k), dtype=np.uint8)
        if int(phred.max()) >= defaults.PHRED_LEVELS:
            raise FormatError("qual_mix Phred map out of range")
        ip, _, qin = _default_parts(defaults.KINDS[kid], phred, k, sha)  # ModelMismatchError
        use_mate = defaults.sees_mate(defaults.KINDS[kid])
    else:
        qm = read_fitted_model(rd, k, "qual_mix")
        try:
            ip = IntPredictor(qm)
        except ValueError as exc:
            raise FormatError(f"qual_mix model fails its bounds: {exc}") from exc
    crc, words = read_crc_and_words(rd, payload, "qual_mix", aligned=not _has_parts(version))
    rows = _rows(lengths, mate, seg)
    quals = np.zeros(total, dtype=np.uint8)   # each part's process writes its rows into a copy
    if need is not None and total:
        # before any part takes a turn: a base stream decoded in one piece (lzma) arrives all
        # at once, and the parts then split at once instead of after a turn each (0.3-0.45 s
        # with a core idle on the 3 MB HiFi 16S file); the first chunk waits for it anyway
        need(1)
    with single_thread():
        _decode_parts(lambda part, dec: _run_steps(ip, part, bases, k, chunk, shift, (b0, b1, b2), lr_shift, w0,
                                                   quals, dec, qin, use_mate, longest, first, need),
                      rows, _read_parts(words, version), quals, workers, arrived)
    if total and quals.max() >= k:
        raise FormatError("qual_mix decoded symbol outside the alphabet")
    return checked_symbols(quals, crc, "qual_mix")
