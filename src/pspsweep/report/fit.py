"""The plots of a fit: the fitted lines and amplitude against distance, and
:func:`fit_figures`, which also draws the group histograms (:mod:`.histograms`) and the
morphology map (:mod:`.morphology`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pspsweep.cellmodel import CellSpec
from pspsweep.config import FitConfig
from pspsweep.report.histograms import group_histograms
from pspsweep.report.morphology import morphology_map
from pspsweep.report.plotting import DPI, PSP, Measure, finite_values, format_g, panel_grid, pyplot

if TYPE_CHECKING:
    from pspsweep.fit.stage import FitResult

#: fitted statistics of :func:`fit_plot`: (statistic, measured column, g column, label, colour, marker)
_FIT_SERIES = (
    ("amp_mean", "EPSP_mean_measured", "g_mean", "mean", "#4477aa", "o"),
    ("amp_median", "EPSP_med_measured", "g_median", "median", "#228833", "s"),
    ("amp_max", "EPSP_max_measured", "g_max", "max", "#cc6677", "^"),
)
_WARN = "\u26a0"


def fit_plot(
    stats: pd.DataFrame,
    fits: pd.DataFrame,
    optimal: pd.DataFrame | None,
    path: Path,
    *,
    min_r2: float = FitConfig.min_r2,
    group_column: str = "group",
    g_column: str = "g",
    measure: Measure = PSP,
    protocol: str = "",
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
        measure: what the amplitudes are (the y axis).
        protocol: the protocol the units were simulated with, for the title.

    A panel title carries a warning mark when ``fit_ok`` is False or a used fit has
    r² below ``min_r2`` or no fit at all (fewer than two g values, constant statistic).
    """
    plt = pyplot()
    groups = list(dict.fromkeys([*stats[group_column], *fits[group_column]]))
    fit_rows = {r[group_column]: r for r in fits.to_dict("records")}
    opt_rows = {} if optimal is None else {r[group_column]: r for r in optimal.to_dict("records")}
    fig, axes = panel_grid(len(groups), extra_width=2.6)
    for ax, group in zip(axes, groups):
        sub = stats[stats[group_column] == group].sort_values(g_column)
        fit, opt = fit_rows.get(group, {}), opt_rows.get(group, {})
        _draw_fit_panel(ax, sub[g_column].to_numpy(dtype=float), sub, fit, opt)
        warn = fit_warnings(fit, opt, min_r2)
        ax.set_title(_fit_title(group, opt, warn), fontsize=11, color="#bb0000" if warn else "black")
        ax.set_xlabel("g (nS)", fontsize=11)
        ax.set_ylabel(measure.label, fontsize=11)
        ax.tick_params(labelsize=10)
        ax.legend(fontsize=10, loc="best", framealpha=0.7)
    handles = _legend_handles(plt, optimal)
    fig.suptitle("Amplitude statistics against conductance" + (f"\n{protocol}" if protocol else ""), fontsize=13)
    fig.tight_layout(rect=(0, 0, 1 - 2.6 / fig.get_figwidth(), 0.92 if protocol else 0.97))
    fig.legend(
        handles=handles,
        loc="upper left",
        fontsize=10,
        frameon=False,
        bbox_to_anchor=(1 - 2.55 / fig.get_figwidth(), 0.86 if protocol else 0.93),
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


def amplitude_vs_distance(units: pd.DataFrame, path: Path, *, g_column: str = "g", measure: Measure = PSP) -> Path:
    """Scatter of unit amplitude (mV) against the mean soma path distance of its synapses (um).

    Args:
        units: unit table with ``measure.column`` and ``distance_um``; points are coloured
            by ``g_column`` when it is present and takes several values.
        path: the PNG to write.
        measure: the amplitude column and its label.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.0), dpi=DPI)
    d = units["distance_um"].to_numpy(dtype=float)
    a = units[measure.column].to_numpy(dtype=float)
    ok = np.isfinite(d) & np.isfinite(a)
    g_values = np.unique(finite_values(units[g_column])) if g_column in units.columns else np.empty(0)
    title = f"{measure.response} amplitude vs synapse distance ({int(ok.sum())} points)"
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
    ax.set_xlabel("mean path distance of the unit's synapses to the soma (µm)", fontsize=11)
    ax.set_ylabel(measure.label, fontsize=11)
    ax.tick_params(labelsize=10)
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def fit_figures(
    result: FitResult,
    measured: pd.DataFrame | None,
    cell: CellSpec,
    out_dir: Path,
    threshold_mV: float,
    min_r2: float,
    *,
    convention: str = "pspsweep",
    view: str = "principal",
    measure: Measure = PSP,
    protocol: str = "",
) -> list[Path]:
    """The fit's four plots in ``out_dir``: group histograms (with the ``convention``'s
    threshold), fit.png (flagging lines below ``min_r2``; its title names ``protocol``),
    amplitude against distance and the morphology map seen from ``view``
    (``output.morphology_view``); ``measure``: what the fitted amplitudes are."""

    # with a measured table the plots show the groups it has values for (the others,
    # e.g. VPM of other columns, stay in the tables with a note): a page per fit, not 30
    def shown(df: pd.DataFrame | None) -> pd.DataFrame | None:
        if measured is None or df is None or not set(measured.index) & set(df["group"]):
            return df
        return df[df["group"].isin(measured.index)]

    units = result.units.drop_duplicates(["celltype", "unit", "g"])
    return [
        group_histograms(
            shown(result.units),
            measured,
            out_dir / "group_histograms.png",
            threshold_mV,
            convention=convention,
            measure=measure,
        ),
        fit_plot(
            shown(result.group_statistics),
            shown(result.fits),
            shown(result.optimal),
            out_dir / "fit.png",
            min_r2=min_r2,
            measure=measure,
            protocol=protocol,
        ),
        amplitude_vs_distance(units, out_dir / "amplitude_vs_distance.png", measure=measure),
        morphology_map(cell, units, out_dir / "morphology_amplitudes.png", view, label=f"unit {measure.label}"),
    ]
