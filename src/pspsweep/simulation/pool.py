"""Synapses of a unit on the cell: created per unit, or pooled and moved onto its segments.

A synapse is a receptor point process driven by a NetCon without source (its events come
from ``NetCon.event``), with the receptor's parameters and the request's weights. The
:class:`SynapsePool` keeps such pairs *parked* on soma(0.5): a parked synapse without
events has zero conductance and adds exactly 0 to its node, so one pool serves every unit
(its first n pairs are moved onto the unit's segments and back).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pspsweep.embedding import ReceptorSpec
from pspsweep.receptors import STOCHASTIC_MECHANISMS
from pspsweep.simulation import coreneuron
from pspsweep.units import Unit, WeightedUnit


class SynapseMaker:
    """Creates the (point process, NetCon) pairs of one receptor and weight set."""

    def __init__(
        self, h: Any, cell: Any, receptor: ReceptorSpec, weights: Sequence[float], on_coreneuron: bool
    ) -> None:
        self._h = h
        self.cell = cell
        self.receptor = receptor
        self.weights = tuple(weights)
        self._on_coreneuron = on_coreneuron

    def new(self, seg: Any) -> tuple[Any, Any]:
        """A synapse on ``seg`` with its NetCon (weights set, no events queued)."""
        syn = getattr(self._h, self.receptor.mechanism)(seg)
        for name, value in self.receptor.parameters.items():
            setattr(syn, name, value)
        nc = self._h.NetCon(None, syn)
        # NetCon.event(tStim) ignores the delay; CoreNEURON refuses delays below dt
        nc.delay = coreneuron.NETCON_DELAY if self._on_coreneuron else 0.0
        nc.threshold = 0.0
        for i, w in enumerate(self.weights):
            nc.weight[i] = w
        return syn, nc

    def segment(self, section: int, x: float, exact: bool = False) -> Any:
        """The segment of the cell's ``section`` at ``x``: clamped as ISF does (x = 0 and 1
        onto the end segments), or ``exact`` as NEURON places it (0 and 1 on the end nodes,
        as bmtk puts SONATA synapses)."""
        return self.cell.sections[section](float(x) if exact else self.cell.clamped_x(section, x))

    def for_unit(self, unit: Unit) -> list[tuple[Any, Any]]:
        """New synapses on the unit's segments (gone when the list is dropped); the NetCons
        of a :class:`WeightedUnit` carry its weights and deliver after its delays."""
        exact = isinstance(unit, WeightedUnit)
        pairs = [self.new(self.segment(s, x, exact)) for s, x in zip(unit.sections, unit.xs)]
        for (_, nc), weights in zip(pairs, self.unit_weights(unit)):
            for k, w in enumerate(weights):
                nc.weight[k] = w
        return list(zip([syn for syn, _ in pairs], delivered([nc for _, nc in pairs], unit)))

    def unit_weights(self, unit: Unit) -> list[tuple[float, ...]]:
        """The NetCon weights of each of the unit's synapses: the request's, or for a
        :class:`WeightedUnit` its own weights times the request's (a scale factor)."""
        if not isinstance(unit, WeightedUnit):
            return [self.weights] * unit.n_synapses
        return [tuple(w * scale for scale in self.weights) for w in unit.weights]

    @property
    def stochastic(self) -> bool:
        """True when the receptor draws random numbers (stochastic release)."""
        return self.receptor.mechanism in STOCHASTIC_MECHANISMS

    def start_trial(self, pairs: Sequence[tuple[Any, Any]], unit: Unit, trial: int, seed: int) -> None:
        """Key each synapse's random stream to (seed, cell type, synapse id, trial) and
        zero its release counter; nothing for a deterministic receptor.
        Random123 streams are not part of SaveState, so this follows every restore."""
        if not self.stochastic:
            return
        # the seed is Random123's global index (one per process, part of every stream's
        # key, and handed to CoreNEURON); the trial is a key, not a stream offset, so
        # any number of draws and trials stays apart
        self._h.Random().Random123_globalindex(seed)
        celltype = zlib.crc32(unit.celltype.encode())
        for (syn, _), synapse_id in zip(pairs, unit.synapse_ids):
            syn.rng.set_ids(celltype, synapse_id, trial)
            syn.rng.set_seq(0)
            syn.n_released = 0

    def released(self, pairs: Sequence[tuple[Any, Any]]) -> list[int] | None:
        """Per synapse, the releases counted since :meth:`start_trial`; None for a
        deterministic receptor."""
        if not self.stochastic:
            return None
        return [int(syn.n_released) for syn, _ in pairs]


class DelayedNetCon:
    """A NetCon whose ``event(t)`` arrives ``delay`` ms later: ``NetCon.event`` ignores
    the NetCon's delay, while a SONATA edge's spike at t reaches its synapse at t + delay
    (bmtk delivers it through a NetCon with that delay)."""

    def __init__(self, netcon: Any, delay: float) -> None:
        self.netcon = netcon
        self.delay = delay

    def event(self, t: float) -> None:
        self.netcon.event(t + self.delay)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.netcon, name)


def delivered(netcons: list[Any], unit: Unit) -> list[Any]:
    """The unit's NetCons as the protocol gets them: delayed for a :class:`WeightedUnit`."""
    if not isinstance(unit, WeightedUnit):
        return netcons
    return [DelayedNetCon(nc, d) for nc, d in zip(netcons, unit.delays)]


class SynapsePool:
    """Parked synapses moved onto a unit's segments for its run."""

    def __init__(self, maker: SynapseMaker) -> None:
        self.maker = maker
        self.park = maker.cell.soma(0.5)
        self.pairs: list[tuple[Any, Any]] = []

    def __len__(self) -> int:
        return len(self.pairs)

    def resize(self, size: int) -> None:
        """Make the pool exactly ``size`` parked synapses (new objects if the size changes)."""
        if len(self.pairs) == size:
            return
        # NetCons go first (with the pairs), then the point processes they target
        syns = [syn for syn, _ in self.pairs]
        self.pairs = []
        del syns
        self.pairs = [self.maker.new(self.park) for _ in range(size)]

    @contextmanager
    def placed(self, unit: Unit) -> Iterator[list[tuple[Any, Any]]]:
        """Move the first n synapses onto the unit's segments, weight them (0 on the
        parked rest) and yield them (point process, NetCon); park them again afterwards
        (a saved state restores only onto the structure it was saved with)."""
        n = unit.n_synapses
        placed = self.pairs[:n]
        try:
            exact = isinstance(unit, WeightedUnit)
            for (syn, _), section, x in zip(placed, unit.sections, unit.xs):
                syn.loc(self.maker.segment(section, x, exact))
            # a restore overwrote the weights
            weights = self.maker.unit_weights(unit)
            for i, (_, nc) in enumerate(self.pairs):
                for k in range(len(self.maker.weights)):
                    nc.weight[k] = weights[i][k] if i < n else 0.0
            yield list(zip([syn for syn, _ in placed], delivered([nc for _, nc in placed], unit)))
        finally:
            for syn, _ in placed:
                syn.loc(self.park)
