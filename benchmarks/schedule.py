"""Run order and repeat planning.

Dataset-major; within a dataset every codec runs once in an order rotated by the dataset
index, then repeats follow, rotated again per repeat, so machine drift hits all codecs
alike.  Repeats (for a median of 3) are planned only for small datasets and fast codecs
(the subject, seqlm, whatever its speed); the subject's always, the anchors' only while the
projected total stays inside the time budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence, TypeVar

T = TypeVar("T")


def rotate(items: Sequence[T], shift: int) -> list[T]:
    if not items:
        return []
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


@dataclass
class Budget:
    """Projects the run's total time from the first-run cost per raw MB measured so far."""

    limit_s: float
    total_mb: float
    start: float = field(default_factory=time.perf_counter)
    done_mb: float = 0.0
    first_runs_s: float = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def add_first_runs(self, seconds: float, mb: float) -> None:
        self.first_runs_s += seconds
        self.done_mb += mb

    def projected_rest(self) -> float:
        """Seconds the first runs of the datasets not yet measured are expected to take."""
        if self.done_mb <= 0:
            return 0.0
        return self.first_runs_s / self.done_mb * max(self.total_mb - self.done_mb, 0.0)

    def allows(self, extra_s: float) -> bool:
        return self.elapsed() + extra_s + self.projected_rest() <= self.limit_s


def plan_repeats(first_cost: dict[str, float], eligible: Sequence[str], extra_runs: int,
                 budget: Budget | None, subjects: Sequence[str] = ()) -> dict[str, int]:
    """Extra runs per codec id: ``subjects`` always, then the rest cheapest first, as long as
    the budget allows.

    The subject (seqlm) has speed targets of its own, so its MB/s should be a median of 3
    wherever a median is taken at all; an anchor's speed is context. Cheapest-first alone
    gave the budget to the anchors, as seqlm is the slowest codec; and a budget that the
    subject must also fit left the last datasets (the long-read files, the ones nearest the
    target) at one seqlm run each, as the first datasets' repeats had spent it."""
    plan: dict[str, int] = {}
    committed = 0.0
    for key in sorted(eligible, key=lambda k: (k not in subjects, first_cost[k])):
        cost = first_cost[key] * extra_runs
        if key not in subjects and budget is not None and not budget.allows(committed + cost):
            continue
        plan[key] = extra_runs
        committed += cost
    return plan
