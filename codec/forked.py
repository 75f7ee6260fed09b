"""Jobs in forked child processes, for step loops that cannot share one interpreter.

The step loops of the stream models call a compiled kernel, the range coder and a few
numpy operations per step. The kernels release the GIL, but the coder and the glue hold
it, and with two loops on two threads every step hands the GIL over several times:
measured on the nanopore files, two such loops on two threads took as long as running
them one after the other (0.76 s against 0.43 + 0.30 s) while burning 40 % more CPU.
A forked child has its own interpreter, so the two loops really run side by side.

:func:`start` forks a child that runs ``fn()`` and pickles the result (or the exception)
into a pipe; :meth:`Job.result` reads it back. The child inherits every array and
loaded kernel of the parent copy-on-write, so nothing is sent to it. The results do not
depend on where a job ran: the same code computes the same integers.

Forking a process that has threads is safe only if no other thread holds a lock the
child will need. The child runs compiled kernels, numpy and the range coder only. The
locks involved are numba's compiler lock and the interpreter's own locks:

* numba's compiler lock is held around the fork, so no thread is half-way through
  loading a kernel when the child is made;
* constriction's bindings finish their one-time set-up before any fork
  (:func:`codec.entropy.coder.warm_up`), so no thread is half-way through it either;
* the interpreter takes its import lock around ``os.fork`` itself;
* glibc takes the malloc locks around ``fork``;
* OpenBLAS registers fork handlers for its own thread pool.

Where ``os.fork`` is missing, or not on Linux, or ``SEQLM_NO_FORK`` is set in the
environment, or the system refuses a new process, jobs run on threads instead.
"""

from __future__ import annotations

import contextlib
import mmap
import multiprocessing
import os
import pickle
import select
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import numpy as np

from .entropy import coder
from .errors import WorkerError

T = TypeVar("T")
ENV_OFF = "SEQLM_NO_FORK"


def available() -> bool:
    """Whether :func:`start` forks (else it runs jobs on threads)."""
    return hasattr(os, "fork") and sys.platform.startswith("linux") and not os.environ.get(ENV_OFF)


def _compiler_lock() -> Any:
    from numba.core.compiler_lock import global_compiler_lock
    return global_compiler_lock


def _read_all(fd: int) -> bytes:
    parts = []
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _outcome(fn: Callable[[], Any]) -> bytes:
    """The pickled ``(True, result)``, or ``(False, (class, args, attributes))`` of the error.

    Errors travel as their parts because ``pickle`` rebuilds an exception from its
    ``args`` only, which would drop fields such as :class:`~codec.errors.FormatError`'s
    byte offset."""
    try:
        return pickle.dumps((True, fn()), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        try:
            return pickle.dumps((False, (type(exc), exc.args, dict(vars(exc)))))
        except Exception:  # noqa: BLE001 - an unpicklable error still reports itself
            return pickle.dumps((False, (RuntimeError, (f"{type(exc).__name__}: {exc}",), {})))


def _rebuild(cls: type[BaseException], args: tuple, attrs: dict) -> BaseException:
    exc = cls.__new__(cls)
    exc.args = args
    vars(exc).update(attrs)
    return exc


class Job(Generic[T]):
    """A running job: :meth:`result` waits for it, :meth:`cancel` stops it."""

    def __init__(self, fn: Callable[[], T], nice: int = 0) -> None:
        self._pid = 0
        self._thread: threading.Thread | None = None
        self._fd = -1
        self._data = b""
        if not (available() and self._fork(fn, nice)):
            self._thread = threading.Thread(target=self._run_here, args=(fn,), daemon=True)
            self._thread.start()

    def _run_here(self, fn: Callable[[], T]) -> None:
        self._data = _outcome(fn)

    def _fork(self, fn: Callable[[], T], nice: int) -> bool:
        """Start the child; False (nothing started) if the system refuses a process or a pipe."""
        try:
            read_fd, write_fd = os.pipe()
        except OSError:
            return False
        coder.warm_up()
        try:
            with _compiler_lock(), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # Python >= 3.12 warns of threads
                pid = os.fork()
        except OSError:   # EAGAIN, ENOMEM: the job runs on a thread instead
            os.close(read_fd)
            os.close(write_fd)
            return False
        if pid == 0:  # the child: never returns into the caller's code
            try:
                os.close(read_fd)
                with contextlib.suppress(OSError):
                    os.nice(nice)
                _write_all(write_fd, _outcome(fn))
            finally:
                os._exit(0)
        os.close(write_fd)
        self._pid, self._fd = pid, read_fd
        return True

    def result(self) -> T:
        """The job's return value; its exception is raised here."""
        status = 0
        if self._thread is not None:
            self._thread.join()
            data = self._data
        else:
            try:
                data = _read_all(self._fd)
            finally:
                status = self._reap()
        if not data:
            raise WorkerError(f"a worker process ended without a result ({_how(status)})")
        ok, value = pickle.loads(data)
        if ok:
            return value
        raise _rebuild(*value)

    def cancel(self) -> None:
        """Stop a forked job (a thread runs on until done; its result is dropped)."""
        if self._pid:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()

    def _reap(self) -> int:
        """Close the pipe and wait for the child; its wait status (0 if there was none)."""
        status = 0
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._pid:
            status = os.waitpid(self._pid, 0)[1]
            self._pid = 0
        return status


def _how(status: int) -> str:
    """How a child ended, in words, from its wait status."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"killed by {name}" + (", out of memory?" if sig == signal.SIGKILL else "")
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def start(fn: Callable[[], T], nice: int = 0) -> Job[T]:
    """Run ``fn()`` in a forked child (or a thread, see :func:`available`), ``nice`` steps
    below this process's priority."""
    return Job(fn, nice)


def run_beside(mine: Callable[[], Any] | None, others: list[Callable[[], Any]], nice: int = 0,
               mine_nice: int = 0) -> list[Any]:
    """``[mine(), *(f() for f in others)]``, with each of ``others`` in a child of its own
    (``nice``: see :func:`start`); ``mine = None`` only waits for the children (its entry is None).
    ``mine_nice`` > 0: this process drops that many priority steps once the children are
    started (for good: only a child of this package's own should ask it), so that they
    take more of the cores than ``mine`` while all run.

    If ``mine`` fails, the children are stopped before the error propagates."""
    jobs = [start(fn, nice) for fn in others]
    if mine_nice and available():
        with contextlib.suppress(OSError):
            os.nice(mine_nice)
    try:
        first = mine() if mine is not None else None
    except BaseException:
        for job in jobs:
            job.cancel()
        raise
    results = [first]
    for i, job in enumerate(jobs):
        try:
            results.append(job.result())
        except BaseException:
            for rest in jobs[i + 1:]:
                rest.cancel()
            raise
    return results


def run_jobs(jobs: list[Callable[[], Any]], workers: int, nice: int = 0, first_nice: int = 0) -> list[Any]:
    """Every job's result, in order. With ``workers`` > 1 and several jobs they run side by
    side: the first here and the rest in children, or, with ``nice``, every job in a child at
    that lower priority (this process only waits). Otherwise one after the other here.
    ``first_nice``: as :func:`run_beside`'s ``mine_nice``, for the first job run here."""
    if workers <= 1 or len(jobs) < 2:
        return [job() for job in jobs]
    if nice:
        return run_beside(None, jobs, nice)[1:]
    return run_beside(jobs[0], jobs[1:], mine_nice=first_nice)


# write ends of the open feeds' liveness pipes: a forked child closes its copies at once, so
# that only the feeding process holds them and its end (however it ends) shows as end-of-file
_FEED_WRITERS: set[int] = set()


def _close_feed_writers() -> None:
    for fd in _FEED_WRITERS:
        with contextlib.suppress(OSError):
            os.close(fd)
    _FEED_WRITERS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_feed_writers)

