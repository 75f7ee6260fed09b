"""seqlm benchmark harness: seqlm against gzip, bzip2, xz, zstd and CRAM 3.1 in one run.

Run ``python -m benchmarks --help``.  Not part of the installed ``seqlm`` package.
"""
