"""Running units in chunks: in this process, on local worker processes, or on Dask.

Units are split into chunks (:mod:`.plan`). A worker process builds its simulator once
(from plain data: no NEURON object crosses a process boundary) and keeps it for every
chunk it gets (:mod:`.worker`); :mod:`.executors` hand the chunks to the workers. Each
finished chunk comes back as arrays (traces and features) and is written at once to its
own file in a work folder (:mod:`.store`), so the launching process never holds more than
a few chunks in memory and an interrupted sweep can continue from the chunks on disk
(:mod:`.run`). :func:`pspsweep.traces.assemble_traces` then streams the chunk files into
one ``traces.npz``.

Every name the callers use is importable from here.
"""

from __future__ import annotations

from pspsweep.execution.executors import (
    DaskExecutor,
    InProcess,
    LocalProcesses,
    WorkerCrash,
    make_executor,
    resolve_workers,
    start_local_workers,
)
from pspsweep.execution.plan import ChunkTask, plan_chunks, unit_cost
from pspsweep.execution.run import ExecutionReport, run_chunks
from pspsweep.execution.store import (
    CHUNK_MEMBERS,
    ChunkStore,
    collect_features,
    find_baseline,
    read_unit_traces,
)
from pspsweep.execution.worker import CHUNK_FORMAT_VERSION, ChunkResult, SweepWork, simulate_chunk
from pspsweep.traces import assemble_traces

__all__ = [
    "CHUNK_FORMAT_VERSION",
    "CHUNK_MEMBERS",
    "ChunkResult",
    "ChunkStore",
    "ChunkTask",
    "DaskExecutor",
    "ExecutionReport",
    "InProcess",
    "LocalProcesses",
    "SweepWork",
    "WorkerCrash",
    "assemble_traces",
    "collect_features",
    "find_baseline",
    "make_executor",
    "plan_chunks",
    "read_unit_traces",
    "resolve_workers",
    "run_chunks",
    "simulate_chunk",
    "start_local_workers",
    "unit_cost",
]
