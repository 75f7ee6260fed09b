"""One PNG per dataset: compression ratio against compression speed (log axis)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def plot_dataset(dataset: dict[str, Any], path: Path) -> bool:
    """Write the plot; False when no row has figures to show."""
    rows = [r for r in dataset["rows"] if r["status"] == "ok" and r.get("comp_mb_s")]
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for r in rows:
        colour = "tab:red" if not r["is_anchor"] else "tab:blue"
        face = colour if r["byte_exact"] else "none"
        ax.scatter(r["comp_mb_s"], r["ratio"], s=50, edgecolors=colour, facecolors=face,
                   zorder=3)
        label = r["label"] + ("" if r["byte_exact"] else " (not exact)")
        ax.annotate(label, (r["comp_mb_s"], r["ratio"]), textcoords="offset points",
                    xytext=(5, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("compression speed (MB/s of raw FASTQ, log scale)")
    ax.set_ylabel("compression ratio (raw FASTQ / compressed)")
    title = dataset["name"] + (" (R1+R2)" if dataset["paired"] else "")
    ax.set_title(f"{title}\n{dataset['raw_bytes'] / 1e6:.1f} MB raw; hollow = not byte-exact",
                 fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.margins(x=0.25, y=0.1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_all(results: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for dataset in results["datasets"]:
        path = out_dir / f"{safe_name(dataset['name'])}.png"
        if plot_dataset(dataset, path):
            written.append(path)
    return written
