"""The job without Hydra: pspsweep's Python API (``pspsweep.run``).

The ``pspsweep`` command is a thin shell over :func:`run_job`: it reads Hydra's output
folder and multirun parent and passes them as plain arguments. From a notebook,
:func:`run` composes the config from overrides (the same config groups as the command),
a dict or a :class:`~pspsweep.config.PspSweepConfig`, and returns a :class:`SweepResult`.
Bad input raises :class:`~pspsweep.errors.PspSweepError` before anything is simulated
or recorded.
"""

from __future__ import annotations

import datetime
import logging
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pspsweep import tracking
from pspsweep.config import PspSweepConfig
from pspsweep.errors import PspSweepError

if TYPE_CHECKING:
    import pandas as pd

    from pspsweep.execution import LocalProcesses
    from pspsweep.pipeline import PreparedSweep
    from pspsweep.traces import TraceSet

log = logging.getLogger("pspsweep")

#: tag holding a sweep's content hash (pspsweep.pipeline.sweep_key), for reuse
SWEEP_KEY_TAG = "pspsweep.sweep_key"

#: what :func:`run` accepts: a typed config, a (partial) config mapping, or overrides
ConfigLike = PspSweepConfig | Mapping[str, Any] | Sequence[str]


@dataclass
class SweepResult:
    """What one job produced; the tables and traces are read from its files on first use.

    Attributes:
        label: the sweep's cell types, for titles and messages.
        metrics: the run's metrics (n_units, amp_mean, wall_time_s, ...).
        out_dir: the folder of the result files.
        run_id: the MLflow run, or None without tracking.
        tracking_uri: the store of that run, or None without tracking.
        reused_from: the finished run whose results these are, when the sweep was not
            simulated again (``run.force=true`` simulates); ``run_id`` is then that run,
            as no run is created for a reuse.
    """

    label: str
    metrics: dict[str, float]
    out_dir: Path
    run_id: str | None = None
    tracking_uri: str | None = None
    reused_from: str | None = None

    @cached_property
    def table(self) -> pd.DataFrame:
        """``psps.csv``: one row per unit."""
        import pandas as pd

        from pspsweep.pipeline import PSPS_CSV

        return pd.read_csv(self.out_dir / PSPS_CSV)

    @cached_property
    def statistics(self) -> pd.DataFrame:
        """``statistics.csv``: per cell type and conductances."""
        import pandas as pd

        from pspsweep.pipeline import STATS_CSV

        return pd.read_csv(self.out_dir / STATS_CSV)

    @cached_property
    def group_statistics(self) -> pd.DataFrame:
        """``group_statistics.csv``: per merged group and conductances."""
        import pandas as pd

        from pspsweep.pipeline import GROUP_STATS_CSV

        return pd.read_csv(self.out_dir / GROUP_STATS_CSV)

    @property
    def traces_path(self) -> Path:
        """``traces.npz`` (layout in :mod:`pspsweep.traces`)."""
        from pspsweep.pipeline import TRACES_NPZ

        return self.out_dir / TRACES_NPZ

    def traces(self) -> TraceSet:
        """The baseline and every simulated trace (read from ``traces.npz``)."""
        from pspsweep.traces import load_traces

        return load_traces(self.traces_path)


def run(
    config_or_overrides: ConfigLike = (), tracking: bool | None = None, out_dir: str | Path | None = None
) -> SweepResult:
    """Run one sweep from Python, as the command would.

    Args:
        config_or_overrides: a :class:`PspSweepConfig`, a mapping merged onto the default
            config (``{"run": {"g": 2}}``), or overrides as typed on the command line
            (``["neuron=isf", "network=isf", "run.celltype=VPM_C2"]``).
        tracking: record the run in MLflow (``tracking.*`` config); None: as configured.
        out_dir: folder for the result files; None: ``outputs/<date>/<time>-<random>``
            in the current (launch) directory, as the command names it.

    Raises:
        PspSweepError: on any bad input, before anything is simulated or recorded.
    """
    cfg = compose_config(config_or_overrides)
    if tracking is not None:
        cfg.tracking.enabled = tracking
    return run_job(cfg, Path(out_dir) if out_dir is not None else default_out_dir())


