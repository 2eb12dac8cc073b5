"""A sweep's traces as an NWB file, intracellular (icephys) data read like a recording.

``traces.nwb`` holds one ``CurrentClampSeries`` per simulation, the synapse-free
baseline included, all from one ``IntracellularElectrode`` at the soma; a protocol that
records current (voltage clamp) gets ``VoltageClampSeries`` instead (:data:`SERIES`).
The intracellular recordings table has a row for the baseline and one per unit (the rows
of ``psps.csv``; units on the same segments share a series), with the unit's identity,
conductances and protocol as columns. Each row is its own simultaneous recording, and
the rows of one cell type one sequential recording. The presynaptic spike is no injected
current: the recordings have a response and no stimulus, which pynwb allows.

Samples keep the stored values: mV (or nA) with ``conversion`` to volts (or amperes);
times in seconds, as NWB wants: a fixed-step trace as ``starting_time`` and ``rate``, a
variable-step (CVODE) one with its own ``timestamps``.
"""

from __future__ import annotations

import datetime
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import pspsweep
from pspsweep.errors import PspSweepError
from pspsweep.files import write_atomically
from pspsweep.traces import TraceSet, load_traces

if TYPE_CHECKING:
    import pandas as pd
    from pynwb import NWBFile
    from pynwb.icephys import IntracellularElectrode, PatchClampSeries

    from pspsweep.config import PspSweepConfig

#: the file's name beside traces.npz and among a run's artifacts
NWB_FILE = "traces.nwb"

#: a protocol's recorded quantity -> (pynwb series class, stored unit in SI, unit name)
SERIES = {
    "voltage": ("CurrentClampSeries", 1e-3, "mV"),
    "current": ("VoltageClampSeries", 1e-9, "nA"),
}

#: a trace is fixed-step when every sample lies this close (in steps) to a regular grid
_REGULAR_TOLERANCE = 1e-6


@dataclass(frozen=True)
class NwbSession:
    """What the file says about the sweep besides its traces.

    Attributes:
        description: the session description (what was simulated).
        identifier: unique id of the file: the sweep key, or the MLflow run id.
        start_time: when the sweep ran (timezone-aware).
        cell: the model cell's name (the electrode's and the subject's cell id).
        t_stim: the activation time (ms), when known.
        protocol: the protocol's name.
        recorded: what the protocol records, a key of :data:`SERIES`.
        spikes: the presynaptic spike times (ms) of a train, for the stimulus notes.
    """

    description: str
    identifier: str
    start_time: datetime.datetime
    cell: str = "model cell"
    t_stim: float | None = None
    protocol: str = "single_spike"
    recorded: str = "voltage"
    spikes: tuple[float, ...] = ()


def write_nwb(traces: TraceSet, table: pd.DataFrame, session: NwbSession, path: Path) -> Path:
    """Write ``traces`` (with ``table``, psps.csv) to ``path`` as NWB, atomically.

    Raises:
        PspSweepError: the file cannot be written; no partial file is left.
    """
    from pynwb import NWBHDF5IO

    nwbfile = build_nwbfile(traces, table, session)

    def write(tmp: Path) -> None:
        with NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwbfile)

    return write_atomically(path, write, path.name, "free space and run the command again")


def build_nwbfile(traces: TraceSet, table: pd.DataFrame, session: NwbSession) -> NWBFile:
    """The in-memory NWB file of a sweep (see the module docstring)."""
    from pynwb import NWBFile
    from pynwb.file import Subject

    if session.recorded not in SERIES:
        raise PspSweepError(f"cannot store a recorded {session.recorded!r} in NWB: one of {', '.join(SERIES)}")
    nwbfile = NWBFile(
        session_description=session.description,
        identifier=session.identifier,
        session_start_time=session.start_time,
        experiment_description="Per-unit PSP sweep simulated with NEURON: every presynaptic unit activated alone.",
        protocol=session.protocol,
        stimulus_notes=_stimulus_notes(session),
        keywords=["simulation", "NEURON", "unitary PSP", "pspsweep"],
        was_generated_by=[["pspsweep", pspsweep.__version__]],
        # the inspector wants a subject with an id, sex and age: a model cell has none
        # but its name, so sex is unknown and the age any ("P0D/": zero days or more)
        subject=Subject(
            subject_id=session.cell,
            description=f"in-silico model cell {session.cell} (simulated; no animal)",
            sex="U",
            age="P0D/",
        ),
    )
    device = nwbfile.create_device(name="NEURON", description="simulated recording (no physical electrode)")
    electrode = nwbfile.create_icephys_electrode(
        name="soma",
        device=device,
        description="the model's soma(0.5), recorded in simulation",
        location="soma(0.5)",
        cell_id=session.cell,
    )
    baseline, by_simulation = _add_series(nwbfile, traces, table, electrode, session)
    _add_recordings(nwbfile, table, baseline, by_simulation, electrode, session)
    return nwbfile


