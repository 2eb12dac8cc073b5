"""pspsweep.fit: linear fits, optimal conductance, its bootstrap interval, and the fit stage."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import pspsweep.fit.lines as fit_module
from pspsweep.errors import PspSweepError
from pspsweep.features import AnalysisOptions
from pspsweep.fit.lines import (
    FIT_COLUMNS,
    bootstrap_optimal_g,
    linear_fits,
    optimal_g,
)
from pspsweep.statistics import summary_statistics

G = np.array([0.5, 1.0, 1.5, 2.0])
LINES = {  # statistic: (slope mV/nS, offset mV)
    "amp_mean": (0.2, 0.1),
    "amp_std": (0.05, 0.02),
    "amp_median": (0.1, 0.05),
    "amp_max": (1.0, 0.0),
}


def linear_stats(group: str = "A", g: np.ndarray = G) -> pd.DataFrame:
    data = {"group": group, "g": g}
    data.update({s: slope * g + offset for s, (slope, offset) in LINES.items()})
    return pd.DataFrame(data)


def measured(**groups: tuple[float, float, float]) -> pd.DataFrame:
    table = pd.DataFrame.from_dict(
        groups,
        orient="index",
        columns=["EPSP_mean_measured", "EPSP_med_measured", "EPSP_max_measured"],
    )
    return table.rename_axis("group")


def test_linear_fit_recovers_lines_exactly():
    fits = linear_fits(pd.concat([linear_stats("A"), linear_stats("B", G[:3])]))
    assert list(fits.columns) == ["group", "n_points", *FIT_COLUMNS]
    assert list(fits["group"]) == ["A", "B"] and list(fits["n_points"]) == [4, 3]
    for s, (slope, offset) in LINES.items():
        assert fits[f"{s}_slope"].to_numpy() == pytest.approx([slope, slope], abs=1e-12)
        assert fits[f"{s}_offset"].to_numpy() == pytest.approx([offset, offset], abs=1e-12)
        assert fits[f"{s}_r2"].to_numpy() == pytest.approx([1.0, 1.0], abs=1e-12)
        assert fits[f"{s}_max_resid"].max() < 1e-12


def test_linear_fit_r2_residuals_and_gaps():
    stats = linear_stats()
    stats.loc[3, "amp_mean"] += 0.04  # one point off the line
    stats.loc[0, "amp_median"] = np.nan  # no responding unit at g = 0.5
    stats["amp_std"] = 0.3  # flat: r2 undefined
    stats.loc[1:, "amp_max"] = np.nan  # a single point: no fit
    fit = linear_fits(stats).iloc[0]
    slope, offset = np.polyfit(G, stats["amp_mean"], 1)
    resid = stats["amp_mean"] - (slope * G + offset)
    r2 = 1 - np.sum(resid**2) / np.sum((stats["amp_mean"] - stats["amp_mean"].mean()) ** 2)
    assert (fit["amp_mean_slope"], fit["amp_mean_offset"]) == pytest.approx((slope, offset))
    assert fit["amp_mean_r2"] == pytest.approx(r2) and fit["amp_mean_r2"] < 1
    assert fit["amp_mean_max_resid"] == pytest.approx(np.max(np.abs(resid)))
    assert (fit["amp_median_slope"], fit["amp_median_offset"]) == pytest.approx((0.1, 0.05))
    assert fit["amp_std_slope"] == pytest.approx(0.0, abs=1e-12) and np.isnan(fit["amp_std_r2"])
    assert np.isnan([fit[f"amp_max_{x}"] for x in ("slope", "offset", "r2", "max_resid")]).all()


def test_linear_fit_rejects_ambiguous_tables():
    with pytest.raises(PspSweepError, match="several rows for the same g"):
        linear_fits(pd.concat([linear_stats(), linear_stats()]))
    with pytest.raises(PspSweepError, match="amp_max"):
        linear_fits(linear_stats().drop(columns="amp_max"))
    with pytest.raises(PspSweepError, match="non-finite"):
        linear_fits(linear_stats().assign(g=[0.5, np.nan, 1.5, 2.0]))


def test_optimal_g_hand_computed():
    fits = linear_fits(linear_stats())
    # g_mean = (0.5 - 0.1)/0.2 = 2; g_median = (0.35 - 0.05)/0.1 = 3; g_max = 1/1 = 1
    out = optimal_g(fits, measured(A=(0.5, 0.35, 1.0)))
    assert list(out.columns[:7]) == [
        "group", "optimal_g", "g_mean", "g_median", "g_max", "fit_ok", "note",
    ]  # fmt: skip
    r = out.iloc[0]
    assert (r["g_mean"], r["g_median"], r["g_max"]) == pytest.approx((2.0, 3.0, 1.0))
    assert r["optimal_g"] == pytest.approx((2 * 2.0 + 2 * 3.0 + 1 * 1.0) / 5)  # 2.2
    assert r["fit_ok"] and r["note"] == ""
    assert r["EPSP_med_measured"] == 0.35 and r["amp_mean_slope"] == pytest.approx(0.2)
    only_mean = optimal_g(fits, measured(A=(0.5, np.nan, np.nan)), weights=(1, 0, 0)).iloc[0]
    assert only_mean["optimal_g"] == pytest.approx(2.0) and only_mean["fit_ok"]


def test_optimal_g_flags_missing_groups_and_flat_fits():
    b = linear_stats("B")
    b.loc[1:, "amp_max"] = np.nan  # responding units at one g only: no max fit
    stats = pd.concat([linear_stats("A"), b])
    table = measured(A=(0.5, 0.35, 1.0), B=(0.5, 0.35, 1.0), C=(0.4, 0.3, 1.2))
    out = optimal_g(linear_fits(stats), table.reset_index()).set_index("group")
    assert list(out.index) == ["A", "B", "C"]
    assert out.loc["A", "fit_ok"] and not out.loc["B", "fit_ok"] and not out.loc["C", "fit_ok"]
    assert np.isnan(out.loc["B", "g_max"]) and np.isnan(out.loc["B", "optimal_g"])
    assert out.loc["B", "note"] == "undefined g_max: fewer than 2 conductances with responding units (amp_max)"
    assert np.isnan(out.loc["C", ["optimal_g", "amp_mean_slope"]].astype(float)).all()
    assert out.loc["C", "note"] == "no simulated units for this group"
    missing = optimal_g(linear_fits(stats), measured(A=(0.5, 0.35, 1.0))).set_index("group")
    assert missing.loc["B", "note"] == "no measured EPSPs for this group"
    assert np.isnan(missing.loc["B", "optimal_g"]) and missing.loc["B", "n_points"] == 4


def test_optimal_g_input_errors():
    fits = linear_fits(linear_stats())
    with pytest.raises(PspSweepError, match="more than once"):
        optimal_g(fits, pd.concat([measured(A=(1, 1, 1)), measured(A=(1, 1, 1))]))
    with pytest.raises(PspSweepError, match="EPSP_med_measured"):
        optimal_g(fits, measured(A=(1, 1, 1)).drop(columns="EPSP_med_measured"))
    with pytest.raises(PspSweepError, match="weights"):
        optimal_g(fits, measured(A=(1, 1, 1)), weights=(1, -1, 1))


def unit_table(n_units: int = 40, seed: int = 7) -> pd.DataFrame:
    """Units paired across g: amplitude = scale * g + offset + noise, latency 2-6 ms."""
    rng = np.random.default_rng(seed)
    rows = []
    for group, gain in (("A", 0.3), ("B", 0.5)):
        scale = rng.lognormal(0.0, 0.5, n_units) * gain
        offset = rng.normal(0.0, 0.02, n_units)
        for g in G:
            amp = scale * g + offset + rng.normal(0.0, 0.01, n_units)
            latency = rng.uniform(2.0, 6.0, n_units)
            rows.append(
                pd.DataFrame(
                    {
                        "group": group,
                        "celltype": f"{group}_C2",
                        "unit": np.arange(n_units),
                        "g": g,
                        "amplitude_mV": amp,
                        "t_peak_ms": latency,
                    }
                )  # fmt: skip
            )
    return pd.concat(rows, ignore_index=True)


MEASURED = measured(A=(0.4, 0.3, 1.5), B=(0.6, 0.5, 2.5), Z=(1.0, 1.0, 1.0))


def test_bootstrap_point_estimate_ci_and_determinism():
    units = unit_table()
    out = bootstrap_optimal_g(units, MEASURED, n_boot=100, seed=3).set_index("group")
    assert list(out.columns) == [
        "optimal_g", "ci_low", "ci_high", "ci_level", "n_boot", "n_boot_valid", "n_units",
    ]  # fmt: skip
    stats = summary_statistics(units, AnalysisOptions(), by=("group", "g"))
    point = optimal_g(linear_fits(stats), MEASURED).set_index("group")
    for group in ("A", "B"):
        r = out.loc[group]
        assert r["optimal_g"] == point.loc[group, "optimal_g"]
        assert r["ci_low"] < r["optimal_g"] < r["ci_high"], r.to_dict()
        assert (r["n_boot_valid"], r["n_units"], r["ci_level"]) == (100, 40, 0.95)
    assert np.isnan(out.loc["Z", "optimal_g"]) and np.isnan(out.loc["Z", "ci_low"])
    assert out.loc["Z", "n_units"] == 0
    again = bootstrap_optimal_g(units, MEASURED, n_boot=100, seed=3).set_index("group")
    pd.testing.assert_frame_equal(out, again)
    other = bootstrap_optimal_g(units, MEASURED, n_boot=100, seed=4).set_index("group")
    assert other.loc["A", "ci_low"] != out.loc["A", "ci_low"]
    # a group's interval does not depend on the other groups present
    alone = bootstrap_optimal_g(units[units["group"] == "A"], MEASURED, n_boot=100, seed=3)
    assert alone.set_index("group").loc["A", "ci_low"] == out.loc["A", "ci_low"]


def test_bootstrap_replicates_without_responding_units_count_as_invalid():
    """Three units, only one responding: replicates that draw none of it have no line
    (the isf86 preset with run.units=[0,1,2] stopped here with a KeyError)."""
    rows = [
        {"group": "A", "unit": u, "g": g, "amplitude_mV": (0.5 * g if u == 0 else 0.01), "t_peak_ms": 5.0}
        for u in range(3)
        for g in (1.0, 2.0)
    ]
    out = bootstrap_optimal_g(pd.DataFrame(rows), MEASURED, n_boot=200, seed=0).set_index("group")
    # P(a replicate misses unit 0) = (2/3)^3: about 59 of 200 replicates have no value
    assert 0 < out.loc["A", "n_boot_valid"] < 200


def test_bootstrap_keeps_units_paired_across_g(monkeypatch):
    # amplitude = scale * g exactly and every unit responds (threshold 0): with paired
    # resampling every replicate's statistics are proportional to g (offset 0, r2 1)
    units = unit_table()
    scale = units.groupby(["group", "unit"])["amplitude_mV"].transform("max") / G.max()
    units["amplitude_mV"] = scale * units["g"]
    seen = []
    original = fit_module._fit_group

    def spy(g, values):
        result = original(g, values)
        seen.append(result)
        return result

    monkeypatch.setattr(fit_module, "_fit_group", spy)
    options = AnalysisOptions(threshold_mV=0.0)
    bootstrap_optimal_g(units, MEASURED, n_boot=50, seed=0, ci=0.9, options=options)
    assert len(seen) == 2 * 50 + 2  # replicates plus the point estimate of A and B
    for s in ("amp_mean", "amp_median", "amp_max"):
        assert max(abs(r[f"{s}_offset"]) for r in seen) < 1e-12
        assert min(r[f"{s}_r2"] for r in seen) == pytest.approx(1.0, abs=1e-12)


def test_bootstrap_input_errors():
    units = unit_table()
    with pytest.raises(PspSweepError, match="n_boot"):
        bootstrap_optimal_g(units, MEASURED, n_boot=0)
    with pytest.raises(PspSweepError, match="ci"):
        bootstrap_optimal_g(units, MEASURED, ci=1.0)
    with pytest.raises(PspSweepError, match="several rows at one g"):
        bootstrap_optimal_g(pd.concat([units, units.iloc[:1]]), MEASURED, n_boot=5)
    with pytest.raises(PspSweepError, match="unit"):
        bootstrap_optimal_g(units.drop(columns="unit"), MEASURED, n_boot=5)


def test_negative_optimal_g_is_never_ok():
    """Issue 14 item 18: a measured EPSP below the lines' offsets (amp = 0.1 + 0.2 g for the
    mean) inverts to g < 0, which was reported with fit_ok=True."""
    fits = linear_fits(linear_stats())
    r = optimal_g(fits, measured(A=(0.05, 0.35, 1.0))).iloc[0]
    assert r["g_mean"] == pytest.approx(-0.25)
    assert not r["fit_ok"] and "non-positive g_mean" in r["note"]


def test_fit_refuses_group_names_mlflow_refuses():
    """Issue 14 item 14 (refit path): a group name from the children's cell types becomes
    the metric optimal_g.<group>; it is refused before anything is logged."""
    from pspsweep.config import FitConfig
    from pspsweep.fit.stage import fit_conductances

    units = pd.DataFrame(
        {
            "celltype": ["VPM_../../evil"] * 2,
            "unit": [0, 0],
            "g": [0.5, 1.0],
            "amplitude_mV": [0.5, 1.0],
            "t_peak_ms": [2.0, 2.0],
        }
    )
    with pytest.raises(PspSweepError, match=r"group 'VPM_\.\./\.\./evil'"):
        fit_conductances([units], None, FitConfig(bootstrap=0), AnalysisOptions())


# ------------------------------------------------------------------ the stage (fit_conductances)

SCALES = np.array([0.2, 0.3, 0.5, 0.8, 1.1])  # mV/nS per unit: amplitude = scale * g
SWEEP_G = (0.5, 1.0, 2.0)


def children(celltype: str, scales: np.ndarray = SCALES, g_values=SWEEP_G) -> list[pd.DataFrame]:
    """One unit table per conductance, as the children of a multirun write psps.csv."""
    return [
        pd.DataFrame(
            {"celltype": celltype, "unit": np.arange(len(scales)), "g": g, "amplitude_mV": scales * g, "t_peak_ms": 3.0}
        )
        for g in g_values
    ]


def test_fit_conductances_recovers_g_of_linear_amplitudes_exactly():
    """Against hand-computed values: amplitudes proportional to g put every statistic on a
    line through 0, so measured values made at g = 1.7 nS invert to exactly 1.7 nS; a
    group without measured values gets NaN and a note."""
    from pspsweep.config import FitConfig
    from pspsweep.fit.stage import fit_conductances

    g_true = 1.7
    meas = measured(VPM_C2=(SCALES.mean() * g_true, np.median(SCALES) * g_true, SCALES.max() * g_true))
    tables = children("VPM_C2") + children("L5tt_C2", SCALES * 2)
    result = fit_conductances(tables, meas, FitConfig(bootstrap=0), AnalysisOptions())
    opt = result.optimal.set_index("group")
    assert list(opt.index) == ["L5tt", "VPM_C2"]  # ISF's merging, in its order
    vpm = opt.loc["VPM_C2"]
    for column in ("optimal_g", "g_mean", "g_median", "g_max"):
        assert vpm[column] == pytest.approx(g_true, rel=1e-12), column
    assert vpm["fit_ok"] and vpm["note"] == ""
    assert np.isnan(opt.loc["L5tt", ["optimal_g", "g_mean", "g_median", "g_max"]].astype(float)).all()
    assert not opt.loc["L5tt", "fit_ok"] and opt.loc["L5tt", "note"] == "no measured EPSPs for this group"
    assert list(result.group_statistics["group"].unique()) == ["L5tt", "VPM_C2"]
    assert len(result.units) == 2 * len(SWEEP_G) * len(SCALES)


def poor_line_case() -> tuple[list[pd.DataFrame], pd.DataFrame, float]:
    """One unit whose amplitudes zig-zag around a line (mean = median = max = it); its r²."""
    g = np.array([1.0, 2.0, 3.0, 4.0])
    amp = np.array([1.0, 3.0, 2.0, 4.0])
    tables = [
        pd.DataFrame({"celltype": ["VPM_C2"], "unit": [0], "g": [gi], "amplitude_mV": [ai], "t_peak_ms": [3.0]})
        for gi, ai in zip(g, amp)
    ]
    stats = pd.DataFrame({"group": "VPM_C2", "g": g, **{s: amp for s in LINES}})
    r2 = float(linear_fits(stats)["amp_mean_r2"].iloc[0])
    return tables, measured(VPM_C2=(2.5, 2.5, 2.5)), r2


def test_poor_line_is_flagged_below_min_r2_only():
    """Against fit.min_r2: a line with r² just below it is flagged (fit_ok False, a note
    naming the statistic); at or just below the line's r², the same fit is fine."""
    from pspsweep.config import FitConfig
    from pspsweep.fit.stage import fit_conductances

    tables, meas, r2 = poor_line_case()
    assert 0.5 < r2 < 0.9
    for min_r2, flagged in ((r2 + 1e-6, True), (r2, False), (r2 - 1e-6, False)):
        row = fit_conductances(tables, meas, FitConfig(bootstrap=0, min_r2=min_r2), AnalysisOptions()).optimal
        assert bool(row["fit_ok"].iloc[0]) is not flagged, min_r2
        assert ("poor linear fit of amp_mean" in row["note"].iloc[0]) is flagged
        assert row["optimal_g"].iloc[0] == pytest.approx(2.5)  # (2.5 - 0.5) / 0.8 either way


