"""codec.forked: jobs in child processes, results and errors back in the parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codec import forked
from codec.entropy import coder
from codec.errors import FormatError, WorkerError

needs_fork = pytest.mark.skipif(not forked.available(), reason="no fork on this platform")


@pytest.fixture(params=["fork", "threads"])
def mode(request, monkeypatch) -> str:
    if request.param == "fork" and not forked.available():
        pytest.skip("no fork on this platform")
    if request.param == "threads":
        monkeypatch.setenv(forked.ENV_OFF, "1")
    return request.param


def _no_children_left() -> bool:
    """No child process is running or waiting to be reaped."""
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_results_come_back_in_order(mode) -> None:
    big = np.arange(3_000_000, dtype=np.int64)   # larger than a pipe's buffer
    out = forked.run_beside(lambda: "mine", [lambda: big * 2, lambda: {"k": (1, 2)}])
    assert out[0] == "mine" and np.array_equal(out[1], big * 2) and out[2] == {"k": (1, 2)}
    assert _no_children_left()


@needs_fork
def test_jobs_run_in_another_process() -> None:
    parent = os.getpid()
    assert forked.run_beside(os.getpid, [os.getpid])[1] != parent


def test_child_error_is_raised_with_its_fields(mode) -> None:
    def bad() -> None:
        raise FormatError("corrupt part", offset=123)

    with pytest.raises(FormatError) as info:
        forked.run_beside(lambda: 1, [bad])
    assert info.value.offset == 123 and str(info.value) == "corrupt part (at byte offset 123)"
    assert _no_children_left()


def test_error_here_stops_the_children(mode) -> None:
    def mine() -> None:
        raise ValueError("here")

    with pytest.raises(ValueError, match="here"):
        forked.run_beside(mine, [lambda: sum(range(10**6))])
    assert _no_children_left()


@needs_fork
def test_a_child_that_dies_is_an_error() -> None:
    with pytest.raises(WorkerError, match="without a result .exit status 3"):
        forked.run_beside(lambda: 1, [lambda: os._exit(3)])
    with pytest.raises(WorkerError, match="killed by SIGKILL"):
        forked.run_beside(lambda: 1, [lambda: os.kill(os.getpid(), signal.SIGKILL)])
    assert _no_children_left()


def test_unpicklable_error_still_reports(mode) -> None:
    class Local(Exception):   # a local class cannot be pickled
        pass

    def bad() -> None:
        raise Local("odd")

    with pytest.raises((RuntimeError, Local), match="odd"):
        forked.run_beside(lambda: 1, [bad])


def test_only_children_at_lower_priority(mode) -> None:
    niceness = forked.run_beside(None, [lambda: os.nice(0), lambda: 6 * 7], nice=3)
    assert niceness[0] is None and niceness[2] == 42
    assert niceness[1] == os.nice(0) + (3 if mode == "fork" else 0)


@needs_fork
def test_mine_yields_priority_to_the_children_it_started() -> None:
    """run_beside's ``mine_nice``: this process drops that many steps once its children run
    (they keep the priority they started with); tried in a child, so pytest keeps its own."""
    base = os.nice(0)
    mine, other = forked.start(lambda: forked.run_beside(lambda: os.nice(0), [lambda: os.nice(0)],
                                                         mine_nice=2)).result()
    assert (mine, other) == (base + 2, base)


@needs_fork
def test_a_child_is_not_stuck_on_locks_another_thread_held_at_the_fork() -> None:
    """The per-block fit lock and single_thread's lock are fresh in a forked child: the
    parent's thread that held them at the fork does not exist there to release them."""
    import threading

    from codec.model import threads

    for lock in (lambda: threads._FIT_LOCK, lambda: threads._SINGLE_LOCK):
        held, release = threading.Event(), threading.Event()

        def holder(lock=lock) -> None:
            with lock():
                held.set()
                release.wait()

        thread = threading.Thread(target=holder)
        thread.start()
        held.wait()
        try:
            assert forked.start(lambda lock=lock: lock().acquire(timeout=5)).result()
        finally:
            release.set()
            thread.join()


@needs_fork
def test_refused_fork_runs_on_a_thread(monkeypatch) -> None:
    def refuse() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refuse)
    assert forked.run_beside(lambda: 1, [lambda: 2]) == [1, 2]


@needs_fork
def test_run_jobs_places_jobs_by_workers_and_nice() -> None:
    here = os.getpid()
    assert forked.run_jobs([os.getpid, os.getpid], 1) == [here, here]           # one worker: in turn, here
    first, second = forked.run_jobs([os.getpid, os.getpid], 2)
    assert first == here and second != here                                    # the rest in a child
    assert here not in forked.run_jobs([os.getpid, os.getpid], 2, nice=1)     # with nice: all in children
    assert forked.run_jobs([os.getpid], 2) == [here]                            # one job: nothing to overlap


@needs_fork
def test_feed_children_read_only_what_was_published() -> None:
    """A child waits for each prefix it reads; what it reads is the final bytes, however
    far the feeder had got when the child started."""
    feed = forked.Feed(1000)

    def reader() -> list[int]:
        sums = []
        for n in (100, 500, 1000):
            feed.wait(n)
            sums.append(int(feed.array[:n].astype(np.int64).sum()))
        return sums

    job = forked.start(reader)
    for lo in range(0, 1000, 100):
        assert not feed.complete()
        feed.array[lo:lo + 100] = lo // 100 + 1
        feed.publish(lo + 100)
    assert feed.complete()
    feed.close()
    full = np.repeat(np.arange(1, 11), 100)
    assert job.result() == [int(full[:n].sum()) for n in (100, 500, 1000)]
    assert _no_children_left()


@needs_fork
def test_feed_waits_fail_when_the_feeder_fails_or_ends_short() -> None:
    """A waiting child never polls for ever: the feeder's failure (abandon) or its end
    without publishing enough (here: the pipe closed, as at the feeder's death) raises."""
    for finish in (forked.Feed.abandon, forked.Feed.close):
        feed = forked.Feed(10)
        job = forked.start(lambda: feed.wait(10))
        feed.publish(5)
        finish(feed)
        with pytest.raises(WorkerError, match="failed to decode|has ended"):
            job.result()
    assert _no_children_left()


@needs_fork
def test_constriction_is_set_up_before_any_fork(monkeypatch) -> None:
    """constriction's bindings set themselves up on their first call with the GIL released
    part of the way; a child forked by another thread meanwhile hangs in its first coder
    call (it hung a benchmark run). So the set-up runs at import, in a fresh interpreter,
    and again (a no-op then) before every fork."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    probe = "import codec.entropy.coder as c; print(c._warm)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=root, env=env,
                          timeout=120)
    assert done.stdout.strip() == "True", done.stderr[-2000:]
    calls = []
    monkeypatch.setattr(coder, "warm_up", lambda: calls.append(1))
    assert forked.start(lambda: 7).result() == 7 and calls == [1]
