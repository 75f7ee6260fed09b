"""How much of a block's sequence occurs more than once: a sample of its canonical k-mers.

lzma codes accurate long reads (HiFi) far below the context model where the reads overlap
(coverage, amplicons) and above it where they do not: on the E. coli HiFi reads here, the
first quarter (0.25x coverage) costs 1.943 bits/base through lzma against 1.830 through the
model, all of them (0.97x) 9 % less through lzma. Counting which k-mers recur tells the two
apart in ~0.05 s for 4.5 Mbases, where coding a sample both ways would cost seconds.

The sample is the one read orientation takes (:func:`.orientation.read_kmers`), content-defined:
a k-mer is kept when a hash of its canonical form (the smaller of it and its reverse complement)
falls in 1/2**SAMPLE_SHIFT of the range, so every copy of a k-mer is kept or dropped together,
on either strand, in any phase.
"""

from __future__ import annotations

import numpy as np

from ..jit import njit
from .orientation import read_kmers, read_offsets

K = 24             # long enough to be unique in a bacterial genome, short enough to span HiFi errors
SAMPLE_SHIFT = 4   # about one canonical k-mer in 2**4 is counted


@njit(cache=True, nogil=True)
def _sample(codes: np.ndarray, offsets: np.ndarray, k: int, sample_shift: int) -> np.ndarray:
    """Sampled canonical k-mers of every read (:func:`.orientation.read_kmers`), in read order."""
    longest = 1
    for r in range(len(offsets) - 1):
        longest = max(longest, offsets[r + 1] - offsets[r])
    keys = np.empty((len(codes) >> (sample_shift - 1)) + longest, dtype=np.uint64)
    strand = np.empty(len(keys), dtype=np.uint8)   # not needed here
    n = 0
    for r in range(len(offsets) - 1):
        if n + longest > len(keys):
            break   # more kept than expected (low complexity): enough to judge
        n += read_kmers(codes, offsets[r], offsets[r + 1], k, keys[n:], strand[n:], sample_shift)
    return keys[:n]


def shared_fraction(flat: np.ndarray, lengths: np.ndarray) -> float:
    """Share of the block's sampled k-mers that occur at least twice (0 when none are sampled).

    ``flat``: base codes 0..3 (anything else read as A), the reads one after another."""
    kmers = _sample(np.ascontiguousarray(flat, dtype=np.uint8), read_offsets(lengths), K, SAMPLE_SHIFT)
    if len(kmers) == 0:
        return 0.0
    _, counts = np.unique(kmers, return_counts=True)
    return float(counts[counts >= 2].sum()) / len(kmers)
