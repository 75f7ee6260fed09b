"""seqlm's codec library: lossless FASTQ compression with learned predictors.

Public API::

    from codec import compress, decompress, CodecConfig
    blob = compress(fastq_bytes, CodecConfig(level=5))
    assert decompress(blob) == fastq_bytes

The heavy modules (numpy, numba kernels, the models) load on first use of
the API, so importing ``codec.config`` or ``codec.errors`` stays instant.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from . import _jitcache
from .config import CodecConfig
from .container import FORMAT_MAJOR, FORMAT_MINOR

_jitcache.configure()

FORMAT_VERSION = f"{FORMAT_MAJOR}.{FORMAT_MINOR}"
_LAZY = {"compress", "decompress", "compress_stream", "decompress_stream"}

try:
    __version__ = version("seqlm")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'codec' has no attribute {name!r}")


__all__ = ["CodecConfig", "FORMAT_VERSION", "__version__", "compress", "compress_stream",
           "decompress", "decompress_stream"]
