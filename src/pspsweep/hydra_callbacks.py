"""Hydra callback that makes a multirun one MLflow parent run with a child run per job.

The parent is created in the launching process before any job starts, which also
creates the store's schema and the experiment once (concurrent first use of a fresh
SQLite store races). Its id is written to a file in the sweep directory, where every job
reads it; it is never passed through ``MLFLOW_RUN_ID`` (a job would resume the parent).
"""

from __future__ import annotations

import copy
import datetime
import itertools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from pspsweep import tracking
from pspsweep.config import PspSweepConfig
from pspsweep.entry import collect_garbage_again
from pspsweep.errors import PspSweepError
from pspsweep.launch import launch_dir
from pspsweep.run_record import applicable_config, fit_description
from pspsweep.stores import redact, redact_file, take_credentials

if TYPE_CHECKING:
    from pspsweep.fit.stage import FitResult

log = logging.getLogger(__name__)

#: the sweep's base config, logged on the parent run
PARENT_CONFIG = "sweep_config.yaml"

#: the parent run of the multirun this process launched: (tracking uri, run id)
ACTIVE_PARENT: dict[str, str] = {}


def tracking_uri(cfg: DictConfig | PspSweepConfig) -> str:
    """The absolute tracking URI of a composed config, without credentials (they go to
    MLflow's environment variables, see :func:`pspsweep.stores.take_credentials`)."""
    base = launch_dir()
    return take_credentials(tracking.resolve_tracking_uri(cfg.tracking.uri, base))


class SweepAborted(BaseException):
    """An error raised in a multirun callback, carried out of Hydra.

    A BaseException on purpose: Hydra's callback runner catches every ``Exception`` of a
    callback and only warns, so the sweep would go on (or end with exit code 0).
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def job_overrides(task: list[str]) -> list[list[str]]:
    """The overrides of every job of a sweep, as Hydra's basic sweeper expands them: the
    cartesian product of the values of each ``key=a,b`` (the last override of a key wins).

    Raises:
        PspSweepError: for a sweep over a range or an interval, which only other sweepers take.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    choices: dict[str, list[str]] = {}
    for override in OverridesParser.create().parse_overrides(task):
        key = override.get_key_element()
        if not override.is_sweep_override():
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
        elif override.is_discrete_sweep():
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            raise PspSweepError(f"{key}: sweeps over ranges or intervals need another sweeper; list the values")
    return [list(job) for job in itertools.product(*choices.values())]


def check_sweep(config: DictConfig, config_name: str | None) -> None:
    """Prepare every job of the sweep (which reads the measured table) before anything runs.

    Raises:
        PspSweepError: the first bad input of any job, naming the culprit.
    """
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    from pspsweep.pipeline import prepare

    # a preset's hydra.sweeper.params first, the command line's overrides after them (as
    # Hydra's basic sweeper takes them: the last value of a key wins)
    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    jobs = job_overrides([*params, *config.hydra.overrides.task])
    loader = GlobalHydra.instance().config_loader()
    for job in jobs:
        prepare(typed_config(loader.load_configuration(config_name, job, RunMode.RUN)))


