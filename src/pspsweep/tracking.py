"""Experiment tracking: the only module that imports MLflow.

A :class:`Tracker` records what passes through the pipeline: parameters, metrics, tags
and artifact files of one run. :class:`MlflowTracker` writes them to an MLflow store
through an explicit ``MlflowClient`` (no global active run, so parallel jobs cannot mix
up their runs); :class:`NullTracker` drops them (``tracking.enabled=false``, tests).

A multirun is one parent run, created by the launching process before any job starts
(which also creates the store's schema and the experiment exactly once), and one child
run per job carrying the tag ``mlflow.parentRunId``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from pspsweep.opening import BackgroundRun, RunReused
from pspsweep.stores import (
    EXPERIMENT_KIND,
    LOCAL_UI,
    check_store,
    experiment_tags,
    redact,
    resolve_tracking_uri,
    sqlite_path,
    sqlite_uri,
    ui_hint,
)

__all__ = ["BackgroundRun", "RunReused", "check_store", "redact", "resolve_tracking_uri", "ui_hint"]

log = logging.getLogger(__name__)

#: MLflow's own limits (field-notes section 2)
MAX_PARAM_VALUE = 6000
PARENT_RUN_FILE = "mlflow_parent_run_id"
#: tag telling what a run is; a fit nested under a multirun's parent has ``fit``
KIND_TAG = "pspsweep.kind"
FIT_KIND = "fit"
#: tag of a multirun's parent naming, per reused finished run, the job folder that reused it
REUSED_TAG_PREFIX = "pspsweep.reused."
#: tag of a multirun's parent naming its latest finished fit run
LATEST_FIT_TAG = "pspsweep.latest_fit"


#: the run's description, shown first on its page in the MLflow UI (markdown)
NOTE_TAG = "mlflow.note.content"


def experiment_id(uri: str, name: str) -> str | None:
    """The id of experiment ``name`` in the store, or None."""
    exp = _client(uri, create=False).get_experiment_by_name(name)
    return None if exp is None else exp.experiment_id


def run_hint(uri: str, run_id: str) -> str:
    """Where to look at one run: its page on a server, or the command that serves a
    local store and the run's page in that UI (in the model-training view, as runs_page)."""
    experiment = _client(uri).get_run(run_id).info.experiment_id
    page = f"#/experiments/{experiment}/runs/{run_id}?workflowType=machine_learning"
    if uri.startswith(("http://", "https://")):
        return f"open the run at: {redact(uri).rstrip('/')}/{page}"
    return f"{ui_hint(uri)}\n  then the run at: {LOCAL_UI.rstrip('/')}/{page}"


def _artifact_root(uri: str) -> str | None:
    """For a local SQLite store: an ``mlartifacts`` folder beside the database file."""
    path = sqlite_path(uri)
    return (path.parent / "mlartifacts").resolve().as_uri() if path is not None else None


def ensure_sqlite_store(uri: str) -> None:
    """Create a local SQLite store whole, or not at all.

    MLflow builds a new store's schema in dozens of migration steps. Two commands doing
    that at once collide ("duplicate column name"), and a command killed in the middle
    leaves a store that every later command refuses. So the schema is built in a private
    file, under a lock, and renamed into place when complete.
    """
    import fcntl
    import secrets

    path = sqlite_path(uri)
    if path is None or path.exists():
        return
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        if path.exists():
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            client = _client(sqlite_uri(tmp), create=False)
            client.search_experiments(max_results=1)  # opening the store builds the schema
            client._tracking_client.store.engine.dispose()
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested mappings into MLflow params (``a.b``); a list is one param (JSON,
    ``[0, 1, 2]``) and an enum member its value (``cells``)."""
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if value:
                out.update(flatten(value, name + "."))
            else:
                out[name] = "{}"
        elif isinstance(value, (list, tuple)):
            out[name] = json.dumps(_plain(value))
        else:
            out[name] = str(_plain(value))
    return {k: v[:MAX_PARAM_VALUE] for k, v in out.items()}


def _plain(value: Any) -> Any:
    """Enum members as their values, inside lists and mappings too."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Tracker(Protocol):
    """What the pipeline records; implemented by :class:`MlflowTracker` and :class:`NullTracker`."""

    run_id: str | None

    def log_params(self, params: Mapping[str, str]) -> None: ...

    def log_metrics(self, metrics: Mapping[str, float]) -> None: ...

    def set_tags(self, tags: Mapping[str, str]) -> None: ...

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None: ...

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None: ...

    def end(self, status: str = "FINISHED") -> None: ...


