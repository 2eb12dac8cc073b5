"""Plots of the protocols: the mean response per cell type of a train (report.pulses) and
the labels of a clamp current (report.plotting.Measure)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from pspsweep.features import AnalysisOptions
from pspsweep.report.plotting import PSP, Measure, threshold_label
from pspsweep.report.pulses import mean_responses, pulse_overview


def test_mean_responses_weigh_each_simulation_by_the_units_taking_its_result():
    t = np.array([0.0, 100.0])
    baseline = (t, np.array([-70.0, -70.0]))
    traces = [(0, t, np.array([-69.0, -69.0])), (1, t, np.array([-67.0, -67.0])), (2, t, np.array([-70.5, -70.5]))]
    # simulation 0 stands for two A units, simulation 1 for one A and one B unit; 2 is no one's
    weights = {0: {"A": 2}, 1: {"A": 1, "B": 1}}
    means = mean_responses(traces, weights, baseline, (10.0, 20.0))
    assert means.counts == {"A": 3, "B": 1}
    assert means.means["A"] == pytest.approx(np.full(means.t.size, (2 * 1.0 + 3.0) / 3))
    assert means.means["B"] == pytest.approx(np.full(means.t.size, 3.0))
    assert means.t[0] == 10.0 and means.t[-1] == pytest.approx(20.0)


def test_pulse_overview_draws_a_panel_per_pulse(tmp_path):
    t = np.arange(100.0, 200.0, 0.025)
    spikes = [110.0, 130.0, 150.0]
    response = sum(np.clip(t - s, 0, None) * np.exp(-np.clip(t - s, 0, None)) * (i + 1) for i, s in enumerate(spikes))
    means = mean_responses([(0, t, -response)], {0: {"L4ss_C2": 5}}, (t, np.zeros(t.size)), (105.0, 200.0))
    measure = Measure.of(AnalysisOptions(signal="current"))
    path = pulse_overview(means, tmp_path / "pulses.png", spikes, 200.0, "L4ss_C2", measure)
    image = imread(path)
    width_one = pulse_overview(means, tmp_path / "one.png", spikes[:1], 200.0, "L4ss_C2", measure)
    assert image.shape[1] > 2 * imread(width_one).shape[1] * 0.9  # three panels side by side


def test_the_measure_of_a_clamp_current_says_nA_and_inward_negative():
    psc = Measure.of(AnalysisOptions(signal="current"))
    assert (psc.column, psc.unit, psc.response) == ("psc_nA", "nA", "PSC")
    assert "inward negative" in psc.label and "inward negative" in psc.trace
    assert Measure.of(AnalysisOptions()) == PSP and PSP.label == "PSP amplitude (mV)"
    assert threshold_label(0.002, "pspsweep", "nA") == "threshold |a| ≥ 0.002 nA"
