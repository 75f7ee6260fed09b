"""Describe an archive without decoding it: counts, and per stream its model and size."""

from __future__ import annotations

import os
from collections import defaultdict

from . import container
from .api import _blocks
from .pipeline import MODE_INTERLEAVED, MODE_VERBATIM, _read_streams, read_block_header, verbatim_records
from .streams import lengths as lengths_stream
from .streams import qualities as qualities_stream
from .streams.ids import CodecId, StreamId
from .varint import Reader

SUMMARY_KEY = {StreamId.NAMES: "names", StreamId.NAMES2: "names", StreamId.LENGTHS: "lengths",
               StreamId.BASES: "bases", StreamId.EXCEPTIONS: "bases", StreamId.QUALITIES: "qualities"}


def _codec_name(sid: int, codec: int) -> str:
    try:
        return CodecId(codec).name.lower()
    except ValueError:
        return f"codec{codec}"


def _model_name(sid: int, codec: int, payload: bytes) -> str:
    """The codec's name, and for qualities coded with a shipped LSTM, which weight file
    (``+runs`` for a context model with run slots)."""
    name = _codec_name(sid, codec)
    if sid == StreamId.QUALITIES and codec in (CodecId.QUAL_MIX, CodecId.QUAL_MATES, CodecId.QUAL_CTX):
        shipped = qualities_stream.shipped_model(payload)
        if shipped:
            name += f"+{shipped}"
    return name


def _add_verbatim_rows(r: Reader, n_files: int, detail: dict[tuple[str, str], dict]) -> None:
    """Each file's raw bytes of a verbatim block (mixed line endings, or the empty lines that
    end a file) as a "verbatim" row: symbols are raw bytes."""
    for codec, n_raw, payload in verbatim_records(r, n_files):
        model = _codec_name(StreamId.VERBATIM, codec)
        row = detail.setdefault(("verbatim", model), {"stream": "verbatim", "model": model, "bytes": 0, "symbols": 0})
        row["bytes"] += len(payload)
        row["symbols"] += n_raw


def archive_info(path: str) -> dict:
    """The figures ``seqlm info`` prints (and ``--json`` returns)."""
    size = os.path.getsize(path)
    detail: dict[tuple[str, str], dict] = {}
    summary: dict[str, dict] = defaultdict(lambda: {"bytes": 0, "symbols": 0})
    reads = bases = blocks = interleaved = 0
    with open(path, "rb") as fh:
        header, header_len = container.read_header(fh)
        fh.seek(len(container.MAGIC))
        major, minor = fh.read(2)         # the archive's own format, not this reader's
        fh.seek(header_len)
        n_files = int(header.get("n_files", 1))
        for item in _blocks(fh, header_len):
            if isinstance(item, container.Trailer):
                break
            body = item[0]
            blocks += 1
            r = Reader(body)
            n_rec, mode, files = read_block_header(r)
            reads += n_rec * len(files)   # an interleaved block: one file, coded as its two halves
            interleaved += mode == MODE_INTERLEAVED
            if mode == MODE_VERBATIM:   # counted as "other"; the table still shows its bytes
                summary["other"]["bytes"] += len(body)
                _add_verbatim_rows(r, len(files), detail)
                continue
            streams = _read_streams(r)
            for sid, (codec, n_sym, payload) in streams.items():
                name = StreamId(sid).name.lower() if sid in StreamId._value2member_map_ else f"stream{sid}"
                model = _model_name(sid, codec, payload)
                row = detail.setdefault((name, model), {"stream": name, "model": model, "bytes": 0, "symbols": 0})
                row["bytes"] += len(payload)
                row["symbols"] += n_sym
                key = SUMMARY_KEY.get(StreamId(sid), "other") if sid in StreamId._value2member_map_ else "other"
                summary[key]["bytes"] += len(payload)
                if sid == StreamId.LENGTHS:
                    bases += int(lengths_stream.decode_lengths(payload, n_sym, len(files)).sum())
                if sid in (StreamId.BASES, StreamId.EXCEPTIONS, StreamId.QUALITIES, StreamId.NAMES,
                           StreamId.NAMES2):
                    summary[key]["symbols"] += n_sym
            summary["other"]["bytes"] += len(body) - sum(len(p) for _, _, p in streams.values()) + container.BLOCK_FRAMING
    raw = sum(f[0] for f in item.files) if isinstance(item, container.Trailer) else 0
    accounted = sum(v["bytes"] for v in summary.values())
    summary["other"]["bytes"] += size - accounted
    for key in ("names", "lengths", "bases", "qualities", "other"):
        entry = summary[key]
        entry["bits_per_symbol"] = 8 * entry["bytes"] / entry["symbols"] if entry["symbols"] else None
    for row in detail.values():
        row["bits_per_symbol"] = 8 * row["bytes"] / row["symbols"] if row["symbols"] else None
    summary["names"]["bytes_per_read"] = summary["names"]["bytes"] / reads if reads else None
    return {"format_version": f"{major}.{minor}", "files": n_files, "reads": reads, "bases": bases,
            "blocks": blocks, "interleaved_blocks": interleaved, "archive_bytes": size, "raw_bytes": raw,
            "ratio": raw / size if size else 0.0, "bits_per_base": 8 * size / bases if bases else 0.0,
            "config": header.get("config", {}), "streams": dict(summary), "detail": list(detail.values())}
