"""Tracking URIs and the checks of a store before anything runs (no MLflow import).

A local SQLite store is named by a percent-encoded URI, so that a folder holding ``?``,
``%`` or ``#`` means itself (SQLAlchemy decodes the path). Credentials in an HTTP URI
are moved into MLflow's environment variables and never appear in what is logged,
written or printed.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import re
import shlex
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pspsweep.errors import PspSweepError

SQLITE_PREFIX = "sqlite:///"

#: seconds to wait for a tracking server's health check
HEALTH_TIMEOUT_S = 5.0


def sqlite_uri(path: Path) -> str:
    """The URI of a local SQLite store at ``path`` (absolute, percent-encoded)."""
    return SQLITE_PREFIX + quote(str(path.resolve()), safe="/")


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (decoded as SQLAlchemy does), else None."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    return Path(unquote(uri[len(SQLITE_PREFIX) :].split("?", 1)[0]))


def resolve_tracking_uri(uri: str | None, base_dir: Path) -> str:
    """An absolute tracking URI.

    None gives ``sqlite:///<base_dir>/mlflow.db``; a relative SQLite path or a plain
    relative folder is made absolute against ``base_dir`` so that jobs that run in
    another directory still write to the same store.
    """
    if not uri:
        return sqlite_uri(base_dir / "mlflow.db")
    path = sqlite_path(uri)
    if path is not None:
        return uri if path.is_absolute() else sqlite_uri(base_dir / path)
    if "://" not in uri:
        return (base_dir / uri).resolve().as_uri()
    return uri


#: ``scheme://user:password@``: the password is group 2
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:)([^\s/@]*)@")


def redact(text: str) -> str:
    """``text`` with the password of every URI in it replaced by ``***``."""
    return _USERINFO.sub(r"\1***@", text)


def redact_file(path: Path) -> None:
    """Rewrite a text file (e.g. Hydra's saved config) with its URIs' passwords redacted."""
    if path.is_file():
        text = path.read_text()
        clean = redact(text)
        if clean != text:
            path.write_text(clean)


def take_credentials(uri: str) -> str:
    """The URI without user and password; these go to ``MLFLOW_TRACKING_USERNAME`` and
    ``MLFLOW_TRACKING_PASSWORD``, which MLflow's HTTP client reads."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return uri
    if parts.username:
        os.environ["MLFLOW_TRACKING_USERNAME"] = unquote(parts.username)
    if parts.password is not None:
        os.environ["MLFLOW_TRACKING_PASSWORD"] = unquote(parts.password)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def check_store(uri: str) -> None:
    """Fail within seconds, naming the store, when runs cannot be recorded there.

    Checks a local SQLite store (a database file or none yet in a writable folder) and
    answers a tracking server's health check; MLflow's own retries take minutes.

    Raises:
        PspSweepError: saying what is wrong and what to do.
    """
    shown = redact(uri)
    scheme = urlsplit(uri).scheme
    if scheme == "file":
        raise PspSweepError(
            f"tracking.uri={shown}: MLflow 3 no longer records runs in a folder; "
            "use sqlite:///PATH/mlflow.db or a tracking server's http:// address"
        )
    path = sqlite_path(uri)
    if path is not None:
        _check_sqlite(path, shown)
    elif scheme in ("http", "https"):
        _check_server(uri, shown)


def _check_sqlite(path: Path, shown: str) -> None:
    if path.is_dir():
        raise PspSweepError(f"tracking.uri={shown}: {path} is a folder; name a database file, e.g. {path}/mlflow.db")
    folder = path.parent
    if not folder.is_dir():
        raise PspSweepError(f"tracking.uri={shown}: folder {folder} does not exist")
    # SQLite writes a journal beside the database, so the folder must be writable too
    for target in ([path] if path.exists() else []) + [folder]:
        if not os.access(target, os.W_OK):
            raise PspSweepError(
                f"tracking.uri={shown}: {target} is not writable; choose another tracking.uri or make it writable"
            )
    if path.exists():
        try:
            with sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True) as db:
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise PspSweepError(
                f"tracking.uri={shown}: {path} is not a usable SQLite database ({exc}); "
                "move it away or choose another tracking.uri"
            ) from None
        if any(name.startswith("_alembic_tmp_") for name in tables):
            raise PspSweepError(
                f"tracking.uri={shown}: {path} was left half-created by a killed command; "
                "move it away (it holds no finished run) and run again"
            )
        if tables and not {"alembic_version", "runs"} <= tables:
            raise PspSweepError(
                f"tracking.uri={shown}: {path} is an SQLite database but not an MLflow store; "
                "choose another tracking.uri"
            )


def _check_server(uri: str, shown: str) -> None:
    parts = urlsplit(uri)
    request = urllib.request.Request(
        urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/health", query="", fragment=""))
    )
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=HEALTH_TIMEOUT_S):
            return
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise PspSweepError(
                f"tracking.uri={shown}: the server refused the credentials (HTTP {exc.code}); "
                "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
            ) from None
        return  # it answers: a server without /health still records runs
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, OSError) and reason.errno == errno.ECONNREFUSED:
            reason = "connection refused"
        raise PspSweepError(
            f"tracking.uri={shown}: no tracking server answers ({reason}); start it, or use tracking.enabled=false"
        ) from None


#: experiment tags: the kind of a classic (not GenAI) experiment, and a saved view of its
#: runs table with the science metrics as columns (``viewStateShareKey`` in a link)
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
VIEW_KEY = "pspsweep"
VIEW_COLUMNS = (
    *(f"metrics.`{name}`" for name in ("amp_mean", "amp_median", "amp_std", "t_mean", "n_responding", "n_units")),
    "params.`run.g`",
    "tags.`celltype`",
)
#: where ``mlflow ui`` serves by default
LOCAL_UI = "http://127.0.0.1:5000"


def experiment_tags() -> dict[str, str]:
    """The tags that make the MLflow UI show a pspsweep experiment as runs with their metrics."""
    view = {"selectedColumns": list(VIEW_COLUMNS), "orderByKey": "attributes.start_time", "orderByAsc": False}
    return {EXPERIMENT_KIND[0]: EXPERIMENT_KIND[1], f"mlflow.sharedViewState.{VIEW_KEY}": json.dumps(view)}


def runs_page(ui: str, experiment_id: str) -> str:
    """The link to an experiment's runs table, metrics as columns.

    MLflow 3.17 shows an experiment as GenAI (an overview of traces) unless the browser
    stored the "Model training" choice; ``workflowType`` in the link overrides that choice,
    and the experiment's tag ``mlflow.experimentKind`` does not (mlflow/mlflow#24498).
    """
    query = f"workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"


def ui_hint(uri: str, experiment_id: str | None = None) -> str:
    """How to look at a store: the server's runs page, or the command that serves a local store."""
    if uri.startswith(("http://", "https://")):
        if experiment_id is None:
            return f"open the UI at: {redact(uri)}"
        return f"open the runs at: {runs_page(redact(uri), experiment_id)}"
    serve = f"open the UI with: mlflow ui --backend-store-uri {shlex.quote(uri)}"
    return serve if experiment_id is None else f"{serve}\n  then the runs at: {runs_page(LOCAL_UI, experiment_id)}"
