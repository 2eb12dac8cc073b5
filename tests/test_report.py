"""pspsweep.report: every plot writes a readable PNG from synthetic tables.

The unit table is made up: three groups (two excitatory, one inhibitory) of 40 units,
each simulated at three conductances, with amplitudes that grow linearly with g plus
noise; synapse locations are drawn on the demo morphology. Statistics, fits and
optimal g come from the real pspsweep.statistics / pspsweep.fit functions so the
column names are the ones the pipeline produces.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from pspsweep import geometry, report
from pspsweep.cellmodel import CellSpec
from pspsweep.config import DemoMorphologyConfig
from pspsweep.demo import demo_sections
from pspsweep.features import AnalysisOptions
from pspsweep.fit import linear_fits, optimal_g
from pspsweep.report.morphology import _largest_g
from pspsweep.statistics import summary_statistics

G_VALUES = (0.5, 1.0, 1.5)
GROUPS = {"L5tt": 0.6, "VPM_C2": 0.9, "INH": -0.5}  # mean amplitude per nS (mV/nS)
N_UNITS = 40


@pytest.fixture(scope="module")
def spec() -> CellSpec:
    return CellSpec(name="demo", sections=demo_sections(DemoMorphologyConfig()), biophysics=())


@pytest.fixture(scope="module")
def units(spec) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n_sec = len(spec.sections)
    rows = []
    for group, per_nS in GROUPS.items():
        for unit in range(N_UNITS):
            n_syn = int(rng.integers(1, 6))
            secs = rng.integers(1, n_sec, n_syn)
            xs = rng.uniform(0, 1, n_syn)
            scale = rng.lognormal(0.0, 0.5)
            for g in G_VALUES:
                rows.append(
                    {
                        "celltype": group,
                        "group": group,
                        "unit": unit,
                        "cell_id": unit,
                        "synapse_id": unit,
                        "n_synapses": n_syn,
                        "sections": ";".join(map(str, secs)),
                        "xs": ";".join(f"{x:.4f}" for x in xs),
                        "gAMPA": g if per_nS > 0 else np.nan,
                        "gNMDA": g if per_nS > 0 else np.nan,
                        "gGABA": g if per_nS < 0 else np.nan,
                        "g": g,
                        "amplitude_mV": per_nS * g * scale + rng.normal(0, 0.05),
                        "t_peak_ms": 5.0 + rng.normal(0, 0.5),
                    }
                )
    table = pd.DataFrame(rows)
    table.loc[3, "amplitude_mV"] = np.nan  # a failed unit
    return table


@pytest.fixture(scope="module")
def measured() -> pd.DataFrame:
    return pd.DataFrame(
        {"EPSP_mean_measured": [0.5, 0.7], "EPSP_med_measured": [0.4, 0.6], "EPSP_max_measured": [1.8, 2.2]},
        index=pd.Index(["L5tt", "VPM_C2"], name="celltype"),
    )


@pytest.fixture(scope="module")
def tables(units, measured):
    stats = summary_statistics(units, AnalysisOptions(threshold_mV=0.1), by=("group", "g"))
    fits = linear_fits(stats)
    optimal = optimal_g(fits, measured)
    return stats, fits, optimal


def _check_png(path, min_px=(300, 300), max_px=(4000, 4000)):
    """A readable PNG of plausible size (width, height in px) that is not blank; returns its pixels."""
    assert path.is_file() and path.stat().st_size > 5_000
    img = imread(path)
    h, w = img.shape[:2]
    assert min_px[0] <= w <= max_px[0] and min_px[1] <= h <= max_px[1], (w, h)
    # not a blank canvas
    assert np.ptp(img[..., :3]) > 0.5
    return img


def test_existing_plots_still_work(units, tmp_path):
    out = report.amplitude_histogram(units, tmp_path / "hist.png", 0.1, "all")
    _check_png(out)


def _drawn_figures(monkeypatch):
    """Keep every figure a report function saves (to look at its axes)."""
    from matplotlib.figure import Figure

    figures = []
    original = Figure.savefig

    def keep(fig, *args, **kwargs):
        figures.append(fig)
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def _vertical_lines(ax, color):
    from matplotlib.colors import to_rgba

    return sorted(
        float(line.get_xdata()[0])
        for line in ax.get_lines()
        if to_rgba(line.get_color()) == to_rgba(color) and len(set(line.get_xdata())) == 1
    )


@pytest.mark.parametrize(("convention", "thresholds"), [("pspsweep", [-0.1, 0.1]), ("isf", [0.1])])
def test_amplitude_histogram_kinds_threshold_and_counts(units, tmp_path, monkeypatch, convention, thresholds):
    """Against statistics.response_statistics' rule (|a| >= t, or a >= t under isf) and
    the table: a panel per kind with its own units, the convention's threshold lines
    only, whole-number count ticks."""
    figures = _drawn_figures(monkeypatch)
    kinds = {"L5tt": True, "VPM_C2": True, "INH": False}
    one_g = units[units["g"] == 1.0]
    report.amplitude_histogram(one_g, tmp_path / "h.png", 0.1, "t", convention=convention, excitatory=kinds)
    axes = [ax for ax in figures[-1].axes if ax.get_visible()]
    assert [ax.get_title().split(":")[0] for ax in axes] == ["excitatory units (EPSPs)", "inhibitory units (IPSPs)"]
    for ax, rows in zip(axes, (one_g[one_g["celltype"] != "INH"], one_g[one_g["celltype"] == "INH"])):
        amps = rows["amplitude_mV"].dropna()
        passed = (amps >= 0.1) if convention == "isf" else (amps.abs() >= 0.1)
        assert ax.get_title().endswith(f"{len(amps)} units, {int(passed.sum())} responding")
        assert sum(p.get_height() for p in ax.patches) == len(amps)
        assert _vertical_lines(ax, "0.45") == pytest.approx(thresholds)
        ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)


def test_group_histograms(units, measured, tmp_path, monkeypatch):
    """Small multiples against the table: a row per group, a column per g, each panel
    counting that group's units at that g; whole-number counts, the isf threshold only."""
    figures = _drawn_figures(monkeypatch)
    out = report.group_histograms(units, measured, tmp_path / "groups.png", threshold_mV=0.1, convention="isf")
    assert out == tmp_path / "groups.png"
    img = _check_png(out, min_px=(1200, 300))
    assert img.shape[1] >= 1200
    axes = [ax for ax in figures[-1].axes if ax.get_visible()]
    assert len(axes) == len(GROUPS) * len(G_VALUES)
    for k, ax in enumerate(axes):
        group, g = list(GROUPS)[k // len(G_VALUES)], G_VALUES[k % len(G_VALUES)]
        n = units[(units["group"] == group) & (units["g"] == g)]["amplitude_mV"].notna().sum()
        # the filled and the outlined histogram each hold every unit
        assert sum(p.get_height() for p in ax.patches if hasattr(p, "get_height")) in (0, n)
        assert f"g = {g:g} nS" in ax.get_title()
        assert _vertical_lines(ax, "0.45") == [0.1]
        ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
        assert all(float(t).is_integer() for t in ticks)


def test_group_histograms_without_measured_and_groups(units, tmp_path):
    single = units.drop(columns=["group"])
    _check_png(report.group_histograms(single, None, tmp_path / "one.png", 0.1))
    # measured with a group column, a group without units and one without g
    meas = pd.DataFrame(
        {"group": ["L5tt"], "EPSP_mean_measured": [0.5], "EPSP_med_measured": [0.4], "EPSP_max_measured": [np.nan]}
    )
    _check_png(report.group_histograms(units.drop(columns=["g"]), meas, tmp_path / "nog.png", 0.1))


def test_fit_plot(tables, tmp_path):
    stats, fits, optimal = tables
    out = report.fit_plot(stats, fits, optimal, tmp_path / "fit.png")
    assert out == tmp_path / "fit.png"
    _check_png(out, min_px=(1200, 300))
    # one group alone still makes a figure a reader can take in whole
    one = stats[stats["group"] == "L5tt"]
    _check_png(report.fit_plot(one, linear_fits(one), None, tmp_path / "one.png"), min_px=(1200, 300))


def test_fit_plot_with_nan_optimal_g_ci_and_no_optimal(tables, tmp_path):
    stats, fits, optimal = tables
    # INH has no measured values: its optimal g is NaN and fit_ok False
    assert np.isnan(optimal.set_index("group").loc["INH", "optimal_g"])
    with_ci = optimal.assign(ci_low=optimal["optimal_g"] * 0.9, ci_high=optimal["optimal_g"] * 1.1)
    _check_png(report.fit_plot(stats, fits, with_ci, tmp_path / "ci.png"))
    _check_png(report.fit_plot(stats, fits, None, tmp_path / "none.png"))
    all_nan = optimal.assign(optimal_g=np.nan, g_mean=np.nan, g_median=np.nan, g_max=np.nan, fit_ok=False)
    _check_png(report.fit_plot(stats, fits, all_nan, tmp_path / "nan.png"))


def test_fit_plot_single_g(tables, tmp_path):
    stats, _, optimal = tables
    one = stats[stats["g"] == 1.0]
    _check_png(report.fit_plot(one, linear_fits(one), optimal, tmp_path / "single.png"))


def test_amplitude_vs_distance(units, spec, tmp_path):
    table = units.assign(distance_um=geometry.unit_mean_distances(spec, units["sections"], units["xs"]))
    assert np.isfinite(table["distance_um"]).all()
    out = report.amplitude_vs_distance(table, tmp_path / "dist.png")
    assert out == tmp_path / "dist.png"
    _check_png(out)
    one_g = table[table["g"] == 1.0]
    _check_png(report.amplitude_vs_distance(one_g.drop(columns=["g"]), tmp_path / "dist1.png"))


def test_morphology_map(units, spec, tmp_path):
    out = report.morphology_map(spec, units, tmp_path / "morph.png")
    assert out == tmp_path / "morph.png"
    _check_png(out)
    _check_png(report.morphology_map(spec, units, tmp_path / "xz.png", "xz"))
    # raw psps.csv layout: no g column, one-synapse units read back as numbers
    raw = units.drop(columns=["g", "group"]).head(12).copy()
    raw["sections"] = raw["sections"].str.split(";").str[0].astype(int)
    raw["xs"] = raw["xs"].str.split(";").str[0].astype(float)
    _check_png(report.morphology_map(spec, raw, tmp_path / "raw.png"))
    with pytest.raises(ValueError, match="view must be one of"):
        report.morphology_map(spec, units, tmp_path / "bad.png", "xx")


def _rotation(axis_from: np.ndarray, axis_to: np.ndarray) -> np.ndarray:
    """The rotation turning unit vector ``axis_from`` onto ``axis_to`` (Rodrigues)."""
    v, c = np.cross(axis_from, axis_to), float(np.dot(axis_from, axis_to))
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def test_principal_view_is_a_side_view_whatever_the_files_axes(spec):
    """Against a rotation we apply: the demo cell (apical trunk along +y) turned so its
    trunk points along (1, 1, 1)/sqrt(3) is shown with the trunk vertical and upward,
    the soma at the origin, and the same picture as the unrotated cell's."""
    from dataclasses import replace

    target = np.ones(3) / np.sqrt(3)
    rot = _rotation(np.array([0.0, 1.0, 0.0]), target)
    turned = replace(
        spec,
        sections=tuple(
            replace(s, points=np.column_stack([np.asarray(s.points)[:, :3] @ rot.T, np.asarray(s.points)[:, 3]]))
            for s in spec.sections
        ),
    )
    view, upright = report.morphology_view(turned), report.morphology_view(spec)
    assert float(upright.basis[:, 1] @ [0.0, 1.0, 0.0]) > 0.99  # the trunk, upward
    assert view.basis[:, 1] == pytest.approx(rot @ upright.basis[:, 1], abs=1e-9)
    assert float(view.basis[:, 1] @ target) > 0.99
    pts = np.concatenate([np.asarray(s.points) for s in turned.sections])
    flat = view.project(pts)
    assert flat[:, 1].max() > -flat[:, 1].min()  # the apical side up
    plain = upright.project(np.concatenate([np.asarray(s.points) for s in spec.sections]))
    assert np.abs(flat).max(axis=0) == pytest.approx(np.abs(plain).max(axis=0), rel=1e-6)
    assert view.labels == ("principal axis 2 (µm from soma)", "principal axis 1 (µm from soma)")
    assert report.morphology_view(spec, "xz").labels == ("x (µm)", "z (µm)")


def test_trace_overview_ends_each_trace_at_its_last_sample(tmp_path, monkeypatch):
    """Against the samples we give (CVODE-like: the last before tEnd): the time axis ends
    at tEnd, a trace's line ends at its own last sample, the held rest of the difference
    is dotted, the stimulus line and the colour bar are labelled."""
    figures = _drawn_figures(monkeypatch)
    t_b = np.array([0.0, 60.0, 109.0, 110.0, 130.0, 141.3])
    v_b = np.full(t_b.size, -80.0)
    traces = [
        (np.array([0.0, 60.0, 110.0, 112.0, 120.0, 146.0 - k]), np.array([-80, -80, -80, -79, -79.5, -79.9]))
        for k in range(3)
    ]
    panel = report.TracePanel("excitatory units (EPSPs)", traces, np.array([1.0, 0.9, 0.8]), 5)
    report.trace_overview((t_b, v_b), [panel], tmp_path / "traces.png", 110.0, 150.0, "test")
    _check_png(tmp_path / "traces.png")
    fig = figures[-1]
    top, bottom = [ax for ax in fig.axes if ax.get_ylabel() in ("soma V (mV)", "unit − baseline (mV)")]
    assert top.get_xlim()[1] == 150.0 and bottom.get_xlim()[1] == 150.0
    ends = sorted(float(seg[-1, 0]) for seg in top.collections[0].get_segments())
    assert ends == [144.0, 145.0, 146.0]
    solid, dotted = bottom.collections[0], bottom.collections[1]
    assert max(float(seg[-1, 0]) for seg in solid.get_segments()) <= 141.3
    assert all(seg[-1, 0] == pytest.approx(150.0) for seg in dotted.get_segments())
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "presynaptic spike, tStim = 110 ms" in legend and any("held to tEnd" in t for t in legend)
    assert any(ax.get_ylabel() == "unit PSP amplitude (mV)" for ax in fig.axes)


def test_largest_g_selection(units):
    shown = _largest_g(units, "g")
    assert set(shown["g"]) == {max(G_VALUES)}
    assert len(shown) == len(GROUPS) * N_UNITS
    raw = _largest_g(units.drop(columns=["g"]), "g")
    assert len(raw) == len(GROUPS) * N_UNITS


def test_fit_plot_flag_follows_min_r2(tables, tmp_path, monkeypatch):
    """Against fit.min_r2 (issue 15: fit.png flagged at a hard-coded 0.9 while
    optimal_g.csv used fit.min_r2): a panel is flagged exactly when a line's r² is
    below the given min_r2."""
    from matplotlib.figure import Figure

    stats, fits, _ = tables
    worst = fits.set_index("group")[["amp_mean_r2", "amp_median_r2", "amp_max_r2"]].min(axis=1)
    group = worst.idxmin()
    titles: list[str] = []
    original = Figure.savefig

    def keep_titles(fig, *args, **kwargs):
        titles[:] = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep_titles)
    for min_r2, flagged in ((worst[group] + 1e-6, True), (worst[group], False)):
        report.fit_plot(stats, fits, None, tmp_path / "fit.png", min_r2=min_r2)
        title = next(t for t in titles if t.startswith(f"{group}:"))
        assert ("r²<" in title) is flagged, (min_r2, title)
    row = fits.set_index("group").loc[group].to_dict()
    assert report.fit_warnings(row, {}, worst[group] - 1e-6) == []
    assert report.fit_warnings(row, {}, 1.01)[0].startswith("r²<1.01: ")
