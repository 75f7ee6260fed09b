"""Read orientation for LZ77: turn reads so overlapping ones face the same way.

A sequencer reads both strands, so two reads of one locus are as often reverse
complements of each other as copies. lzma only finds copies: a read whose
earlier overlap lies on the other strand is coded as fresh sequence. The
encoder therefore stores some reads reverse-complemented, with one flag per
read, and lzma codes the turned bases. Measured on the three HiFi files in
../shared/data (lzma preset 9e on the bases): 16S amplicons -18 %, E. coli -17 %,
HG002 human -25 % (inverted repeats such as Alu face both ways in one genome).

The choice is greedy, in read order, and encoder-only (the decoder reads the
flags): a read votes with its sampled canonical k-mers against the orientation
each was first seen in, is turned when more of them disagree than agree, and
then records its unseen k-mers in the orientation it is stored in. Canonical
k-mers (the smaller of a k-mer and its reverse complement) are sampled by a hash
of the canonical value, so both strands of a locus sample the same k-mers.
"""

from __future__ import annotations

import numpy as np

from ..jit import njit

K = 20             # k-mer length: unique in bacterial genomes, spans few HiFi errors
SAMPLE_SHIFT = 3   # one canonical k-mer in 2**3 votes and is recorded
_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)    # sampling hash (its top bits)
_SLOT_MUL = np.uint64(0xBF58476D1CE4E5B9)    # slot hash: another mixer, so sampled keys spread over the table
_EMPTY = np.uint64(0)


@njit(cache=True, nogil=True)
def _slot(table, key, bits):
    """Open-addressing slot of ``key`` (``key + 1`` is stored; 0 marks an empty slot)."""
    mask = np.int64(len(table) - 1)
    h = key ^ (key >> np.uint64(31))
    i = np.int64(((h * _SLOT_MUL) ^ (h >> np.uint64(29))) >> np.uint64(64 - bits))
    while table[i] != _EMPTY and table[i] != key + np.uint64(1):
        i = (i + 1) & mask
    return i


@njit(cache=True, nogil=True)
def read_kmers(codes, start, end, k, out_key, out_fwd, sample_shift):
    """Sampled canonical k-mers of ``codes[start:end]`` (codes > 3 read as 0) into the
    ``out`` arrays; returns their count. ``out_fwd`` is 1 where the read holds the
    canonical strand."""
    kmask = (np.uint64(1) << np.uint64(2 * k)) - np.uint64(1)
    top = np.uint64(2 * (k - 1))
    fwd = np.uint64(0)
    rev = np.uint64(0)
    smask = (np.uint64(1) << np.uint64(sample_shift)) - np.uint64(1)
    n = 0
    for i in range(start, end):
        c = np.uint64(codes[i]) if codes[i] <= 3 else np.uint64(0)
        fwd = ((fwd << np.uint64(2)) | c) & kmask
        rev = (rev >> np.uint64(2)) | ((np.uint64(3) - c) << top)
        if i - start + 1 >= k:
            can = fwd if fwd <= rev else rev
            if ((can * _HASH_MUL) >> np.uint64(58)) & smask == np.uint64(0):
                out_key[n] = can
                out_fwd[n] = 1 if fwd <= rev else 0
                n += 1
    return n


@njit(cache=True, nogil=True)
def _orient(codes, offsets, k, sample_shift, table_bits):
    n_reads = len(offsets) - 1
    flips = np.zeros(n_reads, dtype=np.uint8)
    table = np.zeros(1 << table_bits, dtype=np.uint64)
    strand = np.zeros(1 << table_bits, dtype=np.uint8)
    capacity = (1 << table_bits) // 2   # keep the table at most half full
    used = 0
    longest = 0
    for r in range(n_reads):
        longest = max(longest, offsets[r + 1] - offsets[r])
    keys = np.empty(max(longest, 1), dtype=np.uint64)
    fwd = np.empty(max(longest, 1), dtype=np.uint8)
    slots = np.empty(max(longest, 1), dtype=np.int64)
    for r in range(n_reads):
        m = read_kmers(codes, offsets[r], offsets[r + 1], k, keys, fwd, sample_shift)
        votes = 0
        for j in range(m):
            i = _slot(table, keys[j], table_bits)
            slots[j] = i
            if table[i] != _EMPTY:
                votes += 1 if strand[i] == fwd[j] else -1
        flip = 1 if votes < 0 else 0
        flips[r] = flip
        for j in range(m):
            if used >= capacity:
                break
            # the vote's slot still holds, unless this read has since filled it with another key
            i = slots[j]
            if table[i] != _EMPTY and table[i] != keys[j] + np.uint64(1):
                i = _slot(table, keys[j], table_bits)
            if table[i] == _EMPTY:
                table[i] = keys[j] + np.uint64(1)
                strand[i] = fwd[j] ^ flip
                used += 1
    return flips


def read_offsets(lengths: np.ndarray) -> np.ndarray:
    """Start of every read and the end of the last (``n_reads + 1`` int64 values)."""
    return np.concatenate([[0], np.cumsum(np.asarray(lengths, dtype=np.int64))]).astype(np.int64)


def choose_flips(codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """One flag per read (uint8, 1 = store reverse-complemented), chosen greedily in read order."""
    offsets = read_offsets(lengths)
    sampled = int(offsets[-1]) >> SAMPLE_SHIFT
    table_bits = max(10, min(24, (2 * sampled + 1).bit_length()))   # <= 2**24 slots: 151 MB at most
    return _orient(np.asarray(codes, dtype=np.uint8), offsets, K, SAMPLE_SHIFT, table_bits)


@njit(cache=True, nogil=True)
def _turn(codes, offsets, flips):
    for r in range(len(flips)):
        if flips[r]:
            a, b = offsets[r], offsets[r + 1] - 1
            while a < b:
                x, y = codes[a], codes[b]
                codes[a], codes[b] = 3 - y, 3 - x
                a += 1
                b -= 1
            if a == b:
                codes[a] = 3 - codes[a]


def turn_in_place(codes: np.ndarray, lengths: np.ndarray, flips: np.ndarray) -> None:
    """Reverse-complement every flagged read of ``codes`` (uint8, 0..3) where it lies.

    Its own inverse: the decoder turns the same reads back. In place, because both
    callers own a fresh block-sized array (a HiFi block is tens of MB)."""
    _turn(codes, read_offsets(lengths), np.asarray(flips, dtype=np.uint8))