def _stimulus_notes(session: NwbSession) -> str:
    at = f" at {session.t_stim:g} ms" if session.t_stim is not None else ""
    if len(session.spikes) > 1:
        at = " at " + ", ".join(f"{s:g}" for s in session.spikes) + " ms (a train)"
    recorded = (
        "no current is injected, so the recordings have responses only"
        if session.recorded == "voltage"
        else "the soma is voltage-clamped; the recordings are the clamp current (inward negative)"
    )
    return (
        f"{session.protocol}: the synapses of one presynaptic unit are activated{at}; {recorded}. "
        "The baseline run has no synapses."
    )


def regular_step(t: np.ndarray) -> float | None:
    """The step (ms) of ``t`` when its samples lie on a regular grid, else None."""
    if len(t) < 2:
        return None
    # to 12 digits: NEURON's t accumulates dt, so a 0.025 ms step comes out as 0.02500000000000009
    step = float(f"{float(t[-1] - t[0]) / (len(t) - 1):.12g}")
    if not step > 0:
        return None
    grid = t[0] + step * np.arange(len(t))
    return step if float(np.max(np.abs(t - grid))) <= _REGULAR_TOLERANCE * step else None


def _series(
    name: str, t: np.ndarray, v: np.ndarray, electrode: IntracellularElectrode, session: NwbSession, description: str
) -> PatchClampSeries:
    """One trace as the series class of the protocol's recorded quantity."""
    from pynwb import icephys

    class_name, scale, _ = SERIES[session.recorded]
    timing: dict[str, Any]
    step = regular_step(t)
    if step is None:
        timing = {"timestamps": np.asarray(t, np.float64) * 1e-3}
    else:
        timing = {"starting_time": float(t[0]) * 1e-3, "rate": 1e3 / step}
    series_class = getattr(icephys, class_name)
    return series_class(
        name=name,
        data=v,
        electrode=electrode,
        conversion=scale,
        description=description,
        stimulus_description=session.protocol,
        **timing,
    )


def _add_series(
    nwbfile: NWBFile, traces: TraceSet, table: pd.DataFrame, electrode: IntracellularElectrode, session: NwbSession
) -> tuple[PatchClampSeries, dict[int, PatchClampSeries]]:
    """The baseline and every simulation as acquisitions; the latter by simulation number."""
    where = "soma(0.5) " + ("membrane potential" if session.recorded == "voltage" else "clamp current")
    at = f" at {session.t_stim:g} ms" if session.t_stim is not None else ""
    baseline = _series("baseline", traces.t_baseline, traces.v_baseline, electrode, session, f"{where}, no synapses")
    nwbfile.add_acquisition(baseline)
    by_simulation = {}
    for t, v, simulation in zip(traces.ts, traces.vs, traces.units):
        row = table.iloc[int(simulation)]
        name = re.sub(r"[/:]", "_", f"{row['celltype']}_unit{row['unit']}")
        description = f"{where}, {row['celltype']} unit {row['unit']} activated{at} (psps.csv row {simulation})"
        series = _series(name, t, v, electrode, session, description)
        nwbfile.add_acquisition(series)
        by_simulation[int(simulation)] = series
    return baseline, by_simulation


#: custom columns of the intracellular recordings table: name -> description
COLUMNS = {
    "kind": "'baseline' (the synapse-free run) or 'unit'",
    "celltype": "presynaptic cell type ('' for the baseline)",
    "unit": "unit index within its cell type, as in psps.csv (-1 for the baseline)",
    "cell_id": "presynaptic cell id in the embedding (-1 for the baseline)",
    "synapse_ids": "ids of the unit's synapses in the embedding",
    "gAMPA": "AMPA conductance per synapse (nS; NaN where not used)",
    "gNMDA": "NMDA conductance per synapse (nS; NaN where not used)",
    "gGABA": "GABA conductance per synapse (nS; NaN where not used)",
    "protocol": "the protocol of the run",
    "simulation": "psps.csv row of the unit whose run this is (units on the same segments share one; -1: baseline)",
}


def _column_values(table: pd.DataFrame, session: NwbSession) -> dict[str, list]:
    """The custom columns' values: the baseline row first, then psps.csv's rows."""
    n = len(table)
    nan = [math.nan] * n

    def floats(name: str) -> list[float]:
        return [math.nan, *(table[name].astype(float) if name in table else nan)]

    return {
        "kind": ["baseline", *["unit"] * n],
        "celltype": ["", *table["celltype"].astype(str)],
        "unit": [-1, *table["unit"].astype(int)],
        "cell_id": [-1, *table["cell_id"].astype(int)],
        "synapse_ids": [[], *([int(s) for s in str(ids).split(";")] for ids in table["synapse_id"])],
        "gAMPA": floats("gAMPA"),
        "gNMDA": floats("gNMDA"),
        "gGABA": floats("gGABA"),
        "protocol": [session.protocol] * (n + 1),
        "simulation": [-1, *table["simulation"].astype(int)],
    }


