"""pspsweep.geometry: lengths, path distances and positions on a hand-made tree and the demo cell.

The hand-made cell (um; S = soma centre, the origin):

    index label     parent   points                                  L
    0     Soma      -        (0,-5,0) (0,0,0) (0,0,0) (0,5,0)        10  (a repeated point)
    1     Dendrite  0 @ 0.5  (0,0,0) (30,0,0) (30,40,0)              70
    2     Dendrite  1 @ 1    (30,40,0) (30,40,20)                    20
    3     Dendrite  1 @ 0.5  (30,5,0) (40,5,0)                       10  (mid-section branch)
    4     Axon      0 @ 0    (0,-5,0) (0,-25,0)                      20

Path distances from soma(0.5): soma(x) = |x - 0.5| * 10, dend1(x) = 70 x,
dend2(x) = 70 + 20 x, dend3(x) = 35 + 10 x, axon(x) = 5 + 20 x.
"""

from __future__ import annotations

import numpy as np
import pytest

from pspsweep import geometry
from pspsweep.cellmodel import CellSpec, SectionSpec


def _pts(*xyz, diam=1.0):
    return np.array([[*p, diam] for p in xyz], dtype=float)


@pytest.fixture
def toy() -> CellSpec:
    sections = (
        SectionSpec("soma", "Soma", None, 0.5, _pts((0, -5, 0), (0, 0, 0), (0, 0, 0), (0, 5, 0), diam=10)),
        SectionSpec("dend_1", "Dendrite", 0, 0.5, _pts((0, 0, 0), (30, 0, 0), (30, 40, 0))),
        SectionSpec("dend_1_0", "Dendrite", 1, 1.0, _pts((30, 40, 0), (30, 40, 20))),
        SectionSpec("dend_1_1", "Dendrite", 1, 0.5, _pts((30, 5, 0), (40, 5, 0))),
        SectionSpec("axon", "Axon", 0, 0.0, _pts((0, -5, 0), (0, -25, 0))),
    )
    return CellSpec(name="toy", sections=sections, biophysics=())


def test_section_lengths(toy):
    np.testing.assert_allclose(geometry.section_lengths(toy), [10, 70, 20, 10, 20])
    # a bare sequence of sections works too
    np.testing.assert_allclose(geometry.section_lengths(toy.sections), [10, 70, 20, 10, 20])


@pytest.mark.parametrize(
    "section, x, expected",
    [
        (0, 0.5, 0.0),
        (0, 0.0, 5.0),
        (0, 1.0, 5.0),
        (0, 0.3, 2.0),
        (1, 0.0, 0.0),
        (1, 0.5, 35.0),
        (1, 1.0, 70.0),
        (2, 0.0, 70.0),
        (2, 0.5, 80.0),
        (2, 1.0, 90.0),
        (3, 0.0, 35.0),
        (3, 1.0, 45.0),
        (4, 0.0, 5.0),
        (4, 0.5, 15.0),
        (4, 1.0, 25.0),
    ],
)
def test_path_distance_by_hand(toy, section, x, expected):
    assert geometry.path_distance(toy, section, x) == pytest.approx(expected, abs=1e-12)


def test_path_distances_vectorised(toy):
    secs = [0, 1, 2, 3, 4, 2]
    xs = [0.3, 0.5, 0.5, 1.0, 0.5, 0.0]
    np.testing.assert_allclose(geometry.path_distances(toy, secs, xs), [2, 35, 80, 45, 15, 70])
    assert geometry.path_distances(toy, [], []).shape == (0,)


def test_path_distance_when_soma_is_not_the_root():
    # the root is an axon; the soma hangs at its 1-end; a dendrite at the soma's 1-end
    sections = (
        SectionSpec("axon", "Axon", None, 0.5, _pts((0, -30, 0), (0, -10, 0))),
        SectionSpec("soma", "Soma", 0, 1.0, _pts((0, -10, 0), (0, 10, 0))),
        SectionSpec("dend", "Dendrite", 1, 1.0, _pts((0, 10, 0), (0, 60, 0))),
    )
    np.testing.assert_allclose(
        geometry.path_distances(sections, [0, 0, 1, 1, 2], [0.0, 1.0, 0.5, 0.0, 0.4]),
        [30.0, 10.0, 0.0, 10.0, 30.0],
    )


