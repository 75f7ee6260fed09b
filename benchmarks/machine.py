"""Machine and software description stored with every results.json."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("torch", "constriction", "numpy", "numba", "pysam", "zstandard", "matplotlib", "seqlm")
# the flags that change how fast the compiled kernels run (numba targets the host CPU)
ISA_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512vnni")


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cpu_core() -> str:
    """Which core the name hides: "AMD EPYC" covers Zen 2 to Zen 5, whose speed on seqlm's
    kernels differs far more than on xz or gzip, so results from two hosts can only be
    compared when this matches. LLVM's name for the host (what numba compiles for), the
    family/model numbers, the vector extensions and the clock."""
    fields: dict[str, str] = {}
    for line in _read("/proc/cpuinfo").splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    parts = []
    try:
        import llvmlite.binding as llvm
        parts.append(llvm.get_host_cpu_name())
    except Exception:  # noqa: BLE001 -- optional: llvmlite comes with numba
        pass
    if "cpu family" in fields:
        parts.append(f"family {fields['cpu family']} model {fields.get('model', '?')}")
    flags = set(fields.get("flags", "").split())
    parts.append("+".join(f for f in ISA_FLAGS if f in flags) or "no avx2")
    if "cpu MHz" in fields:
        parts.append(f"{float(fields['cpu MHz']):.0f} MHz")
    return ", ".join(parts)


def memory_gib() -> float | None:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return None


def os_name() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.platform()


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_revision() -> str:
    """``<commit>[+dirty]`` of the checkout, or 'unknown' (no commits yet, no git)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=30, check=False).stdout.strip()
    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (commit or "no-commit") + ("+dirty" if dirty else "")


def describe() -> dict[str, object]:
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cpu_core": cpu_core(),
        "cpu_count": os.cpu_count(),
        "memory_gib": memory_gib(),
        "os": os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "git": git_revision(),
    }
