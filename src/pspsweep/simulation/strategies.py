"""Strategies: two ways of executing a protocol for the baseline and every unit.

* :class:`Reference` (ISF's way): every unit's synapses are created, the model is
  initialised afresh with ``finitialize(v_init)`` and advanced while ``t < tEnd``, with
  the unit's events delivered by the protocol; then the synapses are dropped. The
  baseline is the same run without synapses.
* :class:`Restore`: the settle (the run up to the step at which the reference delivers
  the events) is simulated once per pool size and saved with ``SaveState``; per unit the
  state is restored, pooled synapses are moved onto the unit's segments, and the run
  continues to tEnd. Bit-identical to :class:`Reference` (every t and v sample): see
  docs/simulation.md for why, fixed step and CVODE.
"""

from __future__ import annotations

import logging
import time
import warnings
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from pspsweep.simulation import coreneuron, settings
from pspsweep.simulation.pool import SynapseMaker, SynapsePool
from pspsweep.simulation.protocols import Protocol
from pspsweep.simulation.saved import Settled, join, structure
from pspsweep.simulation.state_cache import StateCache, state_key
from pspsweep.units import Unit

log = logging.getLogger(__name__)


def advance_to_activation(h: Any, request: Any) -> None:
    """From an initialised model, advance to the point at which the reference delivers
    the unit's events (the settle's end): tStim itself under CVODE, the start of the
    step that delivers them under fixed step."""
    if request.vardt:
        # stop the integrator exactly at tStim, as the unit's events do in the reference
        h.CVode().event(request.t_stim)
        while h.t < request.t_stim and h.t < request.t_end:
            h.fadvance()
    else:
        # the reference delivers the events at the start of the first step with
        # t + dt/2 >= tStim (NEURON's fixed-step rule); stop before that step
        while h.t + 0.5 * h.dt < request.t_stim and h.t < request.t_end:
            h.fadvance()


