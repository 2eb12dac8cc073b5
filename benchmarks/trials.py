"""Benchmark: what stochastic release costs, measured side by side in one run.

1. One unit, ``--runs`` trials with stochastic release (``network.release`` p = 0.5)
   against the same number of restored deterministic runs of it, in this process
   (restore, fixed step). Issue 18's target: at most 1.1 times.
2. A whole cell type with ``--trials`` trials per unit through ``pspsweep.run`` (two
   local workers, restore, CVODE): units x trials per second.

Both on the shared 86 cell's VPM_C2 units (``--cell demo``: the built-in demo's
L4ss_C2, seconds instead of minutes).

    python benchmarks/trials.py --cell demo
    python benchmarks/trials.py --runs 1000 --trials 50 --units 40
"""

from __future__ import annotations

import argparse
import tempfile
import time

from protocols import isf86  # the shared 86 cell's overrides, as the protocol benchmark runs it

RELEASE = "network.release={%s: {p: 0.5}}"


def cell_overrides(cell: str) -> tuple[list[str], str]:
    """The overrides of the cell and the cell type benchmarked (the type among them)."""
    if cell == "demo":
        return ["run.celltype=L4ss_C2"], "L4ss_C2"
    return isf86(), "VPM_C2"


def one_unit(cell: str, runs: int) -> None:
    from pspsweep import api, pipeline
    from pspsweep.simulation.protocols import ProtocolSpec
    from pspsweep.simulation.runner import SweepRequest, UnitSimulator

    overrides, celltype = cell_overrides(cell)
    seconds = {}
    for name, extra in (("deterministic", []), ("stochastic", [RELEASE % celltype])):
        cfg = api.compose_config([*overrides, "run.vardt=false", *extra])
        prep = pipeline.prepare(cfg)
        unit = prep.units[0]
        receptor = prep.embedding.receptors[celltype]
        spec = ProtocolSpec(trials=runs)
        weights = tuple(prep.weights[celltype].values())
        request = SweepRequest(
            prep.cell, receptor, weights, False, 110.0, 150.0, "restore", unit.n_synapses, protocol=spec
        )
        sim = UnitSimulator(request)
        sim.unit(unit, 0)  # the settle, not timed
        started = time.perf_counter()
        for trial in range(runs):
            sim.unit(unit, trial)
        seconds[name] = time.perf_counter() - started
        print(
            f"  {name:13s}: {runs} runs of {celltype} unit 0 ({receptor.mechanism}) in {seconds[name]:.2f} s",
            flush=True,
        )
        del sim
    ratio = seconds["stochastic"] / seconds["deterministic"]
    print(f"one unit: {runs} stochastic trials / {runs} restored deterministic runs = {ratio:.3f} (target <= 1.1)")


def whole_type(cell: str, trials: int, units: int | None, workers: int) -> None:
    import pspsweep

    overrides, celltype = cell_overrides(cell)
    chosen = [f"run.units=[{','.join(map(str, range(units)))}]"] if units else []
    with tempfile.TemporaryDirectory(prefix="pspsweep-bench-") as tmp:
        started = time.perf_counter()
        result = pspsweep.run(
            [
                *overrides,
                RELEASE % celltype,
                f"protocol.trials={trials}",
                f"executor.workers={workers}",
                f"executor.work_dir={tmp}/work",
                "executor.progress=false",
                *chosen,
            ],
            tracking=False,
            out_dir=tmp,
        )
        wall = time.perf_counter() - started
    n = int(result.metrics["n_units"])
    print(
        f"whole type: {n} {celltype} units x {trials} trials in {wall:.1f} s (command wall time, {workers} workers): "
        f"{n * trials / wall:.1f} unit trials per second"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=("isf86", "demo"), default="isf86")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--units", type=int, default=None, help="the first N units of the type (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    one_unit(args.cell, args.runs)
    whole_type(args.cell, args.trials, args.units, args.workers)


if __name__ == "__main__":
    main()
