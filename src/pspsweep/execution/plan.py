"""The chunk plan: which units run together, largest work first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pspsweep.units import Unit


@dataclass(frozen=True)
class ChunkTask:
    """A chunk: its position in the sweep, its units and which of the sweep's works runs them.

    Attributes:
        index: chunk number (names its file).
        units: the units to simulate.
        keys: a sweep-wide number per unit that identifies its results (default: the
            units' indices).
        work: index into the sweep's list of :class:`SweepWork` (one per receptor and
            conductances).
    """

    index: int
    units: tuple[Unit, ...]
    keys: tuple[int, ...] = ()
    work: int = 0

    def result_keys(self) -> np.ndarray:
        """The keys under which the units' results are stored."""
        return np.array(self.keys or [u.index for u in self.units], dtype=np.int64)


def unit_cost(unit: Unit) -> float:
    """Relative simulation cost of a unit: every synapse adds events (and CVODE steps)."""
    return 1.0 + 0.5 * unit.n_synapses


def plan_chunks(
    units: Sequence[Unit],
    workers: int,
    chunk_size: int | None = None,
    *,
    keys: Sequence[int] | None = None,
    work: int = 0,
    first_index: int = 0,
) -> list[ChunkTask]:
    """Split units into chunks, largest work first.

    Units are ordered by :func:`unit_cost`, largest first (ties keep their order), so
    the slow ones start early. Without ``chunk_size`` chunks shrink as the sweep
    proceeds (guided scheduling): each takes about 1/(4 x workers) of the work still
    left, at most 64 units, so early chunks are large (little overhead) and the last
    ones small (both cores stay busy to the end). With ``chunk_size`` every chunk has
    that many units (the last may have fewer).

    Args:
        units: the units to simulate.
        workers: number of workers sharing the chunks.
        chunk_size: fixed units per chunk, or None for guided sizes.
        keys: sweep-wide result key per unit (default: ``unit.index``).
        work: index of the :class:`SweepWork` that simulates these units.
        first_index: number of the first chunk (chunks of several works share a store).
    """
    keys = list(keys) if keys is not None else [u.index for u in units]
    order = sorted(range(len(units)), key=lambda i: -unit_cost(units[i]))
    costs = [unit_cost(units[i]) for i in order]
    chunks: list[ChunkTask] = []
    start, left = 0, float(sum(costs))
    while start < len(order):
        if chunk_size:
            stop = min(start + chunk_size, len(order))
        else:
            target, stop, taken = left / (4 * max(workers, 1)), start, 0.0
            while stop < len(order) and stop - start < 64 and (stop == start or taken + costs[stop] <= target):
                taken += costs[stop]
                stop += 1
        picked = order[start:stop]
        chunks.append(
            ChunkTask(first_index + len(chunks), tuple(units[i] for i in picked), tuple(keys[i] for i in picked), work)
        )
        left -= sum(costs[start:stop])
        start = stop
    return chunks