class NullTracker:
    """A tracker that records nothing."""

    run_id: str | None = None

    def log_params(self, params: Mapping[str, str]) -> None:
        """Ignore params."""

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Ignore metrics."""

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Ignore tags."""

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """Ignore the file."""

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        """Ignore the folder."""

    def end(self, status: str = "FINISHED") -> None:
        """Nothing to end."""


def _client(uri: str, create: bool = True):
    """An MLflow client of ``uri``; a missing local store is created whole first."""
    from mlflow.tracking import MlflowClient

    # MLflow's INFO lines (database creation, migrations) are noise in a sweep's output
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    # MLflow's own "View run at" links open its GenAI view; pspsweep prints the runs table's
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    _decode_sqlite_parent_dirs()
    if create:
        ensure_sqlite_store(uri)
    return MlflowClient(tracking_uri=uri)


def _decode_sqlite_parent_dirs() -> None:
    """MLflow 3 creates a SQLite file's folder from the URI without decoding it: for a
    folder "a?b" it made an empty "a%3Fb" beside it. The same, decoded."""
    import mlflow.store.db.utils as db_utils

    def make_parent_dirs(db_uri: str) -> None:
        path = sqlite_path(db_uri)
        if path is not None and str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)

    db_utils._make_parent_dirs_if_sqlite = make_parent_dirs


def ensure_experiment(uri: str, name: str) -> str:
    """Create the store's schema and the experiment if needed; returns the experiment id.
    The experiment carries :func:`experiment_tags` (an older one gets them here)."""
    client = _client(uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        _tag_experiment(client, exp)
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=_artifact_root(uri), tags=experiment_tags())
    except Exception:
        # another process created it between our lookup and create
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def _tag_experiment(client: Any, exp: Any) -> None:
    """Give an experiment the tags it lacks; a kind set by the user stays."""
    for key, value in experiment_tags().items():
        if key not in exp.tags or (key != EXPERIMENT_KIND[0] and exp.tags[key] != value):
            client.set_experiment_tag(exp.experiment_id, key, value)


