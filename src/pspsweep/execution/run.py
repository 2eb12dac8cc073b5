"""The sweep's chunks run: skip those already stored, run the rest, write each as it comes."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from pspsweep.errors import PspSweepError
from pspsweep.execution.plan import ChunkTask
from pspsweep.execution.store import ChunkStore
from pspsweep.execution.worker import SweepWork, as_work_list, simulate_chunk


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
        warnings.warn(
            f"chunk file {store.path(chunk.index)} is unreadable ({problem}); simulating it again",
            RuntimeWarning,
            stacklevel=3,
        )
        store.path(chunk.index).unlink(missing_ok=True)
    return usable


def run_chunks(
    works: SweepWork | Sequence[SweepWork],
    chunks: Sequence[ChunkTask],
    store: ChunkStore,
    executor,
    on_done: Callable[[np.ndarray], None] | None = None,
) -> ExecutionReport:
    """Simulate every chunk not yet in ``store`` and write each one as it completes.

    Args:
        works: the sweep's simulations and analysis (``chunk.work`` indexes them); one
            work alone stands for a list of one.
        chunks: all chunks of the sweep (those already stored are skipped).
        store: where chunk files go.
        executor: from :func:`make_executor`.
        on_done: called with the result keys of every finished (or reused) chunk.

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
                on_done(c.result_keys())
    # the chunk that carries the baseline: the first one, unless it is already on disk
    need_baseline = not any(store.read(i).baseline is not None for i in sorted(done)[:1]) if done else True
    works = as_work_list(works)
    tasks = [(works[c.work], c, need_baseline and k == 0) for k, c in enumerate(todo)]
    if need_baseline and not todo:
        raise PspSweepError(f"chunk folder {store.folder} has no baseline; delete it and run again")
    work_s, simulated = 0.0, 0
    per_worker: dict[str, float] = {}
    for result in executor.run(simulate_chunk, tasks):
        store.write(result)
        work_s += result.work_s
        per_worker[result.worker] = per_worker.get(result.worker, 0.0) + result.work_s
        simulated += len(result.units)
        if on_done:
            on_done(result.units)
    # no more workers run than there are chunks (see LocalProcesses.run)
    workers = min(executor.workers, max(len(todo), 1))
    return ExecutionReport(time.perf_counter() - started, work_s, workers, len(chunks), reused, simulated, per_worker)