def compose_config(config_or_overrides: ConfigLike = ()) -> PspSweepConfig:
    """A typed config from a config object, a mapping or Hydra-style overrides.

    Raises:
        PspSweepError: on an unknown key, a wrongly typed value or an unknown option.
    """
    if isinstance(config_or_overrides, PspSweepConfig):
        return config_or_overrides
    if isinstance(config_or_overrides, Mapping):
        return merged_config([], config_or_overrides)
    if isinstance(config_or_overrides, str):
        raise PspSweepError(f"overrides must be a list of strings, not the string {config_or_overrides!r}")
    return merged_config(list(config_or_overrides), {})


def merged_config(overrides: list[str], values: Mapping[str, Any]) -> PspSweepConfig:
    """The config composed with ``overrides`` (config groups such as ``neuron=isf``
    included), with ``values`` merged on top.

    Raises:
        PspSweepError: on an unknown key, a wrongly typed value or an unknown option.
    """
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    unknown = sorted(set(values) - set(PspSweepConfig.__dataclass_fields__))
    if unknown:
        raise PspSweepError(
            f"bad config: unknown key {unknown[0]!r}; the keys are {', '.join(PspSweepConfig.__dataclass_fields__)}"
        )
    try:
        base = _composed(overrides)
        # not struct: a mapping may add entries to dict-valued keys (network.celltypes.X);
        # the typed nodes still refuse unknown keys
        OmegaConf.set_struct(base, False)
        merged = OmegaConf.merge(base, OmegaConf.create(dict(values)))
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except (HydraException, OmegaConfBaseException) as exc:
        from pspsweep.cli import one_line, unknown_override

        raise unknown_override(exc) or PspSweepError(f"bad config: {one_line(exc)}") from None


