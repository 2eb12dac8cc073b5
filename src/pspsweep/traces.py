"""Simulated soma voltage traces of one sweep, and their npz file layout.

``traces.npz`` holds:

* ``t_baseline``, ``v_baseline``: the synapse-free run (float64 ms, float32 mV);
* ``t``, ``v``: the samples of every simulated unit, concatenated (float64 ms, float32 mV);
* ``offsets``: int64 array of length n_traces + 1; trace i is ``t[offsets[i]:offsets[i+1]]``;
* ``simulation``: int64 number of each trace: the ``simulation`` column of ``psps.csv``
  (the row of the unit that was simulated; units on the same segments share a trace).

Times stay float64 because CVODE sample times are irregular; voltages are stored as
float32 (resolution about 1e-5 mV at -80 mV), features are computed before that rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class TraceSet:
    """Baseline and per-simulation (t, v) arrays; ``units`` numbers each trace (the
    ``simulation`` column of ``psps.csv``)."""

    t_baseline: np.ndarray
    v_baseline: np.ndarray
    ts: list[np.ndarray]
    vs: list[np.ndarray]
    units: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)


def save_traces(traces: TraceSet, path: str | Path) -> Path:
    """Write ``traces`` to ``path`` in the npz layout of this module; returns the path."""
    lengths = np.array([len(t) for t in traces.ts], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    empty = np.zeros(0)
    path = Path(path)
    np.savez_compressed(
        path,
        t_baseline=np.asarray(traces.t_baseline, dtype=np.float64),
        v_baseline=np.asarray(traces.v_baseline, dtype=np.float32),
        t=np.concatenate(traces.ts).astype(np.float64) if traces.ts else empty,
        v=np.concatenate(traces.vs).astype(np.float32) if traces.vs else empty.astype(np.float32),
        offsets=offsets,
        simulation=np.asarray(traces.units, dtype=np.int64),
    )
    return path


def load_traces(path: str | Path) -> TraceSet:
    """Read a ``traces.npz`` written by :func:`save_traces`."""
    with np.load(path) as data:
        off = data["offsets"]
        t, v = data["t"], data["v"]
        return TraceSet(
            t_baseline=data["t_baseline"],
            v_baseline=data["v_baseline"],
            ts=[t[a:b] for a, b in zip(off[:-1], off[1:])],
            vs=[v[a:b] for a, b in zip(off[:-1], off[1:])],
            units=data["simulation"],
        )
