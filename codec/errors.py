"""Exception hierarchy of the codec.

Library code raises these and never prints or exits; only ``cli`` maps them to
exit codes. Every message is a single line that names where the problem is
(file, record/line number, block or byte offset), in the style of dnaio's
``FastqFormatError``.
"""

from __future__ import annotations


class CodecError(Exception):
    """Base class of every error the codec raises on purpose."""


class FastqFormatError(CodecError):
    """The input is not valid FASTQ.

    ``record`` and ``line`` are 1-based; ``path`` is filled in by whoever knows
    the file name (the parser only sees bytes).
    """

    def __init__(self, message: str, record: int | None = None, line: int | None = None,
                 path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.record = record
        self.line = line
        self.path = path

    def __str__(self) -> str:
        where = []
        if self.path:
            where.append(str(self.path))
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.line is not None:
            where.append(f"line {self.line}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class FormatError(CodecError):
    """The archive is malformed (bad magic, truncated, inconsistent sizes)."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        if self.offset is None:
            return self.message
        return f"{self.message} (at byte offset {self.offset})"


class VersionError(FormatError):
    """The archive was written by a newer, unknown major format version."""


class ChecksumError(FormatError):
    """Decoded data does not match the checksum stored in the archive."""

    def __init__(self, message: str, block: int | None = None, offset: int | None = None) -> None:
        super().__init__(message, offset)
        self.block = block

    def __str__(self) -> str:
        base = super().__str__()
        return f"block {self.block}: {base}" if self.block is not None else base


class ModelMismatchError(CodecError):
    """An archive needs a predictor that is not available or differs by hash."""


class InputMismatchError(CodecError):
    """Two inputs that must agree (R1/R2 record counts) do not."""


class WorkerError(CodecError):
    """A worker process ended without a result (killed by a signal, out of memory)."""