def _add_recordings(
    nwbfile: NWBFile,
    table: pd.DataFrame,
    baseline: PatchClampSeries,
    by_simulation: Mapping[int, PatchClampSeries],
    electrode: IntracellularElectrode,
    session: NwbSession,
) -> None:
    """The icephys tables: a recording per row, each its own simultaneous recording, the
    baseline and each cell type a sequential recording."""
    responses = [baseline, *(by_simulation[int(s)] for s in table["simulation"])]
    rows = [nwbfile.add_intracellular_recording(electrode=electrode, response=r) for r in responses]
    recordings = nwbfile.intracellular_recordings
    for name, values in _column_values(table, session).items():
        ragged = name == "synapse_ids"
        recordings.add_column(name=name, description=COLUMNS[name], data=values, index=ragged)
    simultaneous = [nwbfile.add_icephys_simultaneous_recording(recordings=[row]) for row in rows]
    nwbfile.add_icephys_sequential_recording(stimulus_type="none (baseline)", simultaneous_recordings=simultaneous[:1])
    celltypes = table["celltype"].astype(str).tolist()
    for celltype in dict.fromkeys(celltypes):
        members = [simultaneous[i + 1] for i, c in enumerate(celltypes) if c == celltype]
        nwbfile.add_icephys_sequential_recording(
            stimulus_type=f"{session.protocol}: {celltype}", simultaneous_recordings=members
        )


def describe(table: pd.DataFrame, t_stim: float | None, recorded: str = "voltage") -> str:
    """The session description: which units, which conductances, when activated."""
    celltypes = list(dict.fromkeys(table["celltype"].astype(str)))
    names = ", ".join(celltypes) if len(celltypes) <= 3 else f"{len(celltypes)} cell types"
    g = [
        f"{name}={v:g} nS"
        for name in ("gAMPA", "gNMDA", "gGABA")
        if name in table
        for v in table[name].dropna().unique()
    ]
    at = f" at {t_stim:g} ms" if t_stim is not None else ""
    quantity = "voltage" if recorded == "voltage" else "clamp current"
    return (
        f"pspsweep: simulated soma {quantity} of {len(table)} units of {names}, each activated alone{at}"
        + (f" ({', '.join(g)})" if g else "")
        + ", and the synapse-free baseline"
    )


def cell_name(param_file: str | None, name: str) -> str:
    """The model cell's name: its ISF parameter file's stem, else the neuron config's name."""
    return Path(param_file).stem if param_file and param_file != "None" else name


def sweep_session(cfg: PspSweepConfig, table: pd.DataFrame, identifier: str) -> NwbSession:
    """The session of a sweep being run (``output.nwb=true``), identified by its sweep key."""
    name, recorded, spikes = protocol_of(
        {"protocol.name": cfg.protocol.name, "protocol.clamp": str(cfg.protocol.clamp.value)},
        cfg.run.tStim,
        [float(s) for s in cfg.protocol.spikes],
    )
    return NwbSession(
        description=describe(table, cfg.run.tStim, recorded),
        identifier=identifier,
        start_time=datetime.datetime.now().astimezone(),
        cell=cell_name(cfg.neuron.param_file, cfg.neuron.name),
        t_stim=cfg.run.tStim,
        protocol=name,
        recorded=recorded,
        spikes=spikes,
    )


def protocol_of(
    settings: Mapping[str, str], t_stim: float | None, spikes: list[float] | None = None
) -> tuple[str, str, tuple[float, ...]]:
    """(name, recorded quantity, absolute spike times in ms) of a sweep's protocol, from its
    flattened config; ISF's protocol keeps its NWB name ``single_spike``, a run recorded
    before protocols had it."""
    import ast

    name = settings.get("protocol.name", "isf")
    recorded = "current" if settings.get("protocol.clamp") == "voltage" else "voltage"
    if spikes is None:
        spikes = [float(s) for s in ast.literal_eval(settings.get("protocol.spikes", "[0]"))]
    times = tuple(t_stim + s for s in spikes) if t_stim is not None else ()
    return ("single_spike" if name == "isf" else name), recorded, times


def write_sweep_nwb(cfg: PspSweepConfig, traces_npz: Path, table: pd.DataFrame, identifier: str, path: Path) -> Path:
    """``traces.nwb`` of a sweep from its written ``traces.npz`` and its unit table."""
    return write_nwb(load_traces(traces_npz), table, sweep_session(cfg, table, identifier), path)


