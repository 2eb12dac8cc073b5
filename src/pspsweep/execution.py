"""Running units in chunks: in this process, on local worker processes, or on Dask.

Units are split into chunks. A worker process builds its simulator once (from plain
data: no NEURON object crosses a process boundary) and keeps it for every chunk it
gets. Each finished chunk comes back as arrays (traces and features) and is written at
once to its own file in a work folder, so the launching process never holds more than a
few chunks in memory and an interrupted sweep can continue from the chunks on disk.
:func:`assemble_traces` then streams the chunk files into one ``traces.npz``.
"""

from __future__ import annotations

import fcntl
import hashlib
import multiprocessing
import os
import pickle
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import warnings
import weakref
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    InvalidStateError,
    ProcessPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from pspsweep.errors import PspSweepError
from pspsweep.features import AnalysisOptions, psp_features_many
from pspsweep.units import Unit

CHUNK_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ChunkTask:
    """A chunk: its position in the sweep, its units and which of the sweep's works runs them.

    Attributes:
        index: chunk number (names its file).
        units: the units to simulate.
        keys: a sweep-wide number per unit that identifies its results (default: the
            units' indices).
        work: index into the sweep's list of :class:`SweepWork` (one per receptor and
            conductances).
    """

    index: int
    units: tuple[Unit, ...]
    keys: tuple[int, ...] = ()
    work: int = 0

    def result_keys(self) -> np.ndarray:
        """The keys under which the units' results are stored."""
        return np.array(self.keys or [u.index for u in self.units], dtype=np.int64)


@dataclass
class ChunkResult:
    """What a worker returns for one chunk (plain arrays only)."""

    index: int
    units: np.ndarray
    ts: list[np.ndarray]
    vs: list[np.ndarray]
    amplitudes: np.ndarray
    t_peaks: np.ndarray
    work_s: float
    worker: str
    baseline: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class SweepWork:
    """Everything a worker needs besides the chunk: simulation, analysis and storage options.

    Attributes:
        request: a :class:`pspsweep.simulation.runner.SweepRequest`.
        options: analysis options for the per-unit features.
        record_dt: resample stored traces on this step (ms); None keeps every sample.
    """

    request: object
    options: AnalysisOptions
    record_dt: float | None = None

    def fingerprint(self) -> str:
        """A content hash identifying the simulation and analysis (not the units)."""
        return hashlib.sha256(pickle.dumps((CHUNK_FORMAT_VERSION, self), protocol=5)).hexdigest()


@dataclass
class _Simulator:
    """A worker's simulator for one work and its baseline trace, run when first needed."""

    sim: Any
    baseline: tuple[np.ndarray, np.ndarray] | None = None

    def baseline_trace(self) -> tuple[np.ndarray, np.ndarray]:
        # after the first chunk's units where allowed: under restore (fixed step) the worker
        # that settled adds the baseline's end to the state cache meanwhile (see the runner)
        if self.baseline is None:
            self.baseline = self.sim.baseline()
        return self.baseline


# one simulator per worker process, reused for all chunks of a sweep
_SIMULATORS: dict[str, _Simulator] = {}


def _simulator(work: SweepWork) -> _Simulator:
    from pspsweep.simulation.runner import UnitSimulator

    key = work.fingerprint()
    if key not in _SIMULATORS:
        _SIMULATORS.clear()  # a process serves one sweep at a time; drop the old cell
        entry = _SIMULATORS[key] = _Simulator(UnitSimulator(work.request))  # type: ignore[arg-type]
        if entry.sim.baseline_first:
            entry.baseline_trace()
    return _SIMULATORS[key]


def _store_resolution(t: np.ndarray, v: np.ndarray, record_dt: float | None, t_end: float):
    if record_dt is None:
        return t, v
    grid = np.arange(0.0, t_end + record_dt / 2, record_dt)
    return grid, np.interp(grid, t, v)


