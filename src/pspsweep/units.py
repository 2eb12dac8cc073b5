"""Presynaptic units: what is activated alone in one simulation.

In mode ``cells`` a unit is one presynaptic cell with all its synapses (listed, and
placed, in order of section and x); in mode ``synapses`` it is one synapse. Units are
numbered 0, 1, ... in the reference's order: cells by ascending cell id, and inside a
cell its synapses in embedding (.con) order.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pspsweep.config import Mode
from pspsweep.embedding import Embedding
from pspsweep.errors import PspSweepError
from pspsweep.geometry import segment_of


@dataclass(frozen=True)
class Unit:
    """One unit and where its synapses sit.

    Attributes:
        index: position in the sweep's unit order (0-based).
        celltype: presynaptic cell type.
        cell_id: presynaptic cell id within the type.
        synapse_ids: per-type synapse ids of the activated synapses.
        sections: section index of each synapse.
        xs: position along the section of each synapse.
    """

    index: int
    celltype: str
    cell_id: int
    synapse_ids: tuple[int, ...]
    sections: tuple[int, ...]
    xs: tuple[float, ...]

    @property
    def n_synapses(self) -> int:
        """Number of synapses activated together."""
        return len(self.synapse_ids)


@dataclass(frozen=True)
class WeightedUnit(Unit):
    """A unit whose synapses carry their own NetCon weights and delays (SONATA edges).

    Attributes:
        weights: per synapse, its weight from the input (uS for ``Exp2Syn``); the
            sweep's weights scale them (``run.g``).
        delays: per synapse, the delay (ms) after tStim at which its event arrives.
    """

    weights: tuple[float, ...] = ()
    delays: tuple[float, ...] = ()


#: what a unit is (``run.mode``)
MODES = tuple(m.value for m in Mode)

#: ``run.celltype`` keywords: every cell type whose receptor is of that kind
KEYWORDS = ("excitatory", "inhibitory")


def resolve_celltypes(embedding: Embedding, requested: str | Sequence[str]) -> list[str]:
    """Cell types named by ``requested``: in the order requested, a pattern's matches in
    embedding order, each type once.

    ``requested`` is a name, an fnmatch pattern (``L5*_C2``), the keyword
    ``excitatory`` or ``inhibitory``, or a list of those. A pattern or keyword keeps
    only cell types with a receptor (``embedding.receptors``), so ``L*_C2`` skips the
    types the classification leaves out; an exact name is kept as given (a later
    receptor check names it).

    Raises:
        PspSweepError: when an entry matches no usable cell type; the message lists
            the valid ones.
    """
    names = [requested] if isinstance(requested, str) else list(requested)
    available = embedding.celltypes
    chosen: list[str] = []
    for name in names:
        if name in available:
            matches = [name]
        elif name in KEYWORDS:
            matches = [
                c
                for c in available
                if c in embedding.receptors and embedding.receptors[c].excitatory == (name == "excitatory")
            ]
        else:
            matches = [c for c in available if fnmatch.fnmatchcase(c, name) and c in embedding.receptors]
        if not matches:
            raise PspSweepError(
                f"unknown cell type {name!r}; valid cell types: {', '.join(available)}"
                f" (or a pattern, or one of {', '.join(KEYWORDS)})"
            )
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def make_units(embedding: Embedding, celltype: str, mode: str, subset: list[int] | None = None) -> list[Unit]:
    """List the units of one cell type.

    Args:
        embedding: the synapse embedding.
        celltype: one cell type of the embedding.
        mode: ``cells`` or ``synapses``.
        subset: optional unit indices to keep (indices refer to the full unit list).

    Returns:
        The units in order; ``Unit.index`` keeps the index in the full list.

    Raises:
        PspSweepError: unknown cell type or mode, or a subset index out of range.
    """
    if celltype not in embedding.receptors and celltype not in embedding.celltypes:
        resolve_celltypes(embedding, celltype)  # raises, listing the valid names
    syn = embedding.synapses
    rows = syn[(syn["celltype"] == celltype).to_numpy()].sort_values("cell_id", kind="stable")
    cell_ids = rows["cell_id"].to_numpy()
    all_ids = rows["synapse_id"].to_numpy()
    all_secs = rows["section"].to_numpy()
    all_xs = rows["x"].to_numpy(dtype=float)
    weighted = "weight" in rows.columns
    all_ws = rows["weight"].to_numpy(dtype=float) if weighted else np.zeros(len(rows))
    all_ds = rows["delay"].to_numpy(dtype=float) if weighted else np.zeros(len(rows))
    if mode not in MODES:
        raise PspSweepError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    units: list[Unit] = []
    # a stable sort keeps each cell's synapses in embedding order
    starts = np.flatnonzero(np.r_[True, cell_ids[1:] != cell_ids[:-1]]) if len(cell_ids) else np.zeros(0, int)
    for a, b in zip(starts, np.r_[starts[1:], len(cell_ids)]):
        cell_id = int(cell_ids[a])
        ids = tuple(int(s) for s in all_ids[a:b])
        secs = tuple(int(s) for s in all_secs[a:b])
        xs = tuple(float(x) for x in all_xs[a:b])
        ws, ds = tuple(float(w) for w in all_ws[a:b]), tuple(float(d) for d in all_ds[a:b])
        if mode == "cells":
            # a canonical placement order (by section, then x): units on the same
            # segments then place their synapses identically, whatever the .con order
            order = sorted(range(len(ids)), key=lambda k: (secs[k], xs[k], ids[k]))
            ids, secs = tuple(ids[k] for k in order), tuple(secs[k] for k in order)
            xs, ws, ds = tuple(xs[k] for k in order), tuple(ws[k] for k in order), tuple(ds[k] for k in order)
            units.append(_unit(len(units), celltype, cell_id, ids, secs, xs, ws, ds, weighted))
        else:
            for i in range(len(ids)):
                one = slice(i, i + 1)
                units.append(
                    _unit(len(units), celltype, cell_id, ids[one], secs[one], xs[one], ws[one], ds[one], weighted)
                )
    if subset is not None:
        bad = [i for i in subset if not 0 <= i < len(units)]
        if bad:
            raise PspSweepError(f"run.units {bad} out of range: {celltype} has {len(units)} units in mode {mode}")
        units = [units[i] for i in dict.fromkeys(subset)]
    return units


def _unit(
    index: int, celltype: str, cell_id: int, ids: tuple, secs: tuple, xs: tuple, ws: tuple, ds: tuple, weighted: bool
) -> Unit:
    """A plain :class:`Unit`, or a :class:`WeightedUnit` when the embedding has weights."""
    if weighted:
        return WeightedUnit(index, celltype, cell_id, ids, secs, xs, ws, ds)
    return Unit(index, celltype, cell_id, ids, secs, xs)


def segment_key(unit: Unit, nseg: Sequence[int]) -> tuple:
    """What a unit's simulation depends on besides the shared settings (receptor,
    conductances, times): the multiset of segments its synapses sit on (a point process
    acts at its segment's node, wherever its x lies inside the segment), with each
    synapse's own weight and delay for a :class:`WeightedUnit` (whose synapses are placed
    unclamped, see ``simulation.pool.SynapseMaker.segment``)."""
    if isinstance(unit, WeightedUnit):
        # placed unclamped: x = 0 and 1 are the end nodes (-1, nseg), not the end segments
        return tuple(
            sorted(
                (s, -1 if x == 0 else nseg[s] if x == 1 else segment_of(nseg[s], x), w, d)
                for s, x, w, d in zip(unit.sections, unit.xs, unit.weights, unit.delays)
            )
        )
    return tuple(sorted((s, segment_of(nseg[s], x)) for s, x in zip(unit.sections, unit.xs)))


def distinct_units(units: Sequence[Unit], nseg: Sequence[int]) -> list[int]:
    """For every unit, the position (in ``units``) of the first unit with the same segments.

    ``units`` must share the simulation settings (receptor, conductances, times); they
    may belong to different cell types. Units mapped to the same position give
    bit-identical traces, so only the first of them needs simulating (the simulator
    places a unit's synapses in a canonical order, so the order in the embedding does
    not matter).
    """
    first: dict[tuple, int] = {}
    return [first.setdefault(segment_key(u, nseg), i) for i, u in enumerate(units)]
