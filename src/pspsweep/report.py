"""Pictures and tables for people: PNG plots of one sweep (no MLflow, no NEURON).

Each function writes one file and returns its path; the pipeline hands the files to the
tracker, whose UI previews PNG and CSV.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on clusters and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


#: at most this many unit traces are drawn, so a plot of thousands of units stays readable
MAX_TRACES = 60


def amplitude_histogram(table: pd.DataFrame, path: Path, threshold_mV: float, title: str) -> Path:
    """Histogram of signed PSP amplitudes (mV) with the response threshold marked."""
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


def trace_overview(t_baseline: np.ndarray, v_baseline: np.ndarray, traces: list[tuple[np.ndarray, np.ndarray]],
                   n_units: int, path: Path, t_stim: float, t_end: float, title: str) -> Path:
    """Soma voltage of the baseline and of some units (top) and unit minus baseline (bottom).

    Args:
        t_baseline, v_baseline: the synapse-free run (ms, mV).
        traces: (t, v) of the units to draw, largest amplitude first (at most ``MAX_TRACES``).
        n_units: how many units the sweep had (for the title).
        path: the PNG to write.
        t_stim, t_end: stimulus and end time (ms).
        title: first part of the title.
    """
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), dpi=110, sharex=True)
    t0 = max(0.0, t_stim - 10.0)
    grid = np.linspace(t0, t_end, 800)
    base = np.interp(grid, t_baseline, v_baseline)
    cmap = plt.get_cmap("viridis")
    shown = traces[:MAX_TRACES]
    for rank, (t, v) in enumerate(shown):
        vg = np.interp(grid, t, v)
        color = cmap(rank / max(len(shown) - 1, 1))
        top.plot(grid, vg, color=color, lw=0.7, alpha=0.8)
        bottom.plot(grid, vg - base, color=color, lw=0.7, alpha=0.8)
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
