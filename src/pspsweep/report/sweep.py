"""The plots of one sweep: its amplitude histogram (:mod:`.histograms`) and an overview of
its traces, excitatory and inhibitory units apart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pspsweep.report.histograms import amplitude_histogram
from pspsweep.report.plotting import DPI, PSP, Measure, pyplot

#: at most this many unit traces of each kind are drawn, so a plot of thousands of units stays readable
MAX_TRACES = 60
#: the trace plot starts this long before tStim (ms), to show the level the PSP starts from
PRE_STIMULUS_MS = 10.0
#: step (ms) of the difference panel's grid: the analysis' default grid
_DIFFERENCE_DT = 0.025


@dataclass(frozen=True)
class TracePanel:
    """The traces of one kind of unit (a column of the trace overview).

    Attributes:
        name: the column's title, e.g. ``excitatory units (EPSPs)``.
        traces: (t ms, v mV) of the units to draw, largest amplitude first.
        amplitudes: each drawn unit's amplitude (mV), for the colour.
        n_units: how many units of this kind the sweep had.
    """

    name: str
    traces: list[tuple[np.ndarray, np.ndarray]]
    amplitudes: np.ndarray
    n_units: int


def trace_overview(
    baseline: tuple[np.ndarray, np.ndarray],
    panels: Sequence[TracePanel],
    path: Path,
    t_stim: float,
    t_end: float,
    title: str,
    *,
    measure: Measure = PSP,
    spikes: Sequence[float] = (),
) -> Path:
    """Soma voltage of the baseline and of some units (top) and unit minus baseline
    (bottom), a column per kind of unit, each trace coloured by its unit's amplitude
    (the clamp current and the PSCs, in nA, under a voltage clamp).

    The time axis ends at ``t_end``. Every trace is drawn up to its last recorded sample:
    under CVODE that is the start of the last solver step before ``t_end`` (isf-reference
    6.3), where the analysis, as ISF's, holds the last value; that held stretch of the
    difference is drawn dotted.

    Args:
        baseline: the synapse-free run (t ms, v mV).
        panels: one :class:`TracePanel` per kind of unit.
        path: the PNG to write.
        t_stim, t_end: stimulus and end time (ms).
        title: the figure's title.
        measure: what the traces and amplitudes are (:class:`~pspsweep.report.plotting.Measure`).
        spikes: the presynaptic spike times of a train (ms); empty: ``t_stim`` alone.
    """
    plt = pyplot()
    panels = list(panels) or [TracePanel("units", [], np.empty(0), 0)]
    fig, axes = plt.subplots(
        2, len(panels), figsize=(6.4 * len(panels), 7.2), dpi=DPI, sharex=True, squeeze=False, layout="constrained"
    )
    t0 = max(0.0, t_stim - PRE_STIMULUS_MS)
    held = False
    for column, panel in enumerate(panels):
        top, bottom = axes[0][column], axes[1][column]
        held |= _draw_traces(fig, top, bottom, baseline, panel, (t0, t_end), measure.label)
        top.set_title(f"{panel.name}: {len(panel.traces)} of {panel.n_units} units", fontsize=11)
        bottom.set_xlabel("t (ms)", fontsize=11)
        for ax in (top, bottom):
            for spike in spikes or (t_stim,):
                ax.axvline(spike, color="#cc3311", ls="--", lw=1.1)
            ax.set_xlim(t0, t_end)
            ax.tick_params(labelsize=10)
    axes[0][0].set_ylabel(measure.trace, fontsize=11)
    axes[1][0].set_ylabel(
        f"unit − baseline ({measure.unit}{', inward negative' if measure.response == 'PSC' else ''})", fontsize=11
    )
    _legend(fig, t_stim, held, one_row=len(panels) > 1, n_spikes=max(len(spikes), 1))
    fig.suptitle(title, fontsize=12)
    fig.savefig(path)
    plt.close(fig)
    return path


def _legend(fig: Any, t_stim: float, held: bool, one_row: bool, n_spikes: int = 1) -> None:
    """Baseline, the stimulus line(s) and, when a trace ends before tEnd, the held stretch."""
    plt = pyplot()
    spike = f"presynaptic spike, tStim = {t_stim:g} ms"
    if n_spikes > 1:
        spike = f"{n_spikes} presynaptic spikes from tStim = {t_stim:g} ms"
    handles = [
        plt.Line2D([], [], color="k", lw=1.5, label="baseline (no synapse)"),
        plt.Line2D([], [], color="#cc3311", ls="--", lw=1.1, label=spike),
    ]
    if held:
        label = "dotted: last CVODE sample held to tEnd (as analysed)"
        handles.append(plt.Line2D([], [], color="0.3", ls=":", lw=1.2, label=label))
    ncols = len(handles) if one_row else 1
    fig.legend(handles=handles, fontsize=10, loc="outside lower center", ncols=ncols, frameon=False)


def _draw_traces(
    fig: Any,
    top: Any,
    bottom: Any,
    baseline: tuple[np.ndarray, np.ndarray],
    panel: TracePanel,
    window: tuple[float, float],
    label: str = "PSP amplitude (mV)",
) -> bool:
    """One column: raw traces (top), differences (bottom), a colour bar of the amplitudes.

    Returns whether any difference holds a last sample before ``window[1]``.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    plt = pyplot()
    t_b, v_b = baseline
    t0, t_end = window
    amps = np.asarray(panel.amplitudes, dtype=float)
    finite = amps[np.isfinite(amps)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    norm = Normalize(lo, hi) if hi > lo else Normalize(lo - 0.5 * abs(lo or 1), hi + 0.5 * abs(hi or 1))
    cmap = plt.get_cmap("viridis")
    grid = np.arange(t0, t_end + 0.5 * _DIFFERENCE_DT, _DIFFERENCE_DT)
    base_on_grid = np.interp(grid, t_b, v_b)
    raw, solid, dotted, colours, dotted_colours = [], [], [], [], []
    # smallest first, so the largest responses are drawn on top
    for (t, v), a in reversed(list(zip(panel.traces, amps))):
        colour = cmap(norm(a)) if np.isfinite(a) else (0.5, 0.5, 0.5, 1.0)
        first = _first_drawn(t, t0)
        raw.append(np.column_stack([t[first:], v[first:]]))
        colours.append(colour)
        difference = np.column_stack([grid, np.interp(grid, t, v) - base_on_grid])
        recorded_until = min(float(t[-1]), float(t_b[-1]))
        solid.append(difference[grid <= recorded_until])
        if recorded_until < t_end - 1e-9:
            dotted.append(difference[grid >= recorded_until])
            dotted_colours.append(colour)
    top.add_collection(LineCollection(raw, colors=colours, linewidths=0.8, alpha=0.85))
    bottom.add_collection(LineCollection(solid, colors=colours, linewidths=0.8, alpha=0.85))
    bottom.add_collection(LineCollection(dotted, colors=dotted_colours, linewidths=1.0, alpha=0.6, linestyles=":"))
    first = _first_drawn(t_b, t0)
    top.plot(t_b[first:], v_b[first:], color="k", lw=1.5, zorder=3)
    for ax in (top, bottom):
        ax.autoscale_view()
    from matplotlib.cm import ScalarMappable

    fig.colorbar(ScalarMappable(norm, cmap), ax=[top, bottom], shrink=0.6, label=f"unit {label}")
    return bool(dotted)


def _first_drawn(t: np.ndarray, t0: float) -> int:
    """Index of the last sample at or before ``t0`` (CVODE steps can be long: the line
    into the window starts there)."""
    return max(int(np.searchsorted(t, t0, side="right")) - 1, 0)


__all__ = ["MAX_TRACES", "TracePanel", "amplitude_histogram", "trace_overview"]
