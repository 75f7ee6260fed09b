"""One measured codec call in a fresh process.

``python -m benchmarks.worker REQUEST.json RESULT.json``.  The runner starts one worker per
compress or decompress call, so the peak RSS reported covers exactly the processes that
call spawned (``ru_maxrss`` of children is a running maximum, so it must start from zero in
a fresh process).  Each tool runs under GNU time (``codecs.run_tool``), whose figure
excludes the pages a fork inherits from this Python worker; ``RUSAGE_CHILDREN`` is the
fallback.  Wall time is taken around the codec call, excluding the worker's own start-up.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from pathlib import Path

from .codecs import CodecError, peak_rss_kb
from .registry import make_codec


def _run(request: dict) -> dict:  # type: ignore[type-arg]
    codec = make_codec(request["codec"])
    outdir = Path(request["outdir"])
    outdir.mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in request["inputs"]]
    start = time.perf_counter()
    if request["op"] == "compress":
        produced = codec.compress(paths, outdir)
    else:
        produced = codec.decompress(paths, outdir, int(request["n_outputs"]))
    wall = time.perf_counter() - start
    return {"ok": True, "paths": [str(p) for p in produced], "wall_s": wall,
            "notes": codec.notes()}


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[0]).read_text())
    try:
        result = _run(request)
    except CodecError as exc:
        result = {"ok": False, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - any crash becomes a failed row, not a dead run
        tb = traceback.format_exc(limit=3).strip().splitlines()
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc} ({tb[-2].strip()})"}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    result["tools_maxrss_kb"] = peak_rss_kb()
    result["children_maxrss_kb"] = children.ru_maxrss
    result["self_maxrss_kb"] = own.ru_maxrss
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
