"""Tests of pspsweep.io.isf_axon: ISF's synthetic hillock/AIS/myelin (isf-reference 1.4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pspsweep.cellmodel import SectionSpec
from pspsweep.errors import PspSweepError
from pspsweep.io.isf_axon import synthetic_axon
from pspsweep.io.isf_hoc import read_hoc, section_length


def small_cell() -> tuple[SectionSpec, ...]:
    dend = SectionSpec("dend_1", "Dendrite", 1, 0.5, np.array([[0, 0, 0, 1.0], [0, 5, 0, 1.0]]))
    soma_pts = np.array([[0, 0, 0, 4.0], [1, 2, 3, 8.0], [2, 4, 6, 6.0]])
    soma = SectionSpec("soma", "Soma", None, 0.0, soma_pts)
    return (dend, soma)


def check_axon(axon: tuple[SectionSpec, ...], n_before: int, soma_index: int, start: np.ndarray) -> None:
    hill, ais, myelin = axon
    assert [s.name for s in axon] == ["axon_0", "axon_0_0", "axon_0_0_0"]
    assert [s.label for s in axon] == ["AIS", "AIS", "Myelin"]
    assert [s.nseg for s in axon] == [5, 7, 21]
    assert [s.parent for s in axon] == [soma_index, n_before, n_before + 1]
    assert [s.parent_x for s in axon] == [0.5, 1.0, 1.0]
    assert [len(s.points) for s in axon] == [5, 7, 21]
    np.testing.assert_allclose([section_length(s.points) for s in axon], [20.0, 30.0, 1000.0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(hill.points[:, 3], [3.0, 2.6875, 2.375, 2.0625, 1.75])
    np.testing.assert_allclose(ais.points[:, 3], [1.75, 1.625, 1.5, 1.375, 1.25, 1.125, 1.0])
    np.testing.assert_allclose(myelin.points[:, 3], np.ones(21))
    np.testing.assert_allclose(hill.points[0, :3], start)
    # straight along -z, contiguous, with the stated spacing
    for sec, spacing in zip(axon, (5.0, 5.0, 50.0)):
        np.testing.assert_allclose(sec.points[:, :2], np.broadcast_to(start[:2], (len(sec.points), 2)))
        np.testing.assert_allclose(np.diff(sec.points[:, 2]), -spacing)
    np.testing.assert_allclose(ais.points[0, :3], hill.points[-1, :3])
    np.testing.assert_allclose(myelin.points[0, :3], ais.points[-1, :3])


def test_synthetic_axon_geometry() -> None:
    """isf_axon: start at c - r*z_hat of soma point n//2; lengths 20/30/1000; tapers; parents."""
    cell = small_cell()
    axon = synthetic_axon(cell)
    check_axon(axon, n_before=2, soma_index=1, start=np.array([1.0, 2.0, 3.0 - 4.0]))


def test_synthetic_axon_needs_soma() -> None:
    """isf_axon: without a Soma section there is nothing to attach to."""
    with pytest.raises(PspSweepError, match="Soma"):
        synthetic_axon(small_cell()[:1])


@pytest.mark.realdata
def test_86_synthetic_axon(isf86: Path) -> None:
    """isf_axon: for 86_C2_center the axon gets indices 167-169 below soma point 22."""
    sections = read_hoc(isf86 / "86_C2_center.hoc")
    axon = synthetic_axon(sections)
    c = sections[0].points[22]
    check_axon(axon, n_before=167, soma_index=0, start=np.array([c[0], c[1], c[2] - c[3] / 2]))
    assert c[3] == pytest.approx(15.0778, abs=1e-4)
    # hillock segment diameters as NEURON computes them for a linear taper (1.4)
    d = axon[0].points[:, 3]
    mids = [(d[0] + d[-1]) / 2 + (d[-1] - d[0]) * ((k + 0.5) / 5 - 0.5) for k in range(5)]
    np.testing.assert_allclose(mids, [2.875, 2.625, 2.375, 2.125, 1.875])
