"""geometry.segment_counts / segment_of agree with the cell NEURON builds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pspsweep.builders import cell_spec_from_config
from pspsweep.config import DemoMorphologyConfig, NeuronConfig
from pspsweep.geometry import segment_counts, segment_of
from pspsweep.simulation.cell import build_cell


def passive_only(spec):
    """The same geometry, Ra and cm without density mechanisms (nseg depends on nothing else)."""
    bio = tuple(dataclasses.replace(b, mechanisms=(), ions={}) for b in spec.biophysics)
    return dataclasses.replace(spec, biophysics=bio, diameter_scalings=(), mechanism_dirs=())


def check(spec):
    cell = build_cell(passive_only(spec), load=False)
    assert segment_counts(spec) == cell.nseg_per_section()
    rng = np.random.default_rng(0)
    for section in range(len(spec.sections)):
        for x in [0.0, 1.0, *rng.uniform(0, 1, 20)]:
            assert segment_of(cell.nseg_per_section()[section], x) == cell.segment_index(section, x)


def test_demo_cell_segments():
    check(
        cell_spec_from_config(
            NeuronConfig(
                morphology=dataclasses.replace(
                    NeuronConfig().morphology, demo=DemoMorphologyConfig(n_basal=6, trunk_length=900.0)
                )
            )
        )
    )


@pytest.mark.realdata
def test_isf86_segments(isf86):
    spec = cell_spec_from_config(NeuronConfig(param_file=str(isf86 / "86_C2_center.param"), mechanism_dirs=["l5pt"]))
    assert sum(segment_counts(spec)) == 1142
    check(spec)
