"""Per-unit PSP simulations: build the cell once, then run the baseline and every unit.

:class:`UnitSimulator` owns one NEURON cell for the life of a process. It takes only
plain data (a :class:`SweepRequest` and :class:`~pspsweep.units.Unit` objects) and
returns numpy arrays, so nothing from NEURON leaves this package. It executes ISF's
protocol (:class:`~pspsweep.simulation.protocols.SingleSpike`), or the slice lab's
(:class:`~pspsweep.simulation.protocols.SliceProtocol`, its holding current from
:mod:`pspsweep.simulation.holding`), with the strategy the request names
(:mod:`pspsweep.simulation.strategies`); the settled-state cache is
:mod:`pspsweep.simulation.state_cache`, NEURON's globals :mod:`pspsweep.simulation.settings`.
How the strategies are exact, the cache and CoreNEURON: docs/simulation.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from pspsweep.cellmodel import CellSpec
from pspsweep.embedding import ReceptorSpec
from pspsweep.errors import PspSweepError
from pspsweep.hashing import content_hash
from pspsweep.simulation import coreneuron
from pspsweep.simulation.holding import find_holding_current
from pspsweep.simulation.pool import SynapseMaker
from pspsweep.simulation.protocols import Protocol, ProtocolSpec, make_protocol
from pspsweep.simulation.state_cache import state_key
from pspsweep.simulation.strategies import Reference, Restore, Strategy
from pspsweep.units import Unit

#: strategy name (``run.strategy``) -> how it executes a protocol
_STRATEGY_CLASSES: dict[str, type[Strategy]] = {"reference": Reference, "restore": Restore}
STRATEGIES = tuple(_STRATEGY_CLASSES)


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
            least the largest unit's synapse count. None: :class:`UnitSimulator` grows
            the pool (with a new settle run) when a larger unit comes. Ignored otherwise.
        state_dir: ``restore``: folder of the settled-state cache shared by processes
            (created if missing); None: every process settles itself.
        engine: ``neuron`` or ``coreneuron`` (fixed step only; the runs after the
            initialisation or restore go through CoreNEURON's ``psolve``, see
            :mod:`pspsweep.simulation.coreneuron`).
        gpu: ``coreneuron``: offload to a GPU (needs a GPU build of NEURON).
        protocol: what one unit run is (ISF's protocol by default).
    """

    cell: CellSpec
    receptor: ReceptorSpec
    weights: tuple[float, ...]
    vardt: bool
    t_stim: float
    t_end: float
    strategy: str = "reference"
    pool_size: int | None = None
    state_dir: str | None = None
    engine: str = "neuron"
    gpu: bool = False
    protocol: ProtocolSpec = field(default_factory=ProtocolSpec)


