"""One block: FASTQ chunks -> streams -> payloads, and back.

A block holds the same records of each input file (one file, or R1 and R2).
It is self-contained: every model starts fresh, so blocks can be coded on
separate cores and a damaged block is reported by number. Anything the
parser cannot describe exactly (mixed line endings) is stored verbatim; the
parse -> write round trip is checked before a block is modelled (STYLE 6).
A block of one file whose records are interleaved pairs is coded as a pair
(:mod:`.fastq.interleave`) and put back in turn.
"""

from __future__ import annotations

import contextlib
import struct
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from . import forked
from .errors import ChecksumError, FastqFormatError, FormatError
from .fastq import interleave
from .fastq.reader import is_blank_tail
from .fastq.records import FastqBlock, parse_block, write_block
from .streams import bases, layout, lengths as lengths_stream, names_fallback, qualities
from .streams.exceptions import (apply_case, choose_spelling, decode_block_exceptions, encode_block_exceptions,
                                 spelled_codes)
from .streams.general import pack_best, unpack
from .streams.ids import CodecId, StreamId
from .varint import Reader, encode_uvarint

T = TypeVar("T")

MODE_MODELLED, MODE_VERBATIM, MODE_INTERLEAVED = 0, 1, 2   # 2: modelled, two halves of one file
MAX_FILES = 2
FED_NICE = 5   # priority of the quality decoder's processes below the base decoder's (_decode_fed)


@dataclass
class StreamInfo:
    """What ``seqlm info`` reports per stream."""

    stream: StreamId
    codec: CodecId
    n_symbols: int
    n_bytes: int


@dataclass
class BlockResult:
    body: bytes
    n_records: int
    raw: list[bytes]
    streams: list[StreamInfo] = field(default_factory=list)


def _names_codec():
    try:
        from .streams import names as tokenised
        return tokenised.encode_names, tokenised.decode_names
    except ImportError:
        return None


def _encode_names(names: list[bytes], mates_of: list[bytes] | None) -> tuple[bytes, CodecId]:
    """Tokenised names, checked by decoding them; plain lzma is the escape path.

    The tokeniser falls back to plain lzma by itself when that is smaller; the
    check here guards against any input it mishandles (never lose a file over
    a name), at the cost of one extra decode of a small stream.
    """
    codec = _names_codec()
    if codec is not None:
        try:
            payload = codec[0](names, mates_of)
            if codec[1](payload, len(names), mates_of) == names:
                return payload, CodecId.NAME_TOK
        except Exception:  # noqa: BLE001 - any tokeniser failure takes the escape path
            pass
    return names_fallback.encode_names_plain(names), CodecId.LZMA


def _decode_names(codec_id: int, payload: bytes, count: int, mates_of: list[bytes] | None) -> list[bytes]:
    if codec_id == CodecId.LZMA:
        return names_fallback.decode_names_plain(payload, count)
    codec = _names_codec()
    if codec_id != CodecId.NAME_TOK or codec is None:
        raise FormatError(f"unknown name codec id {codec_id}")
    names = codec[1](payload, count, mates_of)
    if len(names) != count:
        raise FormatError("name stream holds the wrong number of names")
    return names


def _parse_all(chunks: list[bytes], starts: list[int], paths: list[str]) -> list[FastqBlock] | None:
    parsed = []
    for chunk, start, path in zip(chunks, starts, paths):
        try:
            parsed.append(parse_block(chunk, start))
        except FastqFormatError as exc:
            exc.path = path
            raise
    if any(p is None for p in parsed):
        return None
    if any(write_block(p) != c for p, c in zip(parsed, chunks)):  # type: ignore[arg-type]
        return None
    return parsed  # type: ignore[return-value]


def _block_header(chunks: list[bytes], n_records: int, mode: int) -> bytes:
    out = struct.pack("<IBB", n_records, len(chunks), mode)
    for c in chunks:
        out += struct.pack("<QI", len(c), zlib.crc32(c))
    return out


def _stream(sid: StreamId, codec: CodecId, n_symbols: int, payload: bytes, infos: list[StreamInfo]) -> bytes:
    infos.append(StreamInfo(sid, codec, n_symbols, len(payload)))
    return bytes([sid, codec]) + encode_uvarint(n_symbols) + encode_uvarint(len(payload)) + payload


