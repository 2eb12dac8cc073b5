"""pspsweep.simulation.cell: CellSpec -> NEURON cell, checked against hand-computed values.

The toy cell (lengths in um; all children of the soma hang at soma(0.5)):

    index label           parent   L    diam (points)     nseg (Ra 100; cm per label)
    0     Soma            -        20   20                1
    1     Dendrite        0 @ 0.5  100  2                 5   (cm 2)
    2     Dendrite        1 @ 1    50   2                 3
    3     Dendrite        1 @ 1    80   2                 3
    4     ApicalDendrite  0 @ 0.5  200  6, 3, 1           5   (mid point: 3)
    5     ApicalDendrite  4 @ 1    300  3                 7
    6     ApicalDendrite  4 @ 1    150  3 (runs along x)  3
    7     Dendrite        0 @ 0.5  60   2                 4   (fixed in the spec)
    8     Axon            0 @ 0.5  100  1                 3   (no biophysics: Ra 35.4, cm 1)

maxDist: Soma 20, Dendrite 180 (sections 1 + 3), ApicalDendrite 500 (sections 4 + 5).
"""

from __future__ import annotations

import gc
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from pspsweep.cellmodel import (
    CellSpec,
    DiameterScaling,
    Discretization,
    LabelBiophysics,
    MechanismSpec,
    SectionSpec,
    SimSettings,
)
from pspsweep.errors import PspSweepError

neuron = pytest.importorskip("neuron")
from neuron import h  # noqa: E402

from pspsweep.simulation.cell import NeuronCell, build_cell, isf_dlambda_nseg  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
L5PT_MOD = REPO / "src" / "pspsweep" / "simulation" / "mod" / "l5pt"
MECHANISMS_PY = REPO / "src" / "pspsweep" / "simulation" / "mechanisms.py"

SOMA_L = 20.0
# expected nseg by hand (see module docstring)
EXPECTED_NSEG = [1, 5, 3, 3, 5, 7, 3, 4, 3]