class ParentRunCallback(Callback):
    """Create the parent run at multirun start; finish it at multirun end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_sweep(config, kwargs.get("config_name"))
        except Exception as exc:
            raise SweepAborted(exc) from exc
        finally:
            # off during start-up (pspsweep.entry.main); this process now waits for the
            # jobs, or runs them one after another
            collect_garbage_again()
        if not config.tracking.enabled:
            return
        uri = tracking_uri(config)
        tracking.check_store(uri)
        sweep_dir = Path(config.hydra.sweep.dir)
        redact_file(sweep_dir / "multirun.yaml")
        overrides = list(config.hydra.overrides.task)
        params = {"sweep.overrides": " ".join(overrides), "sweep.dir": str(sweep_dir.resolve())}
        plain = OmegaConf.to_container(_without_hydra(config), resolve=False)
        assert isinstance(plain, dict)
        params.update(tracking.flatten(applicable_config({str(k): v for k, v in plain.items()})))
        note = fit_description({}, measured=bool(config.fit.measured))
        run_id = tracking.start_parent_run(
            uri,
            config.tracking.experiment,
            f"sweep {sweep_dir.name}",
            params,
            tags={"pspsweep.role": "parent", "sweep.dir": str(sweep_dir.resolve()), tracking.NOTE_TAG: note},
        )
        tracking.write_parent_run_id(sweep_dir, run_id)
        # the sweep's base config, so that pspsweep-fit can refit later from the store
        base = sweep_dir / PARENT_CONFIG
        base.write_text(redact(OmegaConf.to_yaml(_without_hydra(config))))
        tracking.MlflowTracker.attach(uri, run_id).log_artifact(base)
        ACTIVE_PARENT.update(uri=uri, run_id=run_id, sweep_dir=str(sweep_dir))
        log.info("MLflow parent run %s in %s", run_id, uri)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not ACTIVE_PARENT:
            return
        typed = typed_config(config)
        if typed.fit.measured:
            from pspsweep.fit.stage import fit_summary

            try:
                result, fit_run = fit_parent_run(
                    typed, ACTIVE_PARENT["uri"], ACTIVE_PARENT["run_id"], Path(ACTIVE_PARENT["sweep_dir"]) / "fit"
                )
            except Exception as exc:
                fail_active_parent()
                raise SweepAborted(exc) from exc
            if result.optimal is not None:
                sonata = typed.network.kind == "sonata"
                what = "scale factors of the circuit's weights" if sonata else "conductances (nS)"
                print(f"pspsweep: optimal {what}\n" + fit_summary(result.optimal))
            print(f"pspsweep: fit recorded as run {fit_run}, nested under the parent run")
        uri, run_id = ACTIVE_PARENT["uri"], ACTIVE_PARENT["run_id"]
        tracking.end_run(uri, run_id, "FINISHED")
        hint = tracking.ui_hint(uri, tracking.experiment_id(uri, config.tracking.experiment))
        print(f"pspsweep: multirun finished; MLflow parent run {run_id}\n  {hint}")
        ACTIVE_PARENT.clear()


def fit_parent_run(cfg: PspSweepConfig, uri: str, parent_run_id: str, out_dir: Path) -> tuple[FitResult, str]:
    """Fit the jobs of a multirun and record the fit as a run of its own, nested under
    the parent run (tag ``pspsweep.kind=fit``); returns the fit and that run's id.

    The one path of both the multirun's end and ``pspsweep-fit``: the jobs' ``psps.csv``
    come from the store (child runs and the finished runs jobs reused), so a refit needs
    no simulation. Every fit keeps its own run; the fit is computed and its files
    written before the run is created, and a run whose recording fails ends FAILED, so
    a FINISHED fit run's metrics are those of its files. The parent's tag
    ``pspsweep.latest_fit`` names the newest.

    Args:
        cfg: the configuration (fit, analysis, network classification and neuron are used).
        uri: tracking URI of the store.
        parent_run_id: the multirun's parent run.
        out_dir: local folder for the fit's files.
    """
    from pspsweep.fit.stage import fit_stage, measured_table, record_fit
    from pspsweep.pipeline import PSPS_CSV

    measured = measured_table(cfg.fit)
    tables = tracking.child_tables(uri, parent_run_id, PSPS_CSV, out_dir / "children")
    output = fit_stage(cfg, tables, measured, out_dir)
    name = f"fit {datetime.datetime.now():%Y-%m-%d %H:%M:%S}"  # refits apart in the UI's list
    tracker = tracking.nested_run(uri, parent_run_id, name, {tracking.KIND_TAG: tracking.FIT_KIND})
    assert tracker.run_id is not None
    try:
        record_fit(tracker, output)
    except BaseException:
        tracker.end("FAILED")
        raise
    tracker.end("FINISHED")
    tracking.MlflowTracker.attach(uri, parent_run_id).set_tags({tracking.LATEST_FIT_TAG: tracker.run_id})
    return output.result, tracker.run_id


def _without_hydra(config: DictConfig) -> DictConfig:
    plain = copy.deepcopy(config)
    with open_dict(plain):
        plain.pop("hydra", None)
    return plain


def typed_config(config: DictConfig) -> PspSweepConfig:
    """The typed job config of a composed config (without its ``hydra`` node)."""
    return OmegaConf.to_object(_without_hydra(config))  # type: ignore[return-value]


def fail_active_parent(status: str = "FAILED") -> None:
    """End this process's unfinished parent run with ``status`` (after a job failed, or
    the command was interrupted), and its children still RUNNING as KILLED: jobs in other
    processes (joblib) are stopped without a chance to end their runs."""
    if ACTIVE_PARENT:
        try:
            tracking.end_unfinished_children(ACTIVE_PARENT["uri"], ACTIVE_PARENT["run_id"], "KILLED")
            tracking.end_run(ACTIVE_PARENT["uri"], ACTIVE_PARENT["run_id"], status)
        finally:
            ACTIVE_PARENT.clear()
