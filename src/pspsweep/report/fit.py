"""The plots of a fit: amplitude histograms per group, the fitted lines, amplitude
against distance and the amplitudes on the morphology."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pspsweep import geometry
from pspsweep.cellmodel import CellSpec
from pspsweep.config import FitConfig
from pspsweep.report.plotting import finite_values, format_g, panel_grid, pyplot

if TYPE_CHECKING:
    from pspsweep.fit.stage import FitResult

#: measured statistics drawn as reference lines: (column, label, line style)
_MEASURED_LINES = (
    ("EPSP_mean_measured", "measured mean", "-"),
    ("EPSP_med_measured", "measured median", "--"),
    ("EPSP_max_measured", "measured max", ":"),
)
#: fitted statistics of :func:`fit_plot`: (statistic, measured column, g column, label, colour, marker)
_FIT_SERIES = (
    ("amp_mean", "EPSP_mean_measured", "g_mean", "mean", "#4477aa", "o"),
    ("amp_median", "EPSP_med_measured", "g_median", "median", "#228833", "s"),
    ("amp_max", "EPSP_max_measured", "g_max", "max", "#cc6677", "^"),
)
_WARN = "\u26a0"


def _measured_by_group(measured: pd.DataFrame | None, group_column: str = "group") -> pd.DataFrame:
    """Measured table indexed by group name (empty if None); missing columns become NaN."""
    if measured is None:
        return pd.DataFrame(columns=[c for c, _, _ in _MEASURED_LINES])
    if group_column in measured.columns:
        measured = measured.set_index(group_column)
    elif "celltype" in measured.columns:
        measured = measured.set_index("celltype")
    return measured.reindex(columns=[c for c, _, _ in _MEASURED_LINES]).astype(float)


def group_histograms(
    units: pd.DataFrame,
    measured: pd.DataFrame | None,
    path: Path,
    threshold_mV: float,
    *,
    group_column: str = "group",
    g_column: str = "g",
) -> Path:
    """Amplitude histograms per group, one step curve per conductance, measured values marked.

    Args:
        units: unit table with ``amplitude_mV`` and, if present, ``group_column`` (one
            panel per group; a single panel otherwise) and ``g_column`` (one curve per g).
        measured: measured EPSP table indexed by group (or with a group/celltype column),
            or None; its mean, median and max are drawn as vertical lines.
        path: the PNG to write.
        threshold_mV: response threshold, drawn at ±threshold.
    """
    plt = pyplot()
    groups = list(dict.fromkeys(units[group_column])) if group_column in units.columns else [None]
    has_g = g_column in units.columns
    g_all = np.unique(finite_values(units[g_column])) if has_g else np.array([np.nan])
    cmap = plt.get_cmap("viridis")
    colours = [cmap(0.85 * k / max(len(g_all) - 1, 1)) for k in range(len(g_all))]
    meas = _measured_by_group(measured, group_column)
    fig, axes = panel_grid(len(groups), extra_width=1.8)
    for ax, group in zip(axes, groups):
        sub = units if group is None else units[units[group_column] == group]
        curves = [finite_values(sub["amplitude_mV"][sub[g_column] == g]) if has_g else None for g in g_all]
        m = meas.loc[group] if group in meas.index else None
        n_units = len(sub) // max(sub[g_column].nunique(), 1) if has_g else len(sub)
        name = "all units" if group is None else str(group)
        _histogram_panel(ax, finite_values(sub["amplitude_mV"]), curves, colours, m, threshold_mV)
        ax.set_title(f"{name} ({n_units} units)", fontsize=10)
    handles = [
        plt.Line2D([], [], color=c, lw=1.6, label=f"g = {format_g(g)} nS") for g, c in zip(g_all, colours) if has_g
    ]
    handles += [
        plt.Line2D([], [], color="#cc3311", ls=ls, lw=1.5, label=label)
        for _, label, ls in _MEASURED_LINES
        if not meas.empty
    ]
    handles.append(plt.Line2D([], [], color="0.55", ls="-.", lw=0.9, label=f"threshold ±{threshold_mV:g} mV"))
    fig.suptitle("PSP amplitude distributions per group", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1 - 1.8 / fig.get_figwidth(), 0.97))
    fig.legend(
        handles=handles,
        loc="upper left",
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(1 - 1.75 / fig.get_figwidth(), 0.93),
    )
    fig.savefig(path)
    plt.close(fig)
    return path


def _histogram_panel(
    ax: Any,
    amps: np.ndarray,
    curves: list[np.ndarray | None],
    colours: list[Any],
    measured: pd.Series | None,
    threshold_mV: float,
) -> None:
    """One group's step histograms (one per g; ``None`` means all of ``amps``), measured lines, threshold."""
    from matplotlib.ticker import MaxNLocator

    ref = finite_values([] if measured is None else measured.to_numpy())
    lo = min([*amps, *ref, -threshold_mV, 0.0]) if amps.size or ref.size else -1.0
    hi = max([*amps, *ref, threshold_mV, 0.0]) if amps.size or ref.size else 1.0
    pad = 0.02 * (hi - lo) or 0.5
    edges = np.linspace(lo - pad, hi + pad, 31)
    for curve, colour in zip(curves, colours):
        a = amps if curve is None else curve
        if a.size:
            ax.hist(a, bins=edges, histtype="step", lw=1.4, color=colour)
    if measured is not None:
        for column, _, ls in _MEASURED_LINES:
            if np.isfinite(measured[column]):
                ax.axvline(measured[column], color="#cc3311", ls=ls, lw=1.5)
    for sign in (-1, 1):
        ax.axvline(sign * threshold_mV, color="0.55", ls="-.", lw=0.9)
    ax.set_xlabel("PSP amplitude (mV)", fontsize=9)
    ax.set_ylabel("units", fontsize=9)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(labelsize=8)


