"""Codec configuration: the knobs a user sets, frozen and stored in the header."""

from __future__ import annotations

from dataclasses import asdict, dataclass

DEFAULT_LEVEL = 5
DEFAULT_BLOCK_MB = 32   # raw FASTQ per block, all inputs together: peak memory stays near 1.3 GB
MIN_LEVEL, MAX_LEVEL = 1, 9


@dataclass(frozen=True)
class CodecConfig:
    """``level`` trades time for size (1 = context models only, no LSTM fit);
    ``block_bytes`` is the raw FASTQ per block (bounds memory, unit of parallel
    work); ``threads`` never changes the output bytes (0 = automatic, see
    :func:`codec.api.plan_threads`)."""

    level: int = DEFAULT_LEVEL
    block_bytes: int = DEFAULT_BLOCK_MB << 20
    threads: int = 0

    def __post_init__(self) -> None:
        if not MIN_LEVEL <= self.level <= MAX_LEVEL:
            raise ValueError(f"level must be {MIN_LEVEL}-{MAX_LEVEL}, got {self.level}")
        if self.block_bytes < 1024:
            raise ValueError("block_bytes must be at least 1024")
        if self.threads < 0:
            raise ValueError("threads must be 0 (automatic) or more")

    def to_dict(self) -> dict:
        """What the archive header records; ``threads`` is left out on purpose,
        so archives made with any thread count are byte-identical."""
        out = asdict(self)
        del out["threads"]
        return out
