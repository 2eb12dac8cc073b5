"""Per-unit PSP simulations: build the cell once, then run the baseline and every unit.

:class:`UnitSimulator` owns one NEURON cell for the life of a process. It takes only
plain data (a :class:`SweepRequest` and :class:`~pspsweep.units.Unit` objects) and
returns numpy arrays, so nothing from NEURON leaves this package.

Every run records t and the soma(0.5) voltage after ``finitialize`` and after every
``fadvance`` (``Vector.record``), and advances with single steps while ``t < tEnd``
(isf-reference 6.3). Under CVODE the step that crosses tEnd is therefore not recorded.

Strategies (``run.strategy``):

* ``reference``: ISF's protocol (isf-reference 6.3). For every unit the unit's synapses
  are created, the model is initialised afresh with ``finitialize(v_init)`` and advanced
  step by step while ``t < tEnd``; then the synapses are dropped. The baseline is the same
  run without synapses.

* ``restore``: the run up to the activation is shared. Per process a *pool* of synapse
  point processes (with NetCons) is created once, parked on soma(0.5), and the cell is
  initialised exactly as in ``reference`` and advanced to the step at which the reference
  delivers the activation (the *settle* run); its samples are kept and the state is saved
  with ``SaveState``. Per unit: restore the state, move the first n pooled synapses to
  the unit's segments (the others stay parked, weight 0), set the weights and queue the
  events at tStim (restoring clears the queue and overwrites weights), ``frecord_init``,
  advance while ``t < tEnd``, park the synapses again. The returned trace is the settle
  samples without their last one followed by the restored run's samples (its first sample
  is the saved state, identical to the settle's last).

  Where the settle stops:

  - fixed step: NEURON delivers an event at the start of the first step with
    ``t + dt/2 >= tdeliver``, so the settle advances while ``t + dt/2 < tStim`` (and
    ``t < tEnd``). t accumulates exactly as in the reference, so t and v are
    bit-identical to ``reference``. A parked synapse without events carries zero
    conductance and adds exactly 0 to its node, so the pool size does not matter; it
    covers the largest unit (``SweepRequest.pool_size``, else grown on demand).
  - CVODE: the reference integrator stops exactly at the event time tStim (the step
    before is shortened), delivers the events and re-initialises. The settle queues a
    bare ``CVode.event(tStim)`` so that its last step ends at tStim in the same way, and
    the state is saved there; a restore followed by ``CVode.re_init`` loses no step
    history because the reference re-initialises at tStim as well. CVODE's error norm is
    an RMS over all states, so the number of synapse instances changes the step sizes
    even while they are silent: under CVODE the pool holds exactly the unit's number of
    synapses, and a new settle is run whenever that number changes
    (:func:`simulate_sweep` orders the units by synapse count for this and returns them
    in the original order).

  The baseline: under fixed step the settle continued to tEnd (the silent pool changes
  nothing); under CVODE the reference baseline run (no synapse, no event at tStim).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

import numpy as np

from pspsweep.cellmodel import CellSpec
from pspsweep.embedding import ReceptorSpec
from pspsweep.errors import PspSweepError
from pspsweep.traces import TraceSet
from pspsweep.units import Unit

STRATEGIES = ("reference", "restore")


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
        pool_size: ``restore`` under fixed step: number of pooled synapse objects, at
            least the largest unit's synapse count. None: :func:`simulate_sweep` takes the
            largest unit it is given; :class:`UnitSimulator` grows the pool (with a new
            settle run) when a larger unit comes. Ignored otherwise.
    """

    cell: CellSpec
    receptor: ReceptorSpec
    weights: tuple[float, ...]
    vardt: bool
    t_stim: float
    t_end: float
    strategy: str = "reference"
    pool_size: int | None = None


@dataclass
class _Settled:
    """The saved state at the activation step and the samples recorded up to it."""

    state: Any  # h.SaveState
    t_saved: float
    t: np.ndarray
    v: np.ndarray