def fit_plot(
    stats: pd.DataFrame,
    fits: pd.DataFrame,
    optimal: pd.DataFrame | None,
    path: Path,
    *,
    min_r2: float = FitConfig.min_r2,
    group_column: str = "group",
    g_column: str = "g",
) -> Path:
    """Per group: amplitude statistics against g, their fitted lines and the optimal g.

    Args:
        stats: statistics per group and g (``amp_mean, amp_median, amp_max`` in mV).
        fits: :func:`pspsweep.fit.linear_fits` output (``<stat>_slope``, ``_offset``, ``_r2``).
        optimal: :func:`pspsweep.fit.optimal_g` output (measured values, ``optimal_g``,
            ``g_mean``/``g_median``/``g_max``, ``fit_ok``, optionally ``ci_low``/``ci_high``)
            or None. A NaN optimal g simply draws no vertical line.
        path: the PNG to write.
        min_r2: ``fit.min_r2``, the r² below which a line is flagged (as in ``optimal_g.csv``).

    A panel title carries a warning mark when ``fit_ok`` is False or a used fit has
    r² below ``min_r2`` or no fit at all (fewer than two g values, constant statistic).
    """
    plt = pyplot()
    groups = list(dict.fromkeys([*stats[group_column], *fits[group_column]]))
    fit_rows = {r[group_column]: r for r in fits.to_dict("records")}
    opt_rows = {} if optimal is None else {r[group_column]: r for r in optimal.to_dict("records")}
    fig, axes = panel_grid(len(groups), extra_width=1.9)
    for ax, group in zip(axes, groups):
        sub = stats[stats[group_column] == group].sort_values(g_column)
        fit, opt = fit_rows.get(group, {}), opt_rows.get(group, {})
        _draw_fit_panel(ax, sub[g_column].to_numpy(dtype=float), sub, fit, opt)
        warn = fit_warnings(fit, opt, min_r2)
        ax.set_title(_fit_title(group, opt, warn), fontsize=9, color="#bb0000" if warn else "black")
        ax.set_xlabel("g (nS)", fontsize=9)
        ax.set_ylabel("PSP amplitude (mV)", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, loc="best", framealpha=0.7)
    handles = _legend_handles(plt, optimal)
    fig.suptitle("Amplitude statistics against conductance", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1 - 1.9 / fig.get_figwidth(), 0.97))
    fig.legend(
        handles=handles,
        loc="upper left",
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(1 - 1.85 / fig.get_figwidth(), 0.93),
    )
    fig.savefig(path)
    plt.close(fig)
    return path


