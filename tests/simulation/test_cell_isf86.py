"""pspsweep.simulation.cell on ISF's 86_C2_center cell: the build checks of isf-reference 10.2.

Reference (ISF HEAD under NEURON 9.0.2): 170 sections (1 Soma, 87 Dendrite,
79 ApicalDendrite, 2 AIS, 1 Myelin); nseg Soma 1, Dendrite 483, ApicalDendrite 625, AIS 12,
Myelin 21 (1142); apical maxDist 1576.5529 um; apical gIhbar in [2.50287e-4, 1.51065e-2]
S/cm2; 39 Ca hot-zone segments in sections {38, 39, 40, 51, 61, 66}; sections 6-38 scaled
by 2.5 (first point of section 6: 1.92 -> 4.8 um; section 39 stays 0.79 um); soma area
916.458 um2, total 42957.0 um2.

Two variants: one with the shipped L5PT mechanisms (skipped until they and the mechanism
loader exist), one with every channel replaced by ``pas`` carrying the same distribution,
so geometry, nseg, distances and distribution rules are checked without compiling anything.
"""

from __future__ import annotations

import dataclasses
import gc
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pspsweep.cellmodel import CellSpec, MechanismSpec

pytest.importorskip("neuron")

from pspsweep.simulation.cell import NeuronCell, build_cell

pytestmark = pytest.mark.realdata

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "isf_86_c2"
PARAM = DATA / "86_C2_center.param"
REPO = Path(__file__).resolve().parents[2]
L5PT_MOD = REPO / "src" / "pspsweep" / "simulation" / "mod" / "l5pt"
MECHANISMS_PY = REPO / "src" / "pspsweep" / "simulation" / "mechanisms.py"
L5PT_NAMES = (
    "CaDynamics_E2",
    "Ca_HVA",
    "Ca_LVAst",
    "Ih",
    "Im",
    "K_Pst",
    "K_Tst",
    "NaTa_t",
    "Nap_Et2",
    "SK_E2",
    "SKv3_1",
)

NSEG = {"Soma": 1, "Dendrite": 483, "ApicalDendrite": 625, "AIS": 12, "Myelin": 21}
HOT_SECTIONS = {38, 39, 40, 51, 61, 66}


@pytest.fixture(scope="module")
def spec86() -> CellSpec:
    if not DATA.is_dir():
        pytest.skip(f"real data not found: {DATA}")
    io = pytest.importorskip("pspsweep.io.isf_param")
    with warnings.catch_warnings():
        # neuron.filename points at the authors' cluster; the reader falls back to the
        # hoc next to the parameter file and says so
        warnings.simplefilter("ignore", UserWarning)
        return io.param_to_cellspec(io.read_param_file(PARAM), PARAM)


def _segment_values(cell: NeuronCell, sections: list[int], mech: str, param: str) -> dict[tuple[int, int], float]:
    """(section, segment) -> value of ``<param>_<mech>`` at the segment centre."""
    out = {}
    for i in sections:
        nseg = int(cell.sections[i].nseg)
        for k in range(nseg):
            out[(i, k)] = cell.density(i, (k + 0.5) / nseg, mech, param)
    return out


def _check_geometry(cell: NeuronCell, spec: CellSpec) -> None:
    counts = Counter(s.label for s in spec.sections)
    assert len(cell.sections) == 170
    assert counts == {"Soma": 1, "Dendrite": 87, "ApicalDendrite": 79, "AIS": 2, "Myelin": 1}
    assert cell.nseg_by_label() == NSEG
    assert sum(cell.nseg_per_section()) == 1142
    assert cell.max_dist("ApicalDendrite") == pytest.approx(1576.5529, abs=5e-5)

    points = cell.section_points()
    scaled = [i for i, (now, s) in enumerate(zip(points, spec.sections)) if not np.allclose(now[:, 3], s.points[:, 3])]
    assert scaled == list(range(6, 39))
    assert points[6][0, 3] == pytest.approx(4.8, rel=1e-6)
    assert points[39][0, 3] == pytest.approx(0.79, rel=1e-6)

    areas = cell.area_by_label()
    assert areas["Soma"] == pytest.approx(916.458, rel=1e-4)
    assert cell.total_area() == pytest.approx(42957.0, rel=1e-4)


def test_86_geometry_and_distributions_with_pas_stand_ins(spec86):
    """Every non-uniform channel entry becomes a ``pas`` entry with the same rule."""

    def with_rule(spatial: str, name: str) -> CellSpec:
        biophysics = []
        for b in spec86.biophysics:
            mechs = tuple(
                MechanismSpec("pas", {"g": next(iter(m.params.values()))}, m.spatial, m.distribution)
                for m in b.mechanisms
                if m.spatial == spatial and (b.label != "ApicalDendrite" or m.name == name)
            ) or (MechanismSpec("pas", {"g": 1e-4}),)
            biophysics.append(dataclasses.replace(b, mechanisms=mechs, ions={}))
        return dataclasses.replace(spec86, biophysics=tuple(biophysics))

    ih = build_cell(with_rule("exponential", "Ih"))
    _check_geometry(ih, spec86)
    values = _segment_values(ih, ih.section_indices("ApicalDendrite"), "pas", "g")
    assert min(values.values()) == pytest.approx(2.50287e-4, rel=1e-5)
    assert max(values.values()) == pytest.approx(1.51065e-2, rel=1e-5)
    del ih

    lva = build_cell(with_rule("uniform_range", "Ca_LVAst"))
    values = _segment_values(lva, lva.section_indices("ApicalDendrite"), "pas", "g")
    hot = [key for key, v in values.items() if v == 0.104]
    assert len(hot) == 39
    assert {i for i, _ in hot} == HOT_SECTIONS
    assert set(values.values()) == {0.104, 0.104 * 0.01}
    del lva
    gc.collect()


def test_86_with_l5pt_mechanisms(spec86):
    missing = [str(p) for p in (L5PT_MOD / f"{n}.mod" for n in L5PT_NAMES) if not p.exists()]
    if not MECHANISMS_PY.exists():
        missing.insert(0, str(MECHANISMS_PY))
    if missing:
        pytest.skip(f"L5PT mechanisms not available yet: missing {', '.join(missing)}")
    cell = build_cell(dataclasses.replace(spec86, mechanism_dirs=(str(L5PT_MOD),)))
    _check_geometry(cell, spec86)

    apical = cell.section_indices("ApicalDendrite")
    ih = _segment_values(cell, apical, "Ih", "gIhbar")
    assert min(ih.values()) == pytest.approx(2.50287e-4, rel=1e-5)
    assert max(ih.values()) == pytest.approx(1.51065e-2, rel=1e-5)
    lva = _segment_values(cell, apical, "Ca_LVAst", "gCa_LVAstbar")
    hva = _segment_values(cell, apical, "Ca_HVA", "gCa_HVAbar")
    hot = sorted(key for key, v in lva.items() if v == 0.104)
    assert len(hot) == 39 and {i for i, _ in hot} == HOT_SECTIONS
    assert sorted(key for key, v in hva.items() if v == 4.52e-3) == hot
    assert all(v == pytest.approx(1.04e-3) for key, v in lva.items() if key not in hot)

    for label in ("Soma", "ApicalDendrite", "AIS"):
        i = cell.section_indices(label)[0]
        assert cell.sections[i](0.5).ek == -85.0 and cell.sections[i](0.5).ena == 50.0
    assert cell.density(0, 0.5, "K_Pst", "gK_Pstbar") == 0.0
    assert cell.density(0, 0.5, "NaTa_t", "gNaTa_tbar") == 2.43
