"""What runs in a worker process: the chunk function, the worker's simulator, its start-up.

A spawned worker unpickles :func:`simulate_chunk` and the initialisers by module path,
so this module (and the package) imports only numpy and the light parts of pspsweep;
NEURON and the runner come with the first chunk or with :func:`start_worker`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pspsweep.execution.plan import ChunkTask
from pspsweep.execution.trials import Trials, simulate_trials
from pspsweep.features import AnalysisOptions, psp_features_many, pulse_features_many
from pspsweep.hashing import content_hash

if TYPE_CHECKING:
    from pspsweep.simulation.runner import SweepRequest

CHUNK_FORMAT_VERSION = 1


@dataclass
class ChunkResult:
    """What a worker returns for one chunk (plain arrays only); ``amplitudes`` and
    ``t_peaks`` have one entry per unit, or one row per unit and a column per pulse
    when the protocol has several presynaptic spikes."""

    index: int
    units: np.ndarray
    ts: list[np.ndarray]
    vs: list[np.ndarray]
    amplitudes: np.ndarray
    t_peaks: np.ndarray
    work_s: float
    worker: str
    baseline: tuple[np.ndarray, np.ndarray] | None = None
    #: what the protocol found before the runs (with the baseline): the holding current
    protocol_values: dict[str, float] | None = None
    #: every trial's features and releases, under ``protocol.trials`` or stochastic release
    trials: Trials | None = None


@dataclass(frozen=True)
class SweepWork:
    """Everything a worker needs besides the chunk: simulation, analysis and storage options.

    Attributes:
        request: a :class:`pspsweep.simulation.runner.SweepRequest`.
        options: analysis options for the per-unit features.
        record_dt: resample stored traces on this step (ms); None keeps every sample.
        voltage_dtype: how ``traces.npz`` keeps voltages (``float32`` or ``float64``).
    """

    request: SweepRequest
    options: AnalysisOptions
    record_dt: float | None = None
    voltage_dtype: str = "float32"

    def fingerprint(self) -> str:
        """A content hash identifying the simulation and analysis (not the units)."""
        return content_hash(CHUNK_FORMAT_VERSION, self)


def as_work_list(works: SweepWork | Sequence[SweepWork]) -> list[SweepWork]:
    """One work alone stands for a list of one."""
    return [works] if isinstance(works, SweepWork) else list(works)


@dataclass
class _Simulator:
    """A worker's simulator for one work and its baseline trace, run when first needed."""

    sim: Any
    baseline: tuple[np.ndarray, np.ndarray] | None = None

    def baseline_trace(self) -> tuple[np.ndarray, np.ndarray]:
        # after the first chunk's units where allowed: under restore (fixed step) the worker
        # that settled adds the baseline's end to the state cache meanwhile (see the runner)
        if self.baseline is None:
            self.baseline = self.sim.baseline()
        return self.baseline


# one simulator per worker process, reused for all chunks of a sweep
_SIMULATORS: dict[str, _Simulator] = {}


def _simulator(work: SweepWork) -> _Simulator:
    from pspsweep.simulation.runner import UnitSimulator

    key = work.fingerprint()
    if key not in _SIMULATORS:
        _SIMULATORS.clear()  # a process serves one sweep at a time; drop the old cell
        entry = _SIMULATORS[key] = _Simulator(UnitSimulator(work.request))
        if entry.sim.baseline_first:
            entry.baseline_trace()
    return _SIMULATORS[key]


def _store_resolution(t: np.ndarray, v: np.ndarray, record_dt: float | None, t_end: float):
    if record_dt is None:
        return t, v
    grid = np.arange(0.0, t_end + record_dt / 2, record_dt)
    return grid, np.interp(grid, t, v)


def simulate_chunk(work: SweepWork, chunk: ChunkTask, with_baseline: bool = False) -> ChunkResult:
    """Simulate one chunk in this process and measure its PSPs.

    Args:
        work: simulation request, analysis options and storage resolution.
        chunk: the units to simulate.
        with_baseline: also return the baseline trace.

    Returns:
        Traces (at storage resolution) and features (from full-resolution traces).
    """
    simulator = _simulator(work)
    req = work.request
    # one pulse: one value per unit, as before trains (the same numbers either way)
    features = pulse_features_many if work.options.n_pulses > 1 else psp_features_many
    started = time.perf_counter()
    trials = None
    if req.protocol.trials > 1 or simulator.sim.stochastic:
        t_b, v_b = simulator.baseline_trace()  # every trial is measured as it ends
        baseline_s = 0.0

        def measure(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            amps, peaks = features([t], [v], t_b, v_b, req.t_stim, req.t_end, work.options)
            return np.reshape(amps, -1), np.reshape(peaks, -1)

        n_pulses = work.options.n_pulses
        # the first unit of the first chunk shows its trial traces (traces.png of the trials)
        show = chunk.index == 0
        ts, vs, trials = simulate_trials(simulator.sim, chunk.units, req.protocol.trials, n_pulses, measure, show)
        amps, peaks = trials.unit_means()
        if n_pulses == 1:
            amps, peaks = amps[:, 0], peaks[:, 0]
    else:
        ts, vs = [], []
        for unit in chunk.units:
            t, v = simulator.sim.unit(unit)
            ts.append(t)
            vs.append(v)
        before_baseline = time.perf_counter()
        t_b, v_b = simulator.baseline_trace()
        baseline_s = time.perf_counter() - before_baseline  # not the chunk's work
        amps, peaks = features(ts, vs, t_b, v_b, req.t_stim, req.t_end, work.options)
    stored = [_store_resolution(t, v, work.record_dt, req.t_end) for t, v in zip(ts, vs)]
    baseline = _store_resolution(t_b, v_b, work.record_dt, req.t_end) if with_baseline else None
    return ChunkResult(
        index=chunk.index,
        units=chunk.result_keys(),
        ts=[s[0] for s in stored],
        vs=[s[1] for s in stored],
        amplitudes=amps,
        t_peaks=peaks,
        work_s=time.perf_counter() - started - baseline_s,
        worker=f"{socket.gethostname()}:{os.getpid()}",
        baseline=baseline,
        protocol_values=dict(simulator.sim.protocol_values) if with_baseline else None,
        trials=trials,
    )


#: set in worker processes: a mechanism build there is not announced again
QUIET_BUILD_ENV = "PSPSWEEP_QUIET_BUILD"


def start_worker(import_simulation: bool) -> None:
    """Initializer of every worker: it exits when the launching process is gone (killed
    by SIGKILL, a pool's workers would otherwise wait for chunks forever); pre-started
    workers also import what every chunk needs meanwhile."""
    parent = os.getppid()
    os.environ[QUIET_BUILD_ENV] = "1"  # the launching process says once that it compiles

    def exit_with_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=exit_with_parent, name="pspsweep-parent-watch", daemon=True).start()
    if import_simulation:
        _import_simulation()


def _import_simulation() -> None:
    """The imports every chunk needs, done in pre-started workers while the launching
    process still reads the inputs (``pspsweep.simulation`` first: it turns off NEURON's
    GUI and its "no DISPLAY" warning)."""
    import pspsweep.simulation.cell
    import pspsweep.simulation.runner  # noqa: F401


def prebuild_cell(cell: object, engine: str) -> None:
    """Build ``cell`` in this worker ahead of its first chunk
    (:func:`pspsweep.simulation.runner.prebuild_cell`); a failure is left to that chunk."""
    from pspsweep.simulation.runner import prebuild_cell as build

    try:
        build(cell, engine)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - only a head start: the first chunk builds again and reports
        pass
