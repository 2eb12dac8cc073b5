"""Benchmark: what three worker crashes cost a 600-unit sweep on two local workers.

Runs the same demo sweep (600 one-synapse L4ss_C2 cells, fixed step, restore, chunks of
10 units) twice in one run on ``LocalProcesses(2)``: once clean, once with a worker that
dies like a segmentation fault (``os._exit(139)``) the first time it meets each of
three chunks (early, middle, late). Prints both wall times, their ratio (issue 14's
target: at most 1.3), the restarts and whether every amplitude is the same.

    python benchmarks/crash_retry.py
    python benchmarks/crash_retry.py --units 300 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def crashing_chunk(work, chunk, with_baseline=False):
    """simulate_chunk, but the worker dies the first time it meets a chunk in $CRASH_ONCE."""
    from pspsweep.execution import simulate_chunk

    marker = Path(os.environ["CRASH_MARKERS"]) / str(chunk.index)
    if str(chunk.index) in os.environ.get("CRASH_ONCE", "").split(",") and not marker.exists():
        marker.touch()
        os._exit(139)
    return simulate_chunk(work, chunk, with_baseline)


def sweep(units: int, crash: list[int], folder: Path) -> tuple[float, np.ndarray, int]:
    """Wall time, amplitudes by unit and pool restarts of one sweep."""
    # imported here: a spawned worker imports this script again, and needs none of them
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    import pspsweep.cli  # noqa: F401  (registers the schemas)
    from pspsweep import execution, pipeline

    os.environ["PSPSWEEP_LAUNCH_DIR"] = str(folder)
    os.environ["CRASH_MARKERS"] = str(folder)
    os.environ["CRASH_ONCE"] = ",".join(map(str, crash))
    with initialize_config_module(config_module="pspsweep.conf", version_base="1.3"):
        cfg = OmegaConf.to_object(
            compose(
                "config",
                [
                    f"network.celltypes.L4ss_C2.n_cells={units}",
                    "network.celltypes.L4ss_C2.max_synapses_per_cell=1",
                    "run.reuse_identical=false",
                    "run.vardt=false",
                    "executor.chunk_size=10",
                ],
            )
        )
    prep = pipeline.prepare(cfg)
    groups = pipeline.sweep_works(cfg, prep)
    chunks, _ = pipeline.plan_simulations(cfg, prep, groups, 2)
    works = [g.work for g in groups]
    tasks = [(works[c.work], c, k == 0) for k, c in enumerate(chunks)]
    executor = execution.LocalProcesses(2)
    amplitudes = np.full(len(prep.units), np.nan)
    started = time.perf_counter()
    try:
        for result in executor.run(crashing_chunk, tasks):
            amplitudes[result.units] = result.amplitudes
    finally:
        executor.close()
    return time.perf_counter() - started, amplitudes, getattr(executor, "restarts", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=1, help="turns of (clean, crashed); medians are reported")
    args = parser.parse_args()
    n_chunks = args.units // 10
    crash = [n_chunks // 6, n_chunks // 2, (5 * n_chunks) // 6]
    clean_s, crashed_s = [], []
    for turn in range(args.repeat):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            t_clean, amp_clean, _ = sweep(args.units, [], Path(a))
            t_crash, amp_crash, restarts = sweep(args.units, crash, Path(b))
        same = np.array_equal(amp_clean, amp_crash, equal_nan=True)
        print(
            f"turn {turn + 1}: clean {t_clean:.1f} s, 3 crashes (chunks {crash}) {t_crash:.1f} s, "
            f"ratio {t_crash / t_clean:.2f}, pool restarts {restarts}, amplitudes identical: {same}"
        )
        clean_s.append(t_clean)
        crashed_s.append(t_crash)
    ratio = statistics.median(crashed_s) / statistics.median(clean_s)
    print(
        f"median: clean {statistics.median(clean_s):.1f} s, crashed {statistics.median(crashed_s):.1f} s, "
        f"ratio {ratio:.2f} (target <= 1.3)"
    )


if __name__ == "__main__":
    main()
