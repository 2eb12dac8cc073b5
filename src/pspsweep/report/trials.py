"""The trials of a sweep at a glance (``trials.png``): one unit's trial traces, the CV
of each unit against its mean amplitude, and the histogram of the failure rates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pspsweep.report.plotting import DPI, PSP, Measure, integer_counts, panel_grid

#: cell types drawn in colours of their own (more share one colour, without a legend)
MAX_LEGEND_TYPES = 10
_SUCCESS, _FAILURE, _MEAN = "0.45", "#e8a0a0", "black"


@dataclass(frozen=True)
class ShownTrials:
    """One unit's trial traces: a label (``VPM_C2 unit 3``), the traces (t, signal) and
    the releases of each trial (0: a failure)."""

    label: str
    traces: Sequence[tuple[np.ndarray, np.ndarray]]
    released: np.ndarray


def trials_figure(
    shown: ShownTrials | None,
    table: pd.DataFrame,
    columns: tuple[str, str],
    path: Path,
    title: str,
    window: tuple[float, float],
    measure: Measure = PSP,
) -> Path:
    """Draw ``trials.png``.

    Args:
        shown: the unit whose trial traces are drawn, or None.
        table: the unit table (psps.csv) with the trial columns.
        columns: its CV and failure-rate columns.
        window: the time axis (ms) of the traces.
    """
    plt_fig, axes = panel_grid(3, max_cols=3, panel=(5.2, 4.2))
    cv_column, failure_column = columns
    _trace_panel(axes[0], shown, window, measure)
    _cv_panel(axes[1], table, measure, cv_column)
    _failure_panel(axes[2], table, failure_column)
    plt_fig.suptitle(f"Trials: {title}", fontsize=13)
    plt_fig.tight_layout()
    plt_fig.savefig(path, dpi=DPI)
    from pspsweep.report.plotting import pyplot

    pyplot().close(plt_fig)
    return path


def _trace_panel(ax: Any, shown: ShownTrials | None, window: tuple[float, float], measure: Measure) -> None:
    """The shown unit's trials: failures and successes in two colours, their mean in bold."""
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(measure.trace)
    if shown is None or not shown.traces:
        ax.text(0.5, 0.5, "no trial traces kept", ha="center", va="center", transform=ax.transAxes)
        return
    grid = shown.traces[0][0]
    keep = (grid >= window[0]) & (grid <= window[1])
    failures = 0
    for (t, v), released in zip(shown.traces, shown.released):
        failed = released == 0
        failures += int(failed)
        ax.plot(t, v, color=_FAILURE if failed else _SUCCESS, lw=0.8, zorder=1 if failed else 2)
    mean = np.mean([np.interp(grid, t, v) for t, v in shown.traces], axis=0)
    ax.plot(grid[keep], mean[keep], color=_MEAN, lw=2.2, zorder=3)
    n = len(shown.traces)
    handles = [
        _line(_SUCCESS, 0.8, f"release ({n - failures})"),
        _line(_FAILURE, 0.8, f"failure ({failures})"),
        _line(_MEAN, 2.2, f"mean of {n} trials"),
    ]
    ax.legend(handles=handles, fontsize=10, loc="best")
    ax.set_xlim(*window)
    ax.set_title(f"{shown.label}: {n} trials", fontsize=11)


def _line(color: str, width: float, label: str) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], color=color, lw=width, label=label)


def _by_celltype(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The table per cell type (sweep order), or all as one when there are many."""
    types = list(dict.fromkeys(table["celltype"]))
    if len(types) > MAX_LEGEND_TYPES:
        return [(f"{len(types)} cell types", table)]
    return [(str(c), table[table["celltype"] == c]) for c in types]


def _cv_panel(ax: Any, table: pd.DataFrame, measure: Measure, cv_column: str) -> None:
    """CV against the trial mean amplitude, a colour per cell type."""
    drawn, top = 0, 0.1
    for label, sub in _by_celltype(table):
        x, y = sub[measure.column].to_numpy(float), sub[cv_column].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y)
        drawn += int(ok.sum())
        top = max(top, 1.1 * float(y[ok].max())) if ok.any() else top
        ax.scatter(x[ok], y[ok], s=14, alpha=0.7, label=f"{label} ({int(ok.sum())})")
    ax.set_ylim(-0.02 * top, top)  # a CV is never negative; points at 0 stay whole
    ax.set_xlabel(f"mean {measure.response} over trials ({measure.unit})")
    ax.set_ylabel("CV over trials (SD / |mean|)")
    ax.set_title("trial-to-trial CV per unit", fontsize=11)
    if drawn:
        ax.legend(fontsize=10, loc="best")
    else:
        ax.text(0.5, 0.5, "no CV (one trial, or zero means)", ha="center", va="center", transform=ax.transAxes)


def _failure_panel(ax: Any, table: pd.DataFrame, failure_column: str) -> None:
    """Histogram of the units' failure rates, stacked per cell type."""
    parts = [(label, sub[failure_column].to_numpy(float)) for label, sub in _by_celltype(table)]
    parts = [(label, v[np.isfinite(v)]) for label, v in parts]
    bins = np.linspace(0.0, 1.0, 21)
    ax.hist([v for _, v in parts], bins=bins, stacked=True, label=[f"{label}" for label, _ in parts])
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("failure rate (fraction of trials without release)")
    ax.set_ylabel("units")
    ax.set_title("failure rate per unit", fontsize=11)
    integer_counts(ax)
    if len(parts) > 1:
        ax.legend(fontsize=10, loc="best")
