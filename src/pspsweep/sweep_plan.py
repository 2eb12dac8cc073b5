"""What the workers are given for one sweep: one work per group of cell types sharing a
receptor and conductances, the chunks of distinct simulations, and the sweep's content
key (what a finished run must match to be reused, docs/reuse.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import pspsweep
from pspsweep import execution, hashing
from pspsweep.config import PspSweepConfig
from pspsweep.geometry import segment_counts
from pspsweep.protocol_config import protocol_spec
from pspsweep.receptors import STOCHASTIC_MECHANISMS
from pspsweep.units import Unit, WeightedUnit, distinct_units

if TYPE_CHECKING:
    from pspsweep.pipeline import PreparedSweep


@dataclass(frozen=True)
class WorkGroup:
    """Cell types simulated with one :class:`execution.SweepWork` (same receptor and
    conductances), and the positions of their units in ``PreparedSweep.units``."""

    work: execution.SweepWork
    celltypes: tuple[str, ...]
    members: tuple[int, ...]


def sweep_works(cfg: PspSweepConfig, prep: PreparedSweep) -> list[WorkGroup]:
    """What the workers need, per group of cell types sharing receptor and conductances.

    Each group is one simulation request (one cell, one synapse pool, one settle) with
    the analysis options and storage step; the 194 excitatory types of the 86 embedding
    are a single group.
    """
    from pspsweep.simulation.runner import SweepRequest

    run = cfg.run
    by_request: dict[tuple, list[str]] = {}
    for celltype in prep.celltypes:
        receptor = prep.embedding.receptors[celltype]
        key = (repr(receptor), tuple(sorted(prep.weights[celltype].items())))
        by_request.setdefault(key, []).append(celltype)
    groups = []
    for celltypes in by_request.values():
        receptor = prep.embedding.receptors[celltypes[0]]
        w = prep.weights[celltypes[0]]
        weights = tuple(w.values())  # in builders.conductances' order
        members = tuple(i for i, u in enumerate(prep.units) if u.celltype in celltypes)
        # one synapse pool large enough for every unit: one settle per group (fixed step)
        pool = max((prep.units[i].n_synapses for i in members), default=1)
        request = SweepRequest(
            prep.cell,
            receptor,
            weights,
            run.vardt,
            run.tStim,
            run.tEnd,
            run.strategy.value,
            pool_size=pool,
            engine=run.engine.value,
            gpu=run.gpu,
            protocol=protocol_spec(cfg.protocol),
        )
        groups.append(
            WorkGroup(
                execution.SweepWork(request, prep.options, run.record_dt, str(run.record_dtype)),
                tuple(celltypes),
                members,
            )
        )
    return groups


#: raised when what a sweep key covers changes meaning, so older runs are never reused
SWEEP_KEY_VERSION = 2


def sweep_key(cfg: PspSweepConfig, prep: PreparedSweep) -> str:
    """A content hash of everything that determines a sweep's results (docs/reuse.md).

    Two jobs with the same key produce the same files, whatever the executor, so a
    finished run with this key can be reused and its chunks resumed: the works (cell
    model, receptor and parameters, conductances, times, strategy, engine, analysis,
    storage step), every unit with its synapses' positions, the mechanisms' sources
    (with the NEURON version) and the pspsweep version. Paths and execution settings
    are left out.
    """
    from pspsweep.simulation.mechanisms import source_hash

    prints = [g.work.fingerprint() for g in sweep_works(cfg, prep)]
    # a SONATA unit's synapses also carry their own weights and delays
    units = [
        (u.celltype, u.index, u.cell_id, u.synapse_ids, u.sections, u.xs, *_weights_and_delays(u)) for u in prep.units
    ]
    mechanisms = source_hash([Path(d) for d in prep.cell.mechanism_dirs])
    # isf files name their absolute peak times (t_peak_abs_ms) since then; only isf keys change
    isf_times = ("isf peak times absolute and named",) if prep.options.convention == "isf" else ()
    mode = (cfg.run.mode.value, cfg.run.reuse_identical, *isf_times)
    return hashing.content_hash(SWEEP_KEY_VERSION, pspsweep.__version__, mechanisms, prints, units, *mode)


def _weights_and_delays(unit: Unit) -> tuple:
    """A weighted unit's own synapse weights and delays; nothing for other units (their
    keys stay those written before SONATA input)."""
    return (unit.weights, unit.delays) if isinstance(unit, WeightedUnit) else ()


def plan_simulations(
    cfg: PspSweepConfig, prep: PreparedSweep, groups: Sequence[WorkGroup], workers: int
) -> tuple[list[execution.ChunkTask], np.ndarray]:
    """Chunks of distinct simulations, and for every unit the row it takes its result from.

    Units of one group on the same segments give identical traces (``run.reuse_identical``):
    only the first is simulated. Result keys are rows of ``prep.units``.
    """
    nseg = segment_counts(prep.cell)
    source = np.arange(len(prep.units))
    chunks: list[execution.ChunkTask] = []
    for index, group in enumerate(groups):
        units = [prep.units[i] for i in group.members]
        # a stochastic synapse draws from its own stream: identical segments, other draws
        reuse = cfg.run.reuse_identical and group.work.request.receptor.mechanism not in STOCHASTIC_MECHANISMS
        same_as = distinct_units(units, nseg) if reuse else list(range(len(units)))
        source[list(group.members)] = [group.members[j] for j in same_as]
        firsts = sorted(set(same_as))
        chunks += execution.plan_chunks(
            [units[j] for j in firsts],
            workers,
            cfg.executor.chunk_size,
            keys=[group.members[j] for j in firsts],
            work=index,
            first_index=len(chunks),
        )
    return chunks, source
