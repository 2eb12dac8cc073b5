"""The plots of one sweep, drawn from its unit table and chunk store: the amplitude
histogram, the trace overview and, for a train, the mean response per pulse."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from pspsweep import execution
from pspsweep.report import MAX_TRACES, TracePanel, amplitude_histogram, split_by_kind, trace_overview
from pspsweep.report.plotting import Measure
from pspsweep.report.pulses import mean_responses, pulse_overview

if TYPE_CHECKING:
    import numpy as np

    from pspsweep.pipeline import PreparedSweep

#: plot names (fixed, documented in docs/outputs.md)
HISTOGRAM_PNG = "amplitude_histogram.png"
TRACES_PNG = "traces.png"
PULSES_PNG = "pulses.png"


def sweep_plots(
    prep: PreparedSweep,
    table: pd.DataFrame,
    store: execution.ChunkStore,
    chunks: Sequence[execution.ChunkTask],
    folder: Path,
    times: tuple[float, float],
    title: str,
) -> list[Path]:
    """Draw a sweep's plots into ``folder`` (``times``: tStim and tEnd, ms).

    Returns:
        The PNGs written: the histogram and traces, and ``pulses.png`` for a train.
    """
    options, (t_stim, t_end) = prep.options, times
    measure = Measure.of(options)
    baseline = execution.find_baseline(store, chunks)
    spikes = [t_stim + p for p in options.pulses]
    plots = [
        amplitude_histogram(
            table,
            folder / HISTOGRAM_PNG,
            options.threshold,
            title,
            convention=options.convention,
            excitatory=prep.excitatory,
            measure=measure,
        ),
        trace_overview(
            baseline,
            trace_panels(prep, table, store, chunks),
            folder / TRACES_PNG,
            t_stim,
            t_end,
            title,
            measure=measure,
            spikes=spikes,
        ),
    ]
    if options.n_pulses > 1:
        weights = table.groupby(["simulation", "celltype"]).size()
        by_key: dict[int, dict[str, int]] = {}
        for (key, celltype), n in weights.items():
            by_key.setdefault(int(key), {})[str(celltype)] = int(n)
        window = (max(0.0, spikes[0] - 5.0), t_end)
        means = mean_responses(_unit_traces(store, chunks), by_key, baseline, window)
        plots.append(pulse_overview(means, folder / PULSES_PNG, spikes, t_end, title, measure))
    return plots


def trace_panels(
    prep: PreparedSweep, table: pd.DataFrame, store: execution.ChunkStore, chunks: Sequence[execution.ChunkTask]
) -> list[TracePanel]:
    """The traces to draw: per kind of unit, the ``MAX_TRACES`` largest amplitudes (of
    the first pulse)."""
    column = prep.options.amplitude_column
    kinds = [
        (name, sub.reindex(sub[column].abs().sort_values(ascending=False).index).head(MAX_TRACES), len(sub))
        for name, sub in split_by_kind(table, prep.excitatory, prep.options.response)
    ]
    examples = execution.read_unit_traces(store, chunks, {int(u) for _, shown, _ in kinds for u in shown["simulation"]})
    return [
        TracePanel(name, [examples[int(u)] for u in shown["simulation"]], shown[column].to_numpy(float), n)
        for name, shown, n in kinds
    ]


def _unit_traces(
    store: execution.ChunkStore, chunks: Sequence[execution.ChunkTask]
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(result key, t, signal) of every stored unit, chunk by chunk."""
    for c in chunks:
        result = store.read(c.index)
        for key, t, v in zip(result.units, result.ts, result.vs):
            yield int(key), t, v