def _composed(overrides: list[str]) -> Any:
    """The job config Hydra composes from ``conf/`` and ``overrides`` (without ``hydra``)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    import pspsweep.cli  # noqa: F401 - registers the schema and the resolvers the configs use

    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="pspsweep.conf", version_base="1.3"):
            cfg = compose(config_name="config", overrides=overrides)
    finally:
        GlobalHydra.instance().clear()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return cfg


def default_out_dir() -> Path:
    """``outputs/<date>/<HH-MM-SS>-<random>`` in the launch directory (the command's naming)."""
    from pspsweep.launch import launch_dir

    now = datetime.datetime.now()
    return launch_dir() / "outputs" / now.strftime("%Y-%m-%d") / f"{now:%H-%M-%S}-{secrets.token_hex(3)}"


def run_job(
    cfg: PspSweepConfig, out_dir: Path, parent_run_id: str | None = None, hydra_dir: Path | None = None
) -> SweepResult:
    """One job: prepare, simulate, analyse, track. No Hydra involved.

    Start-up overlaps (what is recorded is the same either way): local worker processes
    are spawned first and import NEURON while this process reads the inputs; with
    tracking, the MLflow run is opened in a background thread while they simulate (see
    :class:`tracking.BackgroundRun`), and a finished run of the same sweep found then
    cancels the simulation and is reused.

    Args:
        cfg: the job's typed config.
        out_dir: folder for the result files.
        parent_run_id: the multirun's parent run (the command reads it), or None.
        hydra_dir: Hydra's saved configs, logged as the ``.hydra`` artifacts, or None.
    """
    workers = start_workers(cfg)
    try:
        return _run_prepared(cfg, workers, out_dir, parent_run_id, hydra_dir)
    finally:
        if workers is not None:
            workers.close()  # no-op when the sweep took and closed them


def start_workers(cfg: PspSweepConfig) -> LocalProcesses | None:
    """Local worker processes started before the inputs are read, or None when the units
    run elsewhere: on Dask, or in this process (one worker and no MLflow run to open
    meanwhile: with tracking a single worker runs in a process of its own, because
    NEURON holds the GIL and a thread opening the run would otherwise wait for it)."""
    from pspsweep import execution

    if cfg.executor.kind != "local":
        return None
    workers = execution.resolve_workers(int(cfg.executor.workers))
    if workers <= 1 and not cfg.tracking.enabled:
        return None
    return execution.start_local_workers(workers)


def _run_prepared(
    cfg: PspSweepConfig,
    workers: LocalProcesses | None,
    out_dir: Path,
    parent_run_id: str | None,
    hydra_dir: Path | None,
) -> SweepResult:
    from pspsweep.hydra_callbacks import tracking_uri
    from pspsweep.launch import check_work_folders
    from pspsweep.pipeline import prepare, sweep_key
    from pspsweep.run_record import sweep_description

    engine = cfg.run.engine.value
    prebuild = (lambda cell: workers.prebuild(cell, engine)) if workers is not None else None
    prep = prepare(cfg, on_cell=prebuild)  # every input check happens before a run is recorded
    uri = tracking_uri(cfg)
    if cfg.tracking.enabled:
        tracking.check_store(uri)  # seconds, not MLflow's minutes of retries after the simulation
    check_work_folders(cfg)
    key = sweep_key(cfg, prep)
    cancel = threading.Event()
    opening = None
    if cfg.tracking.enabled:
        opening = _open_run(cfg, prep, uri, key, out_dir, parent_run_id, workers, cancel)
    try:
        result = _simulate_or_reuse(cfg, prep, opening, workers, cancel, uri, out_dir)
        if result.reused_from is not None and parent_run_id is not None:
            tracking.record_reused_job(uri, parent_run_id, result.reused_from, out_dir)
        elif hydra_dir and hydra_dir.is_dir():
            result.tracker.log_artifacts(hydra_dir, ".hydra")
    except KeyboardInterrupt:
        _end_quietly(opening, "KILLED")
        raise
    except BaseException:
        _end_quietly(opening, "FAILED")
        raise
    result.tracker.set_tags({tracking.NOTE_TAG: sweep_description(_description_title(cfg, prep), result.metrics)})
    result.tracker.end("FINISHED")
    return SweepResult(
        prep.label,
        result.metrics,
        out_dir,
        result.reused_from or result.tracker.run_id,
        uri if cfg.tracking.enabled else None,
        result.reused_from,
    )


def _open_run(
    cfg: PspSweepConfig,
    prep: PreparedSweep,
    uri: str,
    key: str,
    out_dir: Path,
    parent_run_id: str | None,
    workers: LocalProcesses | None,
    cancel: threading.Event,
) -> tracking.BackgroundRun:
    """Open the job's MLflow run: in the background while local workers simulate, else
    now (an error or a finished run of the same sweep then stops the job before it simulates).

    A new SQLite store is created here, first: its schema takes MLflow dozens of migration
    steps, and a kill (SIGKILL) in the middle of them would leave a store that every later
    command refuses, after chunks that the next command would resume from.
    """
    from omegaconf import OmegaConf

    from pspsweep.pipeline import REUSED_ARTIFACTS, provenance_tags
    from pspsweep.report import warm_up
    from pspsweep.run_record import job_config

    name = _run_name(cfg, prep)
    plain = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True, enum_to_str=True)
    assert isinstance(plain, dict)
    params = tracking.flatten(job_config({str(k): v for k, v in plain.items()}, prep, uri))

    def create() -> tracking.MlflowTracker:
        return tracking.MlflowTracker(uri, cfg.tracking.experiment, name, parent_run_id=parent_run_id)

    def lookup() -> str | None:
        if cfg.run.force:
            return None
        return tracking.find_finished_run(uri, cfg.tracking.experiment, SWEEP_KEY_TAG, key, artifacts=REUSED_ARTIFACTS)

    def record(tracker: tracking.MlflowTracker) -> None:
        tracker.log_params(params)
        tracker.set_tags(
            {
                **provenance_tags(cfg, prep),
                SWEEP_KEY_TAG: key,
                "tracking.uri": uri,
                "output.dir": str(out_dir.resolve()),
            }
        )

    exists = tracking.may_hold_runs(uri)
    # the idle moment after opening in the background also imports matplotlib for the plots
    return tracking.BackgroundRun(
        create,
        lookup,
        record,
        then=warm_up,
        background=workers is not None and exists,
        may_reuse=not cfg.run.force and exists,
        cancel=cancel,
    )