class UnitSimulator:
    """One NEURON cell with soma recording, reused for the baseline and every unit."""

    def __init__(self, request: SweepRequest) -> None:
        if request.strategy not in STRATEGIES:
            raise PspSweepError(f"unknown strategy {request.strategy!r}; valid: {', '.join(STRATEGIES)}")
        if request.pool_size is not None and request.pool_size < 0:
            raise PspSweepError(f"pool_size={request.pool_size} must be >= 0")
        from neuron import h

        from pspsweep.simulation.cell import build_cell

        self._h = h
        self.request = request
        self.cell = build_cell(request.cell)
        self.cell.apply_sim_settings(request.cell.sim)
        if not hasattr(h, request.receptor.mechanism):
            raise PspSweepError(f"receptor mechanism {request.receptor.mechanism!r} is not loaded")
        self._cvode = h.CVode()
        self._t = h.Vector()
        self._v = h.Vector()
        # Vector.record of a global (t) belongs to a section, by default the first one
        # created in the process: tie it to this cell, or deleting an older cell would
        # silently stop this recording
        self._t.record(h._ref_t, sec=self.cell.soma)
        self._v.record(self.cell.soma(0.5)._ref_v)
        # restore strategy: pooled (point process, NetCon) pairs and the saved state
        self._park = self.cell.soma(0.5)
        self._pool: list[tuple[Any, Any]] = []
        self._settled: _Settled | None = None
        self._warned_foreign = False

    # ------------------------------------------------------------------ common

    def _configure(self) -> None:
        # re-assert the integrator settings before every run: they are NEURON globals
        h, sim = self._h, self.request.cell.sim
        if self.request.vardt and not self._warned_foreign:
            n_all = sum(1 for _ in h.allsec())
            if n_all != len(self.cell.sections):
                self._warned_foreign = True
                warnings.warn(
                    f"{n_all - len(self.cell.sections)} sections of other cells exist in this "
                    "process; CVODE integrates them together with this cell, so its steps "
                    "and traces differ from a process holding this cell alone",
                    RuntimeWarning,
                    stacklevel=3,
                )
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

    def _new_synapse(self, seg: Any) -> tuple[Any, Any]:
        h, rec = self._h, self.request.receptor
        syn = getattr(h, rec.mechanism)(seg)
        for name, value in rec.parameters.items():
            setattr(syn, name, value)
        nc = h.NetCon(None, syn)
        nc.delay = 0.0
        nc.threshold = 0.0
        for i, w in enumerate(self.request.weights):
            nc.weight[i] = w
        return syn, nc

    def _segment(self, section: int, x: float) -> Any:
        return self.cell.sections[section](self.cell.clamped_x(section, x))

    def _synapses(self, unit: Unit) -> list[tuple[Any, Any]]:
        return [self._new_synapse(self._segment(s, x)) for s, x in zip(unit.sections, unit.xs)]

    @property
    def _restore(self) -> bool:
        return self.request.strategy == "restore"

    # ------------------------------------------------------------------ public

    def baseline(self) -> tuple[np.ndarray, np.ndarray]:
        """Simulate the synapse-free cell from t = 0 to tEnd; returns (t ms, v mV)."""
        if self._restore and not self.request.vardt:
            settled = self._ensure_settled(self._pool_size_for(0))
            self._configure()
            settled.state.restore()
            self._h.frecord_init()
            t, v = self._advance_to_end()
            return self._join(settled, t, v)
        if self._restore:
            # CVODE: the pool would change the step sizes; the baseline has no synapse
            self._ensure_settled(None)
        self._configure()
        self._h.finitialize(self.request.cell.sim.v_init)
        return self._advance_to_end()

    def unit(self, unit: Unit) -> tuple[np.ndarray, np.ndarray]:
        """Simulate one unit activated at tStim; returns (t ms, v mV)."""
        if self._restore:
            return self._unit_restored(unit)
        pairs = self._synapses(unit)
        self._configure()
        self._h.finitialize(self.request.cell.sim.v_init)
        for _, nc in pairs:
            nc.event(self.request.t_stim)
        try:
            return self._advance_to_end()
        finally:
            # point processes go when the last reference to them goes
            del pairs

    # ------------------------------------------------------------------ restore

    def _pool_size_for(self, n: int) -> int:
        if self.request.vardt:
            return n
        return max(n, self.request.pool_size or 0, len(self._pool))

    def _drop_pool(self) -> None:
        self._settled = None
        # NetCons go first (with the pairs), then the point processes they target
        syns = [syn for syn, _ in self._pool]
        self._pool = []
        del syns

    def _ensure_settled(self, size: int | None) -> _Settled | None:
        """A settled state with exactly ``size`` pooled synapses (None: no pool, no state)."""
        if size is None:
            self._drop_pool()
            return None
        if self._settled is not None and len(self._pool) == size:
            return self._settled
        self._drop_pool()
        self._pool = [self._new_synapse(self._park) for _ in range(size)]
        self._settled = self._settle()
        return self._settled

    def _settle(self) -> _Settled:
        """Initialise as the reference does and advance to the activation step; save there."""
        h, req = self._h, self.request
        self._configure()
        h.finitialize(req.cell.sim.v_init)
        if req.vardt:
            # stop the integrator exactly at tStim, as the unit's events do in the reference
            self._cvode.event(req.t_stim)
            while h.t < req.t_stim and h.t < req.t_end:
                h.fadvance()
        else:
            # the reference delivers the events at the start of the first step with
            # t + dt/2 >= tStim (NEURON's fixed-step rule); stop before that step
            while h.t + 0.5 * h.dt < req.t_stim and h.t < req.t_end:
                h.fadvance()
        state = h.SaveState()
        state.save()
        return _Settled(state, float(h.t), self._t.as_numpy().copy(), self._v.as_numpy().copy())

    def _join(self, settled: _Settled, t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Settle samples + restored samples, as one continuous run records them."""
        t_saved = settled.t_saved
        if self.request.vardt:
            # CVODE records the state at the start of every step: the settle ends with the
            # start of its last step (which ended at the saved tStim). The restored run
            # holds the saved state twice (frecord_init's sample and the start of the
            # event-delivery step) before the start of the first step after delivery.
            if (
                len(t) < 2
                or not t[0] == t[1] == t_saved
                or v[0] != v[1]
                or (len(settled.t) and settled.t[-1] >= t_saved)
            ):
                raise PspSweepError("restored CVODE run does not continue the settle run")
            return np.concatenate([settled.t, t[1:]]), np.concatenate([settled.v, v[1:]])
        # fixed step records after every step: the settle's last sample is the saved
        # state, which frecord_init records again as the restored run's first sample
        if len(t) == 0 or t[0] != t_saved or settled.t[-1] != t_saved or v[0] != settled.v[-1]:
            raise PspSweepError("restored run does not start at the saved state")
        return np.concatenate([settled.t[:-1], t]), np.concatenate([settled.v[:-1], v])

    def _unit_restored(self, unit: Unit) -> tuple[np.ndarray, np.ndarray]:
        h, req = self._h, self.request
        n = unit.n_synapses
        settled = self._ensure_settled(self._pool_size_for(n))
        assert settled is not None
        self._configure()
        settled.state.restore()
        placed = self._pool[:n]
        try:
            for (syn, _), section, x in zip(placed, unit.sections, unit.xs):
                syn.loc(self._segment(section, x))
            # restore() overwrote the weights and cleared the event queue
            for i, (_, nc) in enumerate(self._pool):
                for k, w in enumerate(req.weights):
                    nc.weight[k] = w if i < n else 0.0
            for _, nc in placed:
                nc.event(req.t_stim)
            if req.vardt:
                # after the moves: a structure change re-creates the integrator, which
                # would otherwise restart from t = 0
                self._cvode.re_init()
            h.frecord_init()
            t, v = self._advance_to_end()
        finally:
            # the saved structure has every pooled synapse on the park segment
            for syn, _ in placed:
                syn.loc(self._park)
        return self._join(settled, t, v)


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
        The traces (in the order of ``units``) and the timing.
    """
    start = time.perf_counter()
    order = list(range(len(units)))
    if request.strategy == "restore":
        if request.pool_size is None:
            request = replace(request, pool_size=max((u.n_synapses for u in units), default=0))
        if request.vardt:
            # one settle run per synapse count (see the module docstring)
            order.sort(key=lambda i: units[i].n_synapses)
    sim = UnitSimulator(request)
    t_b, v_b = sim.baseline()
    ts: list[np.ndarray] = [np.empty(0)] * len(units)
    vs: list[np.ndarray] = [np.empty(0)] * len(units)
    ordered = [units[i] for i in order]
    iterator: Iterable[Unit] = progress(ordered, len(ordered)) if progress else ordered
    units_start = time.perf_counter()
    for i, u in zip(order, iterator):
        ts[i], vs[i] = sim.unit(u)
    end = time.perf_counter()
    traces = TraceSet(t_b, v_b, ts, vs, np.array([u.index for u in units], dtype=np.int64))
    return traces, SweepTiming(wall_s=end - start, units_s=end - units_start)
