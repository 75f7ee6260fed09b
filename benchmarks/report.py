"""Render results.json as Markdown.

``python -m benchmarks.report [results.json] [-o results.md]`` re-renders the Markdown from
the JSON (default: ``benchmarks/results/results.json`` -> ``results.md`` beside it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from .hostspeed import MIN_REFERENCE_S, host_factor, load_reference

Row = dict[str, Any]
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "results.json"
LOSSLESS_CRAM = "cram-lossless"


def fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def fmt_int(value: int | None) -> str:
    return "" if value is None else f"{value:,d}"


def table(header: Sequence[str], align: str, rows: Iterable[Sequence[str]]) -> list[str]:
    """Markdown table; ``align`` has one of ``l``/``r``/``c`` per column."""
    marks = {"l": "---", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def ok_rows(dataset: dict[str, Any]) -> list[Row]:
    return [r for r in dataset["rows"] if r["status"] == "ok"]


def seqlm_row(dataset: dict[str, Any]) -> Row | None:
    rows = [r for r in ok_rows(dataset) if not r["is_anchor"]]
    default = [r for r in rows if r["codec"] == "seqlm"]
    return (default or rows or [None])[0]


def best_anchor(dataset: dict[str, Any]) -> Row | None:
    """The smallest byte-exact anchor row (seqlm itself excluded)."""
    rows = [r for r in ok_rows(dataset) if r["is_anchor"] and r["byte_exact"]]
    return min(rows, key=lambda r: r["compressed_bytes"], default=None)


def row_by_codec(dataset: dict[str, Any], key: str) -> Row | None:
    return next((r for r in ok_rows(dataset) if r["codec"] == key), None)


def dataset_title(d: dict[str, Any]) -> str:
    return d["name"] + (" (R1+R2)" if d["paired"] else "")


# --- sections -------------------------------------------------------------------------------

def header_section(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    pk = m.get("packages", {})
    core = f" ({m['cpu_core']})" if m.get("cpu_core") else ""   # absent from older results
    lines = [
        "# seqlm benchmark results", "",
        f"Generated {m['date']} by `{' '.join(results['command'])}` "
        f"(schema {results['schema_version']}, repo {m.get('git', '?')}).", "",
        f"Machine: {m['cpu']}{core}, {m['cpu_count']} cores, {m.get('memory_gib')} GiB RAM, "
        f"{m['os']} (kernel {m['kernel']}); Python {m['python']}, torch {pk.get('torch')}, "
        f"constriction {pk.get('constriction')}, numba {pk.get('numba')}, pysam {pk.get('pysam')}.", "",
        "bits/base = 8 x compressed bytes / bases (everything counted). ratio = raw FASTQ / "
        "compressed. MB/s = raw FASTQ MB (10^6 B) / wall s (median of `runs`). RSS = largest "
        "peak resident set of any one of the codec's processes (not summed over processes). "
        "`*` = not byte-exact (not a lossless anchor). See benchmarks/README.md.", "",
    ]
    if results.get("elapsed_s") is not None:
        lines += [f"Total benchmark time: {results['elapsed_s'] / 60:.1f} min.", ""]
    for key, seconds in results.get("warm_up_s", {}).items():
        lines += [f"Warm-up of `{key}` before any timed run: {seconds:.1f} s for a round trip of "
                  "the first reads of every dataset, which compiles the numba kernels each kind of "
                  "data needs (once after an install, cached on disk afterwards; counted in no row).", ""]
    return lines


def codecs_section(results: dict[str, Any]) -> list[str]:
    rows = [[f"`{c['codec']}`", c["label"], c["version"], str(c["threads"]),
             "yes" if c["available"] else f"no: {c['reason']}"] for c in results["codecs"]]
    lines = ["## Codecs", ""]
    lines += table(["id", "codec", "version", "threads", "available"], "lllrl", rows)
    for note in results.get("skipped", []):
        lines.append(f"\nSkipped `{note['codec']}`: {note['reason']}.")
    return lines + [""]


def headline_section(results: dict[str, Any]) -> list[str]:
    size_rows, stream_rows = [], []
    for d in results["datasets"]:
        ours, best, cram = seqlm_row(d), best_anchor(d), row_by_codec(d, LOSSLESS_CRAM)
        size_rows.append(_headline_size(d, ours, best))
        stream_rows.append(_headline_streams(d, ours, cram))
    lines = ["## Headline: seqlm vs the best byte-exact anchor", ""]
    lines += table(["dataset", "reads", "raw MB", "seqlm bits/base", "best byte-exact anchor",
                    "anchor bits/base", "seqlm size vs anchor", "seqlm comp MB/s",
                    "seqlm decomp MB/s", "seqlm exact"], "lrrrlrrrrc", size_rows)
    lines += ["", "Stream breakdown, seqlm beside CRAM 3.1 + header wrapper "
              "(names in bytes/read, bases in bits/base, qualities in bits/qual, other in bytes):",
              ""]
    lines += table(["dataset", "names seqlm", "names CRAM", "bases seqlm", "bases CRAM",
                    "quals seqlm", "quals CRAM", "other seqlm", "other CRAM"], "lrrrrrrrr",
                   stream_rows)
    return lines + [""]


def _headline_size(d: dict[str, Any], ours: Row | None, best: Row | None) -> list[str]:
    delta = ""
    if ours and best:
        delta = f"{100 * (ours['compressed_bytes'] / best['compressed_bytes'] - 1):+.1f} %"
    return [dataset_title(d), fmt_int(d["reads"]), fmt(d["raw_bytes"] / 1e6, 1),
            fmt(ours["bits_per_base"]) if ours else _failed(d, "seqlm"),
            best["label"] if best else "—", fmt(best["bits_per_base"]) if best else "",
            delta, fmt(ours["comp_mb_s"], 2) if ours else "",
            fmt(ours["decomp_mb_s"], 2) if ours else "",
            ("yes" if ours["byte_exact"] else "**no**") if ours else ""]


def _headline_streams(d: dict[str, Any], ours: Row | None, cram: Row | None) -> list[str]:
    def get(row: Row | None, key: str, digits: int) -> str:
        return fmt(row.get(key), digits) if row and row.get("streams") else ""

    def other(row: Row | None) -> str:
        return fmt_int(row["streams"]["other"]) if row and row.get("streams") else ""

    return [dataset_title(d), get(ours, "names_bytes_per_read", 2),
            get(cram, "names_bytes_per_read", 2), get(ours, "bases_bits_per_base", 3),
            get(cram, "bases_bits_per_base", 3), get(ours, "quals_bits_per_qual", 3),
            get(cram, "quals_bits_per_qual", 3), other(ours), other(cram)]


def _failed(d: dict[str, Any], prefix: str) -> str:
    rows = [r for r in d["rows"] if r["codec"].startswith(prefix)]
    return f"— ({rows[0]['status']})" if rows else "—"


def host_section(results: dict[str, Any], reference: dict[tuple[str, str], float]) -> list[str]:
    """seqlm's MB/s at the host speed of ../shared/ANCHORS.md (:mod:`benchmarks.hostspeed`)."""
    found = host_factor(results, reference)
    if found is None:
        return []
    factor, pairs = found
    lines = ["## Host speed: seqlm's MB/s at the speed of ANCHORS.md's host", "",
             f"The anchors' compressions took {factor:.2f}x their time in ../shared/ANCHORS.md (geometric mean "
             f"over {pairs} (anchor, dataset) pairs of at least {MIN_REFERENCE_S} s there; gzip, bzip2, xz and "
             "zstd, measured there with nothing else running): the host ran "
             f"{abs(100 * (factor - 1)):.0f} % {'slower' if factor >= 1 else 'faster'} than then. seqlm's MB/s "
             "times that factor estimates its speed on the host of ANCHORS.md (an estimate: seqlm keeps two "
             "cores busy, the anchors one).", ""]
    rows = []
    for d in results["datasets"]:
        ours = seqlm_row(d)
        if ours is None:
            continue
        rows.append([dataset_title(d), fmt(ours["comp_mb_s"], 2), fmt(ours["decomp_mb_s"], 2),
                     fmt(ours["comp_mb_s"] * factor, 2), fmt(ours["decomp_mb_s"] * factor, 2)])
    return lines + table(["dataset", "comp MB/s", "decomp MB/s", "comp MB/s at reference",
                          "decomp MB/s at reference"], "lrrrr", rows) + [""]


