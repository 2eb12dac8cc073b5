"""execution.LocalProcesses: crashed workers, pool restarts, and how many workers start.

The chunk function here is a stand-in (no NEURON): it sleeps a little, so that both
workers are busy at once, and returns (chunk index, worker pid, start, end). Workers are spawned and
import this module, so it stays light.
"""

from __future__ import annotations

import errno
import multiprocessing.context
import os
import time
from pathlib import Path

import pytest

from pspsweep import execution
from pspsweep.errors import PspSweepError
from pspsweep.units import Unit


def tasks(n: int) -> list[tuple]:
    """Executor tasks shaped like the sweep's: (work, chunk, with_baseline)."""
    return [(None, execution.ChunkTask(i, (Unit(i, "A", i, (i,), (0,), (0.5,)),)), False) for i in range(n)]


def chunk_that_may_crash(work, chunk, with_baseline=False):
    """Dies like a segfault the first time it sees a chunk listed in $CRASH_ONCE (a marker
    file per chunk makes it once), and every time for one in $CRASH_ALWAYS."""
    crash_once = {int(i) for i in os.environ.get("CRASH_ONCE", "").split(",") if i}
    crash_always = {int(i) for i in os.environ.get("CRASH_ALWAYS", "").split(",") if i}
    marker = Path(os.environ["CRASH_MARKERS"]) / str(chunk.index)
    if chunk.index in crash_always or (chunk.index in crash_once and not marker.exists()):
        marker.touch()
        os._exit(139)
    started = time.time()
    time.sleep(0.3)
    return chunk.index, os.getpid(), started, time.time()


@pytest.fixture
def markers(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CRASH_MARKERS", str(tmp_path))
    return tmp_path


def test_three_crashes_restart_the_full_pool_and_blame_only_the_crashed_chunks(markers, monkeypatch):
    """Against the issue: after a crash, chunks that were only queued or running beside
    the dead worker count no failure, retries run in a pool of all workers (not alone,
    one at a time), and three crashes of three different chunks do not stop the sweep."""
    crashing = {1, 5, 9}
    monkeypatch.setenv("CRASH_ONCE", ",".join(map(str, crashing)))
    executor = execution.LocalProcesses(2)
    try:
        results = list(executor.run(chunk_that_may_crash, tasks(14)))
        assert executor.processes == 2, "the pool after the last restart has both workers"
    finally:
        executor.close()
    assert {int(p.name) for p in markers.iterdir()} == crashing, "the workers did crash"
    assert sorted(r[0] for r in results) == list(range(14)), "every chunk finished exactly once"
    assert executor.crashes == {i: 1 for i in crashing}, "failures counted per chunk, bystanders not blamed"
    assert executor.restarts == 3
    spans = {index: (start, end) for index, _, start, end in results}
    for i in crashing:
        beside = [j for j, (a, b) in spans.items() if j != i and a < spans[i][1] and spans[i][0] < b]
        assert beside, f"chunk {i} was retried beside other chunks, not alone, one at a time"


def test_a_chunk_that_kills_its_worker_twice_stops_the_sweep_naming_it(markers, monkeypatch):
    """A chunk whose own worker dies twice fails the sweep with its units named; the
    chunks running beside it are not counted."""
    monkeypatch.setenv("CRASH_ALWAYS", "3")
    executor = execution.LocalProcesses(2)
    try:
        with pytest.raises(execution.WorkerCrash, match="died twice while simulating A unit 3;"):
            list(executor.run(chunk_that_may_crash, tasks(8)))
    finally:
        executor.close()
    assert executor.crashes == {3: 2}


def test_never_more_workers_than_chunks(markers):
    """Against the issue's ``executor.workers=1000``: 3 chunks start 3 processes, and a
    pre-started pool starts no more than the cores now."""
    executor = execution.LocalProcesses(1000)
    try:
        results = list(executor.run(chunk_that_may_crash, tasks(3)))
        assert len({r[1] for r in results}) <= 3
        assert executor.processes <= 3
    finally:
        executor.close()
    started = execution.LocalProcesses(1000, start=True)
    try:
        assert started.processes <= (os.cpu_count() or 1)
    finally:
        started.close()


def test_run_chunks_reports_the_workers_that_can_be_busy(tmp_path):
    """The report's worker count (and so the parallel efficiency) is the number of
    chunks when there are fewer chunks than workers."""

    class ManyWorkers(execution.InProcess):
        workers = 1000

        def run(self, fn, task_list):
            for _work, chunk, with_baseline in task_list:
                yield fake_result(chunk, with_baseline)

    chunks = [t[1] for t in tasks(3)]
    report = execution.run_chunks(
        execution.SweepWork(None, None), chunks, execution.ChunkStore(tmp_path / "s"), ManyWorkers()
    )
    assert report.workers == 3


def fake_result(chunk, with_baseline):
    import numpy as np

    n = len(chunk.units)
    return execution.ChunkResult(
        chunk.index,
        chunk.result_keys(),
        [np.arange(4.0)] * n,
        [np.ones(4)] * n,
        np.ones(n),
        np.ones(n),
        0.0,
        "w",
        (np.arange(4.0), np.zeros(4)) if with_baseline else None,
    )


@pytest.mark.parametrize("start", [False, True])
def test_a_refused_worker_spawn_is_one_error_naming_executor_workers(markers, monkeypatch, capfd, start):
    """Against the issue's BlockingIOError tracebacks: when the system refuses a new
    process, one PspSweepError names executor.workers and suggests fewer; the workers
    already started are stopped and no thread prints a traceback."""
    real_start = multiprocessing.context.SpawnProcess.start
    spawned = []

    def refuse_the_second(self):
        if spawned:
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        real_start(self)
        spawned.append(self)

    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", refuse_the_second)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    with pytest.raises(
        PspSweepError,
        match=r"executor\.workers=8: .*worker process 2 .*resource temporarily "
        r"unavailable.*smaller executor\.workers",
    ):
        executor = execution.LocalProcesses(8, start=start)
        try:
            list(executor.run(chunk_that_may_crash, tasks(5)))
        finally:
            executor.close()
    time.sleep(0.5)  # a manager thread would print its traceback about now
    assert spawned and not spawned[0].is_alive(), "the started worker was stopped"
    assert "Traceback" not in capfd.readouterr().err


def test_workers_exit_when_the_launching_command_is_killed(tmp_path):
    """Found while checking resumes: after a SIGKILL of the command its workers waited
    for chunks forever (one stayed for minutes). A worker now exits within seconds."""
    import signal
    import subprocess
    import sys

    code = (
        "import os, signal, sys\n"
        "from pspsweep import execution\n"
        "executor = execution.LocalProcesses(1)\n"
        "[pid] = executor.run(os.getpid, [()])\n"
        "print(pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    out = tmp_path / "out"
    with out.open("w") as stdout:  # a file, not a pipe: an orphaned worker would keep a pipe open
        proc = subprocess.run([sys.executable, "-c", code], stdout=stdout, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL
    worker = int(out.read_text())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and Path(f"/proc/{worker}").exists():
        time.sleep(0.2)
    alive = Path(f"/proc/{worker}").exists()
    if alive:
        os.kill(worker, signal.SIGKILL)
    assert not alive, "the orphaned worker is still running"
