"""The outputs of a sweep's trials (docs/trials.md): every unit's trial statistics for
psps.csv, and ``trials.parquet``, written from the chunk files one chunk at a time.

A sweep has trials when ``protocol.trials > 1`` or a receptor releases stochastically:
then its chunk files hold every trial's features and releases. A chunk without them (a
deterministic cell type run once beside a stochastic one) counts as one trial in which
every synapse released at every spike, as the workers count a deterministic synapse.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pspsweep import execution
from pspsweep.execution.trials import TRIAL_MEMBERS, Trials
from pspsweep.features import AnalysisOptions
from pspsweep.statistics import trial_columns

#: the trials file (fixed, documented in docs/outputs.md)
TRIALS_PARQUET = "trials.parquet"
TRIALS_PNG = "trials.png"


@dataclass(frozen=True)
class ChunkTrials:
    """Every trial of one chunk's units: ``keys`` (n,) result keys; ``amplitudes``,
    ``t_peaks`` (n, trials, pulses); ``released`` (n, trials) releases of the unit."""

    keys: np.ndarray
    amplitudes: np.ndarray
    t_peaks: np.ndarray
    released: np.ndarray


def has_trials(store: execution.ChunkStore, chunks: Sequence[execution.ChunkTask]) -> bool:
    """Whether any chunk file holds trials (reads the files' member lists only)."""
    for c in chunks:
        with np.load(store.path(c.index)) as d:
            if TRIAL_MEMBERS[0] in d.files:
                return True
    return False


def chunk_trials(store: execution.ChunkStore, chunk: execution.ChunkTask) -> ChunkTrials:
    """The trials of ``chunk`` (without its traces); a chunk run once deterministically
    as one trial in which each synapse released at every pulse."""
    with np.load(store.path(chunk.index)) as d:
        keys = d["units"].astype(np.int64)
        if TRIAL_MEMBERS[0] in d.files:
            amplitudes, t_peaks, released = (d[m] for m in TRIAL_MEMBERS)
            return ChunkTrials(keys, amplitudes, t_peaks, released)
        amplitudes, t_peaks = d["amplitudes"], d["t_peaks"]
    amplitudes = amplitudes.reshape(len(keys), 1, -1)
    t_peaks = t_peaks.reshape(len(keys), 1, -1)
    released = np.array([[u.n_synapses * amplitudes.shape[2]] for u in chunk.units], dtype=np.int64)
    return ChunkTrials(keys, amplitudes, t_peaks, released)


def _all_chunk_trials(store: execution.ChunkStore, chunks: Sequence[execution.ChunkTask]) -> Iterator[ChunkTrials]:
    for c in chunks:
        yield chunk_trials(store, c)


def unit_trial_statistics(amplitudes: np.ndarray, released: np.ndarray) -> np.ndarray:
    """Per unit, of pulse 1's amplitudes over its trials: (n, 4) columns of
    :func:`pspsweep.statistics.trial_columns`.

    Args:
        amplitudes: (n, trials) amplitudes of pulse 1.
        released: (n, trials) releases; a trial with none is a failure.

    The success mean is NaN for a unit that never released; the SD (ddof 1) is NaN for a
    single trial; the CV is SD / |mean over all trials|, NaN where that mean is 0.
    """
    amplitudes = np.asarray(amplitudes, dtype=float)
    success = np.asarray(released) > 0
    n_success = success.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        success_mean = np.where(success, amplitudes, 0.0).sum(axis=1) / n_success
        failure_rate = 1.0 - n_success / success.shape[1]
        sd = np.std(amplitudes, axis=1, ddof=1) if amplitudes.shape[1] > 1 else np.full(len(amplitudes), np.nan)
        mean = np.abs(amplitudes.mean(axis=1))
        cv = np.where(mean > 0, sd / mean, np.nan)
    success_mean = np.where(n_success > 0, success_mean, np.nan)
    return np.column_stack([success_mean, failure_rate, sd, cv])


def sweep_trial_statistics(
    store: execution.ChunkStore, chunks: Sequence[execution.ChunkTask], source: np.ndarray, options: AnalysisOptions
) -> pd.DataFrame:
    """:func:`unit_trial_statistics` of every unit table row (a unit takes the trials of
    the row whose simulation it shares, ``source``), read chunk by chunk."""
    by_key = np.full((len(source), 4), np.nan)
    for ct in _all_chunk_trials(store, chunks):
        by_key[ct.keys] = unit_trial_statistics(ct.amplitudes[:, :, 0], ct.released)
    return pd.DataFrame(by_key[np.asarray(source)], columns=list(trial_columns(options)))


def add_trial_columns(table: pd.DataFrame, statistics: pd.DataFrame) -> pd.DataFrame:
    """The unit table with the trial statistics' columns before its ``simulation`` column."""
    at = table.columns.get_loc("simulation")
    features = table.iloc[:, :at]
    joined = pd.concat([features, statistics.set_axis(table.index), table.iloc[:, at:]], axis=1)
    return joined


def with_trial_columns(
    table: pd.DataFrame,
    store: execution.ChunkStore,
    chunks: Sequence[execution.ChunkTask],
    source: np.ndarray,
    options: AnalysisOptions,
) -> pd.DataFrame:
    """The unit table with its trial columns when the sweep has trials, else unchanged
    (psps.csv of a deterministic sweep run once stays as it was)."""
    if not has_trials(store, chunks):
        return table
    return add_trial_columns(table, sweep_trial_statistics(store, chunks, source, options))


def write_trials_parquet(
    store: execution.ChunkStore,
    chunks: Sequence[execution.ChunkTask],
    table: pd.DataFrame,
    options: AnalysisOptions,
    path: Path,
) -> Path:
    """Write ``trials.parquet``: a row per unit and trial, one row group per chunk (only
    one chunk's trials are in memory). Units sharing a simulation each get its rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows_of = table.groupby("simulation").indices  # result key -> the table rows taking it
    celltypes, units = table["celltype"].to_numpy(), table["unit"].to_numpy(np.int64)
    cell_ids = table["cell_id"].to_numpy(np.int64)
    pulse_names = [options.pulse_columns(k) for k in range(options.n_pulses)]
    fields = [("celltype", pa.string()), ("unit", pa.int64()), ("cell_id", pa.int64()), ("trial", pa.int32())]
    for amplitude, peak in pulse_names:
        fields += [(amplitude, pa.float64()), (peak, pa.float64())]
    schema = pa.schema([*fields, ("any_release", pa.bool_()), ("n_released", pa.int64())])
    with pq.ParquetWriter(path, schema) as writer:
        for ct in _all_chunk_trials(store, chunks):
            positions = [(i, r) for i, key in enumerate(ct.keys) for r in rows_of.get(int(key), ())]
            if not positions:
                continue
            which, rows = (np.array(p, dtype=np.int64) for p in zip(*positions))
            n_trials = ct.released.shape[1]
            columns: dict[str, np.ndarray] = {
                "celltype": np.repeat(celltypes[rows], n_trials),
                "unit": np.repeat(units[rows], n_trials),
                "cell_id": np.repeat(cell_ids[rows], n_trials),
                "trial": np.tile(np.arange(n_trials, dtype=np.int32), len(rows)),
            }
            for k, (amplitude, peak) in enumerate(pulse_names):
                columns[amplitude] = ct.amplitudes[which, :, k].reshape(-1)
                columns[peak] = ct.t_peaks[which, :, k].reshape(-1)
            released = ct.released[which].reshape(-1)
            columns["any_release"], columns["n_released"] = released > 0, released.astype(np.int64)
            writer.write_table(pa.table(columns, schema=schema))
    return path


def shown_trials(
    store: execution.ChunkStore, chunks: Sequence[execution.ChunkTask]
) -> tuple[int, list[tuple[np.ndarray, np.ndarray]], np.ndarray] | None:
    """The shown unit's trial traces (the first unit of chunk 0): its result key, the
    traces (t, signal) and each trace's releases; None when no trace was kept."""
    if not chunks:
        return None
    first = chunks[0]
    with np.load(store.path(first.index)) as d:
        trials = Trials.from_arrays(d)
        key = int(d["units"][0])
    if trials is None or not trials.shown:
        return None
    return key, trials.shown, trials.released[0, : len(trials.shown)]


def trial_files(
    table: pd.DataFrame,
    store: execution.ChunkStore,
    chunks: Sequence[execution.ChunkTask],
    options: AnalysisOptions,
    folder: Path,
    times: tuple[float, float],
    title: str,
) -> list[Path]:
    """Write ``trials.parquet`` and ``trials.png`` into ``folder`` (``times``: tStim, tEnd)."""
    from pspsweep.report.plotting import Measure
    from pspsweep.report.trials import ShownTrials, trials_figure

    files = [write_trials_parquet(store, chunks, table, options, folder / TRIALS_PARQUET)]
    shown = None
    found = shown_trials(store, chunks)
    if found is not None:
        key, traces, released = found
        row = table.iloc[key]
        shown = ShownTrials(f"{row['celltype']} unit {row['unit']}", traces, released)
    _, failure, _, cv = trial_columns(options)
    window = (max(0.0, times[0] + options.pulses[0] - 5.0), times[1])
    files.append(trials_figure(shown, table, (cv, failure), folder / TRIALS_PNG, title, window, Measure.of(options)))
    return files


__all__ = [
    "TRIALS_PARQUET",
    "TRIALS_PNG",
    "ChunkTrials",
    "add_trial_columns",
    "chunk_trials",
    "has_trials",
    "shown_trials",
    "sweep_trial_statistics",
    "trial_files",
    "unit_trial_statistics",
    "with_trial_columns",
    "write_trials_parquet",
]
