"""Codec configuration: the knobs a user sets, frozen and stored in the header."""

from __future__ import annotations

from dataclasses import asdict, dataclass

DEFAULT_LEVEL = 5
MIN_LEVEL, MAX_LEVEL = 1, 9


@dataclass(frozen=True)
class CodecConfig:
    """``level`` trades time for size (1 = context models only, no LSTM fit);
    ``block_bytes`` is the raw FASTQ per block (bounds memory, unit of parallel
    work); ``threads`` never changes the output bytes."""

    level: int = DEFAULT_LEVEL
    block_bytes: int = 64 << 20
    threads: int = 1

    def __post_init__(self) -> None:
        if not MIN_LEVEL <= self.level <= MAX_LEVEL:
            raise ValueError(f"level must be {MIN_LEVEL}-{MAX_LEVEL}, got {self.level}")
        if self.block_bytes < 1024:
            raise ValueError("block_bytes must be at least 1024")
        if self.threads < 1:
            raise ValueError("threads must be at least 1")

    def to_dict(self) -> dict:
        """What the archive header records; ``threads`` is left out on purpose,
        so archives made with any thread count are byte-identical."""
        out = asdict(self)
        del out["threads"]
        return out