def _line(start, end, diams):
    """Points evenly spaced from start to end with the given diameters."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    n = len(diams)
    xyz = [start + (end - start) * k / (n - 1) for k in range(n)]
    return np.array([[*p, d] for p, d in zip(xyz, diams)])


def toy_sections() -> tuple[SectionSpec, ...]:
    return (
        SectionSpec("soma", "Soma", None, 0.0, _line((-10, 0, 0), (10, 0, 0), [20, 20, 20])),
        SectionSpec("dend_1", "Dendrite", 0, 0.5, _line((0, 10, 0), (0, 110, 0), [2, 2])),
        SectionSpec("dend_1_0", "Dendrite", 1, 1.0, _line((0, 110, 0), (0, 160, 0), [2, 2])),
        SectionSpec("dend_1_1", "Dendrite", 1, 1.0, _line((0, 110, 0), (80, 110, 0), [2, 2])),
        SectionSpec("apical", "ApicalDendrite", 0, 0.5, _line((0, 0, 0), (0, 0, 200), [6, 3, 1])),
        SectionSpec("apical_0", "ApicalDendrite", 4, 1.0, _line((0, 0, 200), (0, 0, 500), [3, 3])),
        SectionSpec("apical_1", "ApicalDendrite", 4, 1.0, _line((0, 0, 200), (150, 0, 200), [3, 3, 3])),
        SectionSpec("dend_2", "Dendrite", 0, 0.5, _line((0, -10, 0), (0, -70, 0), [2, 2]), nseg=4),
        SectionSpec("axon", "Axon", 0, 0.5, _line((0, 0, 0), (0, 0, -100), [1, 1])),
    )


def toy_spec(
    mechs: dict[str, tuple[MechanismSpec, ...]] | None = None,
    ions: dict[str, dict[str, float]] | None = None,
    **kwargs,
) -> CellSpec:
    mechs = mechs or {}
    ions = ions or {}
    cms = {"Soma": 1.0, "Dendrite": 2.0, "ApicalDendrite": 1.0}
    bio = tuple(
        LabelBiophysics(
            label,
            Ra=100.0,
            cm=cm,
            ions=ions.get(label, {}),
            mechanisms=mechs.get(label, (MechanismSpec("pas", {"g": 1e-4, "e": -70.0}),)),
        )
        for label, cm in cms.items()
    )
    kwargs.setdefault("name", "toy")
    return CellSpec(sections=toy_sections(), biophysics=bio, **kwargs)


@pytest.fixture(scope="module")
def toy() -> NeuronCell:
    cell = build_cell(toy_spec())
    yield cell
    del cell
    gc.collect()


def centres(nseg: int) -> np.ndarray:
    return (np.arange(nseg) + 0.5) / nseg


def densities(cell: NeuronCell, i: int, mech: str, param: str) -> np.ndarray:
    return np.array([cell.density(i, x, mech, param) for x in centres(cell.nseg_per_section()[i])])


# ---------------------------------------------------------------- nseg


def test_isf_dlambda_nseg_formula():
    # lambda_100 for d = 2, Ra = 100, cm = 1: 1e5*sqrt(2/(4*pi*100*100)) = 398.94 um
    assert isf_dlambda_nseg(100.0, 2.0, 100.0, 1.0) == 3  # 100/39.894 = 2.51 -> 2*floor(1.50)+1
    assert isf_dlambda_nseg(500.0, 2.0, 100.0, 1.0) == 13  # 12.53 -> 2*floor(6.52)+1
    # ISF rounds with +0.5 (NEURON's recipe uses +0.9): 2*39.894*1.29 = 103 um gives 3, not 5
    assert isf_dlambda_nseg(103.0, 2.0, 100.0, 1.0) == 3
    # max_seg_length: L/nseg = 33.3 > 10 -> ceil(100/10) = 10, even allowed
    assert isf_dlambda_nseg(100.0, 2.0, 100.0, 1.0, max_seg_length=10.0) == 10
    assert isf_dlambda_nseg(100.0, 2.0, 100.0, 1.0, max_seg_length=50.0) == 3
    with pytest.raises(PspSweepError, match="positive"):
        isf_dlambda_nseg(100.0, 0.0, 100.0, 1.0)


def test_nseg_on_known_geometry(toy):
    assert toy.nseg_per_section() == EXPECTED_NSEG
    assert toy.nseg_by_label() == {"Soma": 1, "Dendrite": 5 + 3 + 3 + 4, "ApicalDendrite": 5 + 7 + 3, "Axon": 3}
    # a label without biophysics keeps NEURON's defaults
    assert toy.sections[8].Ra == pytest.approx(35.4)
    assert toy.sections[8](0.5).cm == pytest.approx(1.0)
    assert toy.sections[1](0.5).cm == pytest.approx(2.0)
    assert [s.L for s in toy.sections] == pytest.approx([20, 100, 50, 80, 200, 300, 150, 60, 100])


def test_nseg_max_seg_length_and_fixed_rule():
    cell = build_cell(toy_spec(discretization=Discretization(max_seg_length=30.0)))
    # 5: 200/5 = 40 > 30 -> 7; 7: 300/7 = 42.9 -> 10; 1: 100/5 = 20 ok; 7 fixed stays 4
    assert cell.nseg_per_section() == [1, 5, 3, 3, 7, 10, 5, 4, 4]
    cell = build_cell(toy_spec(discretization=Discretization(rule="fixed", nseg=2)))
    assert cell.nseg_per_section() == [2, 2, 2, 2, 2, 2, 2, 4, 2]
    with pytest.raises(PspSweepError, match="discretization rule 'lambda'"):
        build_cell(toy_spec(discretization=Discretization(rule="lambda")))


# ---------------------------------------------------------------- topology, geometry


def test_children_attach_where_the_spec_says(toy):
    for i in (1, 4, 7, 8):
        parent = toy.sections[i].parentseg()
        assert parent.sec == toy.soma and parent.x == 0.5
    assert toy.sections[2].parentseg().x == 1.0
    assert h.distance(toy.soma(0), toy.sections[1](0)) == pytest.approx(SOMA_L / 2)
    assert toy.segment_path_distance(1, 0.0) == pytest.approx(0.0)
    assert toy.segment_path_distance(3, 1.0) == pytest.approx(180.0)
    assert toy.segment_path_distance(0, 0.0) == pytest.approx(10.0)


def test_sections_are_python_named_and_coexist():
    before = sum(1 for _ in h.allsec())
    a = build_cell(toy_spec(name="a"))
    b = build_cell(toy_spec(name="a"))
    names_a = {s.name() for s in a.sections}
    names_b = {s.name() for s in b.sections}
    assert len(names_a) == 9 and not names_a & names_b
    assert sum(1 for _ in h.allsec()) == before + 18
    del a, b
    gc.collect()
    assert sum(1 for _ in h.allsec()) == before


def test_areas_and_max_dist(toy):
    areas = toy.area_by_label()
    assert list(areas) == ["Soma", "Dendrite", "ApicalDendrite", "Axon"]
    assert areas["Soma"] == pytest.approx(math.pi * 20 * 20, rel=1e-6)
    assert areas["Dendrite"] == pytest.approx(math.pi * 2 * (100 + 50 + 80 + 60), rel=1e-6)
    assert toy.total_area() == pytest.approx(sum(areas.values()), rel=1e-12)
    assert toy.max_dist("Soma") == pytest.approx(20.0)
    assert toy.max_dist("Dendrite") == pytest.approx(180.0)
    assert toy.max_dist("ApicalDendrite") == pytest.approx(500.0)


def test_segment_index_and_clamped_x(toy):
    # section 1 has nseg 5
    assert toy.clamped_x(1, 0.0) == pytest.approx(0.1)
    assert toy.clamped_x(1, 1.0) == pytest.approx(0.9)
    assert toy.clamped_x(1, 0.37) == 0.37
    assert toy.segment_index(1, 0.0) == 0
    assert toy.segment_index(1, 1.0) == 4
    assert toy.segment_index(1, 0.2) == 1  # floor(5*0.2) = 1: boundaries go to the right
    assert toy.segment_index(1, 0.1999) == 0
    assert toy.segment_index(1, 0.9999) == 4
    # soma nseg 1: everything is segment 0 at x = 0.5
    assert toy.clamped_x(0, 0.0) == 0.5 and toy.clamped_x(0, 1.0) == 0.5
    assert toy.segment_index(0, 0.99) == 0
    with pytest.raises(PspSweepError, match="outside"):
        toy.segment_index(1, 1.5)
    with pytest.raises(PspSweepError, match="out of range"):
        toy.clamped_x(99, 0.5)


# ---------------------------------------------------------------- distributions


def test_uniform_values(toy):
    assert np.all(densities(toy, 5, "pas", "g") == 1e-4)
    assert toy.density(0, 0.5, "pas", "e") == -70.0


def test_exponential_relative_uses_max_dist():
    exp = MechanismSpec(
        "pas",
        {"g": 2e-4, "e": -90.0},
        "exponential",
        {"distance": "relative", "offset": -0.8696, "linScale": 2.087, "_lambda": 3.6161, "xOffset": 0.0},
    )
    cell = build_cell(toy_spec({"ApicalDendrite": (exp,)}))
    for i, start, length in ((4, 0.0, 200.0), (5, 200.0, 300.0), (6, 200.0, 150.0)):
        d = (start + centres(cell.nseg_per_section()[i]) * length) / 500.0
        want = 2e-4 * (-0.8696 + 2.087 * np.exp(3.6161 * d))
        np.testing.assert_allclose(densities(cell, i, "pas", "g"), want, rtol=1e-12)
        # every non-control parameter is scaled, e too
        np.testing.assert_allclose(densities(cell, i, "pas", "e"), -90.0 / 2e-4 * want, rtol=1e-12)


def test_soma_label_distance_from_soma0():
    exp = MechanismSpec(
        "pas",
        {"g": 1e-4},
        "exponential",
        {"distance": "absolute", "offset": 0.0, "linScale": 1.0, "_lambda": 0.1, "xOffset": 0.0},
    )
    spec = toy_spec({"Soma": (exp,)})
    sections = list(spec.sections)
    sections[0] = SectionSpec("soma", "Soma", None, 0.0, sections[0].points, nseg=3)
    cell = build_cell(CellSpec("toy", tuple(sections), spec.biophysics))
    want = 1e-4 * np.exp(0.1 * centres(3) * SOMA_L)
    np.testing.assert_allclose(densities(cell, 0, "pas", "g"), want, rtol=1e-12)


def test_linear_and_linear_capped_use_soma0_distance():
    linear = MechanismSpec("pas", {"g": 1e-4}, "linear", {"distance": "absolute", "slope": -0.005, "offset": 0.3})
    capped = MechanismSpec(
        "hh",
        {},
        "linear_capped",
        {
            "distance": "relative",
            "param_name": "gkbar",
            "prox_value": 0.036,
            "dist_value": 0.001,
            "dist_value_distance": 0.6,
        },
    )
    cell = build_cell(toy_spec({"Dendrite": (linear, capped)}))
    # section 1: D_soma0 = 10 + 100 x; section 3: 110 + 80 x
    for i, start, length in ((1, 10.0, 100.0), (3, 110.0, 80.0)):
        d = start + centres(cell.nseg_per_section()[i]) * length
        want = np.maximum(1e-4 * (d * -0.005 + 1.0), 1e-4 * 0.3)
        np.testing.assert_allclose(densities(cell, i, "pas", "g"), want, rtol=1e-12)
        rel = d / 180.0
        want_k = np.where(rel >= 0.6, 0.001, 0.036 + (0.001 - 0.036) / 0.6 * rel)
        np.testing.assert_allclose(densities(cell, i, "hh", "gkbar"), want_k, rtol=1e-12)
        # linear_capped sets only param_name: the other hh parameters keep their defaults
        assert densities(cell, i, "hh", "gnabar") == pytest.approx(0.12)
    # the cap and the floor were both reached somewhere
    assert cell.density(3, 0.99, "hh", "gkbar") == 0.001
    assert cell.density(3, 0.99, "pas", "g") == pytest.approx(0.3e-4)


def test_capped_exponential_and_sigmoid():
    capped = MechanismSpec(
        "pas",
        {"g": 1e-4},
        "capped_exponential",
        {"distance": "absolute", "offset": 0.0, "linScale": 1.0, "_lambda": 0.005, "xOffset": 0.0, "max_g": 5e-4},
    )
    sigmoid = MechanismSpec(
        "hh",
        {"gnabar": 0.1},
        "sigmoid",
        {"distance": "relative", "offset": 0.2, "linScale": 0.8, "xOffset": 0.5, "width": 0.1},
    )
    cell = build_cell(toy_spec({"ApicalDendrite": (capped,), "Dendrite": (sigmoid,)}))
    d = 200.0 + centres(7) * 300.0
    want = np.minimum(1e-4 * np.exp(0.005 * d), 5e-4)
    np.testing.assert_allclose(densities(cell, 5, "pas", "g"), want, rtol=1e-12)
    assert (want == 5e-4).any() and (want < 5e-4).any()
    rel = (100.0 + centres(3) * 80.0) / 180.0
    want = 0.1 * (0.2 + 0.8 / (1.0 + np.exp((rel - 0.5) / 0.1)))
    np.testing.assert_allclose(densities(cell, 3, "hh", "gnabar"), want, rtol=1e-12)


def test_exponential_by_z_dist_uses_z_on_apical():
    zexp = MechanismSpec(
        "pas",
        {"g": 1e-4},
        "exponential_by_z_dist",
        {"distance": "absolute", "offset": 0.0, "linScale": 1.0, "_lambda": 2.0, "xOffset": 0.0},
    )
    cell = build_cell(toy_spec({"ApicalDendrite": (zexp,), "Dendrite": (zexp,)}))
    # section 6 runs horizontally at z = 200: constant z-distance although D grows
    np.testing.assert_allclose(densities(cell, 6, "pas", "g"), 1e-4 * np.exp(2.0 * 0.2), rtol=1e-12)
    z = 200.0 + centres(7) * 300.0
    want = 1e-4 * np.exp(2.0 * z / 1000)
    np.testing.assert_allclose(densities(cell, 5, "pas", "g"), want, rtol=1e-12)
    # other labels: path distance D_label, in mm for absolute distances
    d = 100.0 + centres(3) * 50.0
    want = 1e-4 * np.exp(2.0 * d / 1000)
    np.testing.assert_allclose(densities(cell, 2, "pas", "g"), want, rtol=1e-12)


def test_uniform_range_with_outsidescale_sections():
    rng = MechanismSpec(
        "pas",
        {"g": 1e-3},
        "uniform_range",
        {"begin": 250.0, "end": 400.0, "outsidescale": 0.1, "outsidescale_sections": [6]},
    )
    cell = build_cell(toy_spec({"ApicalDendrite": (rng,)}))
    d = 200.0 + centres(7) * 300.0  # 221.4, 264.3, ..., 478.6
    want = np.where((d >= 250) & (d <= 400), 1e-3, 1e-4)
    np.testing.assert_allclose(densities(cell, 5, "pas", "g"), want, rtol=1e-12)
    assert want.tolist().count(1e-3) == 4
    # section 6 lies at 225-325 um but is forced outside
    np.testing.assert_allclose(densities(cell, 6, "pas", "g"), 1e-4, rtol=1e-12)
    assert np.all(densities(cell, 4, "pas", "g") == pytest.approx(1e-4))


def test_uniform_range_bounds_are_inclusive():
    # section 4 (nseg 5, L 200): centres at 20, 60, 100, 140, 180 um
    rng = MechanismSpec("pas", {"g": 1.0}, "uniform_range", {"begin": 60.0, "end": 140.0, "outsidescale": 0.0})
    cell = build_cell(toy_spec({"ApicalDendrite": (rng,)}))
    assert densities(cell, 4, "pas", "g").tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


# ---------------------------------------------------------------- ions


def test_ions_set_section_wide_after_mechanisms():
    hh = (MechanismSpec("pas", {"g": 1e-4}), MechanismSpec("hh", {}))
    ions = {"Soma": {"ek": -85.0, "ena": 50.0}}
    cell = build_cell(toy_spec({"Soma": hh, "ApicalDendrite": hh}, ions=ions))
    assert cell.soma(0.5).ek == -85.0 and cell.soma(0.5).ena == 50.0
    assert cell.sections[4](0.5).ek == pytest.approx(-77.0)  # hh's default, untouched
    with pytest.raises(PspSweepError, match=r"label 'Dendrite'.*'ek'"):
        build_cell(toy_spec(ions={"Dendrite": {"ek": -85.0}}))  # pas only: no K ion


# ---------------------------------------------------------------- diameter scaling


def _scaled(cell: NeuronCell, original: NeuronCell) -> list[int]:
    return [
        i
        for i, (a, b) in enumerate(zip(cell.section_points(), original.section_points()))
        if not np.allclose(a[:, 3], b[:, 3])
    ]


def _section_area(cell: NeuronCell, i: int) -> float:
    return sum(seg.area() for seg in cell.sections[i])


def test_diameter_scaling_distance_and_count_limits(toy):
    # apical ends at soma(0) distance: 4 -> 210, 5 -> 510, 6 -> 360
    one = DiameterScaling(2.5, ("ApicalDendrite",), max_distance_um=400.0, max_sections=1)
    two = DiameterScaling(2.5, ("ApicalDendrite",), max_distance_um=400.0, max_sections=2)
    c1 = build_cell(toy_spec(diameter_scalings=(one,)))
    c2 = build_cell(toy_spec(diameter_scalings=(two,)))
    assert _scaled(c1, toy) == [4]
    assert _scaled(c2, toy) == [4, 6]  # 5 is beyond 400 um: skipped, not counted
    pts = c2.section_points()[4]
    np.testing.assert_allclose(pts[:, 3], [15.0, 7.5, 2.5], rtol=1e-6)
    np.testing.assert_array_equal(pts[:, :3], toy_sections()[4].points[:, :3])
    # nseg, densities unchanged; areas follow the new diameters
    assert c2.nseg_per_section() == toy.nseg_per_section()
    assert c2.density(4, 0.5, "pas", "g") == 1e-4
    # a cylinder's area scales with the diameter; section 5 is untouched
    assert _section_area(c2, 6) == pytest.approx(2.5 * _section_area(toy, 6), rel=1e-6)
    assert _section_area(c2, 5) == _section_area(toy, 5)


def test_diameter_scaling_break_stops_the_whole_walk(toy):
    # all labels within 100 um of soma(0): soma (ends at 20) and section 7 (ends at 70)
    limit = DiameterScaling(2.0, (), max_distance_um=100.0, max_sections=1)
    free = DiameterScaling(2.0, (), max_distance_um=100.0)
    assert _scaled(build_cell(toy_spec(diameter_scalings=(limit,))), toy) == [0]
    assert _scaled(build_cell(toy_spec(diameter_scalings=(free,))), toy) == [0, 7]
    everything = build_cell(toy_spec(diameter_scalings=(DiameterScaling(3.0),)))
    assert _scaled(everything, toy) == list(range(9))
    want = 3 * toy.area_by_label()["Dendrite"]
    assert everything.area_by_label()["Dendrite"] == pytest.approx(want, rel=1e-6)


def test_diameter_scalings_compose(toy):
    steps = (DiameterScaling(2.0, ("Axon",)), DiameterScaling(1.5, ("Axon",)))
    cell = build_cell(toy_spec(diameter_scalings=steps))
    np.testing.assert_allclose(cell.section_points()[8][:, 3], 3.0, rtol=1e-6)


# ---------------------------------------------------------------- errors


def test_unknown_mechanism_names_label_and_mechanism():
    msg = r"label 'Dendrite': mechanism 'NaTa_nope' does not exist"
    with pytest.raises(PspSweepError, match=msg):
        build_cell(toy_spec({"Dendrite": (MechanismSpec("NaTa_nope", {"gbar": 1.0}),)}))


def test_unknown_parameter_names_label_mechanism_and_parameter():
    msg = r"label 'Soma': mechanism 'pas' has no parameter 'gbar' \(NEURON name gbar_pas\)"
    with pytest.raises(PspSweepError, match=msg):
        build_cell(toy_spec({"Soma": (MechanismSpec("pas", {"gbar": 1.0}),)}))
    bad = MechanismSpec(
        "hh",
        {},
        "linear_capped",
        {"distance": "absolute", "param_name": "gfoo", "prox_value": 1, "dist_value": 2, "dist_value_distance": 3},
    )
    with pytest.raises(PspSweepError, match=r"mechanism 'hh' has no parameter 'gfoo'"):
        build_cell(toy_spec({"Dendrite": (bad,)}))


def test_bad_distribution_and_label_errors():
    with pytest.raises(PspSweepError, match=r"'pas' has unknown spatial rule 'cubic'"):
        build_cell(toy_spec({"Soma": (MechanismSpec("pas", {"g": 1.0}, "cubic"),)}))
    with pytest.raises(PspSweepError, match=r"lacks key 'width'"):
        build_cell(
            toy_spec(
                {
                    "Soma": (
                        MechanismSpec(
                            "pas",
                            {"g": 1.0},
                            "sigmoid",
                            {"distance": "relative", "offset": 0, "linScale": 1, "xOffset": 0},
                        ),
                    )
                }
            )
        )
    spec = toy_spec()
    extra = LabelBiophysics("Myelin", Ra=100.0)
    with pytest.raises(PspSweepError, match="label 'Myelin'"):
        build_cell(CellSpec("toy", spec.sections, spec.biophysics + (extra,)))


# ---------------------------------------------------------------- settings, mechanisms


def test_apply_sim_settings_sets_globals(toy):
    old = (h.dt, h.celsius)
    try:
        toy.apply_sim_settings(SimSettings(v_init=-80.0, dt=0.01, celsius=30.0))
        assert (h.dt, h.celsius, toy.v_init, h.v_init) == (0.01, 30.0, -80.0, -80.0)
        toy.apply_sim_settings()
        assert (h.dt, h.celsius, toy.v_init) == (0.025, 34.0, -75.0)
    finally:
        h.dt, h.celsius = old


def test_build_cell_loads_mechanism_dirs(monkeypatch):
    calls = []
    fake = types.ModuleType("pspsweep.simulation.mechanisms")
    fake.load_mechanisms = lambda dirs, cache_dir=None: calls.append(dirs) or Path("/x")
    monkeypatch.setitem(sys.modules, "pspsweep.simulation.mechanisms", fake)
    build_cell(toy_spec(mechanism_dirs=("/some/where",)))
    assert calls == [[Path("/some/where")]]
    build_cell(toy_spec(mechanism_dirs=("/some/where",)), load=False)
    build_cell(toy_spec())
    assert len(calls) == 1


@pytest.mark.skipif(
    not (MECHANISMS_PY.exists() and list(L5PT_MOD.glob("*.mod"))),
    reason=f"needs {MECHANISMS_PY} and the L5PT mod files in {L5PT_MOD}",
)
def test_l5pt_mechanisms_insert():
    mechs = (
        MechanismSpec("pas", {"g": 3.26e-5, "e": -90.0}),
        MechanismSpec("Ih", {"gIhbar": 8e-5}),
        MechanismSpec("NaTa_t", {"gNaTa_tbar": 2.43}),
        MechanismSpec("SKv3_1", {"gSKv3_1bar": 0.983}),
        MechanismSpec("CaDynamics_E2", {"decay": 770.0, "gamma": 6.16e-4}),
        MechanismSpec("Ca_HVA", {"gCa_HVAbar": 6.42e-4}),
    )
    spec = toy_spec({"Soma": mechs}, ions={"Soma": {"ek": -85.0, "ena": 50.0}}, mechanism_dirs=(str(L5PT_MOD),))
    cell = build_cell(spec)
    assert cell.density(0, 0.5, "NaTa_t", "gNaTa_tbar") == 2.43
    assert cell.density(0, 0.5, "CaDynamics_E2", "decay") == 770.0
    assert cell.soma(0.5).ek == -85.0 and cell.soma(0.5).ena == 50.0