def _description_title(cfg: PspSweepConfig, prep: PreparedSweep) -> str:
    return f"{prep.label} ({cfg.run.mode.value}), {prep.conductance_label()}"


def _run_name(cfg: PspSweepConfig, prep: PreparedSweep) -> str:
    return f"{prep.label} {cfg.run.mode.value} {prep.conductance_label().replace(' nS', '').replace(',', '')}"


@dataclass
class _Outcome:
    tracker: tracking.Tracker
    metrics: dict[str, float]
    reused_from: str | None = None


def _simulate_or_reuse(
    cfg: PspSweepConfig,
    prep: PreparedSweep,
    opening: tracking.BackgroundRun | None,
    workers: LocalProcesses | None,
    cancel: threading.Event,
    uri: str,
    out_dir: Path,
) -> _Outcome:
    """Run the sweep, unless the opening run found a finished run of the same sweep:
    then that run's results are these results (the opening cancels running workers)."""
    from pspsweep.pipeline import run_sweep

    if opening is None:
        result = run_sweep(cfg, prep, tracking.NullTracker(), out_dir, progress=cfg.executor.progress)
        assert result is not None  # nothing cancels a job without tracking
        return _Outcome(tracking.NullTracker(), result.metrics)
    if workers is None:
        opening.wait()  # opened here and now: raises the opening's error before simulating
    else:
        workers.hold, workers.cancel = opening.hold, cancel
    if opening.previous is None:
        try:
            result = run_sweep(
                cfg, prep, opening.pipeline_tracker(), out_dir, progress=cfg.executor.progress, cancel=cancel
            )
            if result is not None:
                return _Outcome(opening.for_sweep(), result.metrics)
        except tracking.RunReused:
            pass  # every chunk was on disk already: the results were written before the opening ended
    opening.wait()  # cancelled: raises the opening's error, else there is a run to reuse
    return _reuse(cfg, opening, uri, out_dir)


def _reuse(cfg: PspSweepConfig, opening: tracking.BackgroundRun, uri: str, out_dir: Path) -> _Outcome:
    """The finished run of the same sweep is the result: its files are copied into
    ``out_dir`` and no run is created (a copy would only repeat its metrics). Asked for
    ``traces.nwb`` that the finished run lacks, the file is written and added to that run."""
    from pspsweep.nwb import NWB_FILE, export_run

    opening.wait()
    previous = opening.previous
    assert previous is not None
    metrics = tracking.download_run_outputs(uri, previous, out_dir)
    if cfg.output.nwb and not (out_dir / NWB_FILE).is_file():
        tracking.MlflowTracker.attach(uri, previous).log_artifact(export_run(previous, uri, out_dir / NWB_FILE))
    return _Outcome(tracking.NullTracker(), metrics, reused_from=previous)


def _end_quietly(opening: tracking.BackgroundRun | None, status: str) -> None:
    """End the run after an error; a failure to do so (a full disk, a store gone) must not
    hide the error that ended the sweep, which is the one reported."""
    if opening is None:
        return
    try:
        opening.end(status)
    except Exception:
        log.debug("could not mark the run %s", status, exc_info=True)
