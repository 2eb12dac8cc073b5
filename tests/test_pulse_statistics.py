"""Tables, statistics and metrics of trains and clamp currents (pspsweep.statistics).

Expected values are written out by hand from the units' amplitudes (numpy's mean and
median of a few numbers), not taken from the code under test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pspsweep import execution
from pspsweep.features import AnalysisOptions
from pspsweep.statistics import feature_columns, statistics_metrics, summary_statistics
from pspsweep.units import Unit
from pspsweep.validation import check_metric_name

TRAIN = AnalysisOptions(pulses=(0.0, 20.0, 40.0))
VCLAMP = AnalysisOptions(signal="current", threshold_nA=0.002)

# three units of A and two of B; pulse amplitudes (mV) with depression and one silent unit
AMPS = np.array([[0.4, 0.2, 0.1], [0.2, 0.3, 0.1], [0.0, 0.05, 0.2], [1.0, 0.5, 0.25], [0.5, 0.25, 0.125]])
PEAKS = np.array([[2.0, 2.5, 3.0]] * 5)


def unit_table(options: AnalysisOptions, amplitudes: np.ndarray, peaks: np.ndarray) -> pd.DataFrame:
    base = pd.DataFrame({"celltype": ["A", "A", "A", "B", "B"], "gAMPA": 1.0, "gNMDA": 1.0, "gGABA": np.nan, "g": 1.0})
    for name, values in feature_columns(options, amplitudes, peaks).items():
        base[name] = values
    return base


def test_a_train_gives_a_column_pair_per_pulse_and_the_paired_pulse_ratio():
    columns = feature_columns(TRAIN, AMPS, PEAKS)
    assert list(columns) == [
        *("amplitude_mV", "t_peak_ms", "amplitude_mV_p2", "t_peak_ms_p2"),
        *("amplitude_mV_p3", "t_peak_ms_p3", "ppr"),
    ]
    assert columns["ppr"][[0, 1, 3]] == pytest.approx([0.5, 1.5, 0.5])
    assert np.isnan(columns["ppr"][2])  # A1 = 0: no ratio


def test_one_pulse_keeps_the_two_columns_of_before():
    columns = feature_columns(AnalysisOptions(), AMPS[:, 0], PEAKS[:, 0])
    assert list(columns) == ["amplitude_mV", "t_peak_ms"]
    assert list(feature_columns(VCLAMP, -AMPS[:, 0] / 100, PEAKS[:, 0])) == ["psc_nA", "t_peak_ms"]


def test_statistics_of_a_train_have_a_row_per_pulse():
    stats = summary_statistics(unit_table(TRAIN, AMPS, PEAKS), TRAIN)
    assert list(stats.columns[:5]) == ["celltype", "gAMPA", "gNMDA", "gGABA", "pulse"]
    assert list(zip(stats["celltype"], stats["pulse"])) == [("A", 1), ("A", 2), ("A", 3), ("B", 1), ("B", 2), ("B", 3)]
    a = stats.set_index(["celltype", "pulse"])
    # threshold 0.1 mV: unit 3 of A does not respond to pulse 1 (0.0) nor pulse 2 (0.05)
    assert a.loc[("A", 1), "n_responding"] == 2 and a.loc[("A", 1), "amp_mean"] == pytest.approx(0.3)
    assert a.loc[("A", 2), "amp_mean"] == pytest.approx(0.25)
    assert a.loc[("A", 3), "n_responding"] == 3 and a.loc[("A", 3), "amp_median"] == pytest.approx(0.1)
    assert a.loc[("B", 3), "amp_max"] == pytest.approx(0.25) and a.loc[("B", 2), "t_mean"] == pytest.approx(2.5)


def test_metrics_of_a_train_name_each_pulse_and_are_valid_mlflow_names():
    table = unit_table(TRAIN, AMPS, PEAKS)
    stats = summary_statistics(table, TRAIN)
    groups = summary_statistics(table.assign(group=table["celltype"]), TRAIN, by=("group", "gAMPA", "gNMDA", "gGABA"))
    metrics = statistics_metrics(table, stats, groups, TRAIN, {"A": True, "B": True})
    assert metrics["amp_mean"] == pytest.approx(np.mean([0.4, 0.2, 1.0, 0.5]))
    assert metrics["amp_mean_p2"] == pytest.approx(np.mean([0.2, 0.3, 0.5, 0.25]))
    assert metrics["amp_max_p3.B"] == pytest.approx(0.25)
    assert metrics["amp_mean_p3.group.A"] == pytest.approx(np.mean([0.1, 0.1, 0.2]))
    assert metrics["n_responding_p2.excitatory"] == 4
    # paired-pulse ratio of the units responding to pulse 1: 0.5, 1.5, 0.5, 0.5
    assert metrics["ppr_mean"] == pytest.approx(0.75) and metrics["ppr_median"] == pytest.approx(0.5)
    for name in metrics:
        check_metric_name(name, "metric")


def test_pscs_are_counted_against_the_threshold_in_nA_and_named_psc():
    pscs = np.array([-0.05, -0.001, -0.03, 0.0, -0.2])  # nA; the second is below 2 pA
    table = unit_table(VCLAMP, pscs, np.full(5, 1.5))
    stats = summary_statistics(table, VCLAMP).set_index("celltype")
    assert list(stats.columns[5:10]) == ["psc_mean", "psc_std", "psc_median", "psc_min", "psc_max"]
    assert stats.loc["A", "n_responding"] == 2 and stats.loc["A", "psc_mean"] == pytest.approx(-0.04)
    metrics = statistics_metrics(
        table, stats.reset_index(), stats.reset_index().rename(columns={"celltype": "group"}), VCLAMP
    )
    assert metrics["psc_min"] == pytest.approx(-0.2) and "amp_mean" not in metrics
    assert metrics["psc_mean.B"] == pytest.approx(-0.2)


def test_chunks_carry_one_column_per_pulse_into_unit_order(tmp_path):
    units = [Unit(i, "A", 100 + i, (i,), (0,), (0.5,)) for i in range(5)]
    chunks = execution.plan_chunks(units, 1, 2)
    store = execution.ChunkStore(tmp_path / "chunks")
    for c in chunks:
        keys = c.result_keys()
        store.write(
            execution.ChunkResult(
                c.index,
                keys,
                [np.zeros(2)] * len(keys),
                [np.zeros(2)] * len(keys),
                AMPS[keys],
                PEAKS[keys] + keys[:, None],
                0.0,
                "w",
            )
        )
    amplitudes, t_peaks = execution.collect_features(store, chunks)
    assert np.array_equal(amplitudes, AMPS) and np.array_equal(t_peaks, PEAKS + np.arange(5)[:, None])
