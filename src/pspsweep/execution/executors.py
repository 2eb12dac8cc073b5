"""Executors: run chunk tasks in this process, on local worker processes, or on Dask.

Each executor has ``workers``, ``run(fn, tasks)`` (yields results as chunks finish, in
any order) and ``close()``. :func:`make_executor` picks one for ``executor.kind``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    InvalidStateError,
    ProcessPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from pspsweep.errors import PspSweepError
from pspsweep.execution.crashes import crashed, read_notes, run_noted
from pspsweep.execution.plan import ChunkTask
from pspsweep.execution.worker import prebuild_cell, start_worker


class InProcess:
    """Run chunks one after another in this process."""

    workers = 1

    def run(self, fn: Callable, tasks: Sequence[tuple]) -> Iterator:
        for args in tasks:
            yield fn(*args)

    def close(self) -> None:
        """Nothing to release."""


def _units_of(task: tuple) -> str:
    chunk: ChunkTask = task[1]
    return ", ".join(f"{u.celltype} unit {u.index}" for u in chunk.units)


class WorkerCrash(PspSweepError):
    """A chunk whose worker died twice (e.g. a segmentation fault inside NEURON)."""


def _ignore_manager_race(previous: Callable[[Any], object]) -> Callable[[Any], object]:
    """A ``threading.excepthook`` that drops one known CPython bug and passes on the rest.

    Python < 3.12: when a pool breaks (:meth:`LocalProcesses.close` stops busy workers),
    its manager thread sets an error on every pending future and raises
    ``InvalidStateError`` for those already cancelled, printing a traceback after the
    command's one-line error (fixed in 3.12, which ignores cancelled futures there).
    """

    def hook(args: Any) -> None:
        if args.exc_type is InvalidStateError and type(args.thread).__name__ == "_ExecutorManagerThread":
            return
        previous(args)

    hook.pspsweep = True  # type: ignore[attr-defined]
    return hook


class LocalProcesses:
    """Run chunks on up to ``workers`` spawned local processes (each builds its own cell),
    never more than there are chunks.

    A worker that dies (a crash inside NEURON, the OOM killer) breaks the pool: every
    unfinished chunk goes to a fresh pool of all workers, and only the chunks whose own
    worker died count a failure (:attr:`crashes`); a chunk that killed its worker twice
    fails the sweep, naming its units.
    """

    def __init__(self, workers: int, start: bool = False) -> None:
        """``start``: spawn workers now (as many as there are cores, at most ``workers``)
        and let them import NEURON and the runner while this process goes on (see
        :func:`start_local_workers`); else on the first chunks."""
        self.workers = workers
        #: asked between chunks: True holds finished chunks back (not yet passed on to be
        #: written). The job uses it while it opens the MLflow run, which may find the
        #: sweep done before; it then sets ``cancel`` and nothing is written.
        self.hold: Callable[[], bool] | None = None
        #: of the last :meth:`run`: task position -> times its worker died running it
        self.crashes: dict[int, int] = {}
        #: of the last :meth:`run`: how often a broken pool was replaced
        self.restarts = 0
        #: set by the job that owns it: :meth:`run` ends early, without results and without
        #: raising (the job knows why it cancelled)
        self.cancel: threading.Event | None = None
        # Inside a joblib (loky) job the start method is "loky", which a spawned child
        # cannot resolve; fall back to the standard one for the children of this process.
        if multiprocessing.get_start_method(allow_none=True) not in (None, "spawn", "fork", "forkserver"):
            multiprocessing.set_start_method("spawn", force=True)
        if sys.version_info < (3, 12) and not getattr(threading.excepthook, "pspsweep", False):
            threading.excepthook = _ignore_manager_race(threading.excepthook)
        self._notes = Path(tempfile.mkdtemp(prefix="pspsweep-workers-"))
        self._pool: ProcessPoolExecutor | None = None
        self._size = 0
        if start:
            # more workers than cores cannot start any sooner; the rest start with the chunks
            self._open_pool(min(workers, os.cpu_count() or 1), import_simulation=True)
            for _ in range(self._size):  # a spawn pool starts one worker per task while none is idle
                self._submit(int)

    @property
    def processes(self) -> int:
        """Worker processes of the current pool that are alive."""
        procs = getattr(self._pool, "_processes", None) or {}
        return sum(p.is_alive() for p in list(procs.values()))

    def _open_pool(self, size: int, import_simulation: bool = False) -> None:
        # spawn: a fresh interpreter per worker, no NEURON state inherited by fork
        self._pool = ProcessPoolExecutor(
            max_workers=size, mp_context=get_context("spawn"), initializer=start_worker, initargs=(import_simulation,)
        )
        self._size = size

    def _submit(self, fn: Callable, *args):
        """Submit to the pool, which may spawn a worker now."""
        try:
            return self._pool.submit(fn, *args)  # type: ignore[union-attr]
        except OSError as exc:  # the process or file limit: e.g. BlockingIOError from fork
            started = len(getattr(self._pool, "_processes", None) or {})
            self._stop_pool()
            raise PspSweepError(
                f"executor.workers={self.workers}: the system refused to start worker process "
                f"{started + 1} ({(exc.strerror or str(exc)).lower()}); "
                "set a smaller executor.workers"
            ) from None

    def _submit_tasks(self, fn: Callable, tasks: Sequence[tuple], positions: Sequence[int]) -> dict:
        return {self._submit(run_noted, str(self._notes), i, fn, *tasks[i]): i for i in positions}

    def run(self, fn: Callable, tasks: Sequence[tuple]) -> Iterator:
        self.crashes, self.restarts = {}, 0
        size = min(self.workers, len(tasks))
        if self._pool is None or size > self._size:  # also replaces a pre-started pool too small for the chunks
            self._stop_pool()
            self._open_pool(size)
        pending = self._submit_tasks(fn, tasks, range(len(tasks)))
        held: list = []  # finished while self.hold() says so
        try:
            while pending or held:
                holding = self.hold is not None and self.hold()
                if self._cancelled():
                    return
                if held and not holding:
                    yield from held
                    held.clear()
                    continue
                if not pending:
                    time.sleep(0.1)  # only held chunks are left
                    continue
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                broken = False
                for fut in done:
                    try:
                        held.append(fut.result())
                    except BrokenProcessPool:
                        broken = True
                        continue
                    del pending[fut]
                if broken:
                    pending = self._restart(fn, tasks, pending, held)
        finally:
            for fut in pending:
                fut.cancel()

    def _restart(self, fn: Callable, tasks: Sequence[tuple], pending: dict, held: list) -> dict:
        """After a worker died: count the failure of the chunk it ran, and give every
        unfinished chunk to a fresh pool of all workers."""
        processes = dict(getattr(self._pool, "_processes", None) or {})  # gone after shutdown
        self._pool.shutdown(wait=True, cancel_futures=True)  # type: ignore[union-attr]  # all workers joined
        self._pool, self._size = None, 0
        unfinished = []
        for fut, i in pending.items():
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                held.append(fut.result())  # came back before the pool broke
            else:
                unfinished.append(i)
        for i in crashed(processes, read_notes(self._notes), set(unfinished)):
            self.crashes[i] = self.crashes.get(i, 0) + 1
            if self.crashes[i] >= 2:
                raise WorkerCrash(
                    f"a worker died twice while simulating {_units_of(tasks[i])}; "
                    "the sweep stops (a crash inside NEURON, or out of memory)"
                )
        self.restarts += 1
        if self.restarts > 2 * len(tasks):  # workers that die before running any chunk
            raise WorkerCrash(f"worker processes died {self.restarts} times; the sweep stops")
        self._open_pool(min(self.workers, len(unfinished)))
        return self._submit_tasks(fn, tasks, sorted(unfinished))

    def _cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def prebuild(self, cell: object, engine: str = "neuron") -> None:
        """Let idle workers build ``cell`` (a :class:`~pspsweep.cellmodel.CellSpec`) now,
        ahead of the chunks (:func:`pspsweep.simulation.runner.prebuild_cell`).

        Nothing waits for it: a worker that gets no such task, or whose build fails,
        builds the cell for its first chunk (which reports any error).
        """
        if self._pool is None:
            return
        for _ in range(self._size):
            self._submit(prebuild_cell, cell, engine)

    def _stop_pool(self) -> None:
        if self._pool is None:
            return
        # ProcessPoolExecutor cannot stop busy workers before Python 3.14 (terminate_workers)
        for proc in list((getattr(self._pool, "_processes", None) or {}).values()):
            if proc.is_alive():
                proc.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool, self._size = None, 0

    def close(self) -> None:
        """Stop the workers at once.

        Why not a plain ``shutdown(wait=True)``: an idle worker takes about a second to
        exit (freeing NEURON and pandas), and after an error or an interruption the chunks
        still running would be waited for, though nobody reads their results. Chunk files
        are written by this process, and settled-state files are renamed into place, so
        a stopped worker leaves nothing half-written.
        """
        if self in _STARTED:
            _STARTED.remove(self)
        self._stop_pool()
        shutil.rmtree(self._notes, ignore_errors=True)


#: local worker pools started early by the command (:func:`start_local_workers`), each
#: waiting to be taken by :func:`make_executor`
_STARTED: list[LocalProcesses] = []


def start_local_workers(workers: int) -> LocalProcesses:
    """Spawn ``workers`` local worker processes now, for the next ``make_executor("local",
    workers)`` of this process to take (``workers=1`` included: the chunks then run in
    one worker process, not in this one).

    Why: spawning a worker and importing NEURON and numpy there takes about a second,
    which overlaps the launching process's own reading of the inputs (a spawned worker
    also imports the console script's module, hence the light :mod:`pspsweep.entry`). Close the
    result if no sweep takes it.
    """
    executor = LocalProcesses(workers, start=True)
    _STARTED.append(executor)
    return executor


class DaskExecutor:
    """Run chunks on a Dask distributed cluster: an existing scheduler or a LocalCluster."""

    def __init__(self, address: str | None, workers: int) -> None:
        # before the import: hydra.verbose=distributed sets the level first
        verbose = logging.getLogger("distributed").getEffectiveLevel() <= logging.DEBUG
        from distributed import Client, LocalCluster

        if not verbose:
            quiet_dask_logging()
        self._cluster = None
        if address:
            try:
                self._client = Client(address, timeout="30s")
            except OSError as exc:
                raise PspSweepError(f"executor.address={address}: cannot reach the Dask scheduler ({exc})") from None
        else:
            self._cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            self._client = Client(self._cluster)
        self.workers = max(len(self._client.scheduler_info().get("workers", {})), 1)

    def run(self, fn: Callable, tasks: Sequence[tuple]) -> Iterator:
        from distributed import as_completed as dask_completed

        # pure=False: a chunk is a simulation to run, never a cached value; retries=1:
        # a chunk whose worker dies is run once more, then the sweep fails
        futures = {self._client.submit(fn, *args, pure=False, retries=1): args for args in tasks}
        for fut in dask_completed(list(futures)):
            try:
                yield fut.result()
            except PspSweepError:
                raise
            except Exception as exc:  # noqa: BLE001 - KilledWorker and friends
                raise WorkerCrash(
                    f"simulating {_units_of(futures[fut])} failed twice on the Dask cluster: "
                    f"{type(exc).__name__}: {exc}"
                ) from None

    def close(self) -> None:
        """Disconnect, and stop the local cluster if this process started it."""
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def quiet_dask_logging() -> None:
    """Keep Dask's INFO lines (about 30 for a LocalCluster) out of the output, unless asked
    for with ``DASK_LOGGING__DISTRIBUTED=info`` (or ``hydra.verbose=distributed``).

    The variable is Dask's own setting, read when ``distributed`` is imported: by every
    worker process the cluster spawns, and set here for this one.
    """
    level = os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    logging.getLogger("distributed").setLevel(level.upper())


def make_executor(kind: str, workers: int, address: str | None = None):
    """An executor for ``executor.kind`` (``local`` or ``dask``) and a worker count:
    local workers started by :func:`start_local_workers` if there are, else this process
    (one worker) or new worker processes."""
    if kind == "dask":
        return DaskExecutor(address, workers)
    for executor in _STARTED:
        if executor.workers == workers:
            _STARTED.remove(executor)
            return executor
    if workers <= 1:
        return InProcess()
    return LocalProcesses(workers)


def resolve_workers(workers: int) -> int:
    """``executor.workers``: 0 means all cores of this machine."""
    return workers if workers > 0 else (os.cpu_count() or 1)
