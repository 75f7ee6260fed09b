"""File-level compression and decompression: blocks in order, optionally on several cores.

Output is always written to a temporary file beside the target and renamed at
the end, so an error never leaves a half-written file behind. The thread count
changes only the speed: each block is coded on its own, so the archive bytes are
identical for any ``threads`` (see :func:`plan_threads`: blocks in worker processes,
or the streams of one block on threads).
"""

from __future__ import annotations

import io
import itertools
import os
import platform
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import BinaryIO

import numpy as np

from . import container
from . import FORMAT_VERSION  # noqa: F401  (re-exported)
from .config import CodecConfig
from .errors import ChecksumError, FormatError
from .fastq.interleave import interleave
from .fastq.reader import iter_chunks
from .pipeline import compress_block, decompress_block

Progress = Callable[[int], None]


def _versions() -> dict:
    import constriction  # noqa: F401  (version recorded for the decoder's information)
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "numpy": np.__version__}
    for pkg in ("seqlm", "constriction", "numba"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def _drain(items: list) -> Iterator:
    """Yield and forget the items of a peeked list (a coded block's input is freed at once)."""
    while items:
        yield items.pop(0)


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def plan_threads(threads: int, one_block: bool) -> tuple[int, int]:
    """(worker processes, stream threads per block) for a ``threads`` setting.

    0 (the default) codes one block at a time with its streams on every core, so
    memory stays that of one block (up to ~40x the block size) on any machine.
    N >= 1 codes a one-block input on N stream threads, and a larger input N blocks
    at a time in worker processes (N blocks in memory)."""
    if threads == 0:
        return 1, available_cores()
    return (1, threads) if one_block else (threads, 1)


@contextmanager
def _executor(threads: int) -> Iterator[Executor | None]:
    if threads <= 1:
        yield None
        return
    with ProcessPoolExecutor(max_workers=threads) as pool:
        yield pool


def _ordered_map(pool: Executor | None, fn, items: Iterable, window: int) -> Iterator:
    """Like ``map`` but with at most ``window`` items in flight (bounded memory)."""
    if pool is None:
        for item in items:
            yield fn(*item)
        return
    pending = []
    for item in items:
        pending.append(pool.submit(fn, *item))
        if len(pending) >= window:
            yield pending.pop(0).result()
    for fut in pending:
        yield fut.result()


def compress_stream(inputs: list[str], out: BinaryIO, config: CodecConfig,
                    progress: Progress | None = None) -> dict:
    """Compress FASTQ ``inputs`` (1 file or an R1/R2 pair; '-' = stdin) into ``out``."""
    header = {"format": "seqlm", "config": config.to_dict(), "n_files": len(inputs),
              "inputs": [os.path.basename(p) if p != "-" else "-" for p in inputs],
              "versions": _versions()}
    offset = container.write_header(out, header)
    offsets, n_records = [], 0
    crcs = [0] * len(inputs)
    sizes = [0] * len(inputs)
    chunks_iter = iter_chunks(inputs, config.block_bytes)
    first = list(itertools.islice(chunks_iter, 2))
    workers, stream_threads = plan_threads(config.threads, one_block=len(first) < 2)
    jobs = ((chunks, starts, config.level, inputs, stream_threads)
            for chunks, starts in itertools.chain(_drain(first), chunks_iter))
    with _executor(workers) as pool:
        for result in _ordered_map(pool, compress_block, jobs, workers + 1):
            offsets.append(offset)
            offset += container.write_block(out, result.body)
            n_records += result.n_records
            for i, chunk in enumerate(result.raw):
                crcs[i] = zlib.crc32(chunk, crcs[i])
                sizes[i] += len(chunk)
            if progress:
                progress(sum(len(c) for c in result.raw))
    offset += container.write_trailer(out, container.Trailer(len(offsets), n_records, list(zip(sizes, crcs)),
                                                             offsets))
    return {"records": n_records, "raw_bytes": sum(sizes), "archive_bytes": offset}


def _blocks(src: BinaryIO, header_len: int) -> Iterator[tuple[bytes, int, int] | container.Trailer]:
    offset, index = header_len, 0
    while True:
        kind, item = container.read_next(src, offset, index)
        if kind == "trailer":
            yield item  # type: ignore[misc]
            return
        yield item, index, offset + container.BLOCK_FRAMING  # type: ignore[misc]
        offset += container.BLOCK_FRAMING + len(item)  # type: ignore[arg-type]
        index += 1


def decompress_stream(src: BinaryIO, outs: list[BinaryIO] | None, threads: int = 0,
                      progress: Progress | None = None, interleave_pairs: bool = False) -> dict:
    """Decode an archive; write each file's bytes to ``outs`` (None = verify only).

    ``interleave_pairs``: a paired archive given one output gets its records in turn, read 1
    then read 2 (:func:`codec.fastq.interleave.interleave`); the checksums are still each file's."""
    header, header_len = container.read_header(src)
    n_files = header.get("n_files")
    if n_files not in (1, 2):
        raise FormatError("header names an impossible number of files")
    interleaved = interleave_pairs and n_files == 2 and outs is not None and len(outs) == 1
    if outs is not None and len(outs) != n_files and not interleaved:
        raise FormatError(f"archive holds {n_files} file(s); {len(outs)} output(s) given")
    crcs, sizes, n_records, n_blocks = [0] * n_files, [0] * n_files, 0, 0
    trailer: container.Trailer | None = None

    def jobs():
        nonlocal trailer
        for item in _blocks(src, header_len):
            if isinstance(item, container.Trailer):
                trailer = item
                return
            yield item

    blocks = jobs()
    first = list(itertools.islice(blocks, 2))
    workers, stream_threads = plan_threads(threads, one_block=len(first) < 2)
    work = ((*item, stream_threads) for item in itertools.chain(_drain(first), blocks))
    with _executor(workers) as pool:
        for raw, n_rec in _ordered_map(pool, decompress_block, work, workers + 1):
            if len(raw) != n_files:
                raise FormatError(f"block {n_blocks} holds {len(raw)} files, header says {n_files}")
            for i, chunk in enumerate(raw):
                crcs[i] = zlib.crc32(chunk, crcs[i])
                sizes[i] += len(chunk)
            if interleaved:
                outs[0].write(interleave(*raw))  # type: ignore[index]
            elif outs is not None:
                for out, chunk in zip(outs, raw):
                    out.write(chunk)
            n_records += n_rec
            n_blocks += 1
            if progress:
                progress(sum(len(c) for c in raw))
    _check_trailer(trailer, n_blocks, n_records, list(zip(sizes, crcs)))
    return {"records": n_records, "raw_bytes": sum(sizes), "files": n_files, "header": header}


def _check_trailer(trailer: container.Trailer | None, n_blocks: int, n_records: int,
                   files: list[tuple[int, int]]) -> None:
    if trailer is None:
        raise FormatError("truncated archive: trailer missing")
    if trailer.n_blocks != n_blocks or trailer.n_records != n_records:
        raise ChecksumError(f"archive holds {n_blocks} blocks / {n_records} records, "
                            f"trailer says {trailer.n_blocks} / {trailer.n_records}")
    if [tuple(f) for f in trailer.files] != files:
        raise ChecksumError("whole-file checksum mismatch")


@contextmanager
def atomic_output(path: str) -> Iterator[BinaryIO]:
    """A temporary file beside ``path``, renamed over it only on success."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".seqlm-", suffix=".tmp", dir=directory)
    except OSError as exc:   # name the output asked for, not the temporary name
        raise OSError(exc.errno, f"cannot write there ({exc.strerror})", path) from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a new file should honour the umask
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def compress(data: bytes, config: CodecConfig | None = None, mate: bytes | None = None) -> bytes:
    """In-memory compression of FASTQ bytes (and optionally its R2 mate)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, blob in enumerate([data] if mate is None else [data, mate]):
            path = os.path.join(tmp, f"in{i}.fastq")
            with open(path, "wb") as fh:
                fh.write(blob)
            paths.append(path)
        out = io.BytesIO()
        compress_stream(paths, out, config or CodecConfig())
        return out.getvalue()


def decompress(blob: bytes) -> bytes | tuple[bytes, bytes]:
    """In-memory decompression; a paired archive gives (R1 bytes, R2 bytes)."""
    header, _ = container.read_header(io.BytesIO(blob))
    outs = [io.BytesIO() for _ in range(int(header.get("n_files", 1)))]
    decompress_stream(io.BytesIO(blob), outs)
    values = [o.getvalue() for o in outs]
    return values[0] if len(values) == 1 else (values[0], values[1])
