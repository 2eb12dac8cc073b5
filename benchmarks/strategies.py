"""Benchmark: the reference protocol against restore, on one worker and on all workers.

Runs the whole ``pspsweep`` command on the shared 86_C2_center cell for the same units
with ``run.strategy=reference executor.workers=1``, ``run.strategy=restore
executor.workers=1`` and ``run.strategy=restore executor.workers=N``, with a fixed step
and with CVODE; and (case ``coreneuron``, fixed step) ``run.strategy=restore
executor.workers=1`` with ``run.engine=neuron`` against ``run.engine=coreneuron``. It
prints the wall time of each command, the time per unit, the ratios measured in this one
run, and the largest differences of amplitudes and traces between the strategies (or
engines). Not a test: the machine is shared and noisy, so the numbers are printed, never
asserted.

    python benchmarks/strategies.py                       # 60 VPM_C2 units, tStim 110, tEnd 150
    python benchmarks/strategies.py --t-stim 2000 --t-end 2040 --cases fixed --cached
    python benchmarks/strategies.py --cases coreneuron --units 4   # CoreNEURON vs NEURON only
    python benchmarks/strategies.py --cases fixed --cached --repeat 3  # medians of 3 turns
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import isf86
import numpy as np
import pandas as pd


def run_command(out: Path, overrides: list[str]) -> float:
    """Run pspsweep with ``overrides`` writing into ``out``; returns the wall time (s)."""
    exe = Path(sys.executable).parent / "pspsweep"
    args = [str(exe), *overrides, f"hydra.run.dir={out}", "executor.progress=false"]
    started = time.perf_counter()
    res = subprocess.run(args, cwd=out.parent, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if res.returncode != 0:
        sys.exit(f"benchmark: command failed ({' '.join(overrides)}):\n{res.stderr[-3000:]}")
    return wall


def max_trace_difference(a: Path, b: Path) -> float:
    """Largest |v_a - v_b| (mV) over all stored samples; inf when the sample times differ."""
    with np.load(a / "traces.npz") as x, np.load(b / "traces.npz") as y:
        if x["t"].shape != y["t"].shape or not np.array_equal(x["t"], y["t"]):
            return float("inf")
        return float(np.max(np.abs(x["v"].astype(np.float64) - y["v"].astype(np.float64)), initial=0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--celltype", default="VPM_C2")
    parser.add_argument("--units", type=int, default=60, help="first N units of the cell type")
    parser.add_argument("--t-stim", type=float, default=110.0)
    parser.add_argument("--t-end", type=float, default=150.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers of the parallel run")
    parser.add_argument("--cases", default="fixed,cvode,coreneuron", help="comma list of fixed, cvode, coreneuron")
    parser.add_argument("--data", type=Path, default=isf86.DATA)
    parser.add_argument(
        "--cached",
        action="store_true",
        help="add restore runs on 1 and on all workers that find their settled state in "
        "the cache (as every job of a conductance sweep after the first does)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run the set of commands this many times in turn and report medians"
    )
    args = parser.parse_args()
    if args.repeat < 1:
        sys.exit("benchmark: --repeat must be at least 1")
    isf86.require(args.data, "benchmark")

    units = "[" + ",".join(str(i) for i in range(args.units)) + "]"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"cell 86_C2_center, {args.celltype}, {args.units} units, tStim {args.t_stim:g} ms, "
        f"tEnd {args.t_end:g} ms; whole-command wall times\n"
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="pspsweep-bench-") as tmp:
        root = Path(tmp)
        for case in args.cases.split(","):
            base = [
                *isf86.input_overrides(args.data),
                f"run.celltype={args.celltype}",
                f"run.units={units}",
                "run.g=1.0",
                f"run.tStim={args.t_stim}",
                f"run.tEnd={args.t_end}",
                f"run.vardt={case == 'cvode'}",
                # run.force: every command simulates (the store holds earlier runs of the same sweep)
                f"tracking.uri=sqlite:///{root / 'bench.db'}",
                "run.force=true",
            ]
            runs = {
                "reference, 1 worker": ["run.strategy=reference", "executor.workers=1"],
                "restore, 1 worker": ["run.strategy=restore", "executor.workers=1"],
                f"restore, {args.workers} workers": ["run.strategy=restore", f"executor.workers={args.workers}"],
            }
            ref = "reference, 1 worker"
            if case == "coreneuron":
                # the same restore sweep on both engines (fixed step): CoreNEURON's speed-up
                runs = {
                    "restore, 1 worker": ["run.strategy=restore", "executor.workers=1"],
                    "restore coreneuron, 1 worker": [
                        "run.strategy=restore",
                        "executor.workers=1",
                        "run.engine=coreneuron",
                    ],
                }
                ref = "restore, 1 worker"
            elif args.cached:
                runs["restore, 1 worker, cached settle"] = runs["restore, 1 worker"]
                runs[f"restore, {args.workers} workers, cached settle"] = runs[f"restore, {args.workers} workers"]
            walls: dict[str, list[float]] = {name: [] for name in runs}
            d_amp = dict.fromkeys(runs, 0.0)
            d_trace = dict.fromkeys(runs, 0.0)
            for rep in range(args.repeat):
                # the runs in turn, then again: a drift of the machine's speed hits all of them
                outs = {}
                for name, extra in runs.items():
                    out = root / f"{case}-{name.replace(' ', '').replace(',', '-')}-{rep}"
                    # every run settles afresh (its own work folder), except the cached ones,
                    # which reuse the folder, and so the settled state, of the 1-worker restore run
                    work = root / f"{case}-restore-1worker-{rep}" if name.endswith("cached settle") else out
                    walls[name].append(run_command(out, base + extra + [f"executor.work_dir={work / 'chunks'}"]))
                    outs[name] = out
                ref_psps = pd.read_csv(outs[ref] / "psps.csv")
                for name in runs:
                    psps = pd.read_csv(outs[name] / "psps.csv")
                    d_amp[name] = max(d_amp[name], float(np.max(np.abs(psps.amplitude_mV - ref_psps.amplitude_mV))))
                    d_trace[name] = max(d_trace[name], max_trace_difference(outs[ref], outs[name]))
            for name in runs:
                wall = float(np.median(walls[name]))
                ratios = [r / w for r, w in zip(walls[ref], walls[name])]
                rows.append(
                    {
                        "step": case,
                        "run": name,
                        "wall s": wall,
                        "s/unit": wall / args.units,
                        "ratio": float(np.median(walls[ref])) / wall,
                        "ratio range": f"{min(ratios):.3g}-{max(ratios):.3g}",
                        "max |d amplitude| mV": d_amp[name],
                        "max |d trace| mV": d_trace[name],
                    }
                )
    table = pd.DataFrame(rows)
    with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 140):
        print(table.to_string(index=False))
    print(
        f"\nevery run settles (simulates 0..tStim) afresh unless marked 'cached settle';"
        f"\nwall s = median over {args.repeat} turn(s) through all commands; ratio = median wall time of the"
        "\nreference command (coreneuron case: NEURON's restore) / median wall time of this command; ratio range:"
        "\nthe ratios within each turn;"
        "\ntrace differences compare the stored traces (float32 mV) sample by sample."
    )


if __name__ == "__main__":
    main()
