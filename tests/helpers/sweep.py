"""A whole sweep in this process: the loop the tests compare strategies and engines with."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

from pspsweep.simulation.runner import SweepRequest, UnitSimulator
from pspsweep.traces import TraceSet
from pspsweep.units import Unit


@dataclass
class SweepTiming:
    """Wall time (s) of the whole simulation stage and of the unit runs alone."""

    wall_s: float
    units_s: float

    def units_per_second(self, n_units: int) -> float:
        """Unit throughput of the unit runs."""
        return n_units / self.units_s if self.units_s > 0 else float("nan")


def simulate_sweep(
    request: SweepRequest,
    units: list[Unit],
    progress: Callable[[Iterable[Unit], int], Iterable[Unit]] | None = None,
) -> tuple[TraceSet, SweepTiming]:
    """Run the baseline and every unit in this process.

    Args:
        request: cell, receptor, weights and protocol; ``restore`` without a pool size
            gets the largest unit's synapse count.
        units: the units to simulate, in order.
        progress: optional wrapper around the unit iterator (e.g. a progress bar).

    Returns:
        The traces and the timing.
    """
    start = time.perf_counter()
    if request.strategy == "restore" and request.pool_size is None:
        request = replace(request, pool_size=max((u.n_synapses for u in units), default=0))
    sim = UnitSimulator(request)
    t_b, v_b = sim.baseline()
    ts, vs = [], []
    iterator: Iterable[Unit] = progress(units, len(units)) if progress else units
    units_start = time.perf_counter()
    for u in iterator:
        t, v = sim.unit(u)
        ts.append(t)
        vs.append(v)
    end = time.perf_counter()
    traces = TraceSet(t_b, v_b, ts, vs, np.array([u.index for u in units], dtype=np.int64))
    return traces, SweepTiming(wall_s=end - start, units_s=end - units_start)
