"""The responses to a train of presynaptic spikes, pulse by pulse: the mean unit minus
baseline trace of each cell type, one panel per pulse."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pspsweep.report.plotting import DPI, PSP, Measure, pyplot

#: at most this many cell types are drawn (those with the largest mean response)
MAX_CELLTYPES = 10
#: each panel starts this long before its pulse (ms)
PRE_PULSE_MS = 2.0
_DT = 0.025  # ms, the grid of the means (the analysis' default grid)


@dataclass(frozen=True)
class MeanResponses:
    """Mean unit minus baseline trace per cell type.

    Attributes:
        t: the common time grid (ms).
        means: cell type -> mean difference on ``t`` (mV, or nA for a clamp current).
        counts: cell type -> how many units the mean is over.
    """

    t: np.ndarray
    means: dict[str, np.ndarray]
    counts: dict[str, int]


def mean_responses(
    traces: Iterable[tuple[int, np.ndarray, np.ndarray]],
    weights: Mapping[int, Mapping[str, int]],
    baseline: tuple[np.ndarray, np.ndarray],
    window: tuple[float, float],
) -> MeanResponses:
    """Average unit traces minus the baseline per cell type, one trace at a time.

    Args:
        traces: (result key, t ms, signal) of every simulated unit.
        weights: result key -> cell type -> how many units take that simulation's result
            (a simulation stands for every identical unit of :mod:`pspsweep.units`).
        baseline: the synapse-free run (t ms, signal).
        window: (first, last) time of the grid (ms).
    """
    grid = np.arange(window[0], window[1] + _DT / 2, _DT)
    base = np.interp(grid, *baseline)
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for key, t, v in traces:
        for celltype, n in weights.get(key, {}).items():
            difference = np.interp(grid, t, v) - base
            sums[celltype] = sums.get(celltype, 0.0) + n * difference
            counts[celltype] = counts.get(celltype, 0) + n
    return MeanResponses(grid, {c: s / counts[c] for c, s in sums.items()}, counts)


def pulse_overview(
    responses: MeanResponses,
    path: Path,
    spikes: Sequence[float],
    t_end: float,
    title: str,
    measure: Measure = PSP,
) -> Path:
    """One panel per presynaptic spike of a train: the mean response of each cell type
    from ``PRE_PULSE_MS`` before the spike to the next one (the last: as long, or to
    ``t_end``), on a shared y axis, time measured from the spike.

    Args:
        responses: :func:`mean_responses`.
        path: the PNG to write.
        spikes: the presynaptic spike times (ms), increasing.
        t_end: end of the simulation (ms).
        title: the figure's title.
        measure: what the traces are (the y axis' unit).
    """
    plt = pyplot()
    shown = sorted(responses.means, key=lambda c: -float(np.max(np.abs(responses.means[c]))))[:MAX_CELLTYPES]
    fig, axes = plt.subplots(
        1,
        len(spikes),
        figsize=(3.4 * len(spikes) + 2.6, 4.4),
        dpi=DPI,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    colours = plt.get_cmap("tab10")
    for k, (ax, spike) in enumerate(zip(axes[0], spikes)):
        stop = spikes[k + 1] if k + 1 < len(spikes) else min(t_end, spike + (spike - spikes[k - 1] if k else t_end))
        inside = (responses.t >= spike - PRE_PULSE_MS) & (responses.t <= stop)
        for i, celltype in enumerate(shown):
            label = f"{celltype} ({responses.counts[celltype]} units)"
            ax.plot(
                responses.t[inside] - spike, responses.means[celltype][inside], color=colours(i), lw=1.3, label=label
            )
        ax.axvline(0.0, color="#cc3311", ls="--", lw=1.0)
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.set_title(f"pulse {k + 1}: tStim + {spike - spikes[0]:g} ms", fontsize=11)
        ax.set_xlabel("t − spike (ms)", fontsize=11)
        ax.tick_params(labelsize=10)
    inward = ", inward negative" if measure.response == "PSC" else ""
    axes[0][0].set_ylabel(f"mean unit − baseline ({measure.unit}{inward})", fontsize=11)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=9, loc="outside right upper", frameon=False)
    fig.suptitle(f"{title}: mean {measure.response} per cell type, pulse by pulse", fontsize=12)
    fig.savefig(path)
    plt.close(fig)
    return path
