"""The built-in demo model: a small pyramidal-like morphology and a seeded embedding.

The morphology has a soma, basal dendrites that branch once, an apical trunk with
oblique branches and a tuft. Labels follow ISF: ``Soma``, ``Dendrite``,
``ApicalDendrite``. Everything is generated from parameters, so the demo needs no files.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from pspsweep.cellmodel import SectionSpec
from pspsweep.config import CellTypeConfig, DemoMorphologyConfig
from pspsweep.embedding import SYNAPSE_COLUMNS
from pspsweep.errors import PspSweepError


def _line(start: np.ndarray, direction: np.ndarray, length: float, d0: float, d1: float, n: int) -> np.ndarray:
    """n points from ``start`` along ``direction`` with diameters tapering d0 -> d1."""
    direction = direction / np.linalg.norm(direction)
    s = np.linspace(0.0, length, n)
    xyz = start[None, :] + s[:, None] * direction[None, :]
    return np.column_stack([xyz, np.linspace(d0, d1, n)])


def demo_sections(p: DemoMorphologyConfig) -> tuple[SectionSpec, ...]:
    """Generate the demo morphology.

    Args:
        p: lengths (um), diameters (um), branch counts and points per section.

    Returns:
        Sections in index order: soma first, then basal trees, then the apical tree.
    """
    if p.points_per_section < 2:
        raise PspSweepError("neuron.morphology.demo.points_per_section must be >= 2")
    sections: list[SectionSpec] = []
    half = p.soma_length / 2
    soma_pts = _line(
        np.array([0.0, -half, 0.0]),
        np.array([0.0, 1.0, 0.0]),
        p.soma_length,
        p.soma_diam,
        p.soma_diam,
        p.points_per_section,
    )
    soma = _add(sections, "soma", "Soma", None, 0.5, soma_pts)
    _add_basal_trees(sections, soma, p)
    _add_apical_tree(sections, soma, p)
    return tuple(sections)


def _add(
    sections: list[SectionSpec], name: str, label: str, parent: int | None, parent_x: float, points: np.ndarray
) -> int:
    sections.append(SectionSpec(name, label, parent, parent_x, points))
    return len(sections) - 1


def _add_basal_trees(sections: list[SectionSpec], soma: int, p: DemoMorphologyConfig) -> None:
    n, half = p.points_per_section, p.soma_length / 2
    for i in range(p.n_basal):
        # basal roots fan out below the soma, each forks once at its end
        angle = np.pi * (1.15 + 0.7 * i / max(p.n_basal - 1, 1))
        direction = np.array([np.cos(angle), np.sin(angle), 0.0])
        root_pts = _line(np.array([0.0, -half, 0.0]), direction, p.basal_length, p.basal_diam, p.basal_diam, n)
        root = _add(sections, f"dend_{i + 1}_0", "Dendrite", soma, 0.5, root_pts)
        for j, turn in enumerate((-0.35, 0.35)):
            d = np.array([np.cos(angle + turn), np.sin(angle + turn), 0.0])
            pts = _line(root_pts[-1, :3], d, p.basal_child_length, p.basal_child_diam, p.basal_child_diam, n)
            _add(sections, f"dend_{i + 1}_0_{j}", "Dendrite", root, 1.0, pts)


def _add_apical_tree(sections: list[SectionSpec], soma: int, p: DemoMorphologyConfig) -> None:
    # the trunk is a chain of pieces; oblique k leaves from the end of piece k
    n = p.points_per_section
    n_pieces = p.n_oblique + 1
    piece_length = p.trunk_length / n_pieces
    diams = np.linspace(p.trunk_diam_start, p.trunk_diam_end, n_pieces + 1)
    parent, start = soma, np.array([0.0, p.soma_length / 2, 0.0])
    for k in range(n_pieces):
        pts = _line(start, np.array([0.0, 1.0, 0.0]), piece_length, diams[k], diams[k + 1], n)
        parent = _add(sections, "apical_1_0" + "_0" * k, "ApicalDendrite", parent, 0.5 if k == 0 else 1.0, pts)
        start = pts[-1, :3]
        if k < p.n_oblique:
            side = 1.0 if k % 2 == 0 else -1.0
            pts = _line(start, np.array([side, 0.6, 0.0]), p.oblique_length, p.oblique_diam, p.oblique_diam, n)
            _add(sections, f"apical_1_0{'_0' * k}_1", "ApicalDendrite", parent, 1.0, pts)
    for k in range(p.n_tuft):
        angle = np.pi / 2 + (k - (p.n_tuft - 1) / 2) * 0.5
        direction = np.array([np.cos(angle), np.sin(angle), 0.0])
        pts = _line(start, direction, p.tuft_length, p.tuft_diam, p.tuft_diam * 0.7, n)
        _add(sections, f"apical_tuft_{k}", "ApicalDendrite", parent, 1.0, pts)


def demo_synapses(sections: tuple[SectionSpec, ...], celltypes: dict[str, CellTypeConfig], seed: int) -> pd.DataFrame:
    """Place the synapses of every presynaptic cell type reproducibly.

    Each type draws from its own random stream, seeded by ``seed`` and the type's name,
    so adding a type does not move the synapses of another. A synapse lands on a section
    of one of the type's labels, chosen with probability proportional to its length, at
    a uniform position along it.

    Returns:
        The synapse table of :mod:`pspsweep.embedding`.
    """
    lengths = np.array([np.sum(np.linalg.norm(np.diff(s.points[:, :3], axis=0), axis=1)) for s in sections])
    labels = np.array([s.label for s in sections])
    rows: list[tuple] = []
    for name, ct in celltypes.items():
        if ct.n_cells < 1 or not 1 <= ct.min_synapses_per_cell <= ct.max_synapses_per_cell:
            raise PspSweepError(
                f"network.celltypes.{name}: need n_cells >= 1 and 1 <= min_synapses_per_cell <= max_synapses_per_cell"
            )
        allowed = np.flatnonzero(np.isin(labels, list(ct.labels)))
        if allowed.size == 0:
            raise PspSweepError(
                f"network.celltypes.{name}.labels=[{', '.join(map(str, ct.labels))}] match no section; "
                f"the cell's labels are {', '.join(sorted({s.label for s in sections}))}"
            )
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        weights = lengths[allowed] / lengths[allowed].sum()
        synapse_id = 0
        for cell_id in range(ct.n_cells):
            for _ in range(int(rng.integers(ct.min_synapses_per_cell, ct.max_synapses_per_cell + 1))):
                section = int(rng.choice(allowed, p=weights))
                rows.append((name, synapse_id, section, float(rng.uniform(0.0, 1.0)), cell_id))
                synapse_id += 1
    return pd.DataFrame(rows, columns=list(SYNAPSE_COLUMNS))
