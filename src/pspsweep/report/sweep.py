"""The plots of one sweep: its amplitude histogram and an overview of its traces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pspsweep.report.plotting import pyplot

#: at most this many unit traces are drawn, so a plot of thousands of units stays readable
MAX_TRACES = 60


def amplitude_histogram(table: pd.DataFrame, path: Path, threshold_mV: float, title: str) -> Path:
    """Histogram of signed PSP amplitudes (mV) with the response threshold marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    amps = table["amplitude_mV"].to_numpy(dtype=float)
    amps = amps[np.isfinite(amps)]
    bins = min(max(len(amps) // 3, 10), 60)
    ax.hist(amps, bins=bins, color="#4477aa", edgecolor="white")
    for sign in (-1, 1):
        ax.axvline(sign * threshold_mV, color="0.4", ls="--", lw=1)
    ax.set_xlabel("PSP amplitude (mV)")
    ax.set_ylabel("units")
    ax.set_title(f"{title}\n{len(amps)} units, threshold ±{threshold_mV:g} mV", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def trace_overview(
    t_baseline: np.ndarray,
    v_baseline: np.ndarray,
    traces: list[tuple[np.ndarray, np.ndarray]],
    n_units: int,
    path: Path,
    t_stim: float,
    t_end: float,
    title: str,
) -> Path:
    """Soma voltage of the baseline and of some units (top) and unit minus baseline (bottom).

    Args:
        t_baseline, v_baseline: the synapse-free run (ms, mV).
        traces: (t, v) of the units to draw, largest amplitude first (at most ``MAX_TRACES``).
        n_units: how many units the sweep had (for the title).
        path: the PNG to write.
        t_stim, t_end: stimulus and end time (ms).
        title: first part of the title.
    """
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), dpi=110, sharex=True)
    t0 = max(0.0, t_stim - 10.0)
    grid = np.linspace(t0, t_end, 800)
    base = np.interp(grid, t_baseline, v_baseline)
    shown = traces[:MAX_TRACES]
    if shown:
        from matplotlib.collections import LineCollection

        # one collection per panel rather than a line per trace: a third faster to draw
        on_grid = np.array([np.interp(grid, t, v) for t, v in shown])
        colors = plt.get_cmap("viridis")(np.arange(len(shown)) / max(len(shown) - 1, 1))
        for ax, values in ((top, on_grid), (bottom, on_grid - base)):
            segments = np.stack([np.broadcast_to(grid, values.shape), values], axis=-1)
            ax.add_collection(LineCollection(list(segments), colors=colors, linewidths=0.7, alpha=0.8))
            ax.autoscale_view()
    top.plot(grid, base, color="k", lw=1.5, label="baseline (no synapse)")
    top.legend(loc="best", fontsize=8)
    for ax in (top, bottom):
        ax.axvline(t_stim, color="0.5", ls=":", lw=1)
    top.set_ylabel("soma V (mV)")
    bottom.set_ylabel("unit − baseline (mV)")
    bottom.set_xlabel("t (ms)")
    top.set_title(f"{title}: {len(shown)} of {n_units} units", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
