"""Benchmark: what the slice protocols cost against ISF's free-running protocol.

1. Holding: the whole VPM_C2 sweep of the shared 86 cell (176 units, restore, two local
   workers, CVODE unless --fixed) with ``protocol=hold`` (hold_V -70 mV) against the
   free-running sweep, through ``pspsweep.run`` without tracking, alternating, each in
   fresh work folders (no settled state or chunk is shared). Issue 17's target: at most
   1.2 times.
2. Trains: the unit runs of ``--train-units`` VPM_C2 units in this process (restore,
   fixed step), one spike (tEnd = tStim + 40 ms) against four at 50 Hz (tEnd = tStim +
   90 ms): the seconds per simulated millisecond of unit run, whose ratio should be
   about 1 (a train costs what its simulated time implies).

    python benchmarks/protocols.py
    python benchmarks/protocols.py --repeat 3 --fixed
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "isf_86_c2"
T_STIM = 110.0


def isf86(*extra: str) -> list[str]:
    return [
        "neuron=isf",
        "network=isf",
        f"neuron.param_file={DATA / '86_C2_center.param'}",
        f"network.syn_file={DATA / 'example_embedding_86_C2_center.syn'}",
        f"network.con_file={DATA / 'example_embedding_86_C2_center.con'}",
        "run.celltype=VPM_C2",
        *extra,
    ]


def sweep_seconds(overrides: list[str]) -> tuple[float, dict[str, float]]:
    """Wall time of one whole sweep (fresh folders) and its metrics."""
    import pspsweep

    with tempfile.TemporaryDirectory(prefix="pspsweep-bench-") as tmp:
        started = time.perf_counter()
        result = pspsweep.run(
            [*overrides, f"executor.work_dir={tmp}/work", "executor.progress=false"], tracking=False, out_dir=tmp
        )
        return time.perf_counter() - started, result.metrics


def holding(repeat: int, fixed: bool, workers: int) -> None:
    common = isf86("run.strategy=restore", f"executor.workers={workers}", f"run.vardt={str(not fixed).lower()}")
    times: dict[str, list[float]] = {"free": [], "hold": []}
    for turn in range(repeat):
        for name, extra in (("free", []), ("hold", ["protocol=hold"])):
            seconds, metrics = sweep_seconds([*common, *extra])
            times[name].append(seconds)
            held = f", soma {metrics['v_at_tstim_mV']:.4f} mV at tStim" if name == "hold" else ""
            print(f"  turn {turn + 1} {name:4s}: {seconds:6.2f} s, {metrics['n_units']:.0f} units{held}", flush=True)
    free, hold = statistics.median(times["free"]), statistics.median(times["hold"])
    ratios = [h / f for f, h in zip(times["free"], times["hold"])]
    print(
        f"holding: free-running {free:.2f} s, hold_V -70 mV {hold:.2f} s (medians of {repeat}); "
        f"ratio {hold / free:.3f} (per turn: {', '.join(f'{r:.3f}' for r in ratios)}; target <= 1.2)"
    )


def unit_seconds_per_ms(spikes: tuple[float, ...], t_end: float, n_units: int) -> float:
    """Seconds of unit run per simulated ms (restore, fixed step, this process)."""
    from pspsweep import api, pipeline
    from pspsweep.simulation.protocols import ProtocolSpec
    from pspsweep.simulation.runner import SweepRequest, UnitSimulator

    cfg = api.compose_config(isf86("run.vardt=false", f"run.tEnd={t_end}"))
    prep = pipeline.prepare(cfg)
    units = prep.units[:n_units]
    receptor = prep.embedding.receptors["VPM_C2"]
    pool = max(u.n_synapses for u in units)
    spec = ProtocolSpec("train" if len(spikes) > 1 else "isf", spikes=spikes)
    request = SweepRequest(prep.cell, receptor, (1.0, 1.0), False, T_STIM, t_end, "restore", pool, protocol=spec)
    sim = UnitSimulator(request)
    sim.unit(units[0])  # the settle, not timed
    started = time.perf_counter()
    for unit in units:
        sim.unit(unit)
    return (time.perf_counter() - started) / (len(units) * (t_end - T_STIM))


def trains(n_units: int) -> None:
    single = unit_seconds_per_ms((0.0,), T_STIM + 40.0, n_units)
    train = unit_seconds_per_ms((0.0, 20.0, 40.0, 60.0), T_STIM + 90.0, n_units)
    print(
        f"trains ({n_units} units, fixed step, restore): one spike {single * 1e3:.3f} ms per simulated ms, "
        f"4 spikes at 50 Hz {train * 1e3:.3f} ms per simulated ms; ratio {train / single:.3f} "
        "(about 1: a train costs its simulated time)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--fixed", action="store_true", help="fixed step instead of CVODE for the holding sweep")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--train-units", type=int, default=40)
    parser.add_argument("--skip", choices=("holding", "trains"), default=None)
    args = parser.parse_args()
    if not (DATA / "86_C2_center.param").is_file():
        sys.exit(f"the shared 86 cell is not at {DATA}")
    if args.skip != "holding":
        holding(args.repeat, args.fixed, args.workers)
    if args.skip != "trains":
        trains(args.train_units)


if __name__ == "__main__":
    main()