def test_optimal_g_outside_the_sampled_conductances_is_flagged_extrapolated():
    """Against the sampled range 0.5-2 nS of SWEEP_G: measured values made at g = 2.33 nS
    (the users' case) and at 0.3 nS invert exactly there, outside it: fit_ok False, the
    column ``extrapolated`` and a note saying so; g = 1.7 nS inside stays sound, and so
    does g = 2 nS on the edge."""
    from pspsweep.config import FitConfig
    from pspsweep.fit.stage import fit_conductances

    def fitted(g_true: float) -> pd.Series:
        meas = measured(VPM_C2=(SCALES.mean() * g_true, np.median(SCALES) * g_true, SCALES.max() * g_true))
        return fit_conductances(children("VPM_C2"), meas, FitConfig(bootstrap=0), AnalysisOptions()).optimal.iloc[0]

    for g_true in (2.33, 0.3):
        row = fitted(g_true)
        assert row["optimal_g"] == pytest.approx(g_true, rel=1e-12)
        assert not row["fit_ok"] and bool(row["extrapolated"])
        assert row["note"] == f"extrapolated: optimal g {g_true:.3g} nS outside the sampled 0.5-2 nS"
    for g_true in (1.7, 2.0):
        row = fitted(g_true)
        assert row["fit_ok"] and not bool(row["extrapolated"]) and row["note"] == "", g_true