class MlflowTracker:
    """One MLflow run, written through an explicit client.

    Args:
        uri: absolute tracking URI.
        experiment: experiment name (created if missing).
        run_name: the run's display name.
        parent_run_id: makes this a child run of that run.
        tags: tags set at creation.
    """

    def __init__(
        self,
        uri: str,
        experiment: str,
        run_name: str,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.uri = uri
        self._client = _client(uri)
        experiment_id = ensure_experiment(uri, experiment)
        all_tags = dict(tags or {})
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self._client.create_run(experiment_id, run_name=run_name, tags=all_tags)
        self.run_id: str | None = run.info.run_id
        self.experiment_id = experiment_id
        self._ended = False

    @classmethod
    def attach(cls, uri: str, run_id: str) -> MlflowTracker:
        """A tracker that writes into an existing run (e.g. a multirun's parent)."""
        self = cls.__new__(cls)
        self.uri = uri
        self._client = _client(uri)
        self.run_id = run_id
        self.experiment_id = self._client.get_run(run_id).info.experiment_id
        self._ended = False
        return self

    def log_params(self, params: Mapping[str, str]) -> None:
        """Log params in batches (MLflow takes at most 100 per call)."""
        from mlflow.entities import Param

        items = [Param(k, redact(str(v))[:MAX_PARAM_VALUE]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self._client.log_batch(self.run_id, params=items[i : i + 100])

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Log finite and non-finite scalar metrics at step 0."""
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
        for i in range(0, len(items), 1000):
            self._client.log_batch(self.run_id, metrics=items[i : i + 1000])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set tags (string values)."""
        from mlflow.entities import RunTag

        self._client.log_batch(self.run_id, tags=[RunTag(k, redact(str(v))) for k, v in tags.items()])

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """Upload one file."""
        self._client.log_artifact(self.run_id, str(path), artifact_path)

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        """Upload a folder's files."""
        self._client.log_artifacts(self.run_id, str(folder), artifact_path)

    def end(self, status: str = "FINISHED") -> None:
        """Mark the run FINISHED, FAILED or KILLED (only once)."""
        if not self._ended:
            self._client.set_terminated(self.run_id, status=status)
            self._ended = True


def may_hold_runs(uri: str) -> bool:
    """False only when the store certainly holds no run: a local SQLite file not created yet."""
    path = sqlite_path(uri)
    return path is None or path.exists()


def start_parent_run(
    uri: str, experiment: str, run_name: str, params: Mapping[str, str], tags: Mapping[str, str]
) -> str:
    """Create the parent run of a multirun and return its id."""
    tracker = MlflowTracker(uri, experiment, run_name, tags=tags)
    tracker.log_params(params)
    assert tracker.run_id is not None
    return tracker.run_id


def end_run(uri: str, run_id: str, status: str = "FINISHED") -> None:
    """Terminate a run created elsewhere (the parent of a multirun)."""
    _client(uri).set_terminated(run_id, status=status)


def run_status(uri: str, run_id: str) -> str:
    """Status of a run (RUNNING, FINISHED, FAILED, KILLED)."""
    return _client(uri).get_run(run_id).info.status


def write_parent_run_id(sweep_dir: Path, run_id: str) -> Path:
    """Record the parent run id in the sweep directory, for the jobs to read."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    path = sweep_dir / PARENT_RUN_FILE
    path.write_text(run_id + "\n")
    return path


def read_parent_run_id(sweep_dir: Path) -> str | None:
    """The parent run id written by :func:`write_parent_run_id`, or None."""
    path = sweep_dir / PARENT_RUN_FILE
    return path.read_text().strip() if path.is_file() else None


def nested_run(uri: str, parent_run_id: str, run_name: str, tags: Mapping[str, str]) -> MlflowTracker:
    """A new run in the experiment of ``parent_run_id``, nested under it."""
    client = _client(uri)
    experiment = client.get_experiment(client.get_run(parent_run_id).info.experiment_id).name
    return MlflowTracker(uri, experiment, run_name, parent_run_id=parent_run_id, tags=tags)


def record_reused_job(uri: str, parent_run_id: str, reused_run_id: str, out_dir: Path) -> None:
    """Tell a multirun's parent that a job reused a finished run (instead of a child run)."""
    MlflowTracker.attach(uri, parent_run_id).set_tags({REUSED_TAG_PREFIX + reused_run_id: str(out_dir.resolve())})


def job_runs(uri: str, parent_run_id: str) -> list[str]:
    """The runs holding a multirun's results: its FINISHED child runs other than fits,
    then the finished runs its jobs reused (:func:`record_reused_job`)."""
    client = _client(uri)
    children = [
        r.info.run_id
        for r in child_runs(uri, parent_run_id)
        if r.info.status == "FINISHED" and r.data.tags.get(KIND_TAG) != FIT_KIND
    ]
    tags = client.get_run(parent_run_id).data.tags
    reused = sorted(key.removeprefix(REUSED_TAG_PREFIX) for key in tags if key.startswith(REUSED_TAG_PREFIX))
    return list(dict.fromkeys([*children, *reused]))


def child_runs(uri: str, parent_run_id: str) -> list[Any]:
    """The child runs of a parent (MLflow Run objects), oldest first."""
    client = _client(uri)
    parent = client.get_run(parent_run_id)
    runs = client.search_runs([parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'")
    return sorted(runs, key=lambda r: r.info.start_time)


def find_finished_run(uri: str, experiment: str, tag: str, value: str, artifacts: Iterable[str] = ()) -> str | None:
    """The newest FINISHED run of ``experiment`` whose tag ``tag`` equals ``value`` and
    whose artifacts include ``artifacts`` (a run whose files were deleted is no result), or None."""
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`{tag}` = '{value}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=20,
    )
    for run in runs:
        present = {item.path for item in client.list_artifacts(run.info.run_id)}
        if present.issuperset(artifacts):
            return run.info.run_id
    return None


def end_unfinished_children(uri: str, parent_run_id: str, status: str) -> None:
    """End every child run of a parent that is still RUNNING (its job was stopped from outside)."""
    client = _client(uri)
    for run in child_runs(uri, parent_run_id):
        if run.info.status == "RUNNING":
            client.set_terminated(run.info.run_id, status=status)


def download_run_outputs(uri: str, run_id: str, dst: Path) -> dict[str, float]:
    """Download a run's artifacts (but its ``.hydra`` configs) into ``dst``; returns its metrics."""
    from mlflow.artifacts import download_artifacts

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    dst.mkdir(parents=True, exist_ok=True)
    client = _client(uri)
    for item in client.list_artifacts(run_id):
        if item.path != ".hydra":  # the job has its own composed config
            download_artifacts(run_id=run_id, artifact_path=item.path, dst_path=str(dst), tracking_uri=uri)
    return dict(client.get_run(run_id).data.metrics)


def require_store(uri: str) -> None:
    """Refuse a local SQLite store that does not exist (reading must not create one).

    Raises:
        PspSweepError: naming the missing file.
    """
    from pspsweep.errors import PspSweepError

    path = sqlite_path(uri)
    if path is not None and not path.is_file():
        raise PspSweepError(f"no MLflow store at {uri}: give tracking.uri=... of the sweep's store")
    check_store(uri)


def child_tables(uri: str, parent_run_id: str, artifact: str, dst: Path) -> list[Any]:
    """The CSV artifact ``artifact`` of every run of a multirun's jobs (:func:`job_runs`),
    as pandas tables.

    Raises:
        PspSweepError: when the parent has no finished job run with that artifact.
    """
    import pandas as pd

    from pspsweep.errors import PspSweepError

    tables = []
    for run_id in job_runs(uri, parent_run_id):
        tables.append(pd.read_csv(download_artifact(uri, run_id, artifact, dst / run_id)))
    if not tables:
        raise PspSweepError(f"run {parent_run_id} has no finished child run with {artifact} in {uri}")
    return tables


def run_metadata(uri: str, run_id: str) -> tuple[dict[str, str], dict[str, str], int]:
    """A run's params, tags and start time (ms since the epoch).

    Raises:
        PspSweepError: no such run in the store.
    """
    from pspsweep.errors import PspSweepError

    try:
        run = _client(uri, create=False).get_run(run_id)
    except Exception as exc:  # noqa: BLE001 - MLflow raises its own errors for an unknown or malformed id
        raise PspSweepError(f"no run {run_id} in {redact(uri)} ({str(exc).splitlines()[0]})") from None
    return dict(run.data.params), dict(run.data.tags), int(run.info.start_time)


def download_artifact(uri: str, run_id: str, path: str, dst: Path) -> Path:
    """Download one artifact of a run into ``dst``; returns the local path."""
    from mlflow.artifacts import download_artifacts

    # a progress bar per small file is noise in a sweep's output
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return Path(download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(dst), tracking_uri=uri))