FEED_POLL_S = 0.002   # how often a waiting child looks at the feed's progress


class Feed:
    """A uint8 array in shared memory that this process fills front to back while forked
    children already read the part it has written.

    Why: a decoder whose model reads another stream (the quality LSTM reads the bases) need
    not wait for that whole stream. The base decoder writes :attr:`array` in order and
    :meth:`publish` says how far it got; a child calls :meth:`wait` before it reads a prefix.
    The bytes a child reads are the finished ones, whenever it reads them, so the output
    cannot depend on timing. The progress counter lives in the same shared mapping and is
    only touched under a semaphore, whose POSIX memory synchronisation also orders the
    array's bytes before the counter on weakly ordered CPUs. A pipe that only this process
    holds open tells a waiting child when the feeder died (end-of-file) instead of leaving
    it polling for ever. :meth:`abandon` (the feeder failed) makes every wait raise. Only
    for forked children (:func:`available`)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._mem = mmap.mmap(-1, 8 + max(size, 1))   # anonymous: MAP_SHARED with forked children
        self._done = np.frombuffer(self._mem, dtype=np.int64, count=1)
        self.array = np.frombuffer(self._mem, dtype=np.uint8, count=size, offset=8)
        self._lock = multiprocessing.get_context("fork").Lock()
        self._read_fd, self._write_fd = os.pipe()
        _FEED_WRITERS.add(self._write_fd)

    def publish(self, n: int) -> None:
        """The first ``n`` bytes of :attr:`array` are final."""
        with self._lock:
            self._done[0] = n

    def _progress(self) -> int | None:
        """The published count (None if the lock stays taken: a feeder killed holding it)."""
        if not self._lock.acquire(timeout=1.0):
            return None
        try:
            return int(self._done[0])
        finally:
            self._lock.release()

    def complete(self) -> bool:
        """Whether the whole array is final now (in a child; never waits)."""
        done = self._progress()
        return done is not None and done >= self.size

    def wait(self, n: int) -> None:
        """Block until the first ``n`` bytes are final (in a child)."""
        while (done := self._progress()) is None or done < n:
            if done is not None and done < 0:
                raise WorkerError("the stream this decoder reads failed to decode")
            if select.select([self._read_fd], [], [], FEED_POLL_S)[0]:
                done = self._progress()
                if done is None or done < n:
                    raise WorkerError("the process decoding the stream this decoder reads has ended")

    def abandon(self) -> None:
        """The feeder failed: every wait raises from now on."""
        self.publish(-1)
        self.close()

    def close(self) -> None:
        """Done feeding (in the feeding process): close the pipe; the array stays readable."""
        for fd in (self._write_fd, self._read_fd):
            if fd >= 0:
                _FEED_WRITERS.discard(fd)
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._write_fd = self._read_fd = -1