def test_the_console_says_why_a_group_has_no_value():
    """Each group without a sound optimal g gets a line naming the reason: no measured
    EPSPs, or fewer than two conductances with responding units."""
    from pspsweep.config import FitConfig
    from pspsweep.fit.stage import fit_conductances, fit_summary

    silent = [t.assign(amplitude_mV=0.0) if t["g"].iloc[0] < 2 else t for t in children("L5tt_C2")]
    meas = measured(VPM_C2=(0.5, 0.4, 1.0), L5tt=(0.5, 0.4, 1.0))
    tables = children("VPM_C2") + silent + children("L4ss_C2")
    opt = fit_conductances(tables, meas, FitConfig(bootstrap=0), AnalysisOptions()).optimal
    lines = fit_summary(opt).splitlines()
    assert "  L4: no measured EPSPs for this group" in lines
    assert any(line.startswith("  L5tt: undefined g_mean: fewer than 2 conductances with responding") for line in lines)
    assert not any(line.startswith("  VPM_C2:") for line in lines)


class RecordingTracker:
    """A Tracker that keeps what it is given."""

    run_id = "recording"

    def __init__(self) -> None:
        self.artifacts: list[tuple[str, str | None]] = []
        self.metrics: dict[str, float] = {}
        self.tags: dict[str, str] = {}

    def log_artifact(self, path, artifact_path=None) -> None:
        self.artifacts.append((path.name, artifact_path))

    def log_metrics(self, metrics) -> None:
        self.metrics.update(metrics)

    def set_tags(self, tags) -> None:
        self.tags.update(tags)


