"""Amplitude histograms: one sweep's, split into excitatory and inhibitory units, and a
fit's small multiples (one row per group, one column per conductance)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pspsweep.report.plotting import (
    DPI,
    MIN_WIDTH_PX,
    PSP,
    Measure,
    finite_values,
    format_g,
    integer_counts,
    pyplot,
    threshold_label,
    threshold_values,
)

#: measured statistics drawn as reference lines: (column, label, line style)
MEASURED_LINES = (
    ("EPSP_mean_measured", "measured mean", "-"),
    ("EPSP_med_measured", "measured median", "--"),
    ("EPSP_max_measured", "measured max", ":"),
)
#: the title of each kind of unit (``True``: excitatory)
KIND_TITLES = {True: "excitatory units (EPSPs)", False: "inhibitory units (IPSPs)"}
_BAR = "#4477aa"
_MEASURED = "#cc3311"
_THRESHOLD = "0.45"


def split_by_kind(
    table: pd.DataFrame, excitatory: Mapping[str, bool] | None, response: str = "PSP"
) -> list[tuple[str, pd.DataFrame]]:
    """The table's excitatory and inhibitory units apart (each kind present, excitatory
    first), titled; everything as ``units`` when ``excitatory`` (cell type -> kind) is None.
    ``response``: ``PSP`` (titles ``... (EPSPs)``) or ``PSC`` (``... (EPSCs)``)."""
    if excitatory is None:
        return [("units", table)]
    kind = table["celltype"].map(lambda c: excitatory.get(c))
    titles = {k: title.replace("PSP", response) for k, title in KIND_TITLES.items()}
    return [(titles[k], table[kind == k]) for k in (True, False) if (kind == k).any()]


def responding(amplitudes: np.ndarray, threshold_mV: float, convention: str) -> int:
    """How many of ``amplitudes`` pass the convention's threshold (pspsweep.statistics' rule)."""
    if convention == "isf":
        return int(np.sum(amplitudes >= threshold_mV))
    return int(np.sum(np.abs(amplitudes) >= threshold_mV))


def amplitude_histogram(
    table: pd.DataFrame,
    path: Path,
    threshold_mV: float,
    title: str,
    *,
    convention: str = "pspsweep",
    excitatory: Mapping[str, bool] | None = None,
    measure: Measure = PSP,
) -> Path:
    """Histogram of signed PSP amplitudes (mV; PSCs in nA), one panel per kind of unit,
    with the convention's response threshold marked.

    Args:
        table: unit table with ``measure.column`` (and ``celltype`` when ``excitatory`` is given).
        path: the PNG to write.
        threshold_mV, convention: ``analysis.threshold_mV`` (``threshold_nA`` for PSCs)
            and ``analysis.convention``.
        title: the figure's title.
        excitatory: cell type -> excitatory (True) or inhibitory; None: one panel.
        measure: the amplitude column, its unit and labels.
    """
    plt = pyplot()
    panels = split_by_kind(table, excitatory, measure.response)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(6.2 * len(panels), 4.6), dpi=DPI, squeeze=False, layout="constrained"
    )
    for ax, (name, sub) in zip(axes[0], panels):
        amps = finite_values(sub[measure.column])
        ax.hist(amps, bins=min(max(len(amps) // 3, 10), 60), color=_BAR, edgecolor="white")
        for x in threshold_values(threshold_mV, convention):
            ax.axvline(x, color=_THRESHOLD, ls="--", lw=1.2)
        n_resp = responding(amps, threshold_mV, convention)
        ax.set_title(f"{name}: {len(amps)} units, {n_resp} responding", fontsize=11)
        ax.set_xlabel(measure.label, fontsize=11)
        ax.set_ylabel("units", fontsize=11)
        ax.tick_params(labelsize=10)
        integer_counts(ax)
    label = threshold_label(threshold_mV, convention, measure.unit)
    handles = [plt.Line2D([], [], color=_THRESHOLD, ls="--", lw=1.2, label=label)]
    fig.legend(handles=handles, fontsize=10, loc="outside lower center", frameon=False)
    fig.suptitle(title, fontsize=12)
    fig.savefig(path)
    plt.close(fig)
    return path


def _measured_by_group(measured: pd.DataFrame | None, group_column: str = "group") -> pd.DataFrame:
    """Measured table indexed by group name (empty if None); missing columns become NaN."""
    if measured is None:
        return pd.DataFrame(columns=[c for c, _, _ in MEASURED_LINES])
    if group_column in measured.columns:
        measured = measured.set_index(group_column)
    elif "celltype" in measured.columns:
        measured = measured.set_index("celltype")
    return measured.reindex(columns=[c for c, _, _ in MEASURED_LINES]).astype(float)


def group_histograms(
    units: pd.DataFrame,
    measured: pd.DataFrame | None,
    path: Path,
    threshold_mV: float,
    *,
    convention: str = "pspsweep",
    group_column: str = "group",
    g_column: str = "g",
    measure: Measure = PSP,
) -> Path:
    """Amplitude histograms as small multiples: a row per group, a column per conductance
    (shared bins and count axis within a row), measured values marked.

    Args:
        units: unit table with ``measure.column`` and, if present, ``group_column`` (one
            row per group; a single row otherwise) and ``g_column`` (one column per g).
        measured: measured EPSP table indexed by group (or with a group/celltype column),
            or None; its mean, median and max are drawn as vertical lines.
        path: the PNG to write.
        threshold_mV, convention: the response threshold and the convention that applies it.
        measure: the amplitude column, its unit and labels.
    """
    plt = pyplot()
    groups = list(dict.fromkeys(units[group_column])) if group_column in units.columns else [None]
    has_g = g_column in units.columns
    g_all = list(np.unique(finite_values(units[g_column]))) if has_g else [None]
    meas = _measured_by_group(measured, group_column)
    legend_in = 2.6
    width = max(3.6 * len(g_all) + legend_in, MIN_WIDTH_PX / DPI)
    fig, axes = plt.subplots(
        len(groups), len(g_all), figsize=(width, 0.7 + 3.2 * len(groups)), dpi=DPI, squeeze=False, sharey="row"
    )
    thresholds = threshold_values(threshold_mV, convention)
    for row, group in zip(axes, groups):
        sub = units if group is None else units[units[group_column] == group]
        n_units = len(sub) // max(sub[g_column].nunique(), 1) if has_g else len(sub)
        name = f"{'all units' if group is None else group} ({n_units} units)"
        measured_row = meas.loc[group] if group in meas.index else None
        _group_row(row, sub, (g_all, g_column, measure.column), measured_row, thresholds, name)
    for ax in axes[-1]:
        ax.set_xlabel(measure.label, fontsize=11)
    handles = [
        plt.Line2D([], [], color=_MEASURED, ls=ls, lw=1.5, label=label)
        for _, label, ls in MEASURED_LINES
        if not meas.empty
    ]
    label = threshold_label(threshold_mV, convention, measure.unit)
    handles.append(plt.Line2D([], [], color=_THRESHOLD, ls="-.", lw=1.1, label=label))
    fig.suptitle(f"{measure.response} amplitude distributions per group and conductance", fontsize=13)
    fig.tight_layout(rect=(0, 0, 1 - legend_in / width, 0.98))
    anchor = (1 - 0.97 * legend_in / width, 0.95)
    fig.legend(handles=handles, loc="upper left", fontsize=10, frameon=False, bbox_to_anchor=anchor)
    fig.savefig(path)
    plt.close(fig)
    return path


def _group_row(
    row: Any,
    sub: pd.DataFrame,
    columns: tuple[list, str, str],
    measured: pd.Series | None,
    thresholds: tuple[float, ...],
    name: str,
) -> None:
    """One group's panels, one per g, on the same bins; the group named in the first title.
    ``columns``: every g, the conductance column and the amplitude column."""
    g_all, g_column, column = columns
    edges = _bin_edges(finite_values(sub[column]), measured, thresholds)
    for k, (ax, g) in enumerate(zip(row, g_all)):
        amps = finite_values(sub[column] if g is None else sub[column][sub[g_column] == g])
        _histogram_panel(ax, amps, edges, measured, thresholds)
        parts = ([name] if k == 0 else []) + ([] if g is None else [f"g = {format_g(g)} nS"])
        ax.set_title(", ".join(parts), fontsize=11)
        ax.set_ylabel("units" if k == 0 else "", fontsize=11)


def _bin_edges(amps: np.ndarray, measured: pd.Series | None, thresholds: tuple[float, ...]) -> np.ndarray:
    """30 bins over the group's amplitudes at every g, its measured values and the thresholds."""
    ref = finite_values([] if measured is None else measured.to_numpy())
    values = [*amps, *ref, *thresholds, 0.0]
    lo, hi = min(values), max(values)
    pad = 0.02 * (hi - lo) or 0.5
    return np.linspace(lo - pad, hi + pad, 31)


def _histogram_panel(
    ax: Any, amps: np.ndarray, edges: np.ndarray, measured: pd.Series | None, thresholds: tuple[float, ...]
) -> None:
    """One group at one g: filled step histogram, measured lines, thresholds, integer counts."""
    if amps.size:
        ax.hist(amps, bins=edges, histtype="stepfilled", color=_BAR, alpha=0.35, lw=0)
        ax.hist(amps, bins=edges, histtype="step", color=_BAR, lw=1.4)
    if measured is not None:
        for column, _, ls in MEASURED_LINES:
            if np.isfinite(measured[column]):
                ax.axvline(measured[column], color=_MEASURED, ls=ls, lw=1.5)
    for x in thresholds:
        ax.axvline(x, color=_THRESHOLD, ls="-.", lw=1.1)
    ax.set_xlim(edges[0], edges[-1])
    ax.tick_params(labelsize=10)
    integer_counts(ax)
