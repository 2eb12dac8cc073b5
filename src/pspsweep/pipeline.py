"""One sweep, stage by stage: config -> cell model -> units -> traces -> features -> statistics.

:func:`prepare` does everything that can fail on bad input (reading files, checking
names and times) before any simulation starts or any run is recorded; :func:`run_sweep`
then simulates, analyses, writes the result files and hands them to a tracker.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from pspsweep import __version__, execution, tracking
from pspsweep.builders import (
    cell_spec_from_config,
    conductances,
    embedding_from_config,
    launch_dir,
    receptor_of,
    resolve_path,
)
from pspsweep.cellmodel import CellSpec
from pspsweep.config import PspSweepConfig, validate
from pspsweep.embedding import Embedding
from pspsweep.errors import PspSweepError
from pspsweep.features import AnalysisOptions
from pspsweep.geometry import path_distances, segment_counts
from pspsweep.progress import progress_bar
from pspsweep.report import MAX_TRACES, amplitude_histogram, trace_overview
from pspsweep.statistics import summary_statistics
from pspsweep.tracking import Tracker
from pspsweep.units import Unit, distinct_units, make_units, resolve_celltypes

if TYPE_CHECKING:
    from pspsweep.fitting import FitResult

log = logging.getLogger(__name__)

#: artifact names (fixed, documented in the README)
PSPS_CSV = "psps.csv"
TRACES_NPZ = "traces.npz"
STATS_CSV = "statistics.csv"
HISTOGRAM_PNG = "amplitude_histogram.png"
TRACES_PNG = "traces.png"


@dataclass(frozen=True)
class PreparedSweep:
    """A checked, ready-to-simulate sweep (plain data only)."""

    cell: CellSpec
    embedding: Embedding
    celltype: str
    units: list[Unit]
    weights: dict[str, float]
    g: float
    options: AnalysisOptions


@dataclass
class SweepResult:
    """What one sweep produced."""

    table: pd.DataFrame
    statistics: pd.DataFrame
    metrics: dict[str, float]
    files: list[Path]


def analysis_options(cfg: PspSweepConfig) -> AnalysisOptions:
    """The analysis config as the features' options."""
    a = cfg.analysis
    return AnalysisOptions(a.convention.value, a.baseline.value, a.threshold_mV, a.resample_dt)


def prepare(cfg: PspSweepConfig) -> PreparedSweep:
    """Read and check every input of a sweep.

    Raises:
        PspSweepError: on any bad input, naming the culprit.
    """
    validate(cfg)
    options = analysis_options(cfg)
    cell = cell_spec_from_config(cfg.neuron)
    if not cell.sim.dt > 0:
        raise PspSweepError(f"neuron.sim.dt={cell.sim.dt} must be positive (ms)")
    embedding = embedding_from_config(cfg.network, cell)
    celltypes = resolve_celltypes(embedding, cfg.run.celltype)
    if len(celltypes) != 1:
        raise PspSweepError(f"run.celltype={cfg.run.celltype!r} matches {len(celltypes)} cell types; name one")
    celltype = celltypes[0]
    n_sections = len(cell.sections)
    units = make_units(embedding, celltype, cfg.run.mode.value, cfg.run.units)
    for u in units:
        bad = [s for s in u.sections if not 0 <= s < n_sections]
        if bad:
            raise PspSweepError(f"{celltype} cell {u.cell_id}: synapse on section {bad[0]}, "
                                f"but the cell has sections 0..{n_sections - 1}")
    weights = conductances(cfg.run, receptor_of(embedding, celltype, cfg.network.classification))
    # the conductance the fit runs against: run.g, else the explicit AMPA or GABA one
    g = cfg.run.g if cfg.run.g is not None else weights.get("gAMPA", weights.get("gGABA"))
    return PreparedSweep(cell, embedding, celltype, units, weights, float(g), options)