class Strategy(ABC):
    """Runs a protocol on one cell: the integrator settings and the stepping to tEnd."""

    #: whether :meth:`baseline` must run before the units
    baseline_first = False

    def __init__(self, h: Any, cell: Any, request: Any, protocol: Protocol, maker: SynapseMaker) -> None:
        self.h = h
        self.cell = cell
        self.request = request
        self.protocol = protocol
        self.maker = maker
        self._warned_foreign = False

    @abstractmethod
    def baseline(self) -> tuple[np.ndarray, np.ndarray]:
        """The synapse-free run from t = 0 to tEnd."""

    @abstractmethod
    def unit(self, unit: Unit, trial: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The run of one unit, activated by the protocol; ``trial`` positions the random
        streams of stochastic synapses (:attr:`released` then holds their releases)."""

    #: per synapse of the last unit run, its releases (None: deterministic receptor)
    released: list[int] | None = None

    def _start(self, pairs: list[tuple[Any, Any]], unit: Unit, trial: int) -> None:
        """Seed the placed synapses for the trial and queue the protocol's events."""
        self.maker.start_trial(pairs, unit, trial, self.request.protocol.seed)
        self.protocol.deliver([nc for _, nc in pairs])

    def configure(self) -> None:
        """Re-assert NEURON's globals before every run (other code may change them)."""
        if self.request.vardt and not self._warned_foreign:
            self._warn_about_other_cells()
        req = self.request
        settings.apply_run(self.h, req.cell.sim, req.vardt, req.t_end, req.engine == "coreneuron")

    def _warn_about_other_cells(self) -> None:
        n_all = sum(1 for _ in self.h.allsec())
        if n_all != len(self.cell.sections):
            self._warned_foreign = True
            warnings.warn(
                f"{n_all - len(self.cell.sections)} sections of other cells exist in this "
                "process; CVODE integrates them together with this cell, so its steps "
                "and traces differ from a process holding this cell alone",
                RuntimeWarning,
                stacklevel=5,
            )

    def initialise(self) -> None:
        """Configure and ``finitialize(v_init)``: a run from t = 0."""
        self.configure()
        self.h.finitialize(self.request.cell.sim.v_init)

    def _advance_to_end(self) -> tuple[np.ndarray, np.ndarray]:
        h, t_end = self.h, self.request.t_end
        if self.request.engine == "coreneuron":
            # the same steps as the loop below, integrated by CoreNEURON
            coreneuron.psolve(h, t_end, self.request.gpu)
            return self.protocol.samples()
        # classic run semantics: single steps while t < tEnd (isf-reference 6.3, step 7)
        while h.t < t_end:
            h.fadvance()
        return self.protocol.samples()


class Reference(Strategy):
    """Every run from t = 0 (ISF's way)."""

    def baseline(self) -> tuple[np.ndarray, np.ndarray]:
        self.initialise()
        return self._advance_to_end()

    def unit(self, unit: Unit, trial: int = 0) -> tuple[np.ndarray, np.ndarray]:
        pairs = self.maker.for_unit(unit)
        self.initialise()
        self._start(pairs, unit, trial)
        try:
            t, v = self._advance_to_end()
            self.released = self.maker.released(pairs)
            return t, v
        finally:
            # point processes go when the last reference to them goes
            del pairs


class Restore(Strategy):
    """One settle per pool size, saved; every unit restored from it.

    Fixed step: one pool covers all units (``request.pool_size``, grown with a new settle
    when a larger unit comes). CVODE: the pool holds exactly the unit's synapse count,
    one settle and saved state per count (silent synapses change CVODE's step sizes).
    """

    def __init__(self, h: Any, cell: Any, request: Any, protocol: Protocol, maker: SynapseMaker) -> None:
        super().__init__(h, cell, request, protocol, maker)
        self.pool = SynapsePool(maker)
        self._states: dict[int, Settled] = {}  # pool size -> its settle run
        self.cache = None if request.state_dir is None else StateCache(request.state_dir)
        #: settled states obtained: (``"settled"`` or ``"loaded"``, pool size, seconds)
        self.state_log: list[tuple[str, int, float]] = []

    @property
    def baseline_first(self) -> bool:  # type: ignore[override]
        # CVODE: the baseline runs without the pool, and a pool rebuilt between units
        # would need a new settle
        return bool(self.request.vardt)

    def baseline(self) -> tuple[np.ndarray, np.ndarray]:
        """Fixed step: the settle's samples joined with the restored run to tEnd without
        events (run once per process and tEnd, or read from the state cache). CVODE: a
        fresh run without the pool (a settle stops the integrator at tStim, and every
        later step would differ from the fresh run's)."""
        if self.request.vardt:
            self.pool.resize(0)
            self.initialise()
            return self._advance_to_end()
        settled = self._restore_settled(self._pool_size_for(0))
        t_end = self.request.t_end
        tail = settled.tails.get(t_end)
        if tail is None and self.cache is not None:
            # the process that settled may have written it since this one loaded the state
            tail = self.cache.cached_tail(settled, t_end)
        if tail is None:
            self.h.frecord_init()
            tail = self._advance_to_end()
        settled.tails[t_end] = tail
        return join(settled, *tail, vardt=False)

    def unit(self, unit: Unit, trial: int = 0) -> tuple[np.ndarray, np.ndarray]:
        settled = self._restore_settled(self._pool_size_for(unit.n_synapses))
        with self.pool.placed(unit) as pairs:
            # restore() cleared the event queue
            self._start(pairs, unit, trial)
            if self.request.vardt:
                # after the moves: a structure change re-creates the integrator, which
                # would otherwise restart from t = 0
                self.h.CVode().re_init()
            self.h.frecord_init()
            t, v = self._advance_to_end()
            self.released = self.maker.released(pairs)
        return join(settled, t, v, self.request.vardt)

    def key(self, size: int) -> str:
        """The settled-state cache key of a pool of ``size`` synapses."""
        return state_key(self.h, self.request, size, self.protocol.settle_identity())

    def settle(self) -> Settled:
        """Initialise as the reference does and advance to the activation step; save there."""
        h = self.h
        self.initialise()
        advance_to_activation(h, self.request)
        state = h.SaveState()
        state.save()
        t, v = self.protocol.samples()
        v_soma, signal = float(self.cell.soma(0.5).v), self.protocol.signal_now()
        return Settled(state, structure(h), float(h.t), t, v, v_soma, signal_saved=None if signal == v_soma else signal)

    def continue_to_end(self, settled: Settled) -> tuple[np.ndarray, np.ndarray]:
        """The restored run of ``settled`` to tEnd without events (the baseline's tail)."""
        self.configure()
        settled.state.restore()
        self.protocol.restored(settled.signal)
        self.h.frecord_init()
        return self._advance_to_end()

    def _pool_size_for(self, n: int) -> int:
        if self.request.vardt:
            return n
        return max(n, self.request.pool_size or 0, len(self.pool))

    def _settled_for(self, size: int) -> Settled:
        """The saved state of a settle run with ``size`` pooled synapses; sets the pool."""
        self.pool.resize(size)
        settled = self._states.get(size)
        if settled is not None and settled.structure != structure(self.h):
            # another cell, point process or NetCon came or went since the save: every
            # saved state is unusable (restoring would fail, or crash NEURON)
            self._states.clear()
            settled = None
        if settled is None:
            settled = self._states[size] = self._settle_cached(size)
        # a state saved with another pool of this size restores onto this one: same
        # number of point processes on the same node, NetCons with the same hoc indices
        return settled

    def _restore_settled(self, size: int) -> Settled:
        """Set the pool to ``size`` parked synapses and restore its saved state."""
        settled = self._settled_for(size)
        self.configure()
        try:
            settled.state.restore()
        except RuntimeError:
            # SaveState also counts sections that were deleted but not yet freed by
            # NEURON (another cell dropped since the save); a new settle frees them
            self._states.clear()
            settled = self._settled_for(size)
            self.configure()
            settled.state.restore()
        self.protocol.restored(settled.signal)
        return settled

    def _settle_cached(self, size: int) -> Settled:
        """The settle run of the current pool: from the state cache when it holds it,
        else simulated (and then written there)."""
        started = time.perf_counter()
        if self.cache is None:
            settled, how = self.settle(), "settled"
        elif not self._cacheable():
            log.debug("other cells, point processes or NetCons in this process: settling without the cache")
            settled, how = self.settle(), "settled"
        else:
            settled, how = self.cache.obtain(self, size)
        self.state_log.append((how, size, time.perf_counter() - started))
        return settled

    def _cacheable(self) -> bool:
        """True when the process holds exactly what a fresh worker holds: this cell alone,
        the pool's and the protocol's point processes and the pool's NetCons only, the
        NetCons numbered 0 .. n-1 (a state file restores only onto that structure)."""
        sections, point_processes, netcons = structure(self.h)
        n = len(self.pool)
        electrodes = self.protocol.n_point_processes
        return (
            len(sections) == len(self.cell.sections)
            and sum(point_processes) == n + electrodes
            and netcons == tuple(range(n))
        )