def _legend_handles(plt: Any, optimal: pd.DataFrame | None) -> list[Any]:
    handles = [
        plt.Line2D([], [], color="0.3", marker="o", ls="", label="simulated statistic"),
        plt.Line2D([], [], color="0.3", lw=1.1, label="linear fit"),
        plt.Line2D([], [], color="0.3", ls="--", lw=0.9, label="measured value"),
        plt.Line2D([], [], color="0.3", marker="x", ls="", mew=1.5, label="fit meets measured"),
        plt.Line2D([], [], color="k", lw=1.3, label="optimal g"),
    ]
    if optimal is not None and {"ci_low", "ci_high"} <= set(optimal.columns):
        handles.append(plt.Rectangle((0, 0), 1, 1, color="0.5", alpha=0.2, label="bootstrap CI"))
    if optimal is not None and optimal.get("extrapolated", pd.Series(dtype=bool)).astype(bool).any():
        handles.append(
            plt.Line2D([], [], color="k", lw=1.3, ls=":", marker="o", mfc="white", label="optimal g extrapolated")
        )
    return handles


def _draw_fit_panel(ax: Any, g: np.ndarray, sub: pd.DataFrame, fit: dict, opt: dict) -> None:
    """One group's statistics, lines, measured values, optimal g and interval."""
    g_opt = float(opt.get("optimal_g", np.nan))
    # the x range covers the simulated g and, where finite, the inverted ones
    xs = [
        *finite_values(g),
        *finite_values([opt.get(c, np.nan) for c in ("optimal_g", "ci_low", "ci_high", "g_mean", "g_median", "g_max")]),
    ]
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    span = (x_hi - x_lo) or max(abs(x_hi), 1.0)
    line_g = np.linspace(x_lo - 0.05 * span, x_hi + 0.05 * span, 50)
    for stat, meas_col, g_col, label, colour, marker in _FIT_SERIES:
        r2 = float(fit.get(f"{stat}_r2", np.nan))
        r2_text = f"r²={r2:.2f}" if np.isfinite(r2) else "r² n/a"
        ax.plot(g, sub[stat].to_numpy(dtype=float), marker, color=colour, ms=5, label=f"{label} ({r2_text})")
        slope, offset = float(fit.get(f"{stat}_slope", np.nan)), float(fit.get(f"{stat}_offset", np.nan))
        if np.isfinite(slope) and np.isfinite(offset):
            ax.plot(line_g, slope * line_g + offset, "-", color=colour, lw=1.1, alpha=0.8)
        target = float(opt.get(meas_col, np.nan))
        if np.isfinite(target):
            ax.axhline(target, color=colour, ls="--", lw=0.9, alpha=0.8)
            g_hit = float(opt.get(g_col, np.nan))
            if np.isfinite(g_hit):
                ax.plot([g_hit], [target], "x", color=colour, ms=7, mew=1.5)
    if np.isfinite(g_opt) and bool(opt.get("extrapolated", False)):
        # outside the simulated g the lines are guesses: a dotted line and a hollow mark
        ax.axvline(g_opt, color="k", lw=1.3, ls=":")
        ax.plot([g_opt], [0.93], "o", mfc="white", mec="k", mew=1.3, ms=8, transform=ax.get_xaxis_transform())
        ax.annotate(
            "extrapolated",
            (g_opt, 0.93),
            xycoords=ax.get_xaxis_transform(),
            xytext=(7, 0),
            textcoords="offset points",
            ha="left",
            va="center",
            fontsize=7,
            zorder=6,  # above the legend
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
        )
    elif np.isfinite(g_opt):
        ax.axvline(g_opt, color="k", lw=1.3)
    low, high = float(opt.get("ci_low", np.nan)), float(opt.get("ci_high", np.nan))
    if np.isfinite(low) and np.isfinite(high):
        ax.axvspan(low, high, color="0.5", alpha=0.2, lw=0)


