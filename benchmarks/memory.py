"""Benchmark: peak memory (RSS) of a 1,000-unit sweep, for the launching process and its workers.

Runs the whole ``pspsweep`` command once in a fresh temporary folder (own MLflow store
and work folder) and prints the peak resident set size of every process of the command:
the launching process (Hydra, the pipeline, MLflow, the plots) and each worker (one
NEURON cell each), read from ``/proc/<pid>/status`` (``VmHWM``) every 0.1 s while they
run, and the exact peak over all of them from ``getrusage(RUSAGE_CHILDREN)`` once they
have ended. Asserts nothing (the machine is shared); says whether every peak is under
1 GB. The last line is the result as JSON.

    python benchmarks/memory.py                  # shared 86_C2_center cell: L34_C2, synapse mode, first 1000 units
    python benchmarks/memory.py --demo           # the demo cell: 1000 one-to-three-synapse cells of L4ss_C2
    python benchmarks/memory.py --units 50       # a quick check

The 86 cell needs ``../shared/data/isf_86_c2`` beside the repository; without it the demo
cell is used (the output says which). Each of the 1000 86-cell units takes about 0.8 s of
one core (fixed step, restore strategy), so the default run takes several minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import isf86

GB = 1024**3


def sweep_overrides(demo: bool, units: int, data: Path) -> list[str]:
    """The command's overrides for a sweep of ``units`` units (fixed step, restore)."""
    common = ["run.vardt=false", "run.strategy=restore", "executor.progress=false"]
    if demo:
        # distinct cells, every one simulated (identical ones would be simulated once)
        return [*common, f"network.celltypes.L4ss_C2.n_cells={units}", "run.reuse_identical=false"]
    return [
        *common,
        *isf86.input_overrides(data),
        "run.celltype=L34_C2",
        "run.mode=synapses",
        f"run.units=[{','.join(map(str, range(units)))}]",
    ]


def _peak_rss(pid: int) -> int | None:
    """Peak RSS so far (bytes) of a live process, from /proc (Linux); None if unreadable."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _children(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def _role(pid: int, root: int) -> str:
    if pid == root:
        return "launching process"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    if "resource_tracker" in cmd:
        return "resource tracker"
    return "worker" if "multiprocessing" in cmd else "other"


def run_and_measure(args: list[str], cwd: Path, poll_s: float = 0.1) -> dict:
    """Run the command; returns its wall time, exit code and peak RSS per process."""
    exe = Path(sys.executable).parent / "pspsweep"
    peaks: dict[int, tuple[str, int]] = {}
    started = time.perf_counter()
    proc = subprocess.Popen([str(exe), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def watch() -> None:
        # VmHWM is each process's own high-water mark: the last reading before it ends is
        # its peak, unless the peak came in its last poll interval
        while not done.is_set():
            for pid in [proc.pid, *_children(proc.pid)]:
                rss = _peak_rss(pid)
                if rss is not None:
                    role = peaks[pid][0] if pid in peaks else _role(pid, proc.pid)
                    peaks[pid] = (role, max(rss, peaks.get(pid, ("", 0))[1]))
            done.wait(poll_s)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    done.set()
    watcher.join()
    wall = time.perf_counter() - started
    # exact: the largest peak of any process of the command (they are all reaped by now)
    all_max = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {
        "returncode": proc.returncode,
        "wall_s": wall,
        "stdout": out,
        "stderr": err,
        "max_rss_all_bytes": all_max,
        "processes": [{"pid": pid, "role": role, "peak_rss_bytes": rss} for pid, (role, rss) in sorted(peaks.items())],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--demo", action="store_true", help="use the demo cell even if the shared data exists")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=isf86.DATA)
    parser.add_argument("--no-tracking", action="store_true", help="run without MLflow")
    args = parser.parse_args()
    demo = args.demo or not (args.data / isf86.PARAM).is_file()
    cell = "demo cell, L4ss_C2, cell mode" if demo else f"86_C2_center ({args.data}), L34_C2, synapse mode"
    print(
        f"cell: {cell}; {args.units} units, {args.workers} workers, fixed step, restore; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="pspsweep-memory-") as tmp:
        root = Path(tmp)
        overrides = sweep_overrides(demo, args.units, args.data) + [
            f"executor.workers={args.workers}",
            f"executor.work_dir={root / 'chunks'}",
            f"hydra.run.dir={root / 'out'}",
            "tracking.enabled=false" if args.no_tracking else f"tracking.uri=sqlite:///{root / 'mlflow.db'}",
        ]
        result = run_and_measure(overrides, root)
    if result["returncode"] != 0:
        sys.exit(f"memory: the command failed (exit {result['returncode']}):\n{result['stderr'][-3000:]}")
    print(f"wall {result['wall_s']:.1f} s")
    for p in result["processes"]:
        print(f"  {p['role']:<18} pid {p['pid']:<8} peak RSS {p['peak_rss_bytes'] / 2**20:8.1f} MiB")
    peak = result["max_rss_all_bytes"]
    print(
        f"largest peak of any process (getrusage): {peak / 2**20:.1f} MiB: {'under' if peak < GB else 'NOT under'} 1 GB"
    )
    summary = {k: v for k, v in result.items() if k not in ("stdout", "stderr")}
    summary.update(cell=cell, units=args.units, workers=args.workers, under_1GB=peak < GB)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
