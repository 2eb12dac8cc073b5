"""Per-unit PSP simulations: build the cell once, then run the baseline and every unit.

:class:`UnitSimulator` owns one NEURON cell for the life of a process. It takes only
plain data (a :class:`SweepRequest` and :class:`~pspsweep.units.Unit` objects) and
returns numpy arrays, so nothing from NEURON leaves this package.

Strategies (``run.strategy``):

* ``reference``: ISF's protocol (isf-reference 6.3). For every unit the unit's synapses
  are created, the model is initialised afresh with ``finitialize(v_init)`` and advanced
  step by step while ``t < tEnd``, recording t and the soma voltage at every step; then
  the synapses are dropped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from pspsweep.cellmodel import CellSpec
from pspsweep.embedding import ReceptorSpec
from pspsweep.errors import PspSweepError
from pspsweep.traces import TraceSet
from pspsweep.units import Unit

STRATEGIES = ("reference",)


@dataclass(frozen=True)
class SweepRequest:
    """Everything a process needs to simulate units of one cell type at one conductance.

    Attributes:
        cell: the cell model.
        receptor: the receptor of the cell type.
        weights: NetCon weights in nS: (gAMPA, gNMDA) for ``glutamate_syn``, (gGABA,) for ``gaba_syn``.
        vardt: CVODE (True) or fixed step ``cell.sim.dt`` (False).
        t_stim: activation time of the unit's synapses (ms).
        t_end: end of every simulation (ms).
        strategy: one of ``STRATEGIES``.
    """

    cell: CellSpec
    receptor: ReceptorSpec
    weights: tuple[float, ...]
    vardt: bool
    t_stim: float
    t_end: float
    strategy: str = "reference"


class UnitSimulator:
    """One NEURON cell with soma recording, reused for the baseline and every unit."""

    def __init__(self, request: SweepRequest) -> None:
        if request.strategy not in STRATEGIES:
            raise PspSweepError(f"unknown strategy {request.strategy!r}; valid: {', '.join(STRATEGIES)}")
        from neuron import h

        from pspsweep.simulation.cell import build_cell

        self._h = h
        self.request = request
        self.cell = build_cell(request.cell)
        self.cell.apply_sim_settings(request.cell.sim)
        self._cvode = h.CVode()
        self._t = h.Vector()
        self._v = h.Vector()
        self._t.record(h._ref_t)
        self._v.record(self.cell.soma(0.5)._ref_v)
        if not hasattr(h, request.receptor.mechanism):
            raise PspSweepError(f"receptor mechanism {request.receptor.mechanism!r} is not loaded")

    def _configure(self) -> None:
        # re-assert the integrator settings before every run: they are NEURON globals
        h, sim = self._h, self.request.cell.sim
        self._cvode.active(1 if self.request.vardt else 0)
        h.dt = sim.dt
        h.celsius = sim.celsius
        h.tstop = self.request.t_end

    def _advance_to_end(self) -> tuple[np.ndarray, np.ndarray]:
        h, t_end = self._h, self.request.t_end
        # classic run semantics: single steps while t < tEnd (isf-reference 6.3, step 7)
        while h.t < t_end:
            h.fadvance()
        return self._t.as_numpy().copy(), self._v.as_numpy().copy()

    def _synapses(self, unit: Unit) -> tuple[list, list]:
        h, rec = self._h, self.request.receptor
        make = getattr(h, rec.mechanism)
        syns, netcons = [], []
        for section, x in zip(unit.sections, unit.xs):
            syn = make(self.cell.sections[section](self.cell.clamped_x(section, x)))
            for name, value in rec.parameters.items():
                setattr(syn, name, value)
            nc = h.NetCon(None, syn)
            nc.delay = 0.0
            nc.threshold = 0.0
            for i, w in enumerate(self.request.weights):
                nc.weight[i] = w
            syns.append(syn)
            netcons.append(nc)
        return syns, netcons

    def baseline(self) -> tuple[np.ndarray, np.ndarray]:
        """Simulate the synapse-free cell from t = 0 to tEnd; returns (t ms, v mV)."""
        self._configure()
        self._h.finitialize(self.request.cell.sim.v_init)
        return self._advance_to_end()

    def unit(self, unit: Unit) -> tuple[np.ndarray, np.ndarray]:
        """Simulate one unit activated at tStim (reference protocol); returns (t ms, v mV)."""
        syns, netcons = self._synapses(unit)
        self._configure()
        self._h.finitialize(self.request.cell.sim.v_init)
        for nc in netcons:
            nc.event(self.request.t_stim)
        try:
            return self._advance_to_end()
        finally:
            # point processes go when the last reference to them goes
            del netcons, syns


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
        request: cell, receptor, weights and protocol.
        units: the units to simulate, in order.
        progress: optional wrapper around the unit iterator (e.g. a progress bar).

    Returns:
        The traces and the timing.
    """
    start = time.perf_counter()
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