def fit_warnings(fit: Mapping[str, Any], opt: Mapping[str, Any], min_r2: float) -> list[str]:
    """Why a group's panel is flagged: its ``optimal_g.csv`` note, lines with r² below
    ``min_r2`` and statistics without a line (empty when the fit is fine)."""
    warn = []
    if opt and not bool(opt.get("fit_ok", True)):
        note = str(opt.get("note") or "").split(";")[0].strip()
        note = note if len(note) <= 45 else note[:44] + "…"
        warn.append(note or "fit not ok")
        if bool(opt.get("extrapolated", False)) and not note.startswith("extrapolated"):
            warn.append("extrapolated")
    r2 = {label: float(fit.get(f"{stat}_r2", np.nan)) for stat, _, _, label, _, _ in _FIT_SERIES}
    problems = [label for label, value in r2.items() if np.isfinite(value) and value < min_r2]
    undefined = [label for label, value in r2.items() if not np.isfinite(value)]
    if problems:
        warn.append(f"r²<{min_r2:g}: {', '.join(problems)}")
    if undefined:
        warn.append(f"no fit: {', '.join(undefined)}")
    return warn


def _fit_title(group: object, opt: Mapping[str, Any], warn: list[str]) -> str:
    g_opt = float(opt.get("optimal_g", np.nan))
    low, high = float(opt.get("ci_low", np.nan)), float(opt.get("ci_high", np.nan))
    title = f"{group}: optimal g = " + (f"{g_opt:.3g} nS" if np.isfinite(g_opt) else "n/a")
    if np.isfinite(g_opt) and bool(opt.get("extrapolated", False)):
        title += " (extrapolated)"
    if np.isfinite(low) and np.isfinite(high):
        title += f" [{low:.3g}, {high:.3g}]"
    if warn:
        title += f"\n{_WARN} " + "; ".join(warn)
    return title