@contextlib.contextmanager
def _stream_pool(threads: int) -> Iterator[Callable[..., Callable[[], Any]]]:
    """``run(fn, *args)`` -> a thunk giving ``fn(*args)``: on a thread pool, or lazily in this thread."""
    if threads <= 1:
        yield lambda fn, *args: (lambda: fn(*args))
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        yield lambda fn, *args: pool.submit(fn, *args).result


def _verbatim_block(chunks: list[bytes], n_rec: int) -> BlockResult:
    """The escape path: each file's bytes of the block through the general-purpose codecs."""
    infos: list[StreamInfo] = []
    body = _block_header(chunks, n_rec, MODE_VERBATIM) + b"".join(
        _stream(StreamId.VERBATIM, CodecId(p[0]), len(c), p, infos) for c in chunks for p in [pack_best(c)])
    return BlockResult(body, n_rec, chunks, infos)


@contextlib.contextmanager
def _finish_flag(threads: int) -> Iterator[forked.Feed | None]:
    """A one-byte :class:`~codec.forked.Feed` that forked children can poll (``complete()``)
    to see a coder of this process finish (:func:`_flagged`); None without threads or forks."""
    if threads <= 1 or not forked.available():
        yield None
        return
    flag = forked.Feed(1)
    try:
        yield flag
    finally:
        flag.close()


