"""stores: tracking URIs, credentials and the store checks that run before any simulation.

Checked against SQLAlchemy's own URL parsing (the URI of a folder with ``?`` or ``%``
must name that folder), real SQLite files and a real closed TCP port.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port

from pspsweep import stores, tracking
from pspsweep.errors import PspSweepError


@pytest.mark.parametrize("name", ["a?b", "a%20b", "a#b", "zellé ü", "plain"])
def test_sqlite_uri_names_the_folder_itself(tmp_path, name):
    from sqlalchemy.engine import make_url

    db = tmp_path / name / "mlflow.db"
    uri = stores.resolve_tracking_uri(None, tmp_path / name)
    assert make_url(uri).database == str(db)  # what MLflow's SQLAlchemy store opens
    assert stores.sqlite_path(uri) == db
    assert stores.resolve_tracking_uri(uri, Path("/elsewhere")) == uri


def test_relative_sqlite_uri_is_taken_from_the_launch_folder(tmp_path):
    assert stores.sqlite_path(stores.resolve_tracking_uri("sqlite:///t.db", tmp_path)) == tmp_path.resolve() / "t.db"


def test_redact_hides_passwords_only():
    text = "- tracking.uri=http://alice:s3cret@host:5000/x http://host:5000 https://bob@h"
    assert stores.redact(text) == "- tracking.uri=http://alice:***@host:5000/x http://host:5000 https://bob@h"


def test_credentials_move_to_mlflow_environment(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    assert stores.take_credentials("http://alice:s3cret@host:5000/p") == "http://host:5000/p"
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "alice"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "s3cret"
    assert stores.take_credentials("sqlite:////a/b.db") == "sqlite:////a/b.db"


def test_a_folder_store_is_refused(tmp_path):
    with pytest.raises(PspSweepError, match="no longer records runs in a folder"):
        stores.check_store((tmp_path / "mlruns").as_uri())


def test_a_folder_given_as_the_database_is_refused(tmp_path):
    with pytest.raises(PspSweepError, match="is a folder"):
        stores.check_store(stores.sqlite_uri(tmp_path))


def test_a_read_only_folder_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    # root may write anywhere, so the folder's permission is what os.access reports
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == folder else real_access(p, mode))
    with pytest.raises(PspSweepError, match="not writable"):
        stores.check_store(stores.sqlite_uri(folder / "mlflow.db"))


def test_a_corrupt_database_is_refused(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(PspSweepError, match="not a usable SQLite database"):
        stores.check_store(stores.sqlite_uri(db))


def test_a_foreign_database_is_refused(tmp_path):
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE things (x)")
    with pytest.raises(PspSweepError, match="not an MLflow store"):
        stores.check_store(stores.sqlite_uri(db))


def test_a_half_created_store_is_named(tmp_path):
    db = tmp_path / "mlflow.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE alembic_version (v)")
        con.execute("CREATE TABLE runs (x)")
        con.execute("CREATE TABLE _alembic_tmp_runs (x)")
    with pytest.raises(PspSweepError, match="half-created"):
        stores.check_store(stores.sqlite_uri(db))


def test_a_closed_port_fails_within_seconds():
    started = time.monotonic()
    with pytest.raises(PspSweepError, match="no tracking server answers"):
        stores.check_store(f"http://127.0.0.1:{free_port()}")
    assert time.monotonic() - started < stores.HEALTH_TIMEOUT_S + 1


def test_two_processes_create_one_store_together(tmp_path):
    """MLflow's migrations collide when two commands create a store at once ("duplicate
    column name: step"): creation is locked and both processes end with a usable store."""
    uri = stores.sqlite_uri(tmp_path / "mlflow.db")
    code = f"from pspsweep import tracking; tracking.ensure_experiment({uri!r}, 'e')"
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    stores.check_store(uri)
    assert tracking.ensure_experiment(uri, "e")


def test_a_store_killed_while_created_is_not_left_behind(tmp_path):
    """SIGKILL after the schema is built but before it is in place leaves no store at the
    final path, so the next command creates it again (no half-migrated store)."""
    db = tmp_path / "mlflow.db"
    uri = stores.sqlite_uri(db)
    code = (
        "import os, signal\n"
        "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"from pspsweep import tracking; tracking.ensure_experiment({uri!r}, 'e')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], timeout=300, check=False)
    assert proc.returncode == -9
    assert not db.exists()
    tracking.ensure_experiment(uri, "e")
    stores.check_store(uri)


def test_reuse_skips_a_run_whose_files_are_gone(tmp_path):
    uri = stores.sqlite_uri(tmp_path / "mlflow.db")
    f = tmp_path / "psps.csv"
    f.write_text("unit\n0\n")
    ids = []
    for _ in range(2):
        t = tracking.MlflowTracker(uri, "e", "r", tags={"k": "v"})
        t.log_artifact(f)
        t.end("FINISHED")
        ids.append(t.run_id)
    assert tracking.find_finished_run(uri, "e", "k", "v", artifacts=["psps.csv"]) == ids[1]
    # the newest run's files deleted (rm -rf mlartifacts/.../<run>): the older one is found
    run_dir = next(p for p in (tmp_path / "mlartifacts").rglob(ids[1]) if p.is_dir())
    for p in (run_dir / "artifacts").iterdir():
        p.unlink()
    assert tracking.find_finished_run(uri, "e", "k", "v", artifacts=["psps.csv"]) == ids[0]


def test_stopped_children_are_ended(tmp_path):
    uri = stores.sqlite_uri(tmp_path / "mlflow.db")
    parent = tracking.start_parent_run(uri, "e", "sweep", {}, {})
    running = tracking.MlflowTracker(uri, "e", "child", parent_run_id=parent)
    done = tracking.MlflowTracker(uri, "e", "child", parent_run_id=parent)
    done.end("FINISHED")
    tracking.end_unfinished_children(uri, parent, "KILLED")
    assert tracking.run_status(uri, running.run_id) == "KILLED"
    assert tracking.run_status(uri, done.run_id) == "FINISHED"
