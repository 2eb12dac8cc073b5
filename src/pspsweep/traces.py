"""Simulated soma voltage traces of one sweep, and their npz file layout.

``traces.npz`` holds:

* ``t_baseline``, ``v_baseline``: the synapse-free run (float64 ms, float32 mV);
* ``t``, ``v``: the samples of every simulated unit, concatenated (float64 ms, float32 mV;
  float64 with ``run.record_dtype=float64``);
* ``offsets``: int64 array of length n_traces + 1; trace i is ``t[offsets[i]:offsets[i+1]]``;
* ``simulation``: int64 number of each trace: the ``simulation`` column of ``psps.csv``
  (the row of the unit that was simulated; units on the same segments share a trace).

Times stay float64 because CVODE sample times are irregular; voltages are stored as
float32 (resolution about 1e-5 mV at -80 mV), features are computed before that rounding.
:func:`write_traces` is the one writer (streaming: a sweep's traces never need to be in
memory at once), :func:`load_traces` the reader.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pspsweep.files import write_atomically

if TYPE_CHECKING:
    from pspsweep.execution import ChunkStore, ChunkTask


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


def _write_npy_member(zf: zipfile.ZipFile, name: str, dtype: np.dtype, n: int, parts: Iterable[np.ndarray]) -> None:
    """Stream an array of known length into an npz member, part by part."""
    with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n,)}
        )
        written = 0
        for part in parts:
            arr = np.ascontiguousarray(part, dtype=dtype)
            f.write(arr.tobytes())
            written += arr.size
        if written != n:
            raise RuntimeError(f"{name}: wrote {written} values, expected {n}")


def write_traces(
    path: Path,
    baseline: tuple[np.ndarray, np.ndarray],
    units: np.ndarray,
    lengths: np.ndarray,
    t_parts: Iterable[np.ndarray],
    v_parts: Iterable[np.ndarray],
    voltage_dtype: str = "float32",
) -> Path:
    """Write a ``traces.npz`` atomically, streaming the samples part by part.

    Args:
        path: the file to write.
        baseline: (t, v) of the synapse-free run.
        units: the ``simulation`` number of each trace.
        lengths: the number of samples of each trace.
        t_parts, v_parts: the concatenated samples of all traces, in any number of
            consecutive pieces (read one at a time).
        voltage_dtype: ``float32`` (the default) or ``float64`` (``run.record_dtype``).

    Raises:
        PspSweepError: the file cannot be written (disk full, ...); no partial file is left.
    """
    lengths = np.asarray(lengths, np.int64)
    total = int(lengths.sum())
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    simulation = np.asarray(units, np.int64)

    def write(tmp: Path) -> None:
        # the fastest deflate level: 3x faster than the default, files within a few percent
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as zf:
            for name, arr in (
                ("t_baseline", np.asarray(baseline[0], np.float64)),
                ("v_baseline", np.asarray(baseline[1], voltage_dtype)),
            ):
                _write_npy_member(zf, name, arr.dtype, arr.size, [arr])
            _write_npy_member(zf, "t", np.dtype(np.float64), total, t_parts)
            _write_npy_member(zf, "v", np.dtype(voltage_dtype), total, v_parts)
            _write_npy_member(zf, "offsets", offsets.dtype, offsets.size, [offsets])
            _write_npy_member(zf, "simulation", simulation.dtype, simulation.size, [simulation])

    return write_atomically(path, write, path.name, "free space and run the command again")


def save_traces(traces: TraceSet, path: str | Path) -> Path:
    """Write ``traces`` (held in memory) to ``path`` with :func:`write_traces`; returns the path."""
    return write_traces(
        Path(path),
        (traces.t_baseline, traces.v_baseline),
        traces.units,
        np.array([len(t) for t in traces.ts], dtype=np.int64),
        traces.ts,
        traces.vs,
    )


def assemble_traces(store: ChunkStore, chunks: Sequence[ChunkTask], path: Path, voltage_dtype: str = "float32") -> Path:
    """Stream a sweep's chunk files into one ``traces.npz``, in chunk order.

    Memory stays at one chunk whatever the number of units.
    """
    baseline = store.baseline(chunks)
    units, lengths = store.trace_index(chunks)
    return write_traces(
        path, baseline, units, lengths, store.samples(chunks, "t"), store.samples(chunks, "v"), voltage_dtype
    )


def load_traces(path: str | Path) -> TraceSet:
    """Read a ``traces.npz`` written by :func:`write_traces`."""
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
