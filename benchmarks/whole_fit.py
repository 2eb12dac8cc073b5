"""Benchmark: the whole excitatory fit of the shared 86_C2_center cell, timed end to end.

Runs the README's fit command (every excitatory presynaptic cell of the embedding, one
multirun job per conductance, CVODE, the fit at the end) in a fresh MLflow store and
work folder, and prints the wall time, units and distinct simulations, units per second,
peak memory and the parallel efficiency of each job. Not a test: the machine is shared
and noisy, so the numbers are printed, never asserted.

    python benchmarks/whole_fit.py                 # the full fit: g = 0.5, 1, 1.5, 2
    python benchmarks/whole_fit.py --g 1.0         # a slice: one conductance, extrapolated

A slice runs every unit at fewer conductances; the full fit's time is then estimated as
the slice's time per conductance times the number of conductances of the full fit
(the cost of a unit barely depends on g; the estimate says so when it is used).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import isf86

FULL_G = (0.5, 1.0, 1.5, 2.0)


def fit_command(
    data: Path, g: tuple[float, ...], store: Path, work: Path, sweep_dir: Path, extra: list[str]
) -> list[str]:
    """The README's whole-fit command, pointed at ``data`` and private output folders."""
    exe = Path(sys.executable).parent / "pspsweep"
    return [
        str(exe),
        "-m",
        *isf86.input_overrides(data),
        "run.celltype=excitatory",
        "run.g=" + ",".join(f"{x:g}" for x in g),
        f"fit.measured={data / 'measured_epsp.csv'}",
        f"tracking.uri=sqlite:///{store}",
        f"executor.work_dir={work}",
        "executor.progress=false",
        f"hydra.sweep.dir={sweep_dir}",
        *extra,
    ]


def job_metrics(store: Path) -> list[dict[str, float]]:
    """Metrics of every finished job run (one per conductance) of the store's sweep; the
    fit's own run, nested under the parent too, is left out."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store}")
    rows = []
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id], "tags.mlflow.parentRunId != ''"):
            if run.data.tags.get("pspsweep.kind") == "fit":
                continue
            rows.append({**run.data.metrics, "g": float(run.data.params.get("run.g", "nan"))})
    return sorted(rows, key=lambda m: m.get("g", 0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--g",
        default=",".join(f"{x:g}" for x in FULL_G),
        help="comma list of conductances (nS); fewer than the full fit's four is a slice",
    )
    parser.add_argument("--data", type=Path, default=isf86.DATA)
    parser.add_argument("overrides", nargs="*", help="extra pspsweep overrides, e.g. executor.workers=2")
    args = parser.parse_args()
    isf86.require(args.data, "benchmark")
    g = tuple(float(x) for x in args.g.split(","))

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="pspsweep-fit-") as tmp:
        root = Path(tmp)
        cmd = fit_command(args.data, g, root / "fit.db", root / "work", root / "multirun", args.overrides)
        print("command:", " ".join(cmd[1:]), "\n", flush=True)
        started = time.perf_counter()
        res = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if res.returncode != 0:
            sys.exit(f"benchmark: the fit failed:\n{res.stderr[-3000:]}")
        # the largest resident set of any process of the command (the launcher or a worker)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        jobs = job_metrics(root / "fit.db")
        optimal = (root / "multirun").glob("**/optimal_g.csv")
        table = next(optimal, None)

        print(f"{'g nS':>6} {'units':>7} {'simulated':>9} {'sim s':>8} {'units/s':>8} {'sims/s':>7} {'efficiency':>10}")
        for m in jobs:
            print(
                f"{m.get('g', float('nan')):6g} {m['n_units']:7.0f} {m['n_simulated']:9.0f} "
                f"{m['simulation_time_s']:8.1f} {m['units_per_second']:8.1f} {m['simulations_per_second']:7.2f} "
                f"{m['parallel_efficiency']:10.1%}"
            )
        units = sum(m["n_units"] for m in jobs)
        simulated = sum(m["n_simulated"] for m in jobs)
        work = sum(m["simulation_time_s"] * m["parallel_efficiency"] * m["workers"] for m in jobs)
        busy = sum(m["simulation_time_s"] * m["workers"] for m in jobs)
        print(
            f"\nwhole command: {wall:.0f} s ({wall / 60:.1f} min) for {units:.0f} unit simulations "
            f"({simulated:.0f} distinct), {units / wall:.1f} units/s overall"
        )
        print(f"parallel efficiency over all jobs: {work / busy:.1%}; peak memory of one process: {peak_mb:.0f} MB")
        if table is not None:
            print(f"\noptimal conductances ({table.relative_to(root)}):\n{table.read_text()}")
        if len(g) < len(FULL_G):
            estimate = wall / len(g) * len(FULL_G)
            print(
                f"SLICE: {len(g)} of the full fit's {len(FULL_G)} conductances. Estimated full fit: "
                f"{estimate:.0f} s ({estimate / 60:.1f} min) = this wall time / {len(g)} x {len(FULL_G)}; "
                "assumes a unit costs the same at every g (larger g gives larger PSPs and somewhat "
                "more CVODE steps) and the fit itself is negligible."
            )


if __name__ == "__main__":
    main()