def _read_outputs(folder: Path) -> tuple[TraceSet, pd.DataFrame]:
    """traces.npz and psps.csv of an output folder."""
    import pandas as pd

    from pspsweep.pipeline import PSPS_CSV, TRACES_NPZ

    for name in (TRACES_NPZ, PSPS_CSV):
        if not (folder / name).is_file():
            raise PspSweepError(f"{folder} has no {name}: give a sweep's output folder or its MLflow run id")
    return load_traces(folder / TRACES_NPZ), pd.read_csv(folder / PSPS_CSV)


def _folder_settings(folder: Path) -> dict[str, str]:
    """The run settings the folder's saved config (``.hydra/config.yaml``) holds, if any."""
    saved = folder / ".hydra" / "config.yaml"
    if not saved.is_file():
        return {}
    from omegaconf import OmegaConf

    from pspsweep.tracking import flatten

    plain = OmegaConf.to_container(OmegaConf.load(saved), resolve=False)
    return flatten({str(k): v for k, v in plain.items()}) if isinstance(plain, dict) else {}


def _session_from(
    table: pd.DataFrame, settings: Mapping[str, str], identifier: str, start: datetime.datetime
) -> NwbSession:
    """A session from the flattened config of a finished sweep (MLflow params or saved config)."""
    t_stim = float(settings["run.tStim"]) if settings.get("run.tStim") not in (None, "None") else None
    name, recorded, spikes = protocol_of(settings, t_stim)
    return NwbSession(
        description=describe(table, t_stim, recorded),
        identifier=identifier,
        start_time=start,
        cell=cell_name(settings.get("neuron.param_file"), settings.get("neuron.name", "model cell")),
        t_stim=t_stim,
        protocol=name,
        recorded=recorded,
        spikes=spikes,
    )


def export_folder(folder: Path, out: Path | None = None) -> Path:
    """Write the NWB file of an output folder (``out``, else ``traces.nwb`` in it).

    The identifier is the content hash of its traces.npz; the start time, that file's time.
    """
    from pspsweep.hashing import file_sha256
    from pspsweep.pipeline import TRACES_NPZ

    traces, table = _read_outputs(folder)
    npz = folder / TRACES_NPZ
    start = datetime.datetime.fromtimestamp(npz.stat().st_mtime).astimezone()
    session = _session_from(table, _folder_settings(folder), file_sha256(npz), start)
    return write_nwb(traces, table, session, out if out is not None else folder / NWB_FILE)


def export_run(run_id: str, uri: str, out: Path | None = None) -> Path:
    """Write the NWB file of a finished MLflow run (``out``, else ``traces-RUN_ID.nwb`` here).

    The identifier is the run's sweep key (else the run id); the start time, the run's.
    """
    from pspsweep import tracking
    from pspsweep.api import SWEEP_KEY_TAG
    from pspsweep.pipeline import PSPS_CSV, TRACES_NPZ

    params, tags, start_ms = tracking.run_metadata(uri, run_id)
    start = datetime.datetime.fromtimestamp(start_ms / 1000, datetime.UTC).astimezone()
    with tempfile.TemporaryDirectory() as tmp:
        for name in (PSPS_CSV, TRACES_NPZ):
            try:
                tracking.download_artifact(uri, run_id, name, Path(tmp))
            except Exception as exc:  # noqa: BLE001 - any store error means: the run has no such file
                raise PspSweepError(f"run {run_id} in {uri} has no {name} artifact ({exc})") from None
        traces, table = _read_outputs(Path(tmp))
    session = _session_from(table, params, tags.get(SWEEP_KEY_TAG, run_id), start)
    return write_nwb(traces, table, session, out if out is not None else Path.cwd() / f"traces-{run_id}.nwb")


def export(source: str, out: Path | None = None, uri: str | None = None) -> Path:
    """``pspsweep-export-nwb``: an output folder's or an MLflow run's traces as NWB.

    Args:
        source: an output folder (with traces.npz and psps.csv) or an MLflow run id.
        out: the file to write; None: ``traces.nwb`` in the folder, or
            ``traces-RUN_ID.nwb`` in the current directory.
        uri: the run's store (tracking URI); None: ``mlflow.db`` in the launch directory.

    Raises:
        PspSweepError: no such folder or run, or the run has no traces.
    """
    from pspsweep import tracking
    from pspsweep.launch import launch_dir

    path = Path(source).expanduser()
    if path.is_dir():
        return export_folder(path, out)
    if path.exists() or os.sep in source or not re.fullmatch(r"[0-9A-Za-z_-]+", source):
        raise PspSweepError(f"{source}: neither an output folder (with traces.npz and psps.csv) nor an MLflow run id")
    store = tracking.resolve_tracking_uri(uri, launch_dir())
    tracking.require_store(store)
    return export_run(source, store, out)