def unit_table(prep: PreparedSweep, amplitudes: np.ndarray, t_peaks: np.ndarray,
               simulation: Sequence[int]) -> pd.DataFrame:
    """One row per unit: identity, synapses, conductances and PSP features (psps.csv).

    ``simulation`` names, per unit, the unit whose simulation gave its result (itself,
    or an earlier unit on the same segments).
    """
    g = {name: prep.weights.get(name, np.nan) for name in ("gAMPA", "gNMDA", "gGABA")}
    distances = [float(np.mean(path_distances(prep.cell, list(u.sections), list(u.xs)))) for u in prep.units]
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
            **g,
            "g": prep.g,
            "amplitude_mV": a,
            "t_peak_ms": t,
            "simulation": sim,
        }
        for u, a, t, d, sim in zip(prep.units, amplitudes, t_peaks, distances, simulation)
    ]
    return pd.DataFrame(rows)


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
    return {k: resolve_path(v, k) for k, v in keys.items() if v}


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def provenance_tags(cfg: PspSweepConfig, prep: PreparedSweep) -> dict[str, str]:
    """Versions and content hashes that identify what produced a run."""
    from pspsweep.provenance import git_commit, neuron_version
    from pspsweep.simulation.mechanisms import source_hash

    tags = {
        "pspsweep.version": __version__,
        "neuron.version": neuron_version(),
        "python.version": sys.version.split()[0],
        "mechanisms.sha256": source_hash([Path(d) for d in prep.cell.mechanism_dirs]),
        "celltype": prep.celltype,
        "mode": cfg.run.mode.value,
        "strategy": cfg.run.strategy.value,
    }
    commit = git_commit()
    if commit:
        tags["git.commit"] = commit
    for key, path in input_files(cfg).items():
        tags[f"input.{key}.sha256"] = file_sha256(path)
    return tags


def sweep_work(cfg: PspSweepConfig, prep: PreparedSweep) -> execution.SweepWork:
    """What every worker needs: the simulation request, analysis options, storage step."""
    from pspsweep.simulation.runner import SweepRequest

    run = cfg.run
    receptor = prep.embedding.receptors[prep.celltype]
    weights = tuple(prep.weights[n] for n in (("gAMPA", "gNMDA") if receptor.excitatory else ("gGABA",)))
    # one synapse pool large enough for every unit: one settle per sweep (fixed step)
    pool = max((u.n_synapses for u in prep.units), default=1)
    request = SweepRequest(prep.cell, receptor, weights, run.vardt, run.tStim, run.tEnd, run.strategy.value,
                           pool_size=pool)
    return execution.SweepWork(request, prep.options, run.record_dt)


def sweep_key(cfg: PspSweepConfig, prep: PreparedSweep) -> str:
    """A content hash of a sweep's results: simulation, analysis and the units.

    Two jobs with the same key produce the same files, whatever the executor, so a
    finished run with this key can be reused. Paths and execution settings are left out.
    """
    work = sweep_work(cfg, prep)
    units = [(u.celltype, u.index, u.cell_id, u.synapse_ids) for u in prep.units]
    return hashlib.sha256(f"{work.fingerprint()}|{units}|{cfg.run.mode.value}".encode()).hexdigest()