class UnitSimulator:
    """One NEURON cell, reused for the baseline and every unit of one request.

    ``protocol``: what a unit run is (the request's protocol unless given); the
    request's strategy executes it. ``protocol_values``: what the protocol found before
    the runs (the holding current of ``hold_V`` in current clamp, nA).
    """

    def __init__(self, request: SweepRequest, protocol: type[Protocol] | None = None) -> None:
        if request.strategy not in STRATEGIES:
            raise PspSweepError(f"unknown strategy {request.strategy!r}; valid: {', '.join(STRATEGIES)}")
        if request.pool_size is not None and request.pool_size < 0:
            raise PspSweepError(f"pool_size={request.pool_size} must be >= 0")
        coreneuron.check_request(request.engine, request.vardt, request.gpu)
        from neuron import h

        self._h = h
        self.request = request
        prebuilt = _take_prebuilt(request.cell, request.engine)
        self.cell = prebuilt if prebuilt is not None else _build(request.cell, request.engine)
        self.cell.apply_sim_settings(request.cell.sim)
        if not hasattr(h, request.receptor.mechanism):
            raise PspSweepError(f"receptor mechanism {request.receptor.mechanism!r} is not loaded")
        self.protocol_values: dict[str, float] = {}
        self.protocol = protocol(request.t_stim, request.t_end) if protocol else self._make_protocol()
        self.protocol.record(h, self.cell)
        maker = SynapseMaker(h, self.cell, request.receptor, request.weights, request.engine == "coreneuron")
        self.strategy = _STRATEGY_CLASSES[request.strategy](h, self.cell, request, self.protocol, maker)

    def _make_protocol(self) -> Protocol:
        """The request's protocol, with its holding current found first where it must be
        (before any synapse exists, so every strategy and process finds the same)."""
        spec, req = self.request.protocol, self.request
        if spec.needs_holding_current:
            assert spec.hold_V is not None
            holding = find_holding_current(self._h, self.cell, req, spec.hold_V)
            spec = replace(spec, hold_I=holding.current)
            self.protocol_values = {"holding_current_nA": holding.current, "holding_search_runs": holding.runs}
        elif spec.hold_I is not None:
            self.protocol_values = {"holding_current_nA": spec.hold_I}
        return make_protocol(req.t_stim, req.t_end, spec)

    def baseline(self) -> tuple[np.ndarray, np.ndarray]:
        """Simulate the synapse-free cell from t = 0 to tEnd; returns (t ms, v mV).

        ``restore`` under fixed step derives it from the settle (no run from t = 0), to
        the last bit the same samples as the fresh run.
        """
        return self.strategy.baseline()

    @property
    def baseline_first(self) -> bool:
        """Whether :meth:`baseline` must run before the units: under CVODE, ``restore``
        runs it without the synapse pool, and a pool rebuilt between units would need a
        new settle. Otherwise it may run at any time."""
        return self.strategy.baseline_first

    def unit(self, unit: Unit, trial: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Simulate one unit activated at tStim; returns (t ms, v mV). ``trial`` keys the
        random streams of stochastic synapses (:attr:`released`: their releases)."""
        return self.strategy.unit(unit, trial)

    @property
    def stochastic(self) -> bool:
        """True when the receptor's release is stochastic (every trial draws anew)."""
        return self.strategy.maker.stochastic

    @property
    def released(self) -> list[int] | None:
        """Per synapse of the last unit run, its releases; None for deterministic synapses."""
        return self.strategy.released

    @property
    def state_log(self) -> list[tuple[str, int, float]]:
        """Settled states obtained by ``restore``: (``"settled"`` or ``"loaded"``, pool
        size, seconds); empty for ``reference``."""
        return getattr(self.strategy, "state_log", [])

    def state_key(self, size: int) -> str:
        """The settled-state cache key of this simulator's request with a pool of
        ``size`` synapses (:func:`pspsweep.simulation.state_cache.state_key`)."""
        return state_key(self._h, self.request, size, self.protocol.settle_identity())


def _build(spec: CellSpec, engine: str) -> Any:
    """Load the mechanisms for ``engine`` and build the NEURON cell of ``spec``."""
    from pspsweep.simulation.cell import build_cell

    dirs = spec.mechanism_dirs
    if engine == "coreneuron":
        coreneuron.load_mechanisms(dirs)
    # a process holds one build of a mechanism set; CoreNEURON's also serves NEURON
    return build_cell(spec, load=not (engine == "coreneuron" or coreneuron.loaded(dirs)))


#: a cell built ahead of its request by :func:`prebuild_cell`: [(key, cell)] or []
_PREBUILT: list[tuple[str, Any]] = []


def prebuild_cell(spec: CellSpec, engine: str = "neuron") -> None:
    """Build the cell of ``spec`` now, for the next :class:`UnitSimulator` of this process.

    Why: a local worker is idle while the launching process still reads the synapse
    embedding; building the cell then (0.1-0.2 s for ISF's L5PT cell) takes that step
    off the path to the first settle. The simulator takes the cell only if its request
    names the same cell and engine; otherwise the prebuilt cell is dropped first (every
    cell in a process is simulated along).
    """
    key = content_hash(spec, engine)
    if _PREBUILT and _PREBUILT[0][0] == key:
        return
    _PREBUILT.clear()
    _PREBUILT.append((key, _build(spec, engine)))


def _take_prebuilt(spec: CellSpec, engine: str) -> Any | None:
    """The prebuilt cell if it is the one ``spec`` and ``engine`` describe, else None
    (and a prebuilt cell of another spec is dropped)."""
    if not _PREBUILT:
        return None
    key, cell = _PREBUILT.pop()
    return cell if key == content_hash(spec, engine) else None