def simulate_chunk(work: SweepWork, chunk: ChunkTask, with_baseline: bool = False) -> ChunkResult:
    """Simulate one chunk in this process and measure its PSPs.

    Args:
        work: simulation request, analysis options and storage resolution.
        chunk: the units to simulate.
        with_baseline: also return the baseline trace.

    Returns:
        Traces (at storage resolution) and features (from full-resolution traces).
    """
    simulator = _simulator(work)
    started = time.perf_counter()
    ts, vs = [], []
    for unit in chunk.units:
        t, v = simulator.sim.unit(unit)
        ts.append(t)
        vs.append(v)
    before_baseline = time.perf_counter()
    t_b, v_b = simulator.baseline_trace()
    baseline_s = time.perf_counter() - before_baseline  # not the chunk's work
    req = work.request
    amps, peaks = psp_features_many(ts, vs, t_b, v_b, req.t_stim, req.t_end, work.options)  # type: ignore[attr-defined]
    stored = [_store_resolution(t, v, work.record_dt, req.t_end) for t, v in zip(ts, vs)]  # type: ignore[attr-defined]
    baseline = _store_resolution(t_b, v_b, work.record_dt, req.t_end) if with_baseline else None  # type: ignore[attr-defined]
    return ChunkResult(
        index=chunk.index,
        units=chunk.result_keys(),
        ts=[s[0] for s in stored],
        vs=[s[1] for s in stored],
        amplitudes=amps,
        t_peaks=peaks,
        work_s=time.perf_counter() - started - baseline_s,
        worker=f"{socket.gethostname()}:{os.getpid()}",
        baseline=baseline,
    )


def unit_cost(unit: Unit) -> float:
    """Relative simulation cost of a unit: every synapse adds events (and CVODE steps)."""
    return 1.0 + 0.5 * unit.n_synapses


def plan_chunks(units: Sequence[Unit], workers: int, chunk_size: int | None = None, *,
                keys: Sequence[int] | None = None, work: int = 0, first_index: int = 0) -> list[ChunkTask]:
    """Split units into chunks, largest work first.

    Units are ordered by :func:`unit_cost`, largest first (ties keep their order), so
    the slow ones start early. Without ``chunk_size`` chunks shrink as the sweep
    proceeds (guided scheduling): each takes about 1/(4 x workers) of the work still
    left, at most 64 units, so early chunks are large (little overhead) and the last
    ones small (both cores stay busy to the end). With ``chunk_size`` every chunk has
    that many units (the last may have fewer).

    Args:
        units: the units to simulate.
        workers: number of workers sharing the chunks.
        chunk_size: fixed units per chunk, or None for guided sizes.
        keys: sweep-wide result key per unit (default: ``unit.index``).
        work: index of the :class:`SweepWork` that simulates these units.
        first_index: number of the first chunk (chunks of several works share a store).
    """
    if chunk_size is not None and chunk_size < 1:
        raise PspSweepError(f"executor.chunk_size={chunk_size} must be >= 1")
    keys = list(keys) if keys is not None else [u.index for u in units]
    order = sorted(range(len(units)), key=lambda i: -unit_cost(units[i]))
    costs = [unit_cost(units[i]) for i in order]
    chunks: list[ChunkTask] = []
    start, left = 0, float(sum(costs))
    while start < len(order):
        if chunk_size:
            stop = min(start + chunk_size, len(order))
        else:
            target, stop, taken = left / (4 * max(workers, 1)), start, 0.0
            while stop < len(order) and stop - start < 64 and (stop == start or taken + costs[stop] <= target):
                taken += costs[stop]
                stop += 1
        picked = order[start:stop]
        chunks.append(ChunkTask(first_index + len(chunks), tuple(units[i] for i in picked),
                                tuple(keys[i] for i in picked), work))
        left -= sum(costs[start:stop])
        start = stop
    return chunks


# ----------------------------------------------------------------------------- chunk files


#: members every chunk file has (a file without one of them is not a finished chunk)
CHUNK_MEMBERS = ("units", "offsets", "t", "v", "amplitudes", "t_peaks", "work_s", "worker")


def _unique_tmp(final: Path) -> Path:
    """A temporary name beside ``final`` that no other writer (process or thread) uses."""
    return final.with_name(f"{final.stem}.tmp{os.getpid()}-{secrets.token_hex(4)}{final.suffix}")


def _write_error(what: str, folder: Path, exc: OSError, remedy: str) -> PspSweepError:
    reason = (exc.strerror or str(exc)).lower()
    return PspSweepError(f"cannot write {what} in {folder}: {reason}: {remedy}")


