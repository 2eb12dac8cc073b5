"""One sweep, stage by stage: config -> cell model -> units -> traces -> features -> statistics.

:func:`prepare` does everything that can fail on bad input (reading files, checking
names and times) before any simulation starts or any run is recorded; :func:`run_sweep`
then simulates, analyses, writes the result files and hands them to a tracker.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import pspsweep
from pspsweep import execution, hashing
from pspsweep.builders import (
    cell_spec_from_config,
    conductances,
    embedding_from_config,
    receptor_of,
    resolve_path,
)
from pspsweep.cellmodel import CellSpec
from pspsweep.celltypes import group_statistics
from pspsweep.config import ProtocolConfig, PspSweepConfig
from pspsweep.embedding import Embedding
from pspsweep.features import AnalysisOptions
from pspsweep.geometry import unit_mean_distances
from pspsweep.launch import work_folders
from pspsweep.nwb import NWB_FILE, write_sweep_nwb
from pspsweep.progress import progress_bar
from pspsweep.protocol_config import analysis_options, protocol_label, protocol_metrics
from pspsweep.statistics import feature_columns, statistics_metrics, summary_statistics
from pspsweep.sweep_figures import sweep_plots
from pspsweep.sweep_plan import plan_simulations, sweep_key, sweep_works
from pspsweep.tracking import Tracker
from pspsweep.trial_outputs import has_trials, trial_files, with_trial_columns
from pspsweep.units import Unit, make_units, resolve_celltypes
from pspsweep.validation import check_metric_name, check_sim_settings, check_windows, check_work, validate

log = logging.getLogger(__name__)

#: artifact names (fixed, documented in the README)
PSPS_CSV = "psps.csv"
TRACES_NPZ = "traces.npz"
STATS_CSV = "statistics.csv"
GROUP_STATS_CSV = "group_statistics.csv"


@dataclass(frozen=True)
class PreparedSweep:
    """A checked, ready-to-simulate sweep (plain data only).

    Attributes:
        cell: the cell model.
        embedding: the synapse embedding.
        celltypes: the sweep's cell types, in the order ``run.celltype`` names them.
        units: every unit, cell type after cell type.
        weights: per cell type, its conductances (gAMPA/gNMDA or gGABA, nS).
        g: the conductance the fit runs against.
        options: analysis options.
    """

    cell: CellSpec
    embedding: Embedding
    celltypes: tuple[str, ...]
    units: list[Unit]
    weights: dict[str, dict[str, float]]
    g: float
    options: AnalysisOptions

    @property
    def label(self) -> str:
        """The cell types for titles and messages (shortened when there are many)."""
        if len(self.celltypes) <= 3:
            return ", ".join(self.celltypes)
        return f"{len(self.celltypes)} cell types ({self.celltypes[0]} ... {self.celltypes[-1]})"

    @property
    def excitatory(self) -> dict[str, bool]:
        """Cell type -> excitatory (True) or inhibitory, as its receptor (celltypes' classification)."""
        return {c: self.embedding.receptors[c].excitatory for c in self.celltypes}

    def conductance_label(self) -> str:
        """``gAMPA=1 nS, gNMDA=1 nS`` unless cell types disagree on a conductance
        (``g_scale=1 x circuit weights`` for a SONATA circuit's own weights)."""
        merged: dict[str, float] = {}
        for w in self.weights.values():
            for name, value in w.items():
                if merged.setdefault(name, value) != value:
                    return f"g={self.g:g} nS"
        return ", ".join(f"{k}={v:g}{' x circuit weights' if k == 'g_scale' else ' nS'}" for k, v in merged.items())


@dataclass
class SweepResult:
    """What one sweep produced."""

    table: pd.DataFrame
    statistics: pd.DataFrame
    metrics: dict[str, float]
    files: list[Path]


def prepare(cfg: PspSweepConfig, on_cell: Callable[[CellSpec], object] | None = None) -> PreparedSweep:
    """Read and check every input of a sweep.

    Args:
        cfg: the job's configuration.
        on_cell: called with the cell model as soon as it is read and checked, before the
            synapse embedding is (the command lets its idle workers build the cell then).

    Raises:
        PspSweepError: on any bad input, naming the culprit.
    """
    validate(cfg)
    options = analysis_options(cfg)
    cell = cell_spec_from_config(cfg.neuron)
    check_sim_settings(cfg, cell)
    if on_cell is not None:
        on_cell(cell)
    embedding = embedding_from_config(cfg.network, cell)
    celltypes = resolve_celltypes(embedding, cfg.run.celltype)
    units: list[Unit] = []
    weights: dict[str, dict[str, float]] = {}
    for celltype in celltypes:
        check_metric_name(celltype, "cell type")
        weights[celltype] = conductances(cfg.run, receptor_of(embedding, celltype, cfg.network.classification))
        # (the embedding readers have checked every synapse's section, naming file and line)
        units += make_units(embedding, celltype, cfg.run.mode.value, cfg.run.units)
    check_work(cfg.run, cell.sim.dt, len(units) * cfg.protocol.trials)  # a trial is a unit run
    check_windows(cfg, options)  # after check_work: the analysis grid of an absurd tEnd fills memory
    # the conductance the fit runs against: run.g, else the explicit AMPA or GABA one
    first = weights[celltypes[0]]
    g = cfg.run.g if cfg.run.g is not None else first.get("gAMPA", first.get("gGABA", math.nan))
    return PreparedSweep(cell, embedding, tuple(celltypes), units, weights, float(g), options)


def unit_table(
    prep: PreparedSweep, amplitudes: np.ndarray, t_peaks: np.ndarray, simulation: Sequence[int]
) -> pd.DataFrame:
    """One row per unit: identity, synapses, conductances and PSP features (psps.csv).

    ``simulation`` names, per unit, the row of the unit whose simulation gave its result
    (its own row, or the row of an earlier unit on the same segments with the same
    receptor and conductances). The features are :func:`pspsweep.statistics.feature_columns`
    (per pulse of a train; ``psc_nA`` for a clamp current).
    """
    g = {c: {name: w.get(name, np.nan) for name in ("gAMPA", "gNMDA", "gGABA")} for c, w in prep.weights.items()}
    distances = unit_mean_distances(prep.cell, [u.sections for u in prep.units], [u.xs for u in prep.units])
    rows = [
        {
            "celltype": u.celltype,
            "unit": u.index,
            "cell_id": u.cell_id,
            "synapse_id": ";".join(map(str, u.synapse_ids)),
            "n_synapses": u.n_synapses,
            "sections": ";".join(map(str, u.sections)),
            "xs": ";".join(f"{x:.6g}" for x in u.xs),
            "distance_um": d,
            **g[u.celltype],
            "g": prep.g,
        }
        for u, d in zip(prep.units, distances)
    ]
    table = pd.DataFrame(rows)
    for name, values in feature_columns(prep.options, amplitudes, t_peaks).items():
        table[name] = values
    table["simulation"] = list(simulation)
    return table


def input_files(cfg: PspSweepConfig) -> dict[str, Path]:
    """The input files a run read, by config key (for hashing into tags)."""
    reads_morphology = not cfg.neuron.param_file and cfg.neuron.morphology.kind in ("hoc", "swc")
    reads_embedding = cfg.network.kind == "isf"
    keys = {
        "neuron.param_file": cfg.neuron.param_file,
        "neuron.morphology.path": cfg.neuron.morphology.path if reads_morphology else None,
        "network.syn_file": cfg.network.syn_file if reads_embedding else None,
        "network.con_file": cfg.network.con_file if reads_embedding else None,
    }
    files = {k: resolve_path(v, k) for k, v in keys.items() if v}
    from pspsweep.sonata import circuit_files  # a SONATA circuit's config and network files

    return {**files, **circuit_files(cfg.network)} if cfg.network.kind == "sonata" else files


def provenance_tags(cfg: PspSweepConfig, prep: PreparedSweep) -> dict[str, str]:
    """Versions and content hashes that identify what produced a run."""
    from pspsweep.provenance import git_commit, neuron_version
    from pspsweep.simulation.mechanisms import source_hash

    tags = {
        "pspsweep.version": pspsweep.__version__,
        "neuron.version": neuron_version(),
        "python.version": sys.version.split()[0],
        "mechanisms.sha256": source_hash([Path(d) for d in prep.cell.mechanism_dirs]),
        "celltype": ",".join(prep.celltypes)[:5000],
        "mode": cfg.run.mode.value,
        "strategy": cfg.run.strategy.value,
    }
    commit = git_commit()
    if commit:
        tags["git.commit"] = commit
    for key, path in input_files(cfg).items():
        tags[f"input.{key}.sha256"] = hashing.file_sha256(path)
    return tags


#: the files a finished run must still have for its results to be reused
REUSED_ARTIFACTS = (PSPS_CSV, TRACES_NPZ)


def run_sweep(
    cfg: PspSweepConfig,
    prep: PreparedSweep,
    tracker: Tracker,
    out_dir: Path,
    progress: bool = True,
    cancel: threading.Event | None = None,
) -> SweepResult | None:
    """Simulate, analyse, write the result files into ``out_dir`` and record them.

    Units run in chunks on the configured executor; each finished chunk is written to
    a work folder at once, so memory stays bounded and an interrupted sweep resumes from
    the chunks on disk. The result files are written only after every unit is done.

    Args:
        cfg: the job's configuration.
        prep: the checked inputs from :func:`prepare`.
        tracker: where params, metrics and artifacts go.
        out_dir: folder for psps.csv, statistics.csv, traces.npz and the plots.
        progress: show a progress bar on stderr.
        cancel: set by the job to stop the executor between chunks (the executor of
            workers the job started and gave this event).

    Returns:
        The tables, metrics and written files; None when ``cancel`` was set, with no
        result file written.
    """
    started = time.perf_counter()
    sweep = _execute(cfg, prep, progress)
    if cancel is not None and cancel.is_set():
        sweep.store.release()
        return None
    table = _sweep_table(prep, sweep)
    stats = summary_statistics(table, prep.options)
    group_stats = group_statistics(cfg, table, prep.options)
    files = _write_results(cfg, prep, sweep, out_dir, table, stats, group_stats)
    report = sweep.report
    metrics = {  # performance; the science goes first, as a run's page lists them
        "n_units": float(len(prep.units)),
        "n_synapses": float(sum(u.n_synapses for u in prep.units)),
        "n_simulated": float(len(set(sweep.source.tolist()))),
        "n_celltypes": float(len(prep.celltypes)),
        "wall_time_s": time.perf_counter() - started,
        "simulation_time_s": report.wall_s,
        "units_per_second": len(prep.units) / report.wall_s if report.wall_s > 0 else float("nan"),
        "simulations_per_second": report.units_simulated / report.wall_s if report.wall_s > 0 else float("nan"),
        "workers": float(report.workers),
        "parallel_efficiency": report.parallel_efficiency,
        "chunks": float(report.n_chunks),
        "chunks_reused": float(report.chunks_reused),
    }
    science = statistics_metrics(table, stats, group_stats, prep.options, prep.excitatory)
    science.update(_protocol_metrics(cfg, sweep))
    metrics = {**science, **{k: v for k, v in metrics.items() if k not in science}}
    tracker.log_metrics(metrics)
    for f in files:
        tracker.log_artifact(f)
    sweep.store.remove()
    return SweepResult(table, stats, metrics, files)


@dataclass
class _Executed:
    """The chunks of a sweep once they have run: where they are and how they ran."""

    works: list[execution.SweepWork]
    chunks: list[execution.ChunkTask]
    source: np.ndarray
    store: execution.ChunkStore
    report: execution.ExecutionReport


def _execute(cfg: PspSweepConfig, prep: PreparedSweep, progress: bool) -> _Executed:
    """Plan the distinct simulations and run every chunk not yet on disk."""
    import dataclasses

    workers = execution.resolve_workers(cfg.executor.workers)
    groups = sweep_works(cfg, prep)
    chunks, source = plan_simulations(cfg, prep, groups, workers)
    root, states = work_folders(cfg)
    # settled states, shared by the workers and by every job of a multirun (see the
    # runner's docstring); set here, not in sweep_works, so sweep_key stays free of paths
    works = [
        dataclasses.replace(g.work, request=dataclasses.replace(g.work.request, state_dir=str(states))) for g in groups
    ]
    # claimed: an identical sweep running meanwhile in another command gets a folder of its own
    store = execution.ChunkStore.for_sweep(root, works, chunks, salt=sweep_key(cfg, prep)).claim()
    # the bar counts units: a simulated unit counts for every identical unit that takes its result
    copies = np.bincount(source, minlength=len(source))
    bar = progress_bar(f"{prep.label} units", len(source), enabled=progress)
    executor = execution.make_executor(cfg.executor.kind, workers, cfg.executor.address)
    try:
        report = execution.run_chunks(
            works, chunks, store, executor, on_done=lambda keys: bar.update(int(copies[keys].sum()))
        )
    except BaseException:
        bar.leave = False  # erase the bar: the error is reported in one line
        store.release()  # the chunks stay for a resume
        raise
    finally:
        executor.close()
        bar.close()
    return _Executed(works, chunks, source, store, report)


def _sweep_table(prep: PreparedSweep, sweep: _Executed) -> pd.DataFrame:
    """The unit table of the executed sweep (psps.csv), with its trial columns when it
    has trials (docs/trials.md)."""
    amplitudes, t_peaks = execution.collect_features(sweep.store, sweep.chunks)
    table = unit_table(prep, amplitudes[sweep.source], t_peaks[sweep.source], sweep.source.tolist())
    return with_trial_columns(table, sweep.store, sweep.chunks, sweep.source, prep.options)


def _protocol_metrics(cfg: PspSweepConfig, sweep: _Executed) -> dict[str, float]:
    """The holding current and voltage of the run (none for ISF's protocol)."""
    baseline = execution.find_baseline(sweep.store, sweep.chunks)
    return protocol_metrics(cfg.protocol, cfg.run.tStim, baseline, sweep.store.protocol_values(sweep.chunks))


def _write_results(
    cfg: PspSweepConfig,
    prep: PreparedSweep,
    sweep: _Executed,
    out_dir: Path,
    table: pd.DataFrame,
    stats: pd.DataFrame,
    group_stats: pd.DataFrame,
) -> list[Path]:
    """Write the tables, traces.npz, the plots (trials.parquet, and traces.nwb) into
    ``out_dir``, all or none.

    They are written into a staging folder and moved into out_dir when all are
    complete: a command killed meanwhile leaves no truncated or partial result set.
    """
    store, chunks = sweep.store, sweep.chunks
    stage = out_dir / ".incomplete"
    stage.mkdir(parents=True, exist_ok=True)
    title = f"{prep.label}, {prep.conductance_label()}"
    if cfg.protocol != ProtocolConfig():
        title += f"; {protocol_label(cfg.protocol)}"
    with ThreadPoolExecutor(1, thread_name_prefix="pspsweep-traces") as background:
        # deflating traces.npz releases the GIL, so it overlaps drawing the plots
        traces_npz = background.submit(
            execution.assemble_traces, store, chunks, stage / TRACES_NPZ, sweep.works[0].voltage_dtype
        )
        tables = [stage / name for name in (PSPS_CSV, STATS_CSV, GROUP_STATS_CSV)]
        for df, path in zip((table, stats, group_stats), tables):
            df.to_csv(path, index=False)
        plots = sweep_plots(prep, table, store, chunks, stage, (cfg.run.tStim, cfg.run.tEnd), title)
        if has_trials(store, chunks):
            plots += trial_files(table, store, chunks, prep.options, stage, (cfg.run.tStim, cfg.run.tEnd), title)
        staged = [*tables, traces_npz.result(), *plots]
    if cfg.output.nwb:
        staged.append(write_sweep_nwb(cfg, stage / TRACES_NPZ, table, sweep_key(cfg, prep), stage / NWB_FILE))
    files = [out_dir / f.name for f in staged]
    for src, dst in zip(staged, files):
        os.replace(src, dst)
    stage.rmdir()
    return files


__all__ = ["PreparedSweep", "SweepResult", "prepare", "run_sweep"]