def amplitude_vs_distance(units: pd.DataFrame, path: Path, *, g_column: str = "g") -> Path:
    """Scatter of unit amplitude (mV) against the mean soma path distance of its synapses (um).

    Args:
        units: unit table with ``amplitude_mV`` and ``distance_um``; points are coloured
            by ``g_column`` when it is present and takes several values.
        path: the PNG to write.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=110)
    d = units["distance_um"].to_numpy(dtype=float)
    a = units["amplitude_mV"].to_numpy(dtype=float)
    ok = np.isfinite(d) & np.isfinite(a)
    g_values = np.unique(finite_values(units[g_column])) if g_column in units.columns else np.empty(0)
    title = f"PSP amplitude vs synapse distance ({int(ok.sum())} points)"
    if g_values.size > 1:
        g = units[g_column].to_numpy(dtype=float)
        ok &= np.isfinite(g)
        order = np.argsort(g[ok], kind="stable")
        sc = ax.scatter(d[ok][order], a[ok][order], c=g[ok][order], cmap="viridis", s=12, alpha=0.75, lw=0)
        fig.colorbar(sc, ax=ax, label="g (nS)")
    else:
        ax.scatter(d[ok], a[ok], color="#4477aa", s=12, alpha=0.75, lw=0)
        if g_values.size == 1:
            title += f", g = {format_g(g_values[0])} nS"
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel("mean path distance of the unit's synapses to the soma (µm)")
    ax.set_ylabel("PSP amplitude (mV)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def morphology_map(
    spec: CellSpec, units: pd.DataFrame, path: Path, projection: tuple[str, str] = ("x", "y"), *, g_column: str = "g"
) -> Path:
    """2-D projection of the morphology with every synapse coloured by its unit's amplitude.

    Sections are grey lines whose width follows the diameter. Each synapse of each unit
    (``sections``/``xs`` fields of the unit table) is a dot at its 3-D position, coloured
    by the unit's ``amplitude_mV`` on a diverging colour map centred at 0 mV (IPSPs blue,
    EPSPs red); units without an amplitude are drawn as grey rings. When the table holds
    several conductances, only the largest g of each group (or cell type) is drawn.

    Args:
        spec: the cell (only its sections are used).
        units: unit table with ``sections``, ``xs`` and ``amplitude_mV``.
        path: the PNG to write.
        projection: the two axes to show, from ``"x"``, ``"y"``, ``"z"``.
    """
    from matplotlib.collections import LineCollection

    plt = pyplot()
    ia, ib = _projection_axes(projection)
    shown = _largest_g(units, g_column)
    segments, widths = _projected_sections(spec, ia, ib)
    xyz, amp = _synapse_points(spec, shown)
    all_pts = np.concatenate([np.asarray(s.points, dtype=float)[:, :3] for s in spec.sections] + [xyz])
    fig, ax = plt.subplots(figsize=_map_size(all_pts[:, [ia, ib]]), dpi=100)
    ax.add_collection(
        LineCollection(
            segments, linewidths=np.clip(0.5 * np.asarray(widths), 0.7, 8.0), colors="0.6", capstyle="round", zorder=1
        )
    )
    _draw_synapses(fig, ax, xyz[:, [ia, ib]], amp)
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(f"{projection[0]} (µm)")
    ax.set_ylabel(f"{projection[1]} (µm)")
    ax.set_title(f"{spec.name}: {len(amp)} synapses of {len(shown)} units{_g_note(shown, g_column)}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _projection_axes(projection: tuple[str, str]) -> tuple[int, int]:
    axis_index = {"x": 0, "y": 1, "z": 2}
    if len(projection) != 2 or any(p not in axis_index for p in projection) or projection[0] == projection[1]:
        raise ValueError(f"projection must be two different axes of x, y, z, got {projection!r}")
    return axis_index[projection[0]], axis_index[projection[1]]


def _map_size(points_2d: np.ndarray) -> tuple[float, float]:
    """Figure inches that follow the projected extent (aspect kept within 1:2 and 2:1)."""
    extent = np.ptp(points_2d, axis=0) if len(points_2d) else np.ones(2)
    ratio = float(np.clip((extent[1] + 1e-9) / (extent[0] + 1e-9), 0.5, 2.0))
    return (7.5, 1.2 + 6.0 * ratio) if ratio >= 1 else (1.5 + 6.0 / ratio, 7.0)


def _draw_synapses(fig: Any, ax: Any, xy: np.ndarray, amp: np.ndarray) -> None:
    """Synapses on a diverging map centred at 0 mV, largest on top; those without an amplitude as rings."""
    missing = ~np.isfinite(amp)
    if missing.any():
        ax.scatter(
            xy[missing, 0],
            xy[missing, 1],
            s=14,
            facecolors="none",
            edgecolors="0.4",
            lw=0.6,
            zorder=2,
            label="no amplitude",
        )
        ax.legend(loc="lower right", fontsize=8)
    vmax = float(np.max(np.abs(amp[~missing]))) if (~missing).any() else 1.0
    vmax = vmax if vmax > 0 else 1.0
    order = np.argsort(np.abs(np.where(missing, 0.0, amp)), kind="stable")
    order = order[~missing[order]]
    sc = ax.scatter(
        xy[order, 0],
        xy[order, 1],
        c=amp[order],
        cmap="RdBu_r",
        vmin=-vmax,
        vmax=vmax,
        s=12,
        lw=0.2,
        edgecolors="k",
        zorder=3,
    )
    fig.colorbar(sc, ax=ax, shrink=0.6, label="unit PSP amplitude (mV)")


def _projected_sections(spec: CellSpec, ia: int, ib: int) -> tuple[list[np.ndarray], list[float]]:
    """The sections as 2-D line segments (axes ``ia``, ``ib``) and their mean diameters."""
    segments: list[np.ndarray] = []
    widths: list[float] = []
    for s in spec.sections:
        pts = np.asarray(s.points, dtype=float)
        if len(pts) >= 2:
            segments.extend(np.stack([pts[:-1][:, [ia, ib]], pts[1:][:, [ia, ib]]], axis=1))
            widths.extend(0.5 * (pts[:-1, 3] + pts[1:, 3]))
    return segments, widths


def _synapse_points(spec: CellSpec, units: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """3-D position of every synapse of every unit, and its unit's amplitude."""
    xyz, amp = [], []
    for sections, xs, a in zip(units["sections"], units["xs"], units["amplitude_mV"]):
        secs, x = geometry.parse_locations(sections, xs)
        for si, xi in zip(secs, x):
            xyz.append(geometry.point_at(spec, int(si), float(xi)))
            amp.append(float(a))
    return np.array(xyz).reshape(-1, 3), np.array(amp, dtype=float)


