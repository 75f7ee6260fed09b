"""How fast the host ran during a benchmark, against ../shared/ANCHORS.md.

The machine is shared: the same code on the same file has run 30 % apart within the
hour. ANCHORS.md timed gzip, bzip2, xz and zstd on every dataset with nothing else
running. The geometric mean, over every (anchor, dataset) pair, of this run's compression
time over that reference time says how slow the host was during this run (the *host
factor*, 1.0 = as fast as then). seqlm's MB/s times that factor estimates what it would
have reached at the reference speed: a figure that can be compared across runs and hours,
where the raw MB/s cannot. It is an estimate: seqlm keeps two cores busy and the anchors
one, so contention need not slow both alike.

Only compression times of at least MIN_REFERENCE_S count: the anchors' decompressions and
their small-file compressions take a few hundredths of a second, mostly start-up.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

# ANCHORS.md tool labels (per-dataset tables) -> benchmark codec ids
ANCHOR_LABELS = {"gzip -9": "gzip", "bzip2 -9": "bzip2", "xz -9 -T1": "xz", "zstd -19 --long=27": "zstd"}
MIN_REFERENCE_S = 0.3
DEFAULT_ANCHORS = Path(__file__).resolve().parents[2] / "shared" / "ANCHORS.md"
_SECTION = re.compile(r"^### \w+ — (?P<name>\S+)")


def reference_times(text: str) -> dict[tuple[str, str], float]:
    """``(dataset name, codec id) -> compression seconds`` from ANCHORS.md's per-dataset tables."""
    out: dict[tuple[str, str], float] = {}
    name, comp_col = None, None
    for line in text.splitlines():
        section = _SECTION.match(line)
        if section:
            name, comp_col = section["name"], None
            continue
        if name is None or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "tool":
            comp_col = cells.index("comp s") if "comp s" in cells else None
            continue
        codec = ANCHOR_LABELS.get(cells[0])
        if codec is None or comp_col is None or comp_col >= len(cells):
            continue
        try:
            out[(name, codec)] = float(cells[comp_col])
        except ValueError:
            continue
    return out


def host_factor(results: dict[str, Any], reference: dict[tuple[str, str], float]) -> tuple[float, int] | None:
    """(geometric mean of this run's / the reference's compression time, pairs counted);
    datasets cut to their first reads (``--quick``, ``--max-reads``) are not comparable."""
    logs = []
    for d in results["datasets"]:
        if d.get("subset"):
            continue
        for r in d["rows"]:
            ref = reference.get((d["name"], r["codec"]))
            if r["status"] == "ok" and ref is not None and ref >= MIN_REFERENCE_S and r.get("comp_s"):
                logs.append(math.log(r["comp_s"] / ref))
    if not logs:
        return None
    return math.exp(sum(logs) / len(logs)), len(logs)


def load_reference(path: Path = DEFAULT_ANCHORS) -> dict[tuple[str, str], float]:
    """The reference times, or none when ANCHORS.md is not beside the repository."""
    return reference_times(path.read_text()) if path.is_file() else {}
