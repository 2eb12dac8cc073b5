"""Per-unit PSP simulations: build the cell once, then run the baseline and every unit.

:class:`UnitSimulator` owns one NEURON cell for the life of a process. It takes only
plain data (a :class:`SweepRequest` and :class:`~pspsweep.units.Unit` objects) and
returns numpy arrays, so nothing from NEURON leaves this package.

Recording and stepping (both strategies; isf-reference 6.3): t and the soma(0.5)
voltage are recorded with ``Vector.record``, and runs advance with single
``fadvance()`` calls while ``t < tEnd``. Fixed step: ``finitialize`` records t = 0 and
every step records its end, so a trace covers 0 .. >= tEnd; t is accumulated step by
step (after 4400 steps of 0.025 ms t is 110 + 1.6e-11, after 20000 steps
500 - 3.2e-10). CVODE: every ``fadvance`` records the state at its start, so the step
that crosses tEnd is not recorded; the integrator stops exactly at an event time, and
the sample at tStim appears twice (the start of the step that delivers the events and
the start of the step after it).

Under CVODE every section in the process is integrated together: another cell alive
in the same process changes the step sizes, and a warning says so.

Strategies (``run.strategy``):

* ``reference``: ISF's protocol. For every unit the unit's synapses are created, the
  model is initialised afresh with ``finitialize(v_init)`` and advanced while
  ``t < tEnd``, with the unit's NetCon events queued at tStim; then the synapses are
  dropped. The baseline is the same run without synapses.

* ``restore``: the part before the activation is simulated once and saved.

  A *pool* of synapse point processes with NetCons (receptor parameters and weights as
  in ``reference``) is created on soma(0.5), the *park* segment. The *settle* run
  initialises exactly as ``reference`` does and advances to the step at which the
  reference delivers the unit's events; its samples are kept and the state is saved with
  ``SaveState``. Per unit: restore the state (this also overwrites NetCon weights and
  clears the event queue), move the first n pooled synapses to the unit's segments
  (``loc``; the rest stay parked), set the weights (0 on the parked ones), queue the n
  events at tStim, under CVODE ``re_init`` (after the moves: a structure change
  otherwise restarts the integrator from t = 0), ``frecord_init``, advance while
  ``t < tEnd``, then park the moved synapses again (a state restores only onto the
  structure it was saved with). The trace is the settle's samples joined with the
  restored run's samples:

  - fixed step: NEURON delivers an event at the start of the first step with
    ``t + dt/2 >= tdeliver``; the settle advances while ``t + dt/2 < tStim`` (and
    ``t < tEnd``), with the same t accumulation as the reference. ``frecord_init``
    records the saved state again, so the settle's last sample is dropped. A parked
    synapse without events has zero conductance and adds exactly 0 to its node, so one
    pool covers all units: ``SweepRequest.pool_size`` (:func:`simulate_sweep` uses the
    largest unit), grown with a new settle if a larger unit comes. The baseline is the
    settle continued to tEnd.
  - CVODE: the reference integrator shortens the step before tStim to end exactly
    there. The settle queues a bare ``CVode.event(tStim)``, which does the same, and
    saves at tStim before anything is delivered; the reference re-initialises the
    integrator at tStim after delivering the events, so no step history is lost. The
    settle's samples end with the start of its last step; the restored run records the
    saved state twice (``frecord_init`` and the start of the delivery step), one of
    which is dropped. CVODE's error norm is an RMS over all states, so silent synapse
    instances change the step sizes (a 3-synapse pool moved 1-synapse demo units by up
    to 0.04 mV): the pool holds exactly the unit's synapse count, one settle run and
    saved state per count (kept, and restored onto a fresh pool of that count). The
    baseline is the ``reference`` baseline run (no pool, no event at tStim).

  Both are bit-identical (every t and v sample) to ``reference``, tested on the demo
  cell and on ISF's 86_C2_center cell.

  ``SaveState`` covers every cell of the process and restores only onto the structure it
  was saved with. Each saved state keeps a fingerprint (all sections with nseg, point
  processes per type, NetCons); when another cell, point process or NetCon has come or
  gone, the saved states are dropped and the settle runs again (restoring would raise,
  or crash NEURON). A cell deleted since the save lingers in NEURON until the next
  initialisation; the restore then fails cleanly (NEURON prints "SaveState: Stored
  state inconsistent") and is retried after a new settle.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

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
    structure: tuple  # UnitSimulator._structure() when saved
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
        self._states: dict[int, _Settled] = {}  # pool size -> its settle run
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
            settled = self._restore_settled(self._pool_size_for(0))
            self._h.frecord_init()
            t, v = self._advance_to_end()
            return self._join(settled, t, v)
        if self._restore:
            # CVODE: the pool would change the step sizes; the baseline has no synapse
            self._set_pool(0)
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

    def _set_pool(self, size: int) -> None:
        """Make the pool exactly ``size`` parked synapses (new objects if the size changes)."""
        if len(self._pool) == size:
            return
        # NetCons go first (with the pairs), then the point processes they target
        syns = [syn for syn, _ in self._pool]
        self._pool = []
        del syns
        self._pool = [self._new_synapse(self._park) for _ in range(size)]

    def _structure(self) -> tuple:
        """What a SaveState must find again: all sections (name, nseg), point processes
        per type, NetCons; of every cell in the process (SaveState is global)."""
        h = self._h
        mt = h.MechanismType(1)
        names = []
        for i in range(int(mt.count())):
            mt.select(i)
            name = h.ref("")
            mt.selected(name)
            names.append(name[0])
        return (
            tuple((sec.name(), int(sec.nseg)) for sec in h.allsec()),
            tuple(int(h.List(n).count()) for n in names),
            int(h.List("NetCon").count()),
        )

    def _settled_for(self, size: int) -> _Settled:
        """The saved state of a settle run with ``size`` pooled synapses; sets the pool."""
        self._set_pool(size)
        settled = self._states.get(size)
        if settled is not None and settled.structure != self._structure():
            # another cell, point process or NetCon came or went since the save: every
            # saved state is unusable (restoring would fail, or crash NEURON)
            self._states.clear()
            settled = None
        if settled is None:
            settled = self._states[size] = self._settle()
        # a state saved with another pool of this size restores onto this one: same
        # number of point processes and NetCons on the same node
        return settled

    def _restore_settled(self, size: int) -> _Settled:
        """Set the pool to ``size`` parked synapses and restore its saved state."""
        settled = self._settled_for(size)
        self._configure()
        try:
            settled.state.restore()
        except RuntimeError:
            # SaveState also counts sections that were deleted but not yet freed by
            # NEURON (another cell dropped since the save); a new settle frees them
            self._states.clear()
            settled = self._settled_for(size)
            self._configure()
            settled.state.restore()
        return settled

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
        return _Settled(
            state, self._structure(), float(h.t), self._t.as_numpy().copy(), self._v.as_numpy().copy()
        )

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
        settled = self._restore_settled(self._pool_size_for(n))
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