def test_path_distance_errors(toy):
    with pytest.raises(ValueError, match="outside"):
        geometry.path_distance(toy, 1, 1.5)
    with pytest.raises(IndexError):
        geometry.path_distance(toy, 9, 0.5)
    with pytest.raises(ValueError, match="differ"):
        geometry.path_distances(toy, [1, 2], [0.5])
    detached = (*toy.sections, SectionSpec("stray", "Dendrite", None, 0.5, _pts((0, 0, 0), (1, 0, 0))))
    with pytest.raises(ValueError, match="different trees"):
        geometry.path_distance(detached, 5, 0.5)


@pytest.mark.parametrize(
    "section, x, expected",
    [
        (0, 0.0, (0, -5, 0)),
        (0, 0.25, (0, -2.5, 0)),
        (0, 0.5, (0, 0, 0)),
        (0, 0.75, (0, 2.5, 0)),
        (0, 1.0, (0, 5, 0)),
        (1, 0.0, (0, 0, 0)),
        (1, 3 / 14, (15, 0, 0)),
        (1, 0.5, (30, 5, 0)),
        (1, 1.0, (30, 40, 0)),
        (2, 0.25, (30, 40, 5)),
        (4, 0.5, (0, -15, 0)),
    ],
)
def test_point_at_by_hand(toy, section, x, expected):
    np.testing.assert_allclose(geometry.point_at(toy, section, x), expected, atol=1e-12)
    assert geometry.point_at(toy, section, x).shape == (3,)


def test_point_at_zero_length_intervals():
    sections = (
        SectionSpec("soma", "Soma", None, 0.5, _pts((1, 2, 3), (1, 2, 3), (1, 2, 3))),
        SectionSpec("d", "Dendrite", 0, 0.5, _pts((0, 0, 0), (10, 0, 0), (10, 0, 0))),
        SectionSpec("single", "Dendrite", 0, 0.5, _pts((7, 7, 7))),
    )
    for x in (0.0, 0.5, 1.0):
        np.testing.assert_allclose(geometry.point_at(sections, 0, x), (1, 2, 3))
        np.testing.assert_allclose(geometry.point_at(sections, 2, x), (7, 7, 7))
    np.testing.assert_allclose(geometry.point_at(sections, 1, 1.0), (10, 0, 0))
    np.testing.assert_allclose(geometry.point_at(sections, 1, 0.5), (5, 0, 0))
    assert np.all(np.isfinite(geometry.section_lengths(sections)))
    np.testing.assert_allclose(geometry.path_distances(sections, [0, 1, 2], [1.0, 1.0, 0.5]), [0, 10, 0])


def test_parse_locations_and_unit_mean_distances(toy):
    s, x = geometry.parse_locations("1;2; 3", "0.5;0.5;1.0")
    assert s.tolist() == [1, 2, 3] and x.tolist() == [0.5, 0.5, 1.0]
    s, x = geometry.parse_locations(4, 0.5)  # one synapse, read by pandas as numbers
    assert s.tolist() == [4] and x.tolist() == [0.5]
    s, x = geometry.parse_locations(np.nan, np.nan)
    assert s.size == 0 and x.size == 0
    with pytest.raises(ValueError):
        geometry.parse_locations("1;2", "0.5")
    d = geometry.unit_mean_distances(toy, ["1;2;3", 4, ""], ["0.5;0.5;1.0", 0.5, ""])
    np.testing.assert_allclose(d[:2], [(35 + 80 + 45) / 3, 15])
    assert np.isnan(d[2])


def _demo_spec() -> CellSpec:
    from pspsweep.config import DemoMorphologyConfig
    from pspsweep.demo import demo_sections

    return CellSpec(name="g", sections=demo_sections(DemoMorphologyConfig()), biophysics=())


@pytest.mark.parametrize("which", ["demo", "toy"])
def test_path_distance_matches_neuron(which, toy):
    """NEURON's h.distance(soma(0.5), sec(x)) at every segment centre and section end."""
    pytest.importorskip("neuron")
    from pspsweep.simulation.cell import build_cell

    spec = _demo_spec() if which == "demo" else toy
    cell = build_cell(spec, load=False)
    secs, xs = [], []
    for i, nseg in enumerate(cell.nseg_per_section()):
        for k in range(nseg):
            secs.append(i)
            xs.append((k + 0.5) / nseg)
        secs += [i, i]  # the section ends too
        xs += [0.0, 1.0]
    ours = geometry.path_distances(spec, secs, xs)
    theirs = np.array([cell.segment_path_distance(s, x) for s, x in zip(secs, xs)])
    assert len(secs) > 2 * len(spec.sections)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-3)
    # lengths agree with NEURON's L as well
    np.testing.assert_allclose(geometry.section_lengths(spec), [sec.L for sec in cell.sections], atol=1e-3)
