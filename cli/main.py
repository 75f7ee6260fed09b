"""The ``seqlm`` command line: compress, decompress, verify, info (+ the heads).

Exit codes: 0 success, 1 bad data or archive (one line on stderr, no traceback),
2 usage error (click), 130 interrupted. Library code raises; only this module
prints and chooses exit codes (cutadapt's rule).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import BinaryIO, NoReturn

import click

from codec import FORMAT_VERSION, __version__
from codec.config import DEFAULT_BLOCK_MB, DEFAULT_LEVEL, MAX_LEVEL, MIN_LEVEL, CodecConfig
from codec.errors import CodecError

from .progress import progress_bar

# codec.api (numpy, numba, the models) is imported inside the commands, so that
# `--help` is instant and an interrupt during start-up still exits quietly.

SUFFIX = ".seqlm"


class CliError(click.ClickException):
    """A one-line error with exit code 1."""

    def show(self, file=None) -> None:  # noqa: D102 - click API
        click.echo(f"seqlm: error: {self.format_message()}", err=True)


def _fail(message: str) -> None:
    raise CliError(message)


@contextmanager
def _errors(archive: str | None = None) -> Iterator[None]:
    """Map library and OS errors to one line and exit code 1; errors of the codec are
    prefixed with ``archive`` when one is read (FASTQ errors name their own file)."""
    try:
        yield
    except CodecError as exc:
        _fail(str(exc) if archive is None else f"{'stdin' if archive == '-' else archive}: {exc}")
    except OSError as exc:
        _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    except MemoryError:
        _fail("out of memory (try a smaller --block-size)")


def _check_target(path: str, force: bool) -> None:
    if os.path.exists(path) and not force:
        _fail(f"{path} already exists (use -f to overwrite)")


@contextmanager
def _outputs(paths: list[str] | None, force: bool) -> Iterator[list[BinaryIO]]:
    """Atomic output files, or stdout when ``paths`` is None."""
    from codec.api import atomic_output

    if paths is None:
        yield [sys.stdout.buffer]
        sys.stdout.buffer.flush()
        return
    for p in paths:
        _check_target(p, force)
    with ExitStack() as stack:
        yield [stack.enter_context(atomic_output(p)) for p in paths]


def _threads_option(func):
    return click.option("-t", "--threads", type=click.IntRange(0, 256), default=0, show_default=True,
                        help="0 = one block at a time, its streams on every core (memory of one block). "
                             "N = N blocks at once in worker processes (N blocks in memory), or a one-block "
                             "input's streams on N cores. Never changes the output bytes.")(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version",
                      message=f"seqlm %(version)s (archive format {FORMAT_VERSION})")
def main() -> None:
    """seqlm: lossless FASTQ compression driven by a learned predictor.

    \b
    Examples:
      seqlm compress reads.fastq.gz               -> reads.fastq.gz.seqlm
      seqlm compress R1.fq.gz R2.fq.gz -o pair.seqlm
      seqlm decompress pair.seqlm -o R1.fq -o R2.fq
      seqlm verify pair.seqlm && seqlm info pair.seqlm --json
    """


def _default_archive(inputs: tuple[str, ...]) -> str:
    return inputs[0] + SUFFIX


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="Archive path (default: first input + .seqlm; '-' = stdout).")
@click.option("-c", "--stdout", "to_stdout", is_flag=True, help="Write the archive to standard output.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("-k", "--keep", is_flag=True, help="Keep input files (the default; for gzip habits).")
@click.option("--rm", "remove", is_flag=True, help="Delete the inputs after a successful compression.")
@click.option("-l", "--level", type=click.IntRange(MIN_LEVEL, MAX_LEVEL), default=DEFAULT_LEVEL,
              show_default=True, help="1-2 = context models only (1 without the bases' calibration "
                                      "and tolerant stages); 3-5 mix in the shipped quality LSTM where it saves "
                                      "20 / 10 / 5 % on a block's first reads, 6 always; 7-9 also adapt it to each "
                                      "block (pays on runs unlike the shipped models' training data), kept "
                                      "where it codes smaller (slow); 9 also fits a base LSTM per "
                                      "block; from 6 short reads also try lzma on their bases.")
@click.option("--block-size", type=click.IntRange(1, 4096), default=DEFAULT_BLOCK_MB, show_default=True,
              help="Raw FASTQ megabytes per block, R1 and R2 together. Bounds memory (a block needs up "
                   "to ~40x its size) and is the unit of parallel work; larger blocks share more context.")
@_threads_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
@click.option("-v", "--verbose", is_flag=True, help="Print a summary (sizes, ratio) to stderr.")
def compress(inputs, output, to_stdout, force, keep, remove, level, block_size, threads, quiet, verbose):
    """Compress a FASTQ file, or an R1/R2 pair into one archive.

    Inputs may be plain or compressed with gzip, bzip2, xz or zstd (detected
    from the bytes; zstd needs the zstandard package) and '-' reads standard
    input. A single file of interleaved pairs (each read 1 followed by its
    read 2, names alike) is found and coded as a pair, and comes back as one
    file.
    """
    if len(inputs) > 2:
        _fail("give one FASTQ file or an R1/R2 pair")
    if remove and keep:
        _fail("--rm and -k contradict each other")
    if to_stdout or output == "-" or (output is None and inputs[0] == "-"):
        target = None
    else:
        target = output or _default_archive(inputs)
    from codec.api import compress_stream

    config = CodecConfig(level=level, block_bytes=block_size << 20, threads=threads)
    total = sum(os.path.getsize(p) for p in inputs if p != "-" and os.path.isfile(p))
    with _errors(), progress_bar(total, "compress", quiet) as tick, _outputs(
            None if target is None else [target], force) as outs:
        stats = compress_stream(list(inputs), outs[0], config, tick)
    if verbose and not quiet:
        ratio = stats["raw_bytes"] / max(stats["archive_bytes"], 1)
        click.echo(f"{stats['records']} records, {stats['raw_bytes']} -> {stats['archive_bytes']} bytes "
                   f"(ratio {ratio:.3f})", err=True)
    if remove:
        for p in inputs:
            if p != "-":
                os.unlink(p)


COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")


def _strip_compression(name: str) -> str:
    """The restored file is plain FASTQ, so a '.gz' (or .bz2, .xz, .zst) the input had is
    dropped from its name."""
    for suffix in COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return name


def _default_outputs(archive: str, n_files: int, header_inputs: list[str]) -> list[str]:
    base = _strip_compression(archive[:-len(SUFFIX)]) if archive.endswith(SUFFIX) else archive + ".out"
    if n_files == 1:
        return [base]
    directory = os.path.dirname(archive)
    second = header_inputs[1] if len(header_inputs) > 1 and header_inputs[1] != "-" else None
    return [base, os.path.join(directory, _strip_compression(second)) if second else base + ".R2"]


def _peek_header(archive: str) -> dict:
    from codec import container

    with open(archive, "rb") as fh:
        return container.read_header(fh)[0]


@main.command()
@click.argument("archive", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--output", "outputs", multiple=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Output FASTQ; give it twice for a paired archive (R1 then R2).")
@click.option("-c", "--stdout", "to_stdout", is_flag=True,
              help="Write the FASTQ to standard output; a paired archive's interleaved (read 1, then its "
                   "read 2), as bwa mem -p reads it.")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing output files.")
@click.option("-k", "--keep", is_flag=True, help="Keep the archive (the default).")
@click.option("--rm", "remove", is_flag=True, help="Delete the archive after a successful decompression.")
@_threads_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def decompress(archive, outputs, to_stdout, force, keep, remove, threads, quiet):
    """Restore the original FASTQ file(s), byte for byte (checksums verified)."""
    from codec.api import decompress_stream

    with _errors(archive):
        # standard input cannot be peeked at: decompress_stream checks the outputs' count there
        header = {} if archive == "-" else _peek_header(archive)
        n_files = int(header.get("n_files", 1)) if header else 0   # 0: not known yet
        if to_stdout or list(outputs) == ["-"] or (not outputs and archive == "-"):
            targets = None
        elif outputs:
            if n_files and len(outputs) != n_files:
                _fail(f"archive holds {n_files} file(s) but {len(outputs)} -o given"
                      + (" (or -c for one interleaved stream)" if n_files == 2 else ""))
            targets = list(outputs)
        else:
            targets = _default_outputs(archive, n_files, header.get("inputs", []))
        total = os.path.getsize(archive) if archive != "-" else 0
        with open_source(archive) as src, progress_bar(0, "decompress", quiet or not total) as tick, \
                _outputs(targets, force) as outs:
            decompress_stream(src, outs, threads, tick, interleave_pairs=targets is None)
    if remove and archive != "-":
        os.unlink(archive)


@contextmanager
def open_source(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdin.buffer
        return
    with open(path, "rb") as fh:
        yield fh


@main.command()
@click.argument("archives", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@_threads_option
def verify(archives, threads):
    """Fully decode archives and check every checksum; exit 1 on any damage."""
    from codec.api import decompress_stream

    for archive in archives:
        with _errors(archive), open_source(archive) as src:
            stats = decompress_stream(src, None, threads)
        click.echo(f"{archive}: OK ({stats['records']} records, {stats['raw_bytes']} bytes)")


@main.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of a table.")
def info(archive, as_json):
    """Show what an archive holds: reads, bases, and per stream its model and size."""
    from codec.inspect import archive_info

    with _errors(archive):
        report = archive_info(archive)
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    click.echo(f"{archive}: format {report['format_version']}, {report['files']} file(s), "
               f"{report['reads']} reads, {report['bases']} bases, {report['blocks']} block(s)"
               + (f", {report['interleaved_blocks']} of interleaved pairs (coded as pairs)"
                  if report["interleaved_blocks"] else ""))
    click.echo(f"archive {report['archive_bytes']} bytes, original {report['raw_bytes']} bytes, "
               f"ratio {report['ratio']:.3f}, {report['bits_per_base']:.3f} bits/base")
    width = max([14] + [len(row["model"]) + 2 for row in report["detail"]])
    click.echo(f"{'stream':<12}{'model':<{width}}{'bytes':>12}{'symbols':>14}{'bits/sym':>10}")
    for row in report["detail"]:
        bps = f"{row['bits_per_symbol']:.3f}" if row["symbols"] else "-"
        click.echo(f"{row['stream']:<12}{row['model']:<{width}}{row['bytes']:>12}{row['symbols']:>14}{bps:>10}")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI in-process and return its exit code (for tests and embedding)."""
    try:
        main.main(args=argv, prog_name="seqlm", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("seqlm: interrupted", err=True)
        return 130
    except BrokenPipeError:  # e.g. `seqlm decompress x -c | head`: the reader left, not an error
        sys.stderr.close()
        return 141
    return 0


def _exit_now(code: int) -> NoReturn:
    """Flush the standard streams and leave without the interpreter's teardown.

    Tearing down numba's compiled code and the rest takes about 0.3 s at exit, a
    fifth of a whole run on a 2 MB file. By now every output file is complete:
    written to a temporary name, closed and renamed (or removed after an error)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # reader gone, or closed above
            code = code or 141
    os._exit(code)


def entry() -> None:
    """Console-script entry point: exit codes 0 / 1 data / 2 usage / 130 interrupt."""
    try:
        code = run()
    except KeyboardInterrupt:
        click.echo("seqlm: interrupted", err=True)
        code = 130
    _exit_now(code)


def _register_heads() -> None:
    """The predictor's sibling uses: train, generate, gapfill, classify."""
    from .heads import classify_group, gapfill_cmd, generate_cmd, train_cmd

    for command in (train_cmd, generate_cmd, gapfill_cmd, classify_group):
        main.add_command(command)


_register_heads()

if __name__ == "__main__":  # pragma: no cover
    entry()
