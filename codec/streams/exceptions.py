"""The EXCEPTIONS stream: every sequence byte that is not one of the block's four letters.

N, IUPAC codes, lowercase letters, '.', anything printable: stored as runs
(gap since the previous run as a varint, run length, then the run's bytes),
packed with ``pack_best``. Runs make N-blocks and all-lowercase reads cheap.

The four letters are ``ACGT`` unless the block is *spelled* otherwise (codec
EXC_SPELLED, :func:`choose_spelling`): direct-RNA reads write ``U`` for ``T``,
and soft-masked reads hold long lowercase runs. Coding those letters as
exceptions cost ~2 bits each on top of losing them from the base models (a U
read set: +6 % archive); spelled, the base and quality models see them as the
bases they are, and the case is a list of runs.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..varint import Reader, blob, encode_uvarints
from .general import pack_best, unpack
from .ids import CodecId

BASE_CODE = np.full(256, 4, dtype=np.uint8)
BASE_CODE[np.frombuffer(b"ACGT", dtype=np.uint8)] = np.arange(4, dtype=np.uint8)
BASE_CHAR = np.frombuffer(b"ACGT", dtype=np.uint8)

SPELL_U = 1         # code 3 is written 'U' (direct-RNA reads) and 'T' is an exception
SPELL_CASE = 2      # lowercase letters are listed as runs and coded as their capitals
SPELL_FLAGS = SPELL_U | SPELL_CASE
CASE_MIN_RUN = 4    # SPELL_CASE when the lowercase bases average at least this many per run
U_CODE = BASE_CODE.copy()
U_CODE[[ord("T"), ord("U")]] = 4, 3
U_CHAR = np.frombuffer(b"ACGU", dtype=np.uint8)
_CASE_BIT = 0x20
_LOWER_BASES = np.frombuffer(b"acgtu", dtype=np.uint8)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = np.diff(np.concatenate(([0], mask.view(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _encode_runs(mask: np.ndarray) -> bytes:
    """``uvarint n_runs`` then (gap since the previous run's end, run length) per run."""
    starts, ends = _runs(mask)
    gaps = starts - np.concatenate(([0], ends[:-1]))
    return encode_uvarints(np.array([len(starts)])) + encode_uvarints(
        np.stack([gaps, ends - starts], axis=1).ravel())


def _decode_runs(r: Reader, total: int, what: str) -> np.ndarray:
    """Inverse of :func:`_encode_runs`: the bool mask over ``total`` positions."""
    n_runs = r.uvarint(limit=total)
    pairs = r.uvarints(2 * n_runs, limit=total).reshape(-1, 2)
    mask = np.zeros(total, dtype=bool)
    pos = 0
    starts = np.cumsum(pairs[:, 0] + np.concatenate(([0], pairs[:-1, 1]))) if n_runs else pairs[:, 0]
    for start, length in zip(starts.tolist(), pairs[:, 1].tolist()):
        if start < pos or start + length > total:
            raise FormatError(f"{what} run outside the block")
        mask[start:start + length] = True
        pos = start + length
    return mask


def encode_exceptions(seq: np.ndarray, mask: np.ndarray | None = None) -> bytes:
    """``seq``: uint8 sequence bytes of the whole block; ``mask`` its exceptions, where the
    caller has them already (by default the bytes not in ``ACGT``)."""
    if mask is None:
        mask = BASE_CODE[seq] == 4
    return pack_best(_encode_runs(mask) + seq[mask].tobytes())


def decode_exceptions(payload: bytes, total: int) -> tuple[np.ndarray, np.ndarray]:
    """(bool mask of exception positions, their bytes in order)."""
    r = Reader(unpack(payload, limit=12 * total + 16))
    mask = _decode_runs(r, total, "exception")
    chars = np.frombuffer(r.take(r.remaining()), dtype=np.uint8)
    if len(chars) != int(mask.sum()):
        raise FormatError("exception bytes do not match their positions")
    return mask, chars


def choose_spelling(seq: np.ndarray) -> tuple[int, np.ndarray, np.ndarray | None]:
    """(spelling flags, the bytes the base coders see, the lowercase mask where SPELL_CASE).

    SPELL_CASE when the block's lowercase letters are mostly bases in runs of at least
    CASE_MIN_RUN on average (soft-masking): isolated lowercase letters stay exceptions,
    which costs no more than a run each. SPELL_U when 'U' outnumbers 'T'. Flags 0 is
    the plain ACGT block that every format wrote, coded as before (codec LZMA)."""
    flags, canon, lower = 0, seq, None
    is_lower = (seq >= ord("a")) & (seq <= ord("z"))
    if is_lower.any():
        n_runs = len(_runs(is_lower)[0])
        lower_bases = int(np.count_nonzero(np.isin(seq[is_lower], _LOWER_BASES)))
        if lower_bases >= CASE_MIN_RUN * n_runs:
            flags, lower = SPELL_CASE, is_lower
            canon = np.where(is_lower, seq ^ _CASE_BIT, seq)
    if np.count_nonzero(canon == ord("U")) > np.count_nonzero(canon == ord("T")):
        flags |= SPELL_U
    return flags, canon, lower


def spelled_codes(flags: int) -> np.ndarray:
    """byte -> base code (4 = exception) of a block spelled ``flags``."""
    return U_CODE if flags & SPELL_U else BASE_CODE


def encode_spelled(canon: np.ndarray, flags: int, lower: np.ndarray | None, mask: np.ndarray | None = None) -> bytes:
    """EXC_SPELLED payload: ``u8 flags``, the lowercase runs as a blob (SPELL_CASE), then the
    exceptions of ``canon`` under the block's letters (``mask``, where the caller has it) as
    :func:`encode_exceptions` writes them."""
    head = bytes([flags])
    if flags & SPELL_CASE:
        head += blob(pack_best(_encode_runs(lower)))
    return head + encode_exceptions(canon, spelled_codes(flags)[canon] == 4 if mask is None else mask)


def decode_spelled(payload: bytes, total: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Inverse of :func:`encode_spelled`: (exception mask, exception bytes, the four letters,
    lowercase mask or None)."""
    r = Reader(payload)
    flags = r.u8()
    if flags & ~SPELL_FLAGS or not flags:
        raise FormatError(f"unknown base spelling flags {flags:#x}")
    lower = None
    if flags & SPELL_CASE:
        lower = _decode_runs(Reader(unpack(r.blob(limit=r.remaining()), limit=12 * total + 16)), total, "lowercase")
    mask, chars = decode_exceptions(r.take(r.remaining()), total)
    return mask, chars, U_CHAR if flags & SPELL_U else BASE_CHAR, lower


def encode_block_exceptions(canon: np.ndarray, flags: int, lower: np.ndarray | None,
                            mask: np.ndarray) -> tuple[bytes, CodecId]:
    """(payload, codec) of a block spelled ``flags`` (:func:`choose_spelling`) whose base codes
    are 4 at ``mask``: plain ACGT blocks keep codec LZMA, as every format wrote them; the
    others take EXC_SPELLED."""
    if not flags:
        return encode_exceptions(canon, mask), CodecId.LZMA
    return encode_spelled(canon, flags, lower, mask), CodecId.EXC_SPELLED


def decode_block_exceptions(codec: int, payload: bytes, total: int
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Inverse of :func:`encode_block_exceptions`: (exception mask, exception bytes, the block's
    four letters, lowercase mask or None). Blocks before 14.0 all wrote codec LZMA."""
    if codec == CodecId.EXC_SPELLED:
        return decode_spelled(payload, total)
    return (*decode_exceptions(payload, total), BASE_CHAR, None)


def apply_case(seq: np.ndarray, lower: np.ndarray | None) -> None:
    """Lowercase the letters at ``lower`` in place (each must be a capital letter)."""
    if lower is None:
        return
    letters = seq[lower]
    if np.any((letters < ord("A")) | (letters > ord("Z"))):
        raise FormatError("lowercase run over a byte that is not a letter")
    seq[lower] = letters | _CASE_BIT