def _lock_exclusively(lock_path: Path):
    """The open lock file at ``lock_path``, locked by this process, or None if another
    live process holds it (the kernel drops a killed process's lock)."""
    while True:
        handle = open(lock_path, "a")  # noqa: SIM115 - held for the sweep, closed on release
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        try:
            same = os.stat(lock_path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return handle
        handle.close()  # the holder removed this lock file meanwhile: lock the new one


def _give_up_claim(handle, lock_path: Path, private: Path | None) -> None:
    """Release a claimed chunk folder: delete a private one, unlock the shared one (its
    lock file goes too, while still locked, so :func:`_lock_exclusively` sees that)."""
    if private is not None:
        shutil.rmtree(private, ignore_errors=True)
    if handle is not None:
        lock_path.unlink(missing_ok=True)
        handle.close()


@dataclass
class ChunkStore:
    """A folder of finished chunk files for one sweep (keyed by the sweep's content).

    A sweep claims its folder (:meth:`claim`) for as long as it runs, so that two
    commands running the same sweep never delete each other's chunks: the second one
    then works in a private folder of its own.
    """

    folder: Path
    _claim: Any = field(default=None, init=False, repr=False, compare=False)

    def path(self, index: int) -> Path:
        """File of chunk ``index``."""
        return self.folder / f"chunk-{index:06d}.npz"

    def write(self, result: ChunkResult) -> Path:
        """Write a chunk atomically (a killed writer leaves no partial chunk file).

        Raises:
            PspSweepError: the folder is not writable (disk full, read-only, no
                permission); no partial file is left.
        """
        lengths = np.array([len(t) for t in result.ts], dtype=np.int64)
        arrays = {
            "units": result.units,
            "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            "t": np.concatenate(result.ts) if result.ts else np.zeros(0),
            "v": np.concatenate(result.vs) if result.vs else np.zeros(0),
            "amplitudes": result.amplitudes,
            "t_peaks": result.t_peaks,
            "work_s": np.array(result.work_s),
            "worker": np.array(result.worker),
        }
        if result.baseline is not None:
            arrays["t_baseline"], arrays["v_baseline"] = result.baseline
        final = self.path(result.index)
        tmp = _unique_tmp(final)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            np.savez(tmp, **arrays)
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _write_error("a chunk file", self.folder, exc, "free space or set executor.work_dir") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return final

    def done(self) -> set[int]:
        """Indices of the chunks already on disk."""
        if not self.folder.is_dir():
            return set()
        return {int(p.stem.split("-")[1]) for p in self.folder.glob("chunk-*.npz") if ".tmp" not in p.name}

    def problem(self, chunk: ChunkTask) -> str | None:
        """Why the stored file of ``chunk`` cannot be used (truncated, corrupt, missing
        members, other units), or None when it is a complete chunk file."""
        try:
            with zipfile.ZipFile(self.path(chunk.index)) as zf:
                bad = zf.testzip()  # reads every member and checks its CRC
                if bad is not None:
                    return f"member {bad} is corrupt"
            with np.load(self.path(chunk.index)) as d:
                missing = [m for m in CHUNK_MEMBERS if m not in d]
                if missing:
                    return f"members {', '.join(missing)} are missing"
                if not np.array_equal(d["units"], chunk.result_keys()):
                    return "it holds other units"
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def read(self, index: int) -> ChunkResult:
        """Load a chunk file."""
        with np.load(self.path(index)) as d:
            off = d["offsets"]
            t, v = d["t"], d["v"]
            baseline = (d["t_baseline"], d["v_baseline"]) if "t_baseline" in d else None
            return ChunkResult(
                index=index,
                units=d["units"],
                ts=[t[a:b] for a, b in zip(off[:-1], off[1:])],
                vs=[v[a:b] for a, b in zip(off[:-1], off[1:])],
                amplitudes=d["amplitudes"],
                t_peaks=d["t_peaks"],
                work_s=float(d["work_s"]),
                worker=str(d["worker"]),
                baseline=baseline,
            )

    def features(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(unit indices, amplitudes, peak times, work seconds) of a chunk, without its traces."""
        with np.load(self.path(index)) as d:
            return d["units"], d["amplitudes"], d["t_peaks"], float(d["work_s"])

    @staticmethod
    def for_sweep(root: Path, works: SweepWork | Sequence[SweepWork], chunks: Sequence[ChunkTask], *,
                  salt: str = "") -> "ChunkStore":
        """The store of one sweep: a folder named by everything its chunk files depend on.

        That is the works, every unit in full (its synapses' sections and positions
        too), the chunk plan, the pspsweep version and chunk format, and ``salt`` (the
        caller's key for what else the results depend on, e.g. input file hashes).
        """
        import pspsweep

        plan = [(c.index, c.work, tuple(c.result_keys()), c.units) for c in chunks]
        prints = "".join(w.fingerprint() for w in _as_list(works))
        text = f"{pspsweep.__version__}|{CHUNK_FORMAT_VERSION}|{salt}|{prints}|{plan!r}"
        return ChunkStore(root / hashlib.sha256(text.encode()).hexdigest()[:24])

    def claim(self) -> ChunkStore:
        """Lock this folder for this sweep; if another live command holds it, switch to a
        private folder beside it (removed again on :meth:`release`). Returns self."""
        if self._claim is not None:
            return self
        root = self.folder.parent
        try:
            root.mkdir(parents=True, exist_ok=True)
            lock_path = root / f"{self.folder.name}.lock"
            handle = _lock_exclusively(lock_path)
        except OSError as exc:
            raise _write_error("the chunk folder", root, exc, "set executor.work_dir to a writable folder") from None
        private = None
        if handle is None:
            # the same sweep runs in another command: never touch its chunks
            private = root / f"{self.folder.name}.{os.getpid()}-{secrets.token_hex(4)}"
            self.folder = private
        # also at exit or when dropped, so that no failure path keeps the lock or a private folder
        self._claim = weakref.finalize(self, _give_up_claim, handle, lock_path, private)
        return self

    def release(self) -> None:
        """Unlock the claimed folder and keep its chunks for a resume (a private folder
        cannot be resumed and is deleted)."""
        if self._claim is not None:
            self._claim()

    def remove(self) -> None:
        """Delete the folder (after the results are assembled) and release the claim."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.release()


# ----------------------------------------------------------------------------- executors


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


def _run_noted(notes: str, position: int, fn: Callable, *args):
    """Run task ``position`` in a worker, with a note (a file named by the worker's pid)
    saying so while it runs: what tells a chunk that killed its worker from the others."""
    note = Path(notes) / str(os.getpid())
    try:
        note.write_text(str(position))
    except OSError:  # only a clue for crash counting: without it every running task counts
        pass
    try:
        return fn(*args)
    finally:
        note.unlink(missing_ok=True)


def _read_notes(notes: Path) -> dict[int, int]:
    """The task each worker (by pid) was running, from :func:`_run_noted`'s notes."""
    running = {}
    for note in notes.iterdir():
        try:
            running[int(note.name)] = int(note.read_text())
        except (OSError, ValueError):  # a note being written when its worker died
            pass
        note.unlink(missing_ok=True)
    return running


def _crashed(processes: dict[int, Any], running: dict[int, int], unfinished: set[int]) -> set[int]:
    """Tasks whose own worker died while running them.

    A broken pool stops its other workers with SIGTERM: their tasks were bystanders. If
    no worker died on its own (say, SIGTERM from outside), every running task counts.
    """
    running = {pid: i for pid, i in running.items() if i in unfinished}
    died = {i for pid, i in running.items()
            if pid in processes and processes[pid].exitcode not in (None, -signal.SIGTERM)}
    return died or set(running.values())


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
        self._pool = ProcessPoolExecutor(max_workers=size, mp_context=get_context("spawn"),
                                         initializer=_start_worker, initargs=(import_simulation,))
        self._size = size

    def _submit(self, fn: Callable, *args):
        """Submit to the pool, which may spawn a worker now."""
        try:
            return self._pool.submit(fn, *args)  # type: ignore[union-attr]
        except OSError as exc:  # the process or file limit: e.g. BlockingIOError from fork
            started = len(getattr(self._pool, "_processes", None) or {})
            self._stop_pool()
            raise PspSweepError(f"executor.workers={self.workers}: the system refused to start worker process "
                                f"{started + 1} ({(exc.strerror or str(exc)).lower()}); "
                                "set a smaller executor.workers") from None

    def _submit_tasks(self, fn: Callable, tasks: Sequence[tuple], positions: Sequence[int]) -> dict:
        return {self._submit(_run_noted, str(self._notes), i, fn, *tasks[i]): i for i in positions}

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
        for i in _crashed(processes, _read_notes(self._notes), set(unfinished)):
            self.crashes[i] = self.crashes.get(i, 0) + 1
            if self.crashes[i] >= 2:
                raise WorkerCrash(f"a worker died twice while simulating {_units_of(tasks[i])}; "
                                  "the sweep stops (a crash inside NEURON, or out of memory)")
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
            self._submit(_prebuild_cell, cell, engine)

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


def _start_worker(import_simulation: bool) -> None:
    """Initializer of every worker: it exits when the launching process is gone (killed
    by SIGKILL, a pool's workers would otherwise wait for chunks forever); pre-started
    workers also import what every chunk needs meanwhile."""
    parent = os.getppid()

    def exit_with_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=exit_with_parent, name="pspsweep-parent-watch", daemon=True).start()
    if import_simulation:
        _import_simulation()


def _import_simulation() -> None:
    """The imports every chunk needs, done in pre-started workers while the launching
    process still reads the inputs (``pspsweep.simulation`` first: it turns off NEURON's
    GUI and its "no DISPLAY" warning)."""
    import pspsweep.simulation.cell  # noqa: F401
    import pspsweep.simulation.runner  # noqa: F401


def _prebuild_cell(cell: object, engine: str) -> None:
    from pspsweep.simulation.runner import prebuild_cell

    try:
        prebuild_cell(cell, engine)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - only a head start: the first chunk builds again and reports
        pass


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
        from distributed import Client, LocalCluster

        self._cluster = None
        if address:
            try:
                self._client = Client(address, timeout="30s")
            except OSError as exc:
                raise PspSweepError(f"executor.address={address}: cannot reach the Dask scheduler ({exc})") from None
        else:
            self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
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
                raise WorkerCrash(f"simulating {_units_of(futures[fut])} failed twice on the Dask cluster: "
                                  f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        """Disconnect, and stop the local cluster if this process started it."""
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


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


# ----------------------------------------------------------------------------- the sweep


@dataclass
class ExecutionReport:
    """How the chunks ran."""

    wall_s: float
    work_s: float
    workers: int
    n_chunks: int
    chunks_reused: int
    units_simulated: int
    per_worker_s: dict[str, float] = field(default_factory=dict)

    @property
    def parallel_efficiency(self) -> float:
        """Work time summed over workers / (workers x wall time)."""
        return self.work_s / (self.workers * self.wall_s) if self.wall_s > 0 else float("nan")


def _as_list(works: SweepWork | Sequence[SweepWork]) -> list[SweepWork]:
    return [works] if isinstance(works, SweepWork) else list(works)


def _usable_chunks(store: ChunkStore, chunks: Sequence[ChunkTask]) -> set[int]:
    """Indices of the chunks whose files are complete; an unreadable file (truncated by a
    crash or a full disk) is deleted, with a warning, so that its chunk runs again."""
    on_disk = store.done()
    usable = set()
    for chunk in chunks:
        if chunk.index not in on_disk:
            continue
        problem = store.problem(chunk)
        if problem is None:
            usable.add(chunk.index)
            continue
        warnings.warn(f"chunk file {store.path(chunk.index)} is unreadable ({problem}); simulating it again",
                      RuntimeWarning, stacklevel=3)
        store.path(chunk.index).unlink(missing_ok=True)
    return usable


def run_chunks(
    works: SweepWork | Sequence[SweepWork],
    chunks: Sequence[ChunkTask],
    store: ChunkStore,
    executor,
    on_done: Callable[[int], None] | None = None,
) -> ExecutionReport:
    """Simulate every chunk not yet in ``store`` and write each one as it completes.

    Args:
        works: the sweep's simulations and analysis (``chunk.work`` indexes them); one
            work alone stands for a list of one.
        chunks: all chunks of the sweep (those already stored are skipped).
        store: where chunk files go.
        executor: from :func:`make_executor`.
        on_done: called with the number of units of every finished (or reused) chunk.

    Returns:
        Timing and reuse counts.
    """
    started = time.perf_counter()
    done = _usable_chunks(store, chunks)
    todo = [c for c in chunks if c.index not in done]
    reused = len(chunks) - len(todo)
    if on_done:
        for c in chunks:
            if c.index in done:
                on_done(len(c.units))
    # the chunk that carries the baseline: the first one, unless it is already on disk
    need_baseline = not any(store.read(i).baseline is not None for i in sorted(done)[:1]) if done else True
    works = _as_list(works)
    tasks = [(works[c.work], c, need_baseline and k == 0) for k, c in enumerate(todo)]
    if need_baseline and not todo:
        raise PspSweepError(f"chunk folder {store.folder} has no baseline; delete it and run again")
    work_s, per_worker, simulated = 0.0, {}, 0
    for result in executor.run(simulate_chunk, tasks):
        store.write(result)
        work_s += result.work_s
        per_worker[result.worker] = per_worker.get(result.worker, 0.0) + result.work_s
        simulated += len(result.units)
        if on_done:
            on_done(len(result.units))
    # no more workers run than there are chunks (see LocalProcesses.run)
    workers = min(executor.workers, max(len(todo), 1))
    return ExecutionReport(time.perf_counter() - started, work_s, workers, len(chunks), reused,
                           simulated, per_worker)


def collect_features(store: ChunkStore, chunks: Sequence[ChunkTask]) -> tuple[np.ndarray, np.ndarray]:
    """Amplitudes and peak times of all units, indexed by their result keys.

    With the default keys (unit indices 0..n-1) that is unit order; positions no chunk
    covers hold NaN.
    """
    keys, amps, peaks = [], [], []
    for c in chunks:
        k, a, p, _ = store.features(c.index)
        keys.append(k)
        amps.append(a)
        peaks.append(p)
    if not keys:
        return np.zeros(0), np.zeros(0)
    k = np.concatenate(keys)
    amplitudes = np.full(int(k.max()) + 1, np.nan)
    t_peaks = np.full(int(k.max()) + 1, np.nan)
    amplitudes[k], t_peaks[k] = np.concatenate(amps), np.concatenate(peaks)
    return amplitudes, t_peaks


def find_baseline(store: ChunkStore, chunks: Sequence[ChunkTask]) -> tuple[np.ndarray, np.ndarray]:
    """The baseline trace stored with one of the chunks."""
    for c in chunks:
        baseline = store.read(c.index).baseline
        if baseline is not None:
            return baseline
    raise PspSweepError(f"no chunk in {store.folder} holds the baseline trace")


def _write_npy_member(zf: zipfile.ZipFile, name: str, dtype: np.dtype, n: int, parts: Iterator[np.ndarray]) -> None:
    """Stream an array of known length into an npz member, part by part."""
    with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n,)}
        )
        written = 0
        for part in parts:
            arr = np.ascontiguousarray(part, dtype=dtype)
            f.write(arr.tobytes())
            written += arr.size
        if written != n:
            raise RuntimeError(f"{name}: wrote {written} values, expected {n}")


