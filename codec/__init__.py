"""seqlm's codec library: lossless FASTQ compression with learned predictors.

Public API::

    from codec import compress, decompress, CodecConfig
    blob = compress(fastq_bytes, CodecConfig(level=5))
    assert decompress(blob) == fastq_bytes
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import _jitcache

_jitcache.configure()

from .api import FORMAT_VERSION, compress, compress_stream, decompress, decompress_stream  # noqa: E402
from .config import CodecConfig  # noqa: E402

try:
    __version__ = version("seqlm")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["CodecConfig", "FORMAT_VERSION", "__version__", "compress", "compress_stream",
           "decompress", "decompress_stream"]
