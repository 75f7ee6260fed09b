"""seqlm's codec library: lossless FASTQ compression with learned predictors.

Public API::

    from codec import compress, decompress, CodecConfig
    blob = compress(fastq_bytes, CodecConfig(level=5))
    assert decompress(blob) == fastq_bytes
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .api import FORMAT_VERSION, compress, compress_stream, decompress, decompress_stream
from .config import CodecConfig

try:
    __version__ = version("seqlm")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["CodecConfig", "FORMAT_VERSION", "__version__", "compress", "compress_stream",
           "decompress", "decompress_stream"]