def assemble_traces(store: ChunkStore, chunks: Sequence[ChunkTask], path: Path) -> Path:
    """Stream all chunks into one ``traces.npz`` (layout of :mod:`pspsweep.traces`).

    Memory stays at one chunk whatever the number of units.
    """
    t_b, v_b = find_baseline(store, chunks)
    lengths, units = [], []
    for c in chunks:
        with np.load(store.path(c.index)) as d:
            off = d["offsets"]
            lengths.append(np.diff(off))
            units.append(d["units"])
    lengths_all = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
    total = int(lengths_all.sum())

    def column(key: str) -> Iterator[np.ndarray]:
        for c in chunks:
            with np.load(store.path(c.index)) as d:
                yield d[key]

    tmp = _unique_tmp(path)
    try:
        # the fastest deflate level: 3x faster than the default, files within a few percent
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as zf:
            for name, arr in (("t_baseline", np.asarray(t_b, np.float64)),
                              ("v_baseline", np.asarray(v_b, np.float32))):
                _write_npy_member(zf, name, arr.dtype, arr.size, iter([arr]))
            _write_npy_member(zf, "t", np.dtype(np.float64), total, column("t"))
            _write_npy_member(zf, "v", np.dtype(np.float32), total, column("v"))
            offsets = np.concatenate([[0], np.cumsum(lengths_all)]).astype(np.int64)
            _write_npy_member(zf, "offsets", offsets.dtype, offsets.size, iter([offsets]))
            unit = np.concatenate(units).astype(np.int64) if units else np.zeros(0, np.int64)
            _write_npy_member(zf, "simulation", unit.dtype, unit.size, iter([unit]))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _write_error(path.name, path.parent, exc, "free space and run the command again") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_unit_traces(store: ChunkStore, chunks: Sequence[ChunkTask], wanted: set[int]
                     ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The stored traces of the units in ``wanted`` (by result key), read chunk by chunk."""
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for c in chunks:
        if not wanted.intersection(int(k) for k in c.result_keys()):
            continue
        result = store.read(c.index)
        for u, t, v in zip(result.units, result.ts, result.vs):
            if int(u) in wanted:
                out[int(u)] = (t, v)
    return out
