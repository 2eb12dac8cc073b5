"""pspsweep.statistics: summary statistics, merging and group assignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pspsweep.celltypes import ISF_LEGACY_EXCITATORY, assign_groups, merge_groups
from pspsweep.errors import PspSweepError
from pspsweep.features import AnalysisOptions
from pspsweep.statistics import STATISTICS_COLUMNS, summary_statistics

PSPSWEEP = AnalysisOptions()
ISF = AnalysisOptions(convention="isf")


def unit_table(t_offset: float, column: str = "t_peak_ms") -> pd.DataFrame:
    """Three cell types at one excitatory conductance; the peak time (``column``) =
    latency + t_offset."""
    rows = [
        # celltype, amplitude_mV, latency_ms
        ("A", 0.5, 2.0),
        ("A", -0.3, 3.0),
        ("A", 0.05, 4.0),  # below threshold
        ("A", 0.2, 5.0),
        ("A", 0.1, 7.0),  # exactly at the threshold: responds
        ("A", np.nan, 6.0),  # no result: not a unit
        ("B", 0.01, 2.0),
        ("B", -0.02, 2.0),
        ("I", -0.4, 4.0),
        ("I", -0.6, 6.0),
    ]
    df = pd.DataFrame(rows, columns=["celltype", "amplitude_mV", "latency"])
    df[column] = df.pop("latency") + t_offset
    return df.assign(gAMPA=1.0, gNMDA=1.0, gGABA=np.nan)


def row(stats: pd.DataFrame, celltype: str) -> pd.Series:
    found = stats[stats["celltype"] == celltype]
    assert len(found) == 1, f"expected one row for {celltype}, got {len(found)}"
    return found.iloc[0]


def test_pspsweep_keeps_ipsps_and_empty_groups():
    stats = summary_statistics(unit_table(0.0), PSPSWEEP)
    assert list(stats.columns) == ["celltype", "gAMPA", "gNMDA", "gGABA", *STATISTICS_COLUMNS]
    assert list(stats["celltype"]) == ["A", "B", "I"]  # NaN gGABA keys are not dropped
    a = row(stats, "A")
    kept = np.array([0.5, -0.3, 0.2, 0.1])
    assert (a["n_units"], a["n_responding"]) == (5, 4)
    assert a["amp_mean"] == pytest.approx(np.mean(kept))
    assert a["amp_std"] == pytest.approx(np.std(kept))  # population std, ddof = 0
    assert a["amp_std"] != pytest.approx(np.std(kept, ddof=1))
    assert a["amp_median"] == pytest.approx(np.median(kept))
    assert (a["amp_min"], a["amp_max"]) == (-0.3, 0.5)
    t = np.array([2.0, 3.0, 5.0, 7.0])  # latencies, used as they are
    assert (a["t_mean"], a["t_std"], a["t_median"]) == pytest.approx((t.mean(), t.std(), 4.0))
    b = row(stats, "B")
    assert (b["n_units"], b["n_responding"]) == (2, 0)
    assert b[list(STATISTICS_COLUMNS[2:])].isna().all()
    i = row(stats, "I")
    assert i["amp_mean"] == pytest.approx(-0.5) and i["t_mean"] == pytest.approx(5.0)
    assert stats["n_units"].dtype == np.int64 and stats["n_responding"].dtype == np.int64


def test_isf_drops_negatives_and_empty_groups_and_keeps_absolute_times_named():
    """Under isf the unit table's t_peak_abs_ms (ISF's tMax) and the statistics share one
    reference, the simulation's start, and both names say so; ISF's own tMean would be
    t_mean_abs - 100 (its tPSPStart), not a latency from tStim = 110."""
    stats = summary_statistics(unit_table(110.0, "t_peak_abs_ms"), ISF)
    assert list(stats["celltype"]) == ["A"], "IPSP-only and sub-threshold groups are omitted"
    assert list(stats.columns[-3:]) == ["t_mean_abs", "t_std", "t_median_abs"]
    a = row(stats, "A")
    kept = np.array([0.5, 0.2, 0.1])
    assert (a["n_units"], a["n_responding"]) == (5, 3)
    assert (a["amp_mean"], a["amp_std"]) == pytest.approx((kept.mean(), kept.std()))
    t = np.array([2.0, 5.0, 7.0]) + 110.0
    assert (a["t_mean_abs"], a["t_std"], a["t_median_abs"]) == pytest.approx((t.mean(), t.std(), 115.0))
    with pytest.raises(PspSweepError, match="t_peak_abs_ms"):
        summary_statistics(unit_table(110.0), ISF)


def test_threshold_option_and_grouping_keys():
    df = unit_table(0.0)
    df = pd.concat([df, df.assign(gAMPA=2.0, gNMDA=2.0)], ignore_index=True)
    stats = summary_statistics(df, AnalysisOptions(threshold_mV=0.25), by=("celltype", "gAMPA"))
    assert list(stats.columns[:2]) == ["celltype", "gAMPA"]
    assert len(stats) == 6
    a = stats[(stats["celltype"] == "A") & (stats["gAMPA"] == 2.0)].iloc[0]
    assert (a["n_responding"], a["amp_mean"]) == (2, pytest.approx(0.1))


def test_empty_table_and_missing_columns():
    empty = unit_table(0.0).iloc[:0]
    stats = summary_statistics(empty, PSPSWEEP)
    assert stats.empty
    assert list(stats.columns)[-len(STATISTICS_COLUMNS) :] == list(STATISTICS_COLUMNS)
    with pytest.raises(PspSweepError, match="t_peak_ms"):
        summary_statistics(unit_table(0.0).drop(columns="t_peak_ms"), PSPSWEEP)
    with pytest.raises(PspSweepError, match="group"):
        summary_statistics(unit_table(0.0), PSPSWEEP, by=("group", "gAMPA"))


CELLTYPES = [
    "VPM_E1", "L6ccinv_C2", "L1_C2", "L2_C2", "L2_D1", "L23Trans_C2", "L34_C2", "L45Peak_C2",
    "L45Sym_C2", "L4py_C2", "L4sp_C2", "L4ss_C2", "L56Trans_C2", "L5st_C2", "L5tt_C2",
    "L5tt_Gamma", "L6cc_C2", "L6ct_C2", "SymLocal1_C2", "VPM_C2", "L2_C2",
]  # fmt: skip


def test_merge_groups_isf_default():
    groups = merge_groups(CELLTYPES)
    assert groups == {
        "L2": ["L2_C2", "L2_D1"],  # L23Trans is not excitatory
        "L34": ["L34_C2"],
        "L4": ["L4py_C2", "L4sp_C2", "L4ss_C2"],  # not L45Peak / L45Sym
        "L5st": ["L5st_C2"],
        "L5tt": ["L5tt_C2", "L5tt_Gamma"],  # all columns
        "L6cc": ["L6cc_C2", "L6ccinv_C2"],  # substring match
        "L6ct": ["L6ct_C2"],
        "VPM_C2": ["VPM_C2"],  # VPM_E1 dropped
    }
    assert not any("L1_C2" in members for members in groups.values())


def test_merge_groups_prefix_lists_and_patterns():
    legacy = merge_groups(CELLTYPES, excitatory_prefixes=ISF_LEGACY_EXCITATORY)
    assert legacy == merge_groups(CELLTYPES)
    only_l2 = merge_groups(CELLTYPES, excitatory_prefixes=["L2", "L23Trans"])
    assert only_l2 == {"L2": ["L23Trans_C2", "L2_C2", "L2_D1"]}
    patterns = {"L2": ["L2_*"], "VPM": ["VPM_*"], "L6": ["L6cc_*", "L6ct_*"], "none": ["X*"]}
    assert merge_groups(CELLTYPES, patterns) == {
        "L2": ["L2_C2", "L2_D1"],
        "VPM": ["VPM_C2", "VPM_E1"],
        "L6": ["L6cc_C2", "L6ct_C2"],
    }
    assert merge_groups(CELLTYPES, {"VPM": ["VPM_*"]}, excitatory_prefixes=["L2"]) == {}
    with pytest.raises(PspSweepError, match="list of strings"):
        merge_groups(CELLTYPES, {"L2": "L2_*"})


def test_assign_groups_duplicates_and_drops():
    df = pd.DataFrame({"celltype": ["L2_C2", "L1_C2", "L2_D1", "L6ccinv_C2"], "x": [1, 2, 3, 4]})
    out = assign_groups(df, {"L2": ["L2_C2", "L2_D1"], "L6cc": ["L6ccinv_C2"], "all2": ["L2_C2"]})
    assert out[["group", "x"]].values.tolist() == [["L2", 1], ["L2", 3], ["L6cc", 4], ["all2", 1]]
    assert list(assign_groups(df, {})["group"]) == []
    with pytest.raises(PspSweepError, match="already has"):
        assign_groups(out, {"L2": ["L2_C2"]})