def startup_section(results: dict[str, Any]) -> list[str]:
    """seqlm's fixed start-up (:func:`benchmarks.run.startup`), and its MB/s net of it, for the
    seqlm codec the other sections show (:func:`seqlm_row`)."""
    measured = results.get("startup_s", {})
    shown = [(d, seqlm_row(d)) for d in results["datasets"]]
    key = next((r["codec"] for _, r in shown if r is not None and r["codec"] in measured), None)
    if key is None:
        return []
    fixed = measured[key]
    comp, dec = fixed["compress_s"], fixed["decompress_s"]
    lines = [f"## Start-up: what every `{key}` call pays before any data", "",
             f"One record (the first of {fixed['dataset']}; of each file, for a pair) took {comp:.2f} s to compress and "
             f"{dec:.2f} s to decompress (median of {fixed['runs']} runs, timed as the rows are): the "
             "interpreter, the imports, numba's set-up and the kernels it loads. At 1.5 MB/s that is the "
             f"whole time of a {1.5 * comp:.1f} MB file. Net MB/s = raw MB / (wall s - start-up): "
             "what the file's own work ran at, in this run (not scaled to the reference host).", ""]
    rows = []
    for d, ours in shown:
        if ours is None or ours["codec"] != key:
            continue
        mb = d["raw_bytes"] / 1e6
        rows.append([dataset_title(d), fmt(ours["comp_mb_s"], 2), fmt(_net(mb, ours["comp_s"], comp), 2),
                     fmt(ours["decomp_mb_s"], 2), fmt(_net(mb, ours["decomp_s"], dec), 2)])
    return lines + table(["dataset", "comp MB/s", "comp MB/s net of start-up", "decomp MB/s",
                          "decomp MB/s net of start-up"], "lrrrr", rows) + [""]


