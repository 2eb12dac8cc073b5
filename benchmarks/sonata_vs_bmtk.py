"""The whole afferent sweep of node 0 of bmtk's 300-cell circuit: pspsweep against bmtk.

Every source of node 0 (51 internal cells and 9 virtual ones) is activated alone under
the acceptance protocol (fixed step 0.025 ms, tStim 500, tEnd 600, celsius 34,
v_init -80, dL 20), measured side by side in one run:

* ``pspsweep``: ``pspsweep.run`` with ``neuron=sonata network=sonata`` on the original
  circuit (all cores, restore strategy, no tracking), wall time of the call;
* ``bmtk, one build``: bmtk's BioNet builds the target and one virtual node per source
  once (tests/helpers/bmtk_reference.py), then runs each source alone from t = 0 in
  the same process; the fastest way to get the same numbers out of bmtk, and it reaches
  into bmtk's built objects to silence the other sources;
* ``bmtk, per source``: what bmtk offers without that: one simulation per source (a
  network of the target and that source, built and run in a fresh process, since bmtk
  builds once per process).

It prints both ratios and the largest amplitude difference between pspsweep and bmtk.

    python benchmarks/sonata_vs_bmtk.py            # all 60 sources
    python benchmarks/sonata_vs_bmtk.py --per-source 12   # time 12 fresh bmtk runs, scale to all
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.bmtk_reference import (
    CIRCUIT_300,
    COMPONENTS_300,
    node_properties,
    original_units,
    run_in_subprocess,
)

from pspsweep import api
from pspsweep.features import psp_features

PROTOCOL = {"t_stim": 500.0, "t_end": 600.0, "dt": 0.025, "dL": 20.0, "celsius": 34.0, "v_init": -80.0}
NETWORK = CIRCUIT_300.parent / "network"


def request(units: list, **protocol: object) -> dict:
    return {
        "target_props": node_properties(NETWORK, 0),
        "units": units,
        "components": str(COMPONENTS_300),
        "protocol": {**PROTOCOL, **protocol},
        "mechanisms": str(COMPONENTS_300 / "mechanisms" / "modfiles"),
    }


def pspsweep_sweep(folder: Path) -> tuple[float, dict[tuple[str, int], float]]:
    """Wall time of the whole sweep through the API, and the amplitude per source."""
    started = time.perf_counter()
    result = api.run(
        [
            "neuron=sonata",
            "network=sonata",
            f"network.circuit_config={CIRCUIT_300.parent / 'config.simulation.json'}",
            "network.target=internal:0",
            "run.celltype='*'",
            "run.vardt=false",
            f"run.tStim={PROTOCOL['t_stim']}",
            f"run.tEnd={PROTOCOL['t_end']}",
            f"neuron.sim.dt={PROTOCOL['dt']}",
            "tracking.enabled=false",
            "executor.progress=false",
        ],
        out_dir=folder / "pspsweep",
    )
    seconds = time.perf_counter() - started
    table = result.table
    population = np.where(table["celltype"] == "external", "external", "internal")
    return seconds, {(p, int(c)): float(a) for p, c, a in zip(population, table["cell_id"], table["amplitude_mV"])}


def amplitudes(result: dict, baseline: dict | None = None) -> list[float]:
    base = baseline or result
    t, v0 = np.asarray(base["t"]), np.asarray(base["baseline"])
    return [psp_features(t, np.asarray(v), t, v0, PROTOCOL["t_stim"], PROTOCOL["t_end"])[0] for v in result["units"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-source", type=int, default=None, help="fresh bmtk runs to time (default: every source)")
    args = parser.parse_args()
    units = original_units(NETWORK, 0, "cells", ("internal", "external"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours_s, ours = pspsweep_sweep(folder)
        started = time.perf_counter()
        one_build = run_in_subprocess(request(units), folder / "bmtk_one_build")
        one_build_s = time.perf_counter() - started
        n_fresh = len(units) if args.per_source is None else min(args.per_source, len(units))
        started = time.perf_counter()
        for k, unit in enumerate(units[:n_fresh]):
            run_in_subprocess(request([unit], baseline=False), folder / f"bmtk_source_{k}")
        per_source_s = (time.perf_counter() - started) * len(units) / n_fresh
    reference = dict(zip([key for key, _ in units], amplitudes(one_build)))
    worst = max(abs(ours[key] - reference[key]) for key in reference)
    print(f"node 0: {len(units)} sources, {sum(len(e) for _, e in units)} synapses, {one_build['n_sections']} sections")
    print(f"pspsweep:          {ours_s:7.1f} s")
    print(f"bmtk, one build:   {one_build_s:7.1f} s   ratio {one_build_s / ours_s:5.1f}")
    scaled = "" if n_fresh == len(units) else f" (timed {n_fresh}, scaled to {len(units)})"
    print(f"bmtk, per source:  {per_source_s:7.1f} s   ratio {per_source_s / ours_s:5.1f}{scaled}")
    print(f"max |amplitude difference| pspsweep - bmtk: {worst:.3g} mV")


if __name__ == "__main__":
    main()
