"""Protocols: what one unit run is, independent of how a strategy gets there.

A unit run starts from the settled model (``finitialize(v_init)`` and a free run up to
the activation time tStim), places the unit's synapses, delivers its events and records
until tEnd. The *strategies* (:mod:`pspsweep.simulation.strategies`) decide how the run
reaches tStim: afresh from t = 0 per unit (``reference``) or restored from one saved
settle (``restore``); both execute any :class:`Protocol`.

A new protocol is one new subclass: what it sets up and records
(:meth:`Protocol.record`), which events it delivers (:meth:`Protocol.deliver`), and, if
it changes the run before tStim, what of that the settled-state key must hold
(:meth:`Protocol.settle_identity`). :class:`SliceProtocol` is the slice lab's: a held
soma (constant current, or a voltage clamp whose current is recorded) and a train of
presynaptic spikes (docs/protocols.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: the SEClamp's phase that holds: long enough for any run (ms)
CLAMP_DURATION_MS = 1e9


@dataclass(frozen=True)
class ProtocolSpec:
    """A protocol as plain data (``protocol`` config group; the default is ISF's).

    Attributes:
        name: the protocol's name in result files.
        hold_V: mV the soma is held at (current clamp: by the constant current that puts
            it there at tStim; voltage clamp: by the SEClamp), or None.
        hold_I: nA of constant current injected into soma(0.5) from t = 0, or None. Under
            ``hold_V`` with current clamp, the runner sets it to the current it found.
        clamp: ``"current"`` (the voltage is recorded) or ``"voltage"``.
        series_resistance: MOhm, the SEClamp's ``rs``.
        spikes: presynaptic spike times, ms after tStim.
        trials: runs of every unit (stochastic release draws anew in each).
        seed: the first key of every synapse's random stream.
    """

    name: str = "isf"
    hold_V: float | None = None
    hold_I: float | None = None
    clamp: str = "current"
    series_resistance: float = 10.0
    spikes: tuple[float, ...] = (0.0,)
    trials: int = 1
    seed: int = 0

    @property
    def is_isf(self) -> bool:
        """True for ISF's protocol: free-running, one spike at tStim, voltage recorded."""
        return self.hold_V is None and self.hold_I is None and self.clamp == "current" and self.spikes == (0.0,)

    @property
    def needs_holding_current(self) -> bool:
        """True when the holding current must be found (hold_V in current clamp)."""
        return self.hold_V is not None and self.clamp == "current" and self.hold_I is None


class Protocol(ABC):
    """One unit run from the settled model: set-up and recording, events, samples."""

    #: the protocol's name in result files (traces.nwb)
    name: str = "protocol"
    #: what :meth:`samples` records: ``"voltage"`` (mV, current clamp) or ``"current"``
    #: (nA, voltage clamp); traces.nwb stores it as the matching series
    recorded: str = "voltage"
    #: point processes the protocol places on the cell (its electrodes)
    n_point_processes: int = 0

    def __init__(self, t_stim: float, t_end: float) -> None:
        self.t_stim = t_stim
        self.t_end = t_end
        self._signal_ref: Any = None  # a pointer to the recorded quantity, set by record()

    @abstractmethod
    def record(self, h: Any, cell: Any) -> None:
        """Set up the recordings (and anything else the protocol places on the cell);
        called once per simulator, before any run."""

    @abstractmethod
    def samples(self) -> tuple[np.ndarray, np.ndarray]:
        """The samples of the last run as plain arrays: (t ms, recorded signal)."""

    @abstractmethod
    def deliver(self, netcons: Sequence[Any]) -> None:
        """Queue the unit's events on the NetCons of its placed synapses."""

    def signal_now(self) -> float:
        """The recorded quantity's present value (saved with a settled state)."""
        return float(self._signal_ref[0])

    def restored(self, signal: float) -> None:  # noqa: B027 (a hook: most protocols need nothing)
        """After a restore: put back what SaveState does not hold of the recorded quantity
        (``signal``, its value when the state was saved); nothing for a voltage."""

    def settle_identity(self) -> tuple:
        """What this protocol changes in the run before tStim, for the settled-state key:
        empty for a free-running settle (then the key is the one written before protocols
        had names, so existing caches stay valid)."""
        return ()


class SingleSpike(Protocol):
    """ISF's protocol: the free-running cell, every synapse of the unit activated once at
    tStim, the soma(0.5) voltage recorded (isf-reference 6.3).

    t and v are recorded with ``Vector.record`` at every step; t is tied to the soma,
    because the recording of a global belongs by default to the first section created
    in the process, and deleting an older cell would silently stop it.
    """

    name = "single_spike"

    def record(self, h: Any, cell: Any) -> None:
        self._t = h.Vector()
        self._v = h.Vector()
        self._t.record(h._ref_t, sec=cell.soma)
        self._signal_ref = cell.soma(0.5)._ref_v
        self._v.record(self._signal_ref)

    def samples(self) -> tuple[np.ndarray, np.ndarray]:
        return self._t.as_numpy().copy(), self._v.as_numpy().copy()

    def deliver(self, netcons: Sequence[Any]) -> None:
        # one event per synapse; NetCon.event ignores the NetCon's delay
        for nc in netcons:
            nc.event(self.t_stim)


class SliceProtocol(SingleSpike):
    """The slice lab's protocol: a held soma and a train of presynaptic spikes.

    Holding: an IClamp at soma(0.5) injecting ``hold_I`` from t = 0 (the current found
    for ``hold_V`` in current clamp), or an SEClamp at ``hold_V`` from t = 0 whose
    electrode current is recorded (nA, NEURON's sign: positive depolarises, so an
    inward synaptic current shows as a negative deflection). Every synapse of a unit
    receives each spike at tStim + spike (+ its NetCon's delay where it has one; the
    synapses of ISF's and the demo's embeddings have none).
    """

    def __init__(self, t_stim: float, t_end: float, spec: ProtocolSpec) -> None:
        super().__init__(t_stim, t_end)
        if spec.needs_holding_current:
            raise ValueError("the holding current of hold_V must be found before the protocol is made")
        self.spec = spec
        self.name = spec.name
        self.recorded = "current" if spec.clamp == "voltage" else "voltage"
        self.electrode: Any = None
        self.n_point_processes = 0 if spec.hold_I is None and spec.clamp == "current" else 1

    def record(self, h: Any, cell: Any) -> None:
        spec, site = self.spec, cell.soma(0.5)
        if spec.clamp == "voltage":
            self.electrode = h.SEClamp(site)
            self.electrode.dur1 = CLAMP_DURATION_MS
            self.electrode.amp1 = spec.hold_V
            self.electrode.rs = spec.series_resistance
        elif spec.hold_I is not None:
            self.electrode = h.IClamp(site)
            self.electrode.dur = CLAMP_DURATION_MS
            self.electrode.amp = spec.hold_I
        super().record(h, cell)
        if spec.clamp == "voltage":
            self._v = h.Vector()
            self._signal_ref = self.electrode._ref_i
            self._v.record(self._signal_ref)

    def restored(self, signal: float) -> None:
        # the clamp current is computed in each step, not a state: SaveState leaves the
        # last run's value, which the restored run would record as its first sample
        if self.spec.clamp == "voltage":
            self.electrode.i = signal

    def deliver(self, netcons: Sequence[Any]) -> None:
        for nc in netcons:
            for spike in self.spec.spikes:
                nc.event(self.t_stim + spike)

    def settle_identity(self) -> tuple:
        spec = self.spec
        return (
            "slice",
            spec.hold_I,
            spec.clamp,
            spec.hold_V if spec.clamp == "voltage" else None,
            spec.series_resistance if spec.clamp == "voltage" else None,
        )


def make_protocol(t_stim: float, t_end: float, spec: ProtocolSpec) -> Protocol:
    """ISF's :class:`SingleSpike` for the default spec, else a :class:`SliceProtocol`."""
    if spec.is_isf:
        return SingleSpike(t_stim, t_end)
    return SliceProtocol(t_stim, t_end, spec)
