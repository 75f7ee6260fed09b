"""The process-wide settings the predictors run under: torch's and BLAS's thread counts,
and torch's global random generator.

They belong to the process, while the streams of a block are coded on several threads at
once (a level-9 block fits its quality and its base LSTMs side by side). So:
:func:`single_thread` is counted (the first in sets one thread, the last out puts back
what the first found), and :func:`fitting` lets one fit at a time seed the generator and
train. Both locks are made anew in a forked child, where the parent's thread that may have
held one at the fork does not exist to release it.

The first in and the last out of :func:`single_thread` may be different threads, and neither
need be the main one. threadpoolctl (from 3.8) lets only one live thread change OpenBLAS's
pool, the first that ever did, and silently ignores the others: once the main thread had
entered single_thread, a later block's stream threads left BLAS on every core, and its
quality coders' small products spun a second thread in each process (3x the CPU of a
HiFi compression in the same process). Our own lock already orders the changes, so each
change here takes control and hands it back (:func:`_blas_control`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

import threadpoolctl

_FIT_LOCK = threading.Lock()
_SINGLE_LOCK = threading.Lock()
_single: dict[str, Any] = {"users": 0, "torch": None, "blas": None}


def _after_fork_in_child() -> None:
    global _FIT_LOCK, _SINGLE_LOCK
    _FIT_LOCK = threading.Lock()
    _SINGLE_LOCK = threading.Lock()
    _single["users"] = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# threadpoolctl >= 3.8: let any thread set OpenBLAS's pool next (before 3.8 any thread could)
_clear_blas_control = getattr(getattr(threadpoolctl, "OpenBLASController", None), "clear_controlling_thread",
                              lambda force: None)


@contextlib.contextmanager
def _blas_control() -> Iterator[None]:
    """Around a change of the BLAS limits made under ``_SINGLE_LOCK``: whichever thread makes
    it, it takes effect (a user thread's own threadpool_limits is overridden, as before 3.8)."""
    _clear_blas_control(force=True)
    try:
        yield
    finally:
        _clear_blas_control(force=True)


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Inference and fitting run on one BLAS / torch thread (parallelism belongs to blocks
    and streams). (Each user once put back, on leaving, what it had found on entering: one
    thread or two, whoever was still inside.)"""
    with _SINGLE_LOCK:
        if _single["users"] == 0:
            torch = sys.modules.get("torch")    # only if something already imported it
            _single["torch"] = torch.get_num_threads() if torch is not None else None
            if torch is not None:
                torch.set_num_threads(1)
            with _blas_control():
                _single["blas"] = threadpoolctl.threadpool_limits(limits=1, user_api="blas")
        _single["users"] += 1
    try:
        yield
    finally:
        with _SINGLE_LOCK:
            _single["users"] -= 1
            if _single["users"] == 0:
                with _blas_control():
                    _single["blas"].restore_original_limits()
                torch = sys.modules.get("torch")
                if torch is not None and _single["torch"] is not None:
                    torch.set_num_threads(_single["torch"])


@contextlib.contextmanager
def fitting(seed: int) -> Iterator[None]:
    """Around a per-block fit, from building the model (its initial weights) to the end of
    training: one fit at a time in this process, on one torch thread, from torch's global
    generator seeded with ``seed`` (the caller's own generator state is put back after).

    Why: fits on two threads at once each seeded the shared generator and drew their
    initial weights from it, interleaved, and one leaving single_thread could give the
    other's training two threads: the same input gave other archives from run to run. A
    fit also ran on as many threads as the machine has cores when torch was first imported
    inside it (single_thread found no torch to set), so the archive could depend on the
    core count."""
    import torch

    with _FIT_LOCK, torch.random.fork_rng(devices=[]):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
