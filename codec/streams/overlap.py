"""How much of a block's sequence occurs more than once: a sample of its canonical k-mers.

lzma codes accurate long reads (HiFi) far below the context model where the reads overlap
(coverage, amplicons) and above it where they do not: on the E. coli HiFi reads here, the
first quarter (0.25x coverage) costs 1.943 bits/base through lzma against 1.830 through the
model, all of them (1.86x) 9 % less through lzma. Counting which k-mers recur tells the two
apart in ~0.05 s for 4.5 Mbases, where coding a sample both ways would cost seconds.

The sample is content-defined: a k-mer is kept when a hash of its canonical form (the smaller
of it and its reverse complement) falls in 1/SAMPLE_EVERY of the range, so every copy of a
k-mer is kept or dropped together, on either strand, in any phase.
"""

from __future__ import annotations

import numpy as np

from ..jit import njit

K = 24               # long enough to be unique in a bacterial genome, short enough to span HiFi errors
SAMPLE_EVERY = 16    # about one k-mer in this many is counted
_HASH = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True)
def _sample(flat: np.ndarray, lengths: np.ndarray, k: int, every: int) -> np.ndarray:
    """Canonical k-mers (2 bits a base) of every read whose hash is kept, in read order."""
    out = np.empty(len(flat) // max(every // 2, 1) + 1, dtype=np.uint64)
    mask = (np.uint64(1) << np.uint64(2 * k)) - np.uint64(1)
    top = np.uint64(2 * (k - 1))
    n = 0
    pos = 0
    for length in lengths:
        fwd = np.uint64(0)
        rev = np.uint64(0)
        for i in range(length):
            b = np.uint64(flat[pos + i])
            fwd = ((fwd << np.uint64(2)) | b) & mask
            rev = (rev >> np.uint64(2)) | ((np.uint64(3) - b) << top)
            if i >= k - 1:
                canon = fwd if fwd < rev else rev
                if ((canon * _HASH) >> np.uint64(58)) % np.uint64(every) == 0:
                    if n == len(out):
                        return out[:n]   # more kept than expected (low complexity): enough to judge
                    out[n] = canon
                    n += 1
        pos += length
    return out[:n]


def shared_fraction(flat: np.ndarray, lengths: np.ndarray) -> float:
    """Share of the block's sampled k-mers that occur at least twice (0 when none are sampled).

    ``flat``: base codes 0..3 (anything else read as A), the reads one after another."""
    kmers = _sample(np.ascontiguousarray(flat, dtype=np.uint8), np.asarray(lengths, dtype=np.int64),
                    K, SAMPLE_EVERY)
    if len(kmers) == 0:
        return 0.0
    _, counts = np.unique(kmers, return_counts=True)
    return float(counts[counts >= 2].sum()) / len(kmers)