def _g_note(shown: pd.DataFrame, g_column: str) -> str:
    if g_column not in shown.columns or not finite_values(shown[g_column]).size:
        return ""
    gs = np.unique(finite_values(shown[g_column]))
    return f", g = {format_g(gs[0])} nS" if gs.size == 1 else ", largest g per group"


def _largest_g(units: pd.DataFrame, g_column: str) -> pd.DataFrame:
    """The rows at the largest conductance of each group (or cell type, or the whole table).

    The conductance is ``g_column`` if present, else the row-wise maximum of ``gAMPA``,
    ``gNMDA``, ``gGABA``; without either, all rows are returned.
    """
    if g_column in units.columns:
        g = units[g_column].astype(float)
    else:
        present = [c for c in ("gAMPA", "gNMDA", "gGABA") if c in units.columns]
        if not present:
            return units
        g = units[present].astype(float).max(axis=1, skipna=True)
    key = next((c for c in ("group", "celltype") if c in units.columns), None)
    top = g.groupby(units[key]).transform("max") if key else pd.Series(g.max(), index=units.index)
    return units[(g == top) | (g.isna() & top.isna())]


def fit_figures(
    result: FitResult, measured: pd.DataFrame | None, cell: CellSpec, out_dir: Path, threshold_mV: float, min_r2: float
) -> list[Path]:
    """The fit's four plots in ``out_dir``: group histograms, fit.png (flagging lines below
    ``min_r2``), amplitude against distance and the morphology map."""

    # with a measured table the plots show the groups it has values for (the others,
    # e.g. VPM of other columns, stay in the tables with a note): a page per fit, not 30
    def shown(df: pd.DataFrame | None) -> pd.DataFrame | None:
        if measured is None or df is None or not set(measured.index) & set(df["group"]):
            return df
        return df[df["group"].isin(measured.index)]

    units = result.units.drop_duplicates(["celltype", "unit", "g"])
    return [
        group_histograms(shown(result.units), measured, out_dir / "group_histograms.png", threshold_mV),
        fit_plot(
            shown(result.group_statistics),
            shown(result.fits),
            shown(result.optimal),
            out_dir / "fit.png",
            min_r2=min_r2,
        ),
        amplitude_vs_distance(units, out_dir / "amplitude_vs_distance.png"),
        morphology_map(cell, units, out_dir / "morphology_amplitudes.png"),
    ]
