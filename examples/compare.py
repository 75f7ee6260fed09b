"""Demo helper: check the restored FASTQ and print seqlm's size next to gzip -9 and xz -9."""

from __future__ import annotations

import gzip
import lzma
import os
import sys


def main(original_gz: str, restored: str, archive: str) -> int:
    with gzip.open(original_gz, "rb") as fh:
        raw = fh.read()
    with open(restored, "rb") as fh:
        same = fh.read() == raw
    sizes = {"raw FASTQ": len(raw), "gzip -9": len(gzip.compress(raw, 9)),
             "xz -9": len(lzma.compress(raw, preset=9)), "seqlm": os.path.getsize(archive)}
    print(f"round trip byte-exact: {'yes' if same else 'NO'}")
    for name, size in sizes.items():
        print(f"{name:>10}: {size:>9} bytes  ratio {len(raw) / size:6.3f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
