"""Benchmark: where the wall time of one restore command goes (the README's timeline).

Runs the ``pspsweep`` command in this process on the shared 86_C2_center cell (VPM_C2,
the first N units, fixed step, ``run.strategy=restore``, a fresh settle) and prints, in
seconds since the start, when each stage of the launching process begins and ends:
worker start, reading the inputs (and handing the cell to the workers), the chunks
(the first and the last result), the result files, the end of the MLflow run. It also
prints the chunks' simulation seconds per worker and how many core-seconds of the
machine stayed idle. The MLflow store exists before the command starts, as for every
command after the first. Not a test: one run on a noisy machine, printed, never asserted.

    python benchmarks/timeline.py                    # 2 workers, 60 units, tracking on
    python benchmarks/timeline.py --no-tracking      # the same without MLflow
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import isf86

STARTED = time.perf_counter()
EVENTS: list[tuple[float, str]] = []


def mark(what: str) -> None:
    EVENTS.append((time.perf_counter() - STARTED, what))


def traced(owner: object, name: str, label: str) -> None:
    """Record when ``owner.name`` is entered and left."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        mark(f"{label} starts")
        try:
            return original(*args, **kwargs)
        finally:
            mark(f"{label} ends")

    setattr(owner, name, wrapper)


class IdleCores(threading.Thread):
    """Sums the idle core-seconds of the machine (from /proc/stat) while the command runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.idle_s = 0.0
        self.running = True

    @staticmethod
    def _idle_ticks() -> int:
        """Idle and I/O-wait clock ticks of all cores since boot."""
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        return values[3] + values[4]

    def run(self) -> None:
        first = last = self._idle_ticks()
        while self.running:
            time.sleep(0.05)
            last = self._idle_ticks()
        self.idle_s = (last - first) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=60)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-tracking", action="store_true")
    parser.add_argument("--data", type=Path, default=isf86.DATA)
    args = parser.parse_args()
    isf86.require(args.data, "benchmark")

    tmp = Path(tempfile.mkdtemp(prefix="pspsweep-timeline-"))
    if not args.no_tracking:
        # an existing store, as every command after the first has (a new one is created
        # before the sweep starts, and its schema migrations take seconds)
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pspsweep import tracking; "
                "tracking.MlflowTracker(sys.argv[1], 'pspsweep', 'store').end('FINISHED')",
                f"sqlite:///{tmp / 'mlflow.db'}",
            ],
            check=True,
            capture_output=True,
        )
    global STARTED
    STARTED = time.perf_counter()  # the command's imports count from here
    import pspsweep.api as api
    import pspsweep.execution as execution
    import pspsweep.tracking as tracking
    from pspsweep.entry import main as command

    traced(api, "start_workers", "spawning the workers")
    traced(execution.LocalProcesses, "prebuild", "handing the cell to the workers")
    traced(execution, "run_chunks", "simulating the chunks")
    traced(execution, "assemble_traces", "writing traces.npz")
    traced(tracking.MlflowTracker, "end", "ending the MLflow run")
    results: list = []
    write = execution.ChunkStore.write

    def record(store, result):
        mark(f"chunk {result.index} ({len(result.units)} units) returned")
        results.append(result)
        return write(store, result)

    execution.ChunkStore.write = record  # type: ignore[method-assign]
    run_prepared = api._run_prepared

    def job(*job_args):
        # the pipeline (and pandas) is imported where the command imports it: first in the job
        mark("importing the pipeline starts")
        import pspsweep.pipeline as pipeline

        mark("importing the pipeline ends")
        traced(pipeline, "prepare", "reading the inputs")
        traced(pipeline, "amplitude_histogram", "drawing the histogram")
        traced(pipeline, "trace_overview", "drawing the trace overview")
        return run_prepared(*job_args)

    api._run_prepared = job  # type: ignore[assignment]

    units = "[" + ",".join(str(i) for i in range(args.units)) + "]"
    sys.argv = [
        "pspsweep",
        *isf86.input_overrides(args.data),
        "run.vardt=false",
        "run.celltype=VPM_C2",
        f"run.units={units}",
        "run.strategy=restore",
        f"executor.workers={args.workers}",
        "run.force=true",
        "executor.progress=false",
        f"hydra.run.dir={tmp / 'out'}",
        f"executor.work_dir={tmp / 'work' / 'chunks'}",
        f"tracking.uri=sqlite:///{tmp / 'mlflow.db'}",
        f"tracking.enabled={not args.no_tracking}",
    ]
    idle = IdleCores()
    idle.start()
    exit_now = os._exit
    os._exit = lambda code=0: (_ for _ in ()).throw(SystemExit(code))  # type: ignore[assignment]
    try:
        command()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        os._exit = exit_now
        mark("command done")
        idle.running = False
        idle.join()

    chunk_marks = [(t, what) for t, what in EVENTS if what.startswith("chunk ")]
    shown = [(t, what) for t, what in EVENTS if not what.startswith("chunk ")]
    if chunk_marks:
        shown += [(chunk_marks[0][0], f"first {chunk_marks[0][1]}"), (chunk_marks[-1][0], f"last {chunk_marks[-1][1]}")]
    print(
        f"86_C2_center, VPM_C2, {args.units} units, {args.workers} workers, fixed step, restore, fresh settle, "
        f"tracking {'off' if args.no_tracking else 'on'}"
    )
    for t, what in sorted(shown):
        print(f"{t:7.2f} s  {what}")
    per_worker: dict[str, float] = {}
    for r in results:
        per_worker[r.worker] = per_worker.get(r.worker, 0.0) + r.work_s
    for worker, seconds in per_worker.items():
        n = sum(len(r.units) for r in results if r.worker == worker)
        print(f"worker {worker}: {n} units in {seconds:.2f} s of chunk time (its settle, if any, included)")
    print(
        f"idle core-seconds of the machine while the command ran: {idle.idle_s:.2f} of "
        f"{(os.cpu_count() or 1) * EVENTS[-1][0]:.2f}"
    )


if __name__ == "__main__":
    main()
