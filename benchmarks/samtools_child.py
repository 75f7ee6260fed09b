"""Run one ``pysam.samtools`` subcommand in its own process.

Usage: ``python -m benchmarks.samtools_child SUBCOMMAND [ARGS...]``.

pysam's samtools wrappers have stdout pitfalls (ANCHORS.md): ``catch_stdout=True`` buffers
the whole output as one Python string and ``save_stdout`` does not capture ``fastq``.  So
every call runs here, in a child whose fd 1 the parent has already pointed at the output
file, with ``catch_stdout=False``.  Only ``cram_size`` and ``version`` (small text, printed
nothing without capture) are captured and re-printed.
"""

from __future__ import annotations

import sys

_CAPTURED = {"cram_size", "version"}


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write("usage: python -m benchmarks.samtools_child SUBCOMMAND [ARGS...]\n")
        return 2
    import pysam  # imported here so `--help`-style misuse stays cheap

    sub, args = argv[0], argv[1:]
    func = getattr(pysam.samtools, sub, None)
    if func is None:
        sys.stderr.write(f"pysam.samtools has no subcommand {sub!r}\n")
        return 2
    try:
        if sub in _CAPTURED:
            text = func(*args, catch_stdout=True)
            if sub == "version":
                text = f"pysam {pysam.__version__}\n{text}"
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            func(*args, catch_stdout=False)
    except pysam.utils.SamtoolsError as exc:
        sys.stderr.write(f"samtools {sub} failed: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
