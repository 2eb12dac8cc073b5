"""Trials of a chunk's units in a worker: every unit run ``protocol.trials`` times, the
stochastic synapses drawing anew in each (numpy only, like the worker).

A unit's trace kept for ``traces.npz`` is its first trial's. Its features are the means
over trials (failures included: ``amplitudes``), and every trial's own features and
releases are kept for ``trials.parquet`` (docs/trials.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: the chunk file members of the trials (one row per unit, one column per trial)
TRIAL_MEMBERS = ("trial_amplitudes", "trial_t_peaks", "trial_released")
#: the members holding the shown unit's trial traces (samples, and where each trace starts)
TRACE_MEMBERS = ("shown_trials_t", "shown_trials_v", "shown_trials_offsets")
#: trial traces kept of the shown unit (the first unit of the sweep's first chunk)
SHOWN_TRIALS = 50


@dataclass
class Trials:
    """Every trial of a chunk's units.

    Attributes:
        amplitudes, t_peaks: (units, trials, pulses) features of every trial.
        released: (units, trials) releases counted over the unit's synapses and the
            protocol's spikes (a deterministic synapse releases at every spike).
    """

    amplitudes: np.ndarray
    t_peaks: np.ndarray
    released: np.ndarray
    #: the first ``SHOWN_TRIALS`` trial traces (t, v) of the shown unit, if in this chunk
    shown: list[tuple[np.ndarray, np.ndarray]] | None = None

    def unit_means(self) -> tuple[np.ndarray, np.ndarray]:
        """Per unit and pulse: the mean amplitude over all trials, and the mean peak time
        over the trials in which a synapse released (NaN without one)."""
        amplitudes = self.amplitudes.mean(axis=1)
        success = (self.released > 0)[:, :, None]
        with np.errstate(invalid="ignore"):
            t_peaks = np.where(success, self.t_peaks, 0.0).sum(axis=1) / success.sum(axis=1)
        return amplitudes, t_peaks

    def arrays(self) -> dict[str, np.ndarray]:
        """The chunk file members."""
        arrays = dict(zip(TRIAL_MEMBERS, (self.amplitudes, self.t_peaks, self.released)))
        if self.shown:
            lengths = [len(t) for t, _ in self.shown]
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            values = (np.concatenate([t for t, _ in self.shown]), np.concatenate([v for _, v in self.shown]), offsets)
            arrays.update(zip(TRACE_MEMBERS, values))
        return arrays

    @classmethod
    def from_arrays(cls, d: Any) -> Trials | None:
        """The trials of a chunk file's members (``np.load``), or None when it has none."""
        if TRIAL_MEMBERS[0] not in d:
            return None
        shown = None
        if TRACE_MEMBERS[0] in d:
            t, v, offsets = (d[m] for m in TRACE_MEMBERS)
            shown = [(t[a:b], v[a:b]) for a, b in zip(offsets[:-1], offsets[1:])]
        amplitudes, t_peaks, released = (d[m] for m in TRIAL_MEMBERS)
        return cls(amplitudes, t_peaks, released, shown)


Features = Callable[..., tuple[np.ndarray, np.ndarray]]


def simulate_trials(
    sim: Any,
    units: Sequence[Any],
    trials: int,
    n_pulses: int,
    measure: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    show_first: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray], Trials]:
    """Run every unit ``trials`` times on ``sim`` (a UnitSimulator).

    Args:
        measure: (t, v) of one run -> its amplitudes and peak times, one per pulse.
        show_first: keep the first unit's trial traces (up to ``SHOWN_TRIALS``).

    Returns:
        The first trial's trace of every unit, and every trial's features and releases.
    """
    shape = (len(units), trials, n_pulses)
    amplitudes, t_peaks = np.empty(shape), np.empty(shape)
    released = np.empty(shape[:2], dtype=np.int64)
    ts, vs = [], []
    shown: list[tuple[np.ndarray, np.ndarray]] | None = [] if show_first else None
    for i, unit in enumerate(units):
        for k in range(trials):
            t, v = sim.unit(unit, k)
            if k == 0:
                ts.append(t)
                vs.append(v)
            if shown is not None and i == 0 and k < SHOWN_TRIALS:
                shown.append((t, v))
            amplitudes[i, k], t_peaks[i, k] = measure(t, v)
            counts = sim.released
            released[i, k] = unit.n_synapses * n_pulses if counts is None else sum(counts)
    return ts, vs, Trials(amplitudes, t_peaks, released, shown)
