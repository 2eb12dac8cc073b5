"""demo and units: the built-in morphology, the seeded embedding and unit lists."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from pspsweep.builders import cell_spec_from_config, conductances, embedding_from_config
from pspsweep.config import CellTypeConfig, DemoMorphologyConfig, RunConfig
from pspsweep.demo import demo_sections, demo_synapses
from pspsweep.embedding import ReceptorSpec
from pspsweep.errors import PspSweepError
from pspsweep.units import make_units, resolve_celltypes


def test_demo_morphology_is_a_tree_with_the_expected_labels():
    p = DemoMorphologyConfig()
    secs = demo_sections(p)
    labels = [s.label for s in secs]
    assert labels[0] == "Soma" and secs[0].parent is None
    assert labels.count("Dendrite") == 3 * p.n_basal
    assert labels.count("ApicalDendrite") == (p.n_oblique + 1) + p.n_oblique + p.n_tuft
    for i, s in enumerate(secs[1:], start=1):
        assert s.parent is not None and s.parent < i, "parents come before children"
        assert s.points.shape == (p.points_per_section, 4)
    # soma children attach at its middle (the ISF convention)
    assert all(s.parent_x == 0.5 for s in secs if s.parent == 0)
    trunk_length = sum(
        np.linalg.norm(np.diff(s.points[:, :3], axis=0), axis=1).sum()
        for s in secs
        if s.name.startswith("apical_1_0") and s.name.count("_1") == 1
    )
    assert trunk_length == pytest.approx(p.trunk_length)


def test_demo_embedding_is_reproducible_and_respects_labels():
    secs = demo_sections(DemoMorphologyConfig())
    types = {
        "A_C2": CellTypeConfig(n_cells=5, labels=["ApicalDendrite"]),
        "B_C2": CellTypeConfig(n_cells=4, min_synapses_per_cell=2, max_synapses_per_cell=2, labels=["Soma"]),
    }
    a = demo_synapses(secs, types, seed=3)
    b = demo_synapses(secs, types, seed=3)
    assert a.equals(b)
    assert not a.equals(demo_synapses(secs, types, seed=4))
    # a type's synapses do not move when another type is added
    only_a = demo_synapses(secs, {"A_C2": types["A_C2"]}, seed=3)
    assert only_a.equals(a[a.celltype == "A_C2"].reset_index(drop=True))
    assert set(a[a.celltype == "A_C2"].section.map(lambda i: secs[i].label)) == {"ApicalDendrite"}
    bt = a[a.celltype == "B_C2"]
    assert (bt.section == 0).all() and bt.groupby("cell_id").size().eq(2).all()
    assert list(bt.synapse_id) == list(range(len(bt)))
    assert a.x.between(0, 1).all()


def test_demo_embedding_rejects_labels_without_sections():
    secs = demo_sections(DemoMorphologyConfig())
    with pytest.raises(PspSweepError, match="Axon"):
        demo_synapses(secs, {"A_C2": CellTypeConfig(labels=["Axon"])}, seed=1)


def test_labels_message_names_labels_plainly():
    """demo: the refusal lists the labels as plain names (numpy 2 printed ``np.str_('Soma')``)."""
    secs = demo_sections(DemoMorphologyConfig())
    with pytest.raises(PspSweepError) as info:
        demo_synapses(secs, {"A_C2": CellTypeConfig(labels=["Axon"])}, seed=1)
    assert str(info.value) == (
        "network.celltypes.A_C2.labels=[Axon] match no section; the cell's labels are ApicalDendrite, Dendrite, Soma"
    )


@pytest.fixture
def demo(compose):
    cfg = OmegaConf.to_object(compose())
    cell = cell_spec_from_config(cfg.neuron)
    return cell, embedding_from_config(cfg.network, cell)


def test_units_in_both_modes(demo):
    _, emb = demo
    cells = make_units(emb, "L4ss_C2", "cells")
    syns = make_units(emb, "L4ss_C2", "synapses")
    table = emb.synapses[emb.synapses.celltype == "L4ss_C2"]
    assert len(cells) == table.cell_id.nunique() == 12
    assert len(syns) == len(table)
    assert [u.index for u in syns] == list(range(len(syns)))
    assert sum(u.n_synapses for u in cells) == len(syns)
    # synapse units keep cell order, then embedding order inside a cell
    flat = [(u.cell_id, u.synapse_ids[0]) for u in syns]
    assert flat == sorted(flat, key=lambda cs: cs[0])
    assert sorted(flat) == sorted((u.cell_id, s) for u in cells for s in u.synapse_ids)
    # a cell unit lists (and places) its synapses by section, then x
    for u in cells:
        assert list(zip(u.sections, u.xs)) == sorted(zip(u.sections, u.xs))
    subset = make_units(emb, "L4ss_C2", "cells", [3, 1])
    assert [u.index for u in subset] == [3, 1]


def test_unknown_celltype_lists_the_valid_ones(demo):
    _, emb = demo
    with pytest.raises(PspSweepError, match=r"unknown cell type 'NOPE'.*L4ss_C2.*L5tt_C2.*INH_C2"):
        resolve_celltypes(emb, "NOPE")
    assert resolve_celltypes(emb, "L*_C2") == ["L4ss_C2", "L5tt_C2"]


def test_unit_subset_out_of_range(demo):
    _, emb = demo
    with pytest.raises(PspSweepError, match="out of range"):
        make_units(emb, "L4ss_C2", "cells", [99])


def test_conductances_follow_g_unless_given():
    exc = ReceptorSpec("glutamate_syn", True)
    inh = ReceptorSpec("gaba_syn", False)
    assert conductances(RunConfig(g=0.5), exc) == {"gAMPA": 0.5, "gNMDA": 0.5}
    assert conductances(RunConfig(g=0.5, gNMDA=0.2), exc) == {"gAMPA": 0.5, "gNMDA": 0.2}
    assert conductances(RunConfig(g=2.0), inh) == {"gGABA": 2.0}
    with pytest.raises(PspSweepError, match="run.gGABA"):
        conductances(RunConfig(g=None), inh)