def run_sweep(cfg: PspSweepConfig, prep: PreparedSweep, tracker: Tracker, out_dir: Path,
              progress: bool = True) -> SweepResult:
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

    Returns:
        The tables, metrics and written files.
    """
    import dataclasses

    run = cfg.run
    work = sweep_work(cfg, prep)
    workers = execution.resolve_workers(cfg.executor.workers)
    # units on the same segments give identical traces: simulate each distinct one once
    same_as = distinct_units(prep.units, segment_counts(prep.cell)) if run.reuse_identical else list(
        range(len(prep.units)))
    simulated = [prep.units[i] for i in sorted(set(same_as))]
    chunks = execution.plan_chunks(simulated, workers, cfg.executor.chunk_size)
    root = Path(cfg.executor.work_dir) if cfg.executor.work_dir else launch_dir() / ".pspsweep" / "chunks"
    # settled states, shared by the workers and by every job of a multirun (see the
    # runner's docstring); set here, not in sweep_work, so sweep_key stays free of paths
    work = dataclasses.replace(work, request=dataclasses.replace(work.request, state_dir=str(root.parent / "states")))
    store = execution.ChunkStore.for_sweep(root, work, chunks)

    started = time.perf_counter()
    bar = progress_bar(f"{prep.celltype} units", len(simulated), enabled=progress)
    executor = execution.make_executor(cfg.executor.kind, workers, cfg.executor.address)
    try:
        report = execution.run_chunks(work, chunks, store, executor, on_done=bar.update)
    except BaseException:
        bar.leave = False  # erase the bar: the error is reported in one line
        raise
    finally:
        executor.close()
        bar.close()
    amplitudes, t_peaks = execution.collect_features(store, chunks)
    position = {u.index: k for k, u in enumerate(simulated)}
    source = [position[prep.units[i].index] for i in same_as]
    table = unit_table(prep, amplitudes[source], t_peaks[source], [prep.units[i].index for i in same_as])
    stats = summary_statistics(table, prep.options)

    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"{prep.celltype}, " + ", ".join(f"{k}={v:g} nS" for k, v in prep.weights.items())
    t_b, v_b = execution.find_baseline(store, chunks)
    shown = table.reindex(table["amplitude_mV"].abs().sort_values(ascending=False).index).head(MAX_TRACES)
    examples = execution.read_unit_traces(store, chunks, set(int(u) for u in shown["simulation"]))
    files = [
        _write_csv(table, out_dir / PSPS_CSV),
        _write_csv(stats, out_dir / STATS_CSV),
        execution.assemble_traces(store, chunks, out_dir / TRACES_NPZ),
        amplitude_histogram(table, out_dir / HISTOGRAM_PNG, prep.options.threshold_mV, title),
        trace_overview(t_b, v_b, [examples[int(u)] for u in shown["simulation"]], len(table), out_dir / TRACES_PNG,
                       run.tStim, run.tEnd, title),
    ]
    wall = time.perf_counter() - started
    metrics = {
        "n_units": float(len(prep.units)),
        "n_synapses": float(sum(u.n_synapses for u in prep.units)),
        "n_simulated": float(len(simulated)),
        "wall_time_s": wall,
        "simulation_time_s": report.wall_s,
        "units_per_second": len(prep.units) / report.wall_s if report.wall_s > 0 else float("nan"),
        "simulations_per_second": report.units_simulated / report.wall_s if report.wall_s > 0 else float("nan"),
        "workers": float(report.workers),
        "parallel_efficiency": report.parallel_efficiency,
        "chunks": float(report.n_chunks),
        "chunks_reused": float(report.chunks_reused),
    }
    if len(stats):
        row = stats.iloc[0]
        metrics.update({k: float(row[k]) for k in stats.columns if k not in ("celltype", "gAMPA", "gNMDA", "gGABA")})
    else:
        metrics["n_responding"] = 0.0
    tracker.log_metrics(metrics)
    for f in files:
        tracker.log_artifact(f)
    store.remove()
    return SweepResult(table, stats, metrics, files)


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


__all__ = ["PreparedSweep", "SweepResult", "prepare", "run_sweep"]


def fit_parent_run(cfg: PspSweepConfig, uri: str, parent_run_id: str, out_dir: Path) -> "FitResult":
    """Fit conductances from the children of a multirun and record the fit on the parent.

    Reads every finished child's ``psps.csv`` from the store, so it works the same at
    the end of a multirun and later (``pspsweep-fit``) without simulating again.

    Args:
        cfg: the configuration (fit, analysis, network classification and neuron are used).
        uri: tracking URI of the store.
        parent_run_id: the multirun's parent run.
        out_dir: local folder for the fit's files.

    Returns:
        The fit tables.
    """
    from pspsweep.celltypes import CLASSIFICATIONS
    from pspsweep.fitting import fit_conductances, optimal_g_metrics, write_fit_tables
    from pspsweep.io.measured import read_measured_epsp
    from pspsweep.report import (
        amplitude_vs_distance,
        fit_plot,
        group_histograms,
        morphology_map,
    )

    options = analysis_options(cfg)
    measured = read_measured_epsp(resolve_path(cfg.fit.measured, "fit.measured")) if cfg.fit.measured else None
    tables = tracking.child_tables(uri, parent_run_id, PSPS_CSV, out_dir / "children")
    exc, _ = CLASSIFICATIONS[cfg.network.classification]
    result = fit_conductances(tables, measured, cfg.fit, options, exc)
    files = write_fit_tables(result, out_dir)
    cell = cell_spec_from_config(cfg.neuron)
    units = result.units.drop_duplicates(["celltype", "unit", "g"])
    files += [
        group_histograms(result.units, measured, out_dir / "group_histograms.png", options.threshold_mV),
        fit_plot(result.group_statistics, result.fits, result.optimal, out_dir / "fit.png"),
        amplitude_vs_distance(units, out_dir / "amplitude_vs_distance.png"),
        morphology_map(cell, units, out_dir / "morphology_amplitudes.png"),
    ]
    parent = tracking.MlflowTracker.attach(uri, parent_run_id)
    for f in files:
        parent.log_artifact(f, "fit")
    # tags, not params: a refit may use another measured table than the first fit
    parent.set_tags({"fit.measured": str(cfg.fit.measured), "fit.weights": str(list(cfg.fit.weights)),
                     "fit.groups": str(cfg.fit.groups), "fit.convention": options.convention})
    parent.log_metrics(optimal_g_metrics(result.optimal))
    return result