def test_fit_stage_writes_files_and_hands_them_to_a_tracker_without_mlflow(tmp_path, monkeypatch):
    """Issue 15: the fit stage gets tables and a tracker and never opens MLflow itself
    (an import of mlflow would fail here); the fit's own run gets the files, the optimal
    g and fit_ok as metrics and the fit's settings as tags."""
    from pspsweep.config import PspSweepConfig
    from pspsweep.fit.stage import fit_stage, record_fit

    monkeypatch.setitem(sys.modules, "mlflow", None)
    cfg = PspSweepConfig()  # the demo cell, for the morphology map
    cfg.fit.bootstrap = 0
    tables = [t.assign(sections="1;2", xs="0.5;0.5", distance_um=10.0) for t in children("VPM_C2")]
    meas = measured(VPM_C2=(SCALES.mean(), np.median(SCALES), SCALES.max()))  # made at g = 1
    output = fit_stage(cfg, tables, meas, tmp_path)
    tracker = RecordingTracker()
    record_fit(tracker, output)
    names = {
        "optimal_g.csv",
        "group_statistics.csv",
        "celltype_statistics.csv",
        "fits.csv",
        "units.parquet",
        "fit.png",
        "group_histograms.png",
        "amplitude_vs_distance.png",
        "morphology_amplitudes.png",
    }
    assert {f.name for f in output.files} == names and all(f.parent == tmp_path for f in output.files)
    assert sorted(tracker.artifacts) == sorted((name, None) for name in names)
    assert tracker.metrics["optimal_g.VPM_C2"] == pytest.approx(1.0, rel=1e-12)
    assert tracker.metrics["fit_ok.VPM_C2"] == 1.0
    assert tracker.tags["fit.weights"] == "[2.0, 2.0, 1.0]" and tracker.tags["fit.convention"] == "pspsweep"
    table = pd.read_csv(tmp_path / "optimal_g.csv")
    assert table["optimal_g"].iloc[0] == pytest.approx(1.0, rel=1e-12)


def test_isf_fit_reads_absolute_peak_times_also_from_older_sweeps():
    """Under isf the unit tables carry t_peak_abs_ms; a sweep recorded before that name
    (absolute times in t_peak_ms) refits to the same optimal g and the same statistics."""
    from pspsweep.config import FitConfig
    from pspsweep.fit.stage import fit_conductances

    isf = AnalysisOptions(convention="isf")
    meas = measured(VPM_C2=(SCALES.mean(), np.median(SCALES), SCALES.max()))  # made at g = 1
    old = children("VPM_C2")
    new = [t.rename(columns={"t_peak_ms": "t_peak_abs_ms"}) for t in old]
    results = [fit_conductances(tables, meas, FitConfig(bootstrap=20), isf) for tables in (new, old)]
    assert results[0].optimal["optimal_g"].iloc[0] == pytest.approx(1.0, rel=1e-12)
    assert "t_mean_abs" in results[0].group_statistics.columns
    pd.testing.assert_frame_equal(results[0].optimal, results[1].optimal)
    pd.testing.assert_frame_equal(results[0].group_statistics, results[1].group_statistics)
