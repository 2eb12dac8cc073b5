"""Protocols: what one unit run is, independent of how a strategy gets there.

A unit run starts from the settled model (``finitialize(v_init)`` and a free run up to
the activation time tStim), places the unit's synapses, delivers its events and records
until tEnd. The *strategies* (:mod:`pspsweep.simulation.strategies`) decide how the run
reaches tStim: afresh from t = 0 per unit (``reference``) or restored from one saved
settle (``restore``); both execute any :class:`Protocol`.

A new protocol (holding potential, voltage clamp, trains, trials) is one new subclass:
what it sets up and records (:meth:`Protocol.record`), which events it delivers
(:meth:`Protocol.deliver`), and, if it changes the run before tStim, what of that the
settled-state key must hold (:meth:`Protocol.settle_identity`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np


class Protocol(ABC):
    """One unit run from the settled model: set-up and recording, events, samples."""

    #: the protocol's name in result files (traces.nwb)
    name: ClassVar[str] = "protocol"
    #: what :meth:`samples` records: ``"voltage"`` (mV, current clamp) or ``"current"``
    #: (nA, voltage clamp); traces.nwb stores it as the matching series
    recorded: ClassVar[str] = "voltage"

    def __init__(self, t_stim: float, t_end: float) -> None:
        self.t_stim = t_stim
        self.t_end = t_end

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
        self._v.record(cell.soma(0.5)._ref_v)

    def samples(self) -> tuple[np.ndarray, np.ndarray]:
        return self._t.as_numpy().copy(), self._v.as_numpy().copy()

    def deliver(self, netcons: Sequence[Any]) -> None:
        # one event per synapse; NetCon.event ignores the NetCon's delay
        for nc in netcons:
            nc.event(self.t_stim)