def _net(mb: float, wall_s: float | None, fixed_s: float) -> float | None:
    """MB/s over the time beyond the fixed start-up (None where there is none left)."""
    return mb / (wall_s - fixed_s) if wall_s is not None and wall_s > fixed_s else None


def summary_section(results: dict[str, Any]) -> list[str]:
    labels = [c["label"] for c in results["codecs"]]
    rows = []
    for d in results["datasets"]:
        by_label = {r["label"]: r for r in d["rows"]}
        cells = [dataset_title(d)]
        for label in labels:
            r = by_label.get(label)
            ok = r is not None and r["status"] == "ok"
            cells.append(fmt(r["bits_per_base"]) + ("" if r["byte_exact"] else "*")
                         if ok else "—")
        rows.append(cells)
    lines = ["## Summary: bits/base total (`*` not byte-exact, `—` failed or not run)", ""]
    return lines + table(["dataset", *labels], "l" + "r" * len(labels), rows) + [""]


def dataset_section(d: dict[str, Any]) -> list[str]:
    md5s = ", ".join(f["md5"] for f in d["files"])
    kind = "paired (R1+R2 files)" if d["paired"] else "single file"
    subset = f" ({d['subset']})" if d.get("subset") else ""
    lines = [f"### {dataset_title(d)}", "",
             f"{kind}{subset}; {d['reads']:,d} reads, {d['bases']:,d} bases, "
             f"{d['raw_bytes']:,d} raw FASTQ bytes. md5: {md5s}.", ""]
    header = ["codec", "compressed bytes", "ratio", "bits/base", "names B", "bases B", "quals B",
              "other B", "seq bits/base", "qual bits/qual", "comp MB/s", "decomp MB/s",
              "comp RSS MB", "decomp RSS MB", "runs", "byte-exact"]
    lines += table(header, "l" + "r" * 14 + "c", (_dataset_row(r) for r in d["rows"]))
    lines += _dataset_notes(d)
    return lines + [""]


def _dataset_row(r: Row) -> list[str]:
    if r["status"] != "ok":
        return [r["label"], "—"] + [""] * 13 + [f"{r['status']}: {r['error']}"[:200]]
    s = r.get("streams") or {}
    return [r["label"], fmt_int(r["compressed_bytes"]), fmt(r["ratio"]),
            f"**{fmt(r['bits_per_base'])}**", fmt_int(s.get("names")), fmt_int(s.get("bases")),
            fmt_int(s.get("qualities")), fmt_int(s.get("other")),
            fmt(r.get("bases_bits_per_base")), fmt(r.get("quals_bits_per_qual")),
            fmt(r["comp_mb_s"], 2), fmt(r["decomp_mb_s"], 2), fmt(r["comp_peak_rss_mb"], 0),
            fmt(r["decomp_peak_rss_mb"], 0), str(r["runs"]),
            "yes" if r["byte_exact"] else "**no**"]


def _dataset_notes(d: dict[str, Any]) -> list[str]:
    lines = []
    for r in ok_rows(d):
        if not r["byte_exact"]:
            lines.append(f"- Not byte-exact: {r['label']} — restored md5 "
                         f"{', '.join(r['restored_md5'])}; {r['first_difference']}.")
        if r.get("notes"):
            lines.append(f"- {r['label']}: {r['notes']}.")
    return [""] + lines if lines else []


def render(results: dict[str, Any], reference: dict[tuple[str, str], float] | None = None) -> str:
    """``reference``: ANCHORS.md's compression times (default: read from ../shared beside the repo)."""
    lines = header_section(results) + codecs_section(results)
    if results["datasets"]:
        lines += headline_section(results)
        lines += host_section(results, load_reference() if reference is None else reference)
        lines += startup_section(results)
        lines += summary_section(results)
        lines += ["## Per dataset", ""]
        for d in results["datasets"]:
            lines += dataset_section(d)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    p.add_argument("json", nargs="?", type=Path, default=DEFAULT_JSON)
    p.add_argument("-o", "--output", type=Path, help="default: results.md beside the JSON")
    args = p.parse_args(argv)
    results = json.loads(args.json.read_text())
    out = args.output or args.json.with_name("results.md")
    out.write_text(render(results))
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