def _flagged(flag: forked.Feed | None, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, then ``flag`` shows finished (also when ``fn`` fails)."""
    try:
        return fn(*args)
    finally:
        if flag is not None:
            flag.publish(1)


def compress_block(chunks: list[bytes], starts: list[int], level: int,
                   paths: list[str] | None = None, threads: int = 1) -> BlockResult:
    """Encode the chunks (whole records, equal record counts) into a block body.

    ``starts`` are the 1-based numbers of each chunk's first record in its file
    and ``paths`` the file names, so that parse errors name both. ``threads``
    > 1 encodes the streams concurrently; it never changes the bytes.
    """
    if all(is_blank_tail(c) for c in chunks):
        return _verbatim_block(chunks, 0)
    halves = interleave.split_pairs(chunks[0]) if len(chunks) == 1 else None
    parsed = _parse_halves(halves) if halves is not None else None
    if halves is not None and parsed is not None:
        mode, coded = MODE_INTERLEAVED, list(halves)
    else:
        parsed = _parse_all(chunks, starts, paths or ["<input>"] * len(chunks))
        if parsed is None:
            return _verbatim_block(chunks, chunks[0].count(b"\n") // 4)
        mode, coded = MODE_MODELLED, chunks
    infos: list[StreamInfo] = []
    n_rec = parsed[0].n_records
    lens = np.concatenate([b.lengths for b in parsed])
    mate = np.repeat(np.arange(len(parsed), dtype=np.uint8), n_rec)
    seq = np.frombuffer(b"".join(b.seq for b in parsed), dtype=np.uint8)
    qual = np.frombuffer(b"".join(b.qual for b in parsed), dtype=np.uint8)
    spelling, canon, lower = choose_spelling(seq)
    codes = spelled_codes(spelling)[canon]
    exceptional = codes == 4
    n_exceptions = int(exceptional.sum())
    with _stream_pool(threads) as run, _finish_flag(threads) as bases_done:
        # the heavy coders are independent when encoding: qualities, bases and names overlap
        # (their kernels release the GIL, a long-read block's quality parts run in child
        # processes, in turns until the bases are done); results are joined in a fixed order
        quals_job = run(qualities.encode_qualities, qual, lens, codes, mate, level, threads,
                        bases_done.complete if bases_done else None)
        bases_job = run(_flagged, bases_done, bases.encode_bases, codes, lens, mate, level, bases.error_rate(qual))
        names_jobs = [run(_encode_names, blk.names, parsed[0].names if i else None) for i, blk in enumerate(parsed)]
        streams = [_stream(StreamId.LAYOUT, CodecId.RAW, n_rec, layout.encode_layout(parsed), infos)]
        for i, job in enumerate(names_jobs):
            payload, codec = job()
            streams.append(_stream(StreamId.NAMES2 if i else StreamId.NAMES, codec, n_rec, payload, infos))
        payload, codec = lengths_stream.encode_lengths(lens, len(parsed))
        streams.append(_stream(StreamId.LENGTHS, codec, len(lens), payload, infos))
        payload, codec = encode_block_exceptions(canon, spelling, lower, exceptional)
        streams.append(_stream(StreamId.EXCEPTIONS, codec, n_exceptions, payload, infos))
        payload, codec = bases_job()
        streams.append(_stream(StreamId.BASES, codec, len(codes) - n_exceptions, payload, infos))
        payload, codec = quals_job()
        streams.append(_stream(StreamId.QUALITIES, codec, len(qual), payload, infos))
    body = _block_header(coded, n_rec, mode) + bytes([len(streams)]) + b"".join(streams)
    return BlockResult(body, n_rec * (2 if mode == MODE_INTERLEAVED else 1), chunks, infos)


def _parse_halves(halves: tuple[bytes, bytes]) -> list[FastqBlock] | None:
    """The parses of an interleaved chunk's read 1s and read 2s; None where a half is malformed
    (the whole chunk is then parsed as one, so that the error names the record in the file)
    or would not write back byte-exactly."""
    try:
        return _parse_all(list(halves), [1, 2], ["<read 1s>", "<read 2s>"])
    except FastqFormatError:
        return None


def _read_streams(r: Reader) -> dict[int, tuple[int, int, bytes]]:
    streams: dict[int, tuple[int, int, bytes]] = {}
    for _ in range(r.u8()):
        sid, codec = r.take(2)
        n_symbols = r.uvarint()
        payload = r.blob(limit=r.remaining())
        if sid in streams:
            raise FormatError(f"stream {sid} appears twice in a block")
        streams[sid] = (codec, n_symbols, payload)
    if r.remaining():
        raise FormatError("extra bytes after the last stream of a block")
    return streams


def read_block_header(r: Reader) -> tuple[int, int, list[tuple[int, int]]]:
    """(n_records, mode, [(raw_len, crc32) per file])."""
    n_rec, n_files, mode = r.unpack("<IBB")
    if not 1 <= n_files <= MAX_FILES or mode not in (MODE_MODELLED, MODE_VERBATIM, MODE_INTERLEAVED) \
            or (mode == MODE_INTERLEAVED and n_files != 2):
        raise FormatError("bad block header")
    files = [r.unpack("<QI") for _ in range(n_files)]
    if n_rec > sum(f[0] for f in files):
        raise FormatError("block claims more records than bytes")
    return n_rec, mode, files


def _need(streams: dict[int, tuple[int, int, bytes]], sid: StreamId) -> tuple[int, int, bytes]:
    if sid not in streams:
        raise FormatError(f"block lacks its {sid.name.lower()} stream")
    return streams[sid]


def verbatim_records(r: Reader, n_files: int) -> Iterator[tuple[int, int, bytes]]:
    """(codec id, raw length, payload) of each file's stream record in a verbatim block."""
    for _ in range(n_files):
        sid, codec = r.take(2)
        n_raw = r.uvarint()
        payload = r.blob(limit=r.remaining())
        if sid != StreamId.VERBATIM:
            raise FormatError("verbatim block holds a non-verbatim stream")
        yield codec, n_raw, payload


def _decode_verbatim(r: Reader, files: list[tuple[int, int]]) -> list[bytes]:
    return [unpack(payload, limit=1 << 40) for _, _, payload in verbatim_records(r, len(files))]


def _decode_all_names(streams: dict[int, tuple[int, int, bytes]], n_files: int, n_rec: int) -> list:
    names: list = []
    for i in range(n_files):
        codec, _, payload = _need(streams, StreamId.NAMES2 if i else StreamId.NAMES)
        names.append(_decode_names(codec, payload, n_rec, names[0] if i else None))
    return names


def _decode_modelled(r: Reader, n_rec: int, files: list[tuple[int, int]], threads: int = 1) -> list[bytes]:
    streams = _read_streams(r)
    n_files = len(files)
    raw_total = sum(f[0] for f in files)
    lay = layout.decode_layout(_need(streams, StreamId.LAYOUT)[2], n_files, n_rec)
    lens = lengths_stream.decode_lengths(_need(streams, StreamId.LENGTHS)[2], n_rec * n_files, n_files)
    total = int(lens.sum())
    if total > raw_total:
        raise FormatError("read lengths exceed the block size")
    exc_codec, _, exc_payload = _need(streams, StreamId.EXCEPTIONS)
    mask, exc_chars, letters, lower = decode_block_exceptions(exc_codec, exc_payload, total)
    mate = np.repeat(np.arange(n_files, dtype=np.uint8), n_rec)
    qual_payload = _need(streams, StreamId.QUALITIES)[2]
    base_payload = _need(streams, StreamId.BASES)[2]
    with _stream_pool(threads) as run:
        names_job = run(_decode_all_names, streams, n_files, n_rec)   # overlaps bases -> qualities
        if threads > 1 and qualities.reads_only_n_flags(qual_payload):
            # qualities overlap bases too, in a child process: both are step loops (codec.forked)
            n_flags = np.where(mask, 4, 0).astype(np.uint8)
            qual, codes = forked.run_beside(
                lambda: qualities.decode_qualities(qual_payload, lens, n_flags, mate),
                [lambda: bases.decode_bases(base_payload, lens, mate, mask)])
        elif threads > 1 and forked.available():
            codes, qual = _decode_fed(base_payload, qual_payload, lens, mate, mask, threads)
        else:
            codes = bases.decode_bases(base_payload, lens, mate, mask)
            qual = qualities.decode_qualities(qual_payload, lens, codes, mate, threads)
        names = names_job()
    seq = letters[np.minimum(codes, 3)]
    seq[mask] = exc_chars
    apply_case(seq, lower)
    out, offset = [], 0
    for i, (eol, final, kinds, other) in enumerate(lay):
        flen = lens[i * n_rec:(i + 1) * n_rec]
        end = offset + int(flen.sum())
        blk = FastqBlock(names[i], seq[offset:end].tobytes(), qual[offset:end].tobytes(), flen,
                         kinds, other, eol, final)
        out.append(write_block(blk))
        offset = end
    return out


def _decode_fed(base_payload: bytes, qual_payload: bytes, lens: np.ndarray, mate: np.ndarray, mask: np.ndarray,
                threads: int) -> tuple[np.ndarray, np.ndarray]:
    """(base codes, quality bytes), the qualities decoding in a child as the bases arrive.

    The quality LSTM reads the bases, yet a read's qualities need only that read's bases:
    the bases decode here into a :class:`~codec.forked.Feed` and a child (its mates in children
    of their own; its parts in turns until every base is final, then in children of their own)
    decodes each chunk of qualities once its reads' bases are final,
    instead of waiting for the whole base stream with one core idle. The child runs at a
    lower priority, so the base decoder, the one step loop that cannot be split, keeps a
    core. Same bytes as decoding one stream after the other: the child reads only final bases."""
    feed = forked.Feed(int(lens.sum()))
    job = forked.start(lambda: qualities.decode_qualities(qual_payload, lens, feed.array, mate, threads,
                                                          feed.wait, feed.complete), FED_NICE)
    try:
        codes = bases.decode_bases(base_payload, lens, mate, mask, feed.array, feed.publish)
    except BaseException:
        feed.abandon()
        job.cancel()
        raise
    feed.close()
    return codes, job.result()


def decompress_block(body: bytes, block_no: int, base_offset: int = 0, threads: int = 1) -> tuple[list[bytes], int]:
    """Decode a block body and verify each file's bytes; returns (raw chunks, n_records):
    one chunk per file, and the records in each (an interleaved block: one chunk, its halves
    checked, then put back in turn)."""
    r = Reader(body, base=base_offset)
    n_rec, mode, files = read_block_header(r)
    try:
        raw = _decode_verbatim(r, files) if mode == MODE_VERBATIM else _decode_modelled(r, n_rec, files, threads)
    except FormatError as exc:
        raise ChecksumError(f"damaged block: {exc.message}", block=block_no, offset=exc.offset) from exc
    for i, (chunk, (size, crc)) in enumerate(zip(raw, files)):
        if len(chunk) != size or zlib.crc32(chunk) != crc:
            raise ChecksumError(f"read {i + 1}s of the interleaved pairs do not match their stored checksum"
                                if mode == MODE_INTERLEAVED else f"file {i + 1} does not match its stored checksum",
                                block=block_no)
    if mode == MODE_INTERLEAVED:
        try:
            return [interleave.merge(*raw)], 2 * n_rec
        except FormatError as exc:
            raise ChecksumError(f"damaged block: {exc.message}", block=block_no) from exc
    return raw, n_rec
