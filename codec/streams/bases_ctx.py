"""Baseline base model: order-4 / order-11 / hashed order-k counts, batch-adaptive.

Cross-read redundancy (coverage, amplicons, both strands) is what makes bases
compressible. The tables count every base as soon as it is coded (rows advance
in the same step-major order on both sides, so this is deterministic) and, at
batch boundaries, the reverse complement of every finished row.
Non-ACGT positions (code 4) are not coded here: the exception stream restores
them, and contexts read them as 'A'. Frequencies come from the integer backoff
chain in :mod:`codec.streams.tables`.

Below ``k_high`` bases into a read, the hashed table is keyed by the read's
whole prefix and its length instead, so reads that start alike (index and
barcode reads, amplicons that start at a primer) are predicted from the start.

A sequencing error breaks every context that spans it: for ``k_high`` bases
after it the hashed order is unseen and the chain falls back to order 11, then
4. A *substitution-tolerant* context (GeCo's STCM) keeps going instead: each
row also keeps a history in which every base the high order predicted with
its top count is replaced by that prediction, so after a substitution it still
names the genome's k-mer. Its counts (the same hashed table, never updated
through it) are blended on top of the chain, and that table is mixed with the
plain chain by Q16 weights learned online per (orders seen, recent mismatches,
agreement) context, so where the tolerant guess is wrong (indels, edited
amplicons) it fades out. When more than ``tolerance`` of the last ``k_high``
bases missed the prediction the tolerant history restarts from the real one.

When the high orders mislead (noisy long reads) the final table is a linear
mix of the full chain and its order-4 stage, with integer Q16 weights learned
online per (available orders, confidence) context; the encoder turns mixing on
only if it helps on a sample.

The counts say how sure the model is, not how often that sureness is right where
the read is: in a noisy stretch (a low-quality tail, an edited site) the same
counts miss far more often. A last *calibration* stage (an SSE/APM stage) replaces
the top symbol's share by the rate at which that share was right before, counted
per (misses of the top symbol in the row's last 16 bases, whether the last base
missed, which orders the row had, how sure the table is), and scales the other
symbols to fit. The qualities would say the same more
directly, but they are coded after the bases (the quality model reads them).
The stage feeds nothing back into the counts or the mixers, so while encoding with it
the encoder also tallies what the block would cost without it (mixing as chosen, and
flipped) and codes the block again without it where that saves CAL_DROP_GAIN (at the
default level CAL_DROP_GAIN_FAST: the second encode doubles the stream's CPU).

On a miss, which base came instead is often not in the counts at all: a sequencing error
in well-covered sequence, where every other base has the same floor count and the table
splits the miss three ways. Sequencers are not even-handed (Illumina's substitutions
depend on the base called and the bases before it), so with ``calibration`` 2 the stage
shares the other bases' probability by a learned mix of their counts and a *substitution
table*: how often each base stood where the top one was predicted and missed, per (how
sure the table was, in quarters; two previous bases; predicted base). Sure misses are
mostly sequencing errors, unsure ones the model's own confusion. The mixing weight is
learned per sureness bucket, on misses only. With the same parameters it took 4 % off the
SARS-CoV-2 MiSeq base stream (naming the base of a miss: ~1.58 bits down to ~1.40) and 8 %
off the CRISPR amplicons'.

Reads are coded in batches of at most BATCH_ROWS rows. The rows of a batch step
together, so a read cannot draw on another read of its batch at the same position, nor
on its reverse complement before the batch ends: reads of one amplicon that share a
batch all pay for the amplicon. Batches of 256 short reads instead of up to 2^20 bases
(4000+ reads) made the base stream 3-6 % smaller on the amplicon and small-genome
Illumina files here (SARS-CoV-2 -5.9 %, CRISPR -3.9 %, velvet -3.6 %) at no decoding
cost worth measuring: the decoder's cost per step is shared by 256 rows instead.

Long reads are cut into segments of SEGMENT bases, and each segment is a row. A decoder
step has a fixed cost (two kernel calls and one coder call: ~30 us here) on top of ~0.5 us
per row, and a batch takes as many steps as its longest row, so one read of a few kb among
256 short ones keeps the batch stepping with a handful of rows for thousands of steps.
Segments of 1024 instead of 4096 bases cut the decoder's steps by 30-50 % on the nanopore
files here (base decoding alone: -17 % CPU on the R9 E. coli reads, -26 % on the 2D reads)
for -1.3 to +0.3 % on their base streams (a segment starts without context; batches of 256
shorter rows learn sooner). Reads of at most 1024 bases (all the short-read data) are not
affected. The trial below already cut reads this way.

Payload: ``u8 version (4), u8 k_mid, u8 k_high, u8 hash_bits, u8 beta x3, u8 mix_shift,
u8 tolerance, u8 calibration, uvarint segment, uvarint batch_rows`` then the range-coded
words; calibration 2 (version 4 only) is the stage with the substitution table. Version 3
(format 10.0) has no batch_rows (batches are capped by symbols only);
version 2 (formats 3.0 to 9.0) has no calibration byte either (and no calibration stage);
version 1 (format 2.0 and older) has no tolerance byte either (and no tolerant context).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..config import DEFAULT_LEVEL
from ..entropy.coder import StepDecoder, StepEncoder
from ..errors import FormatError
from ..jit import njit
from ..varint import Reader, encode_uvarint
from .stepcoding import leading_reads, make_rows, run, step_buffers
from .tables import SCALE, W_ONE, blend4, bump4, step_weight

VERSION = 4
VERSIONS = (1, 2, 3, 4)   # payload versions this decoder reads (1: no tolerant context, 2: no calibration,
#                           3: no batch_rows)
K_LOW = 4
SEGMENT = 1024      # long reads are cut into rows of this many bases (see the note on segments above)
BATCH_ROWS = 256   # rows per batch at most
HASH_MUL = np.uint64(0x9E3779B97F4A7C15)


PRESETS = (  # (k_mid, k_high, betas): smoothing from eager (clean, deep data) to cautious (noisy reads)
    (11, 20, (16, 16, 16)),
    (11, 20, (16, 32, 32)),
    (11, 20, (32, 64, 64)),
    (12, 24, (16, 16, 16)),
    (12, 24, (16, 32, 32)),
)
SAMPLE_BASES = 1 << 16
TRIAL_SEGMENT = 1024   # the trial cuts long reads (only) so its batches are wide: fewer steps
TRIAL_HASH_BITS = 20   # the trial's hashed table (the sample fills a small one as well as a big one)
TRIAL_MID_BITS = 19    # the trial's order-k_mid table: 2^19 slots, k-mers hashed to them (see _mid_row)
assert 2 * SAMPLE_BASES <= 1 << (TRIAL_MID_BITS - 2)   # a sample's k-mers fill at most 1/4 of its slots
MIX_ONE = W_ONE        # mixing weights are Q16
N_CONF = 8             # confidence buckets of the high-order prediction
MIX_SHIFT = 4          # learning rate of the mixing weights (2^-4); 0 = no mixing
MIX_INIT = 1 << 16
TableWatch = Callable[[np.ndarray, np.ndarray], None]   # (flat positions, their tables) of an encode
TOL_CONTEXTS = 4 * 8 * 2   # tolerant mixer contexts: orders seen x recent misses (0..7) x agreement
TOL_SHIFT = 4              # learning rate of the tolerant mixing weights (2^-4)
TOL_INIT = 1 << 15         # initial weight of the tolerant table (1/2)
CAL_WINDOW = 16            # calibration cell: misses of the top symbol in the row's last 16 bases (0..8+)
CAL_CONTEXTS = 9 * 4 * 2   # ... x orders the row had (0..3) x whether the last base missed ...
CAL_SURE = 16              # ... x how sure the table is: -log2 of the other symbols' share, 0..15
CAL_LIMIT = 255            # a cell's counts halve past this (adapts to the block as it goes)
CAL_DROP_GAIN = 0.002      # the encoder re-codes a block without the stage when that saves this share ...
CAL_DROP_GAIN_FAST = 0.01  # ... or this one below CAL_DROP_LEVEL (the default level)
CAL_DROP_LEVEL = DEFAULT_LEVEL + 1
SUB_SHIFT = 7              # learning rate of the substitution mixer's weights (2^-7)
SUB_W_INIT = 1 << 15       # initial weight of the substitution table's shares (1/2)
SUB_LIMIT = 65535          # a substitution row's counts halve past this
TALLY_FOLD = 32            # bases whose costs _tally_costs multiplies up before one log2


def hash_bits_for(level: int) -> int:
    """Size of the hashed order-k table: 2^22 slots (~40 MB) up to level 6, 2^24 above."""
    return 22 if level <= 6 else 24


def calibration_for(level: int) -> int:
    """2 (the calibration stage with the substitution table) from level 2; level 1 keeps the
    plain counts. (1, the stage alone, is what format 10.0 wrote; it still decodes.)"""
    return 0 if level <= 1 else 2


def tolerance_for(level: int, k_high: int) -> int:
    """Mismatches in the last ``k_high`` bases after which the tolerant history restarts:
    half the window (more misses than hits means it has lost the genome); 0 (off) at level 1."""
    return 0 if level <= 1 else k_high // 2


@dataclass(frozen=True)
class BaseParams:
    """Everything the decoder needs to rebuild the model (all stored in the payload)."""

    k_mid: int
    k_high: int
    hash_bits: int
    betas: tuple[int, int, int]
    mix_shift: int  # 0 = no mixing with the order-4 prediction
    tolerance: int = 0  # 0 = no substitution-tolerant context
    calibration: int = 0  # 0 = no calibration stage, 1 = on, 2 = on with the substitution table

    def to_bytes(self) -> bytes:
        """The parameter bytes of a current (version 3 or 4) payload."""
        return bytes([self.k_mid, self.k_high, self.hash_bits, *self.betas, self.mix_shift, self.tolerance,
                      self.calibration])

    @classmethod
    def read(cls, r: Reader, version: int = VERSION) -> BaseParams:
        k_mid, k_high, bits, b0, b1, b2, mix = r.take(7)
        tolerance = r.u8() if version >= 2 else 0
        calibration = r.u8() if version >= 3 else 0
        if not (K_LOW <= k_mid <= 13 and 1 <= k_high <= 32 and 8 <= bits <= 28) or 0 in (b0, b1, b2) \
                or mix > 16 or tolerance > k_high or calibration > (2 if version >= 4 else 1):
            raise FormatError("bad base-context parameters")
        return cls(k_mid, k_high, bits, (b0, b1, b2), mix, tolerance, calibration)


class _TrialTables:
    """One set of count tables shared by every trial encode of :func:`choose_params`.

    Small ones. The trials code a sample of at most SAMPLE_BASES bases, whose order-k_mid
    k-mers and their reverse complements (2^17 at most) fill a probed table of
    2^TRIAL_MID_BITS slots (6 MB, :func:`_mid_row`) instead of a full one of 4^k_mid
    rows (34 MB at order 11, 134 MB at 12). A sample's k-mers land all over a full table:
    the trials touched nearly every page of it, which cost 0.6 s of page faults in a fresh
    process where a virtual machine backs new memory on first touch (as here), for 0.3 s of
    trials. Same counts, so the same costs and choices. Reused by every trial: a memset
    of what earlier trials touched."""

    def __init__(self, hash_bits: int) -> None:
        self.hash_bits = hash_bits
        self.lo = np.zeros((4 ** K_LOW, 4), np.uint16)
        self.mid = np.zeros((1 << TRIAL_MID_BITS, 6), np.uint16)
        self.hi = np.zeros((1 << hash_bits, 5), np.uint16)
        self.dirty = False

    def zeroed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.dirty:
            for table in (self.lo, self.mid, self.hi):
                table.fill(0)
        self.dirty = True
        return self.lo, self.mid, self.hi


def _sample(codes: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _, lens = leading_reads(lengths, SAMPLE_BASES)
    return codes[:int(lens.sum())], lens


def choose_params(codes: np.ndarray, lengths: np.ndarray, level: int) -> BaseParams:
    """The preset (then mixing on or off) that codes a sample of the block best.

    The sample is the block's first reads (up to SAMPLE_BASES bases); level 1
    skips the trial and takes the first preset without mixing. The tolerant context
    is not put to the trial: it pays once coverage has built up, which a sample of the
    first reads rarely shows, and its mixer keeps it harmless where it misleads. Nor
    is the calibration stage, for the same reason: :func:`encode_bases` judges it on
    the whole block.
    """
    bits = hash_bits_for(level)
    candidates = [BaseParams(k_mid, k_high, bits, betas, 0, tolerance_for(level, k_high), calibration_for(level))
                  for k_mid, k_high, betas in PRESETS]
    if level <= 1 or len(lengths) == 0:
        return candidates[0]
    sample, sample_lens = _sample(codes, lengths)
    scratch = _TrialTables(min(bits, TRIAL_HASH_BITS))

    def cost(p: BaseParams) -> int:
        trial = replace(p, hash_bits=scratch.hash_bits)
        return len(_encode_words(sample, sample_lens, trial, TRIAL_SEGMENT, scratch.zeroed()))

    costs = [cost(p) for p in candidates]
    best = candidates[int(np.argmin(costs))]
    mixed = replace(best, mix_shift=MIX_SHIFT)
    return mixed if cost(mixed) < min(costs) else best


@njit(cache=True, nogil=True, inline="always")
def _hash(kmer, bits):
    """(slot, tag): the slot from the top bits of a multiplicative hash, a 16-bit
    tag from lower bits, so a slot taken by another k-mer reads as unseen."""
    hv = kmer * np.uint64(0x9E3779B97F4A7C15)
    return np.int64(hv >> np.uint64(64 - bits)), np.int64((hv >> np.uint64(16)) & np.uint64(0xFFFF))


@njit(cache=True, nogil=True, inline="always")
def _mid_row(h, kmid, mid_c):
    """Row of the order-k_mid table for history ``h``. In a full table (4 columns, 4^k_mid
    rows: every encode and decode) the k-mer itself. In a probed one (6 columns:
    :func:`choose_params`' trials, see :class:`_TrialTables`) the slot that holds the k-mer,
    found by linear probing from its hash, claimed with zero counts if none does yet:
    columns 4 and 5 hold k-mer + 1 (0 = free slot). The counts are those a full table
    holds, so the trials cost what they would on one."""
    kmer = h & np.uint64((1 << (2 * kmid)) - 1)
    if mid_c.shape[1] == 4:
        return np.int64(kmer)
    key = np.int64(kmer) + 1
    lo, hi = key & 0xFFFF, key >> 16
    mask = mid_c.shape[0] - 1
    slot = np.int64((kmer * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - TRIAL_MID_BITS)) & mask
    for _ in range(mask + 1):
        if mid_c[slot, 4] == lo and mid_c[slot, 5] == hi:
            return slot
        if mid_c[slot, 4] == 0 and mid_c[slot, 5] == 0:
            mid_c[slot, 4] = lo
            mid_c[slot, 5] = hi
            return slot
        slot = (slot + 1) & mask
    raise ValueError("probed order-k_mid table full")   # never with a trial's sample (see SAMPLE_BASES)


@njit(cache=True, nogil=True, inline="always")
def _claim(hi, slot, tag):
    """Make ``slot`` belong to ``tag`` (forgetting another k-mer's counts).
    Column 4 of the hashed table holds the slot's tag."""
    if hi[slot, 4] != tag:
        hi[slot, 4] = tag
        for s in range(4):
            hi[slot, s] = 0


@njit(cache=True, nogil=True, inline="always")
def top_symbol(counts, slot):
    """The symbol with the highest count in row ``slot`` of a table (a hashed slot, a
    frequency table's row; the lowest code on ties)."""
    best = 0
    for s in range(1, 4):
        if counts[slot, s] > counts[slot, best]:
            best = s
    return best


@njit(cache=True, nogil=True, inline="always")
def _tolerant_stage(i, state, h, tctx, misses, khigh, bits, beta, hi_c, tolw, p_two, cur, a, b):
    """Blend the tolerant context's counts on top of the chain ``a`` and mix the two
    tables (in place into ``a``). Sets ``cur[i, 5]`` (the symbol the tolerant history
    appends if the base matches nothing better) and ``cur[i, 6]`` (mixer context, -1 = none)."""
    reg_top = cur[i, 5]
    mask = (np.uint64(1) << np.uint64(2 * khigh)) - np.uint64(1)
    tkey = tctx[i] & mask
    if tkey == (h & mask):
        return
    slot, tag = _hash(tkey, bits)
    if hi_c[slot, 4] != tag:
        return
    cur[i, 5] = top_symbol(hi_c, slot)
    blend4(hi_c, slot, beta, a, b)
    agree = 1 if cur[i, 5] == reg_top else 0
    mc = ((state * 8) + min(misses[i, 1], 7)) * 2 + agree
    cur[i, 6] = mc
    w = tolw[mc]
    for s in range(4):
        p_two[i, 0, s] = a[s]
        p_two[i, 1, s] = b[s]
        a[s] = ((w * b[s] + (MIX_ONE - w) * a[s]) >> 16) + 1


@njit(cache=True, nogil=True, inline="always")
def _prefix_key(h, f):
    """Hashed-table key of a read's whole first ``f`` bases (fewer than k_high) and their
    count: reads that start alike (barcodes, amplicon starts) share it."""
    return (h << np.uint64(6)) | np.uint64(f) | (np.uint64(1) << np.uint64(63))


@njit(cache=True, nogil=True, inline="always")
def _touch(n, ctx, filled, pos0, kmid, khigh, bits, mid_c, hi_c, tolerance, tctx) -> int:
    """Read the order-k_mid row and the hashed slots every row of this step will need.

    The two big tables (tens of MB) miss the cache on nearly every lookup. These reads
    do not depend on each other, so the core has many misses in flight at once; the
    step's main loop then finds the rows in cache instead of waiting for each in turn.
    Only loads: the tables and the step's results are unchanged."""
    seen = 0
    mask_hi = (np.uint64(1) << np.uint64(2 * khigh)) - np.uint64(1)
    for i in range(n):
        h = ctx[i]
        seen += mid_c[_mid_row(h, kmid, mid_c), 0]
        if filled[i] >= khigh:
            slot, _ = _hash(h & mask_hi, bits)
            seen += hi_c[slot, 4]
            if tolerance:
                slot, _ = _hash(tctx[i] & mask_hi, bits)
                seen += hi_c[slot, 4]
        elif pos0[i] == 0:
            slot, _ = _hash(_prefix_key(h, filled[i]), bits)
            seen += hi_c[slot, 4]
    return seen


@njit(cache=True, nogil=True, inline="always")
def _bit_width(x):
    """Number of bits of ``0 <= x < 2^32`` (0 for 0)."""
    w = 0
    for step in (16, 8, 4, 2, 1):
        if x >= (1 << step):
            x >>= step
            w += step
    return w + (1 if x else 0)


@njit(cache=True, nogil=True, inline="always")
def sureness(rest):
    """How sure a table (total ~2^20) is of its top symbol, from ``rest``, the other symbols'
    sum: -log2 of their share in whole bits, 0..CAL_SURE-1."""
    return min(CAL_SURE - 1, max(0, 21 - _bit_width(rest)))


@njit(cache=True, nogil=True, inline="always")
def _substitution_key(last2, sure):
    """Row of the substitution table: the sureness quarter and the row's last two bases."""
    return last2 + 16 * (sure // 4)


@njit(cache=True, nogil=True, inline="always")
def _share_substitutions(f, i, top, rest, mass, key, sure, subs, subw, shares):
    """Share ``mass`` among the symbols other than ``top`` (in place into ``f``, each at least 1)
    by a learned mix of their shares in ``f`` and in the substitution table: how often each base
    stood where ``top`` was predicted and missed, in context ``key`` (sureness quarter and the
    two previous bases). Where the counts know nothing of the other bases (a sequencing error
    in well-covered sequence) they split the miss evenly; the table knows the sequencer's
    substitution bias. Keeps both shares (Q20) in ``shares[i]`` for the mixer's learning step."""
    st = 0
    for s in range(4):
        if s != top:
            st += subs[key, top, s]
    w = subw[sure]
    for s in range(4):
        if s != top:
            a = (f[s] << 20) // rest
            b = (subs[key, top, s] << 20) // st
            shares[i, 0, s] = a
            shares[i, 1, s] = b
            f[s] = ((mass * ((w * b + (MIX_ONE - w) * a) >> 16)) >> 20) + 1


@njit(cache=True, nogil=True, inline="always")
def _calibrate(f, i, cur, cal, hist, calib, last2, subs, subw, shares):
    """The calibration stage on table ``f`` (in place) of row ``i``: the top symbol's count
    becomes ``(2*right*2^20 + count) // (2*seen + 1)`` of its cell, the others are scaled
    to the rest (each at least 1), or with ``calib`` 2 shared as :func:`_share_substitutions`
    does. Sets ``cur[i, 7]`` (cell) and ``cur[i, 8]`` (top symbol).
    Two integer divisions per base: the stage costs a few per cent of the kernel."""
    top = 0
    total = f[0]
    for s in range(1, 4):
        total += f[s]
        if f[s] > f[top]:
            top = s
    rest = total - f[top]
    sure = sureness(rest)
    seen_tables = cur[i, 4] // N_CONF   # which orders the row had (the mixer's state)
    cell = ((min(hist[i, 1], 8) * 4 + seen_tables) * 2 + (hist[i, 0] & 1)) * CAL_SURE + sure
    cur[i, 7] = cell
    cur[i, 8] = top
    new_top = (2 * cal[cell, 1] * SCALE + f[top]) // (2 * cal[cell, 0] + 1)
    new_top = min(SCALE - 64, max(16, new_top))
    if calib >= 2:
        _share_substitutions(f, i, top, rest, SCALE - new_top, _substitution_key(last2, sure), sure, subs, subw,
                             shares)
    else:
        ratio = ((SCALE - new_top) << 20) // rest   # Q20; f[s] * ratio < 2^60
        for s in range(4):
            if s != top:
                f[s] = ((f[s] * ratio) >> 20) + 1
    f[top] = new_top


@njit(cache=True, nogil=True, inline="always")
def _calibration_advance(i, sym, cur, cal, hist, calib, last2, subs, subw, shares):
    """Count the coded symbol in row ``i``'s calibration cell and shift its miss window; on a
    miss with ``calib`` 2, also teach the substitution mixer and count the substitution."""
    cell = cur[i, 7]
    top = cur[i, 8]
    miss = 0 if sym == top else 1
    if miss and calib >= 2:
        sure = cell % CAL_SURE
        key = _substitution_key(last2, sure)
        subw[sure] = step_weight(subw[sure], shares[i, 1, sym], shares[i, 0, sym], SUB_SHIFT)
        if subs[key, top, sym] >= SUB_LIMIT:
            for s in range(4):
                subs[key, top, s] = (subs[key, top, s] + 1) // 2
        subs[key, top, sym] += 1
    cal[cell, 0] += 1
    cal[cell, 1] += 1 - miss
    if cal[cell, 0] > CAL_LIMIT:
        cal[cell, 0] >>= 1
        cal[cell, 1] >>= 1
    hist[i, 1] += miss - ((hist[i, 0] >> (CAL_WINDOW - 1)) & 1)
    hist[i, 0] = ((hist[i, 0] << 1) | miss) & ((1 << CAL_WINDOW) - 1)


@njit(cache=True, nogil=True)
def _freqs(t, n, starts, pos0, flat, ctx, filled, kmid, khigh, bits, betas, lo_c, mid_c, hi_c, mixw, mix_shift,
           which, cur, p_lo, p_hi, out, tolerance, tctx, misses, tolw, p_two, calib, cal, hist, subs, subw, shares):
    if _touch(n, ctx, filled, pos0, kmid, khigh, bits, mid_c, hi_c, tolerance, tctx) < 0:
        return 0   # never: the sum of counts is >= 0 (keeps the reads from being optimised away)
    prior = np.full(4, SCALE // 4, dtype=np.int64)
    a = np.empty(4, dtype=np.int64)
    b = np.empty(4, dtype=np.int64)
    m = 0
    for i in range(n):
        if flat[starts[i] + t] == 4:
            continue
        h = ctx[i]
        f = filled[i]
        for s in range(4):
            a[s] = prior[s]
        for c in range(9):
            cur[i, c] = -1
        state = 0
        if f >= K_LOW:
            cur[i, 0] = np.int64(h & np.uint64((1 << (2 * K_LOW)) - 1))
            blend4(lo_c, cur[i, 0], betas[0], prior, a)
            state = 1
        for s in range(4):
            p_lo[i, s] = a[s]
        if f >= kmid:
            state = 2
            cur[i, 1] = _mid_row(h, kmid, mid_c)
            blend4(mid_c, cur[i, 1], betas[1], a, b)
            for s in range(4):
                a[s] = b[s]
        if f >= khigh or pos0[i] == 0:
            if f >= khigh:
                key = h & ((np.uint64(1) << np.uint64(2 * khigh)) - np.uint64(1))
            else:
                key = _prefix_key(h, f)
            slot, tag = _hash(key, bits)
            cur[i, 2] = slot
            cur[i, 3] = tag
            if hi_c[slot, 4] == tag:
                blend4(hi_c, slot, betas[2], a, b)
                for s in range(4):
                    a[s] = b[s]
                state = 3
                if tolerance and f >= khigh:   # only the tolerant history reads it
                    cur[i, 5] = top_symbol(hi_c, slot)
        if tolerance and f >= khigh:
            _tolerant_stage(i, state, h, tctx, misses, khigh, bits, betas[2], hi_c, tolw, p_two, cur, a, b)
            if cur[i, 6] >= 0:
                state = 3
        top = 0
        for s in range(4):
            p_hi[i, s] = a[s]
            top = max(top, a[s])
        mc = state * N_CONF + min(N_CONF - 1, (top * N_CONF) // (SCALE + 1))
        cur[i, 4] = mc
        w = mixw[mc] if mix_shift else MIX_ONE
        for s in range(4):
            out[m, s] = ((w * p_hi[i, s] + (MIX_ONE - w) * p_lo[i, s]) >> 16) + 1
        if calib:
            _calibrate(out[m], i, cur, cal, hist, calib, np.int64(h & np.uint64(15)), subs, subw, shares)
        which[m] = i
        m += 1
    return m


@njit(cache=True, nogil=True, inline="always")
def _learn_weight(weights, mc, p1, p0, sym, shift):
    """One integer gradient step on the code length of ``w*p1 + (1-w)*p0`` (Q16 weight of ``p1``)."""
    weights[mc] = step_weight(weights[mc], p1[sym], p0[sym], shift)


@njit(cache=True, nogil=True, inline="always")
def _tolerant_advance(i, sym, known, ctx, cur, tctx, misses, khigh, tolerance):
    """Append to row ``i``'s tolerant history the predicted base (or ``sym`` when there was
    none), count a miss when they differ, and restart from the real history ``ctx`` after
    more than ``tolerance`` misses in the last ``khigh`` bases."""
    pred = sym
    if known and cur[i, 5] >= 0:
        pred = cur[i, 5]
    miss = 1 if pred != sym else 0
    leaving = (misses[i, 0] >> (khigh - 1)) & 1
    misses[i, 0] = ((misses[i, 0] << 1) | miss) & ((1 << khigh) - 1)
    misses[i, 1] += miss - leaving
    if misses[i, 1] > tolerance:
        tctx[i] = ctx[i]
        misses[i, 0] = 0
        misses[i, 1] = 0
    else:
        tctx[i] = (tctx[i] << np.uint64(2)) | np.uint64(pred)


@njit(cache=True, nogil=True)
def _advance(t, n, starts, flat, ctx, filled, cur, lo_c, mid_c, hi_c, mixw, p_lo, p_hi, mix_shift,
             khigh, tolerance, tctx, misses, tolw, p_two, calib, cal, hist, subs, subw, shares):
    for i in range(n):
        sym = flat[starts[i] + t]
        known = sym <= 3
        if not known:
            sym = 0
        else:
            if mix_shift:
                _learn_weight(mixw, cur[i, 4], p_hi[i], p_lo[i], sym, mix_shift)
            if tolerance and cur[i, 6] >= 0:
                _learn_weight(tolw, cur[i, 6], p_two[i, 1], p_two[i, 0], sym, TOL_SHIFT)
            if calib:
                _calibration_advance(i, sym, cur, cal, hist, calib, np.int64(ctx[i] & np.uint64(15)), subs, subw,
                                     shares)
            if cur[i, 0] >= 0:
                bump4(lo_c, cur[i, 0], sym)
            if cur[i, 1] >= 0:
                bump4(mid_c, cur[i, 1], sym)
            if cur[i, 2] >= 0:
                _claim(hi_c, cur[i, 2], cur[i, 3])
                bump4(hi_c, cur[i, 2], sym)
        ctx[i] = (ctx[i] << np.uint64(2)) | np.uint64(sym)
        if tolerance:
            _tolerant_advance(i, sym, known, ctx, cur, tctx, misses, khigh, tolerance)
        filled[i] += 1


@njit(cache=True, nogil=True, inline="always")
def _fold_bits(costs, k, num, den):
    """Add log2(num / den) bits to ``costs[k]``: the products :func:`_tally_costs` gathered."""
    costs[k] += np.log2(num / den)


@njit(cache=True, nogil=True)
def _tally_costs(t, m, starts, flat, which, cur, p_lo, p_hi, mixw, mix_shift, shadow, tables, costs):
    """Add the ideal code lengths (bits) of this step's ``m`` coded bases to ``costs``:
    [0] under the tables before the calibration stage (from ``p_lo``, ``p_hi`` and the
    mixing weight, as :func:`_freqs` formed them), [1] under the calibrated ``tables``,
    [2] before calibration with mixing the other way (off if on; if off, mixed by the
    ``shadow`` weights, learned here as :func:`_advance` learns the real ones). Neither
    stage feeds back into the counts, so [0] and [2] are what the block costs without the
    stage, with and without flipping the mixing.

    Each base's cost is log2(table total / the coded symbol's entry); three log2 calls per
    base took ~7 % of the encode, so the totals and entries are multiplied up
    instead (exact integers below 2^22, so TALLY_FOLD of them stay far inside a float64's
    range) and their ratio's log2 is added every TALLY_FOLD bases."""
    plain = np.empty(4, dtype=np.int64)
    n0 = d0 = n1 = d1 = n2 = d2 = 1.0
    for j in range(m):
        i = which[j]
        sym = flat[starts[i] + t]
        mc = cur[i, 4]
        w = mixw[mc] if mix_shift else MIX_ONE
        w_other = MIX_ONE if mix_shift else shadow[mc]
        total = 0
        other_total = 0
        cal_total = 0
        other = 0
        for s in range(4):
            plain[s] = ((w * p_hi[i, s] + (MIX_ONE - w) * p_lo[i, s]) >> 16) + 1
            total += plain[s]
            o = ((w_other * p_hi[i, s] + (MIX_ONE - w_other) * p_lo[i, s]) >> 16) + 1
            other_total += o
            if s == sym:
                other = o
            cal_total += tables[j, s]
        n0 *= total
        d0 *= plain[sym]
        n1 *= cal_total
        d1 *= tables[j, sym]
        n2 *= other_total
        d2 *= other
        if j % TALLY_FOLD == TALLY_FOLD - 1 or j == m - 1:
            _fold_bits(costs, 0, n0, d0)
            _fold_bits(costs, 1, n1, d1)
            _fold_bits(costs, 2, n2, d2)
            n0 = d0 = n1 = d1 = n2 = d2 = 1.0
    if not mix_shift:   # after the step's tables, as the real weights learn in _advance
        for j in range(m):
            i = which[j]
            _learn_weight(shadow, cur[i, 4], p_hi[i], p_lo[i], flat[starts[i] + t], MIX_SHIFT)


@njit(cache=True, nogil=True)
def _encode_steps(t, active, starts, pos0, flat, ctx, filled, kmid, khigh, bits, betas, lo_c, mid_c, hi_c,
                  mixw, mix_shift, which, cur, p_lo, p_hi, tolerance, tctx, misses, tolw, p_two, calib, cal, hist,
                  subs, subw, shares, costs, shadow, where, tables):
    """Steps ``t, t+1, ...`` while ``where`` has room: the encoder's many-step form of
    ``_freqs`` then ``_advance`` (same tables, same order). Returns (next step, symbols).
    With the calibration stage on, ``costs`` tallies what it saves (:func:`_tally_costs`) unless
    it is empty (the trials of :func:`choose_params`, which only want the bytes)."""
    k = 0
    while t < len(active):
        n = active[t]
        if k + n > len(where):
            break
        m = _freqs(t, n, starts, pos0, flat, ctx, filled, kmid, khigh, bits, betas, lo_c, mid_c, hi_c,
                   mixw, mix_shift, which, cur, p_lo, p_hi, tables[k:], tolerance, tctx, misses, tolw, p_two,
                   calib, cal, hist, subs, subw, shares)
        for j in range(m):
            where[k + j] = starts[which[j]] + t
        if calib and len(costs):
            _tally_costs(t, m, starts, flat, which, cur, p_lo, p_hi, mixw, mix_shift, shadow, tables[k:], costs)
        k += m
        _advance(t, n, starts, flat, ctx, filled, cur, lo_c, mid_c, hi_c, mixw, p_lo, p_hi, mix_shift,
                 khigh, tolerance, tctx, misses, tolw, p_two, calib, cal, hist, subs, subw, shares)
        t += 1
    return t, k


@njit(cache=True, nogil=True)
def _learn_seq(seq, kmid, khigh, bits, lo_c, mid_c, hi_c):
    h = np.uint64(0)
    mask_hi = (np.uint64(1) << np.uint64(2 * khigh)) - np.uint64(1)
    for j in range(len(seq)):
        sym = seq[j]
        if sym <= 3:
            if j >= K_LOW:
                bump4(lo_c, np.int64(h & np.uint64((1 << (2 * K_LOW)) - 1)), sym)
            if j >= kmid:
                bump4(mid_c, _mid_row(h, kmid, mid_c), sym)
            if j >= khigh:
                slot, tag = _hash(h & mask_hi, bits)
                _claim(hi_c, slot, tag)
                bump4(hi_c, slot, sym)
        else:
            sym = 0
        h = (h << np.uint64(2)) | np.uint64(sym)


@njit(cache=True, nogil=True)
def _learn_rc(starts, lens, flat, kmid, khigh, bits, lo_c, mid_c, hi_c):
    for i in range(len(starts)):
        seq = flat[starts[i]:starts[i] + lens[i]]
        rc = np.empty(lens[i], dtype=np.uint8)
        for j in range(lens[i]):
            s = seq[lens[i] - 1 - j]
            rc[j] = 3 - s if s <= 3 else 4
        _learn_seq(rc, kmid, khigh, bits, lo_c, mid_c, hi_c)


class BaseCtxModel:
    """Batch-step model over base codes 0..3 (4 = exception, skipped)."""

    n_symbols = 4

    def __init__(self, params: BaseParams, flat: np.ndarray,
                 tables: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                 costs: np.ndarray | None = None, watch_tables: TableWatch | None = None) -> None:
        """``tables``: zeroed (order-4, order-k_mid, hashed) count tables to use, else new ones.
        ``costs``: float64 [3] that encoding adds the stage's tally to (see :func:`_tally_costs`);
        None: no tally.
        ``watch_tables(where, tables)``: shown every table :meth:`encode_steps` makes, with its positions."""
        self.p = params
        self.watch_tables = watch_tables
        self.flat = flat
        self.betas = np.array(params.betas, dtype=np.int64)
        bits = params.hash_bits
        self.tables = tables or (np.zeros((4 ** K_LOW, 4), np.uint16), np.zeros((4 ** params.k_mid, 4), np.uint16),
                                 np.zeros((1 << bits, 5), np.uint16))
        self.mixw = np.full(4 * N_CONF, MIX_INIT, dtype=np.int64)
        self.tolw = np.full(TOL_CONTEXTS, TOL_INIT, dtype=np.int64)
        self.cal = np.zeros((CAL_CONTEXTS * CAL_SURE, 2), dtype=np.int64)   # per cell: seen, right
        self.subs = np.ones((64, 4, 4), dtype=np.int64)   # substitutions: [sure // 4, last 2 bases; predicted; coded]
        self.subw = np.full(CAL_SURE, SUB_W_INIT, dtype=np.int64)   # their mixing weights, per sureness
        self.costs = np.zeros(0, dtype=np.float64) if costs is None else costs
        self.shadow = np.full(4 * N_CONF, MIX_INIT, dtype=np.int64)   # mixing weights for costs[2]
        self.buffers: tuple[np.ndarray, np.ndarray] | None = None   # encode_steps only

    def begin_batch(self, starts, pos0, lens, read) -> None:
        b = len(starts)
        self.starts, self.lens, self.pos0 = starts, lens, pos0
        self.ctx = np.zeros(b, dtype=np.uint64)
        self.filled = np.zeros(b, dtype=np.int64)
        self.which = np.zeros(b, dtype=np.int64)
        self.cur = np.zeros((b, 9), dtype=np.int64)
        self.p_lo = np.zeros((b, 4), dtype=np.int64)
        self.p_hi = np.zeros((b, 4), dtype=np.int64)
        self.out = np.zeros((b, 4), dtype=np.int64)
        self.tctx = np.zeros(b, dtype=np.uint64)       # tolerant history
        self.misses = np.zeros((b, 2), dtype=np.int64)  # its miss bits over the last k_high bases, their count
        self.p_two = np.zeros((b, 2, 4), dtype=np.int64)  # plain and tolerant tables, for the mixer
        self.hist = np.zeros((b, 2), dtype=np.int64)    # top-symbol misses over the last CAL_WINDOW bases, their count
        self.shares = np.zeros((b, 2, 4), dtype=np.int64)  # the other bases' shares: counts, substitutions (Q20)

    def _state(self) -> tuple:
        """The per-batch arguments every kernel takes, in kernel order."""
        p = self.p
        return (self.ctx, self.filled, p.k_mid, p.k_high, p.hash_bits, self.betas, *self.tables, self.mixw,
                p.mix_shift, self.which, self.cur, self.p_lo, self.p_hi)

    def _tolerant(self) -> tuple:
        """The tolerant context's and the calibration stage's arguments, in kernel order."""
        return (self.p.tolerance, self.tctx, self.misses, self.tolw, self.p_two, self.p.calibration, self.cal,
                self.hist, self.subs, self.subw, self.shares)

    def encode_steps(self, t: int, active: np.ndarray, flat: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        where, tables = self.buffers = step_buffers(len(self.starts), 4, self.buffers)
        t, k = _encode_steps(t, active, self.starts, self.pos0, flat, *self._state(), *self._tolerant(),
                             self.costs, self.shadow, where, tables)
        if self.watch_tables is not None:
            self.watch_tables(where[:k], tables[:k])
        return t, where[:k], tables[:k]

    def freqs(self, t: int, n: int):
        m = _freqs(t, n, self.starts, self.pos0, self.flat, *self._state(), self.out, *self._tolerant())
        return self.out[:m], self.which[:m]

    def advance(self, t: int, n: int, flat: np.ndarray) -> None:
        _advance(t, n, self.starts, flat, self.ctx, self.filled, self.cur, *self.tables, self.mixw,
                 self.p_lo, self.p_hi, self.p.mix_shift, self.p.k_high, *self._tolerant())

    def end_batch(self) -> None:
        _learn_rc(self.starts, self.lens, self.flat, self.p.k_mid, self.p.k_high, self.p.hash_bits,
                  *self.tables)


def _encode_words(bases: np.ndarray, lengths: np.ndarray, params: BaseParams, segment: int = SEGMENT,
                  tables: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                  checkpoints: list[tuple[int, float]] | None = None, costs: np.ndarray | None = None,
                  watch: Callable[[int, float], None] | None = None, batch_rows: int = BATCH_ROWS,
                  watch_tables: TableWatch | None = None) -> bytes:
    """``checkpoints`` receives ``(n, bytes)`` after every batch, and ``watch`` is called
    with the same pair as it is taken (while the rest of the block is still being coded).
    ``batch_rows``: rows per batch at most (0 = no cap, as payload versions 1 to 3).
    ``watch_tables``: as :class:`BaseCtxModel` takes it."""
    enc = StepEncoder()
    rows = make_rows(lengths, segment)
    after_batch = None
    if checkpoints is not None:
        def after_batch(n: int) -> None:
            mark = (n, enc.num_bytes())
            checkpoints.append(mark)
            if watch is not None:
                watch(*mark)
    run(BaseCtxModel(params, bases, tables, costs, watch_tables), rows, bases, enc, None, after_batch, batch_rows)
    return enc.finish()


def encode_bases(bases: np.ndarray, lengths: np.ndarray, mate: np.ndarray, level: int = 5,
                 params: BaseParams | None = None, checkpoints: list[tuple[int, float]] | None = None,
                 watch: Callable[[int, float], None] | None = None, watch_tables: TableWatch | None = None) -> bytes:
    """Range-code base codes 0..3; positions holding 4 are skipped (exceptions).
    ``params``: as :func:`choose_params` picks them for ``level`` unless given.
    ``checkpoints``, when given, receives ``(n, bytes)`` after every batch: the first
    ``n`` codes of ``bases`` are coded in about ``bytes`` (a prefix cost for the caller's
    choices, read off this very encode). ``watch(n, bytes)`` sees the same figures of the
    first encode as they come, before the block may be coded again without calibration
    (same ``n`` then, other bytes), so the caller can start work that depends on them.
    ``watch_tables(where, tables)`` sees every table each encode codes with (a second encode
    without calibration shows its tables again, for the same positions)."""
    params = params or choose_params(bases, lengths, level)
    costs = np.zeros(3, dtype=np.float64)
    marks: list[tuple[int, float]] = []
    words = _encode_words(bases, lengths, params, SEGMENT, checkpoints=marks, costs=costs, watch=watch,
                          watch_tables=watch_tables)
    redo = _without_calibration(params, costs, CAL_DROP_GAIN if level >= CAL_DROP_LEVEL else CAL_DROP_GAIN_FAST)
    if redo is not None:
        params, marks = redo, []
        words = _encode_words(bases, lengths, params, SEGMENT, checkpoints=marks, watch_tables=watch_tables)
    if checkpoints is not None:
        checkpoints.extend(marks)
    return payload_head(params, SEGMENT, BATCH_ROWS) + words


def payload_head(params: BaseParams, segment: int, batch_rows: int) -> bytes:
    """The payload's parameters, up to the range-coded words (current version)."""
    return bytes([VERSION]) + params.to_bytes() + encode_uvarint(segment) + encode_uvarint(batch_rows)


def read_payload_head(r: Reader) -> tuple[BaseParams, int, int]:
    """(params, segment, batch_rows) of a payload of any version (batch_rows 0: no cap)."""
    version = r.u8()
    if version not in VERSIONS:
        raise FormatError(f"unknown base-context payload version {version}")
    params = BaseParams.read(r, version)
    segment = r.uvarint(limit=1 << 30)
    batch_rows = r.uvarint(limit=1 << 30) if version >= 4 else 0
    if segment == 0 or (version >= 4 and batch_rows == 0):
        raise FormatError("bad base-context segment length or batch size")
    return params, segment, batch_rows


def _without_calibration(params: BaseParams, costs: np.ndarray, min_gain: float) -> BaseParams | None:
    """The parameters to code the block again with, if dropping the calibration stage (with
    the mixing as it was, or flipped) saves at least ``min_gain`` (a share) by the encode's tally.

    A sample cannot decide this: the stage pays once coverage has built up (SARS-CoV-2
    MiSeq -6 %) and costs where bases are near 2 bits whatever the context (noisy R9
    nanopore +1-2 %) or near 0 (index reads); and with the stage on, the trial's mixing
    choice is a coin toss on noisy reads (sample costs within a few bytes) that decides
    2-3 % of the block once the stage is off.

    The second encode costs as much as the first, so the default level asks more of it
    (CAL_DROP_GAIN_FAST): on the R9 E. coli nanopore reads dropping the stage saved 0.6 % of
    the base stream (0.2 % of the archive) for 3.2 s of CPU on top of 5.3 s."""
    if not params.calibration:
        return None
    flipped = MIX_SHIFT if params.mix_shift == 0 else 0
    cost, best = min((costs[0], replace(params, calibration=0)),
                     (costs[2], replace(params, calibration=0, mix_shift=flipped)), key=lambda o: o[0])
    return best if cost < (1.0 - min_gain) * costs[1] else None


def decode_bases(payload: bytes, lengths: np.ndarray, mate: np.ndarray, exceptions: np.ndarray,
                 out: np.ndarray | None = None, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Inverse of :func:`encode_bases`; ``exceptions`` is a bool mask of non-ACGT positions.
    The codes go to ``out`` when given (uint8, one per position); ``progress(n)`` is called
    each time the first ``n`` of them are final (rows are decoded front to back)."""
    r = Reader(payload)
    params, segment, batch_rows = read_payload_head(r)
    if out is None:
        out = np.empty(len(exceptions), dtype=np.uint8)
    out[:] = np.where(exceptions, np.uint8(4), np.uint8(0))
    run(BaseCtxModel(params, out), make_rows(lengths, segment), out, None, StepDecoder(r.take(r.remaining())),
        progress, max_rows=batch_rows)
    return out
