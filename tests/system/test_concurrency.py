"""concurrency: many multirun jobs at once writing to one MLflow store.

Eight joblib jobs (``hydra.launcher.n_jobs=8``, one unit worker each) start together
and all write to the same store: a fresh SQLite file, and an ``mlflow server`` on
127.0.0.1. Every sweep must end with one FINISHED parent and eight FINISHED children,
each with its psps.csv, and do so every time (each sweep runs twice).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import pspsweep_env, running_mlflow_server

pytestmark = pytest.mark.slow

G_VALUES = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
REPEATS = 2


def sweep(cwd: Path, uri: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "pspsweep"
    args = [
        str(exe),
        "-m",
        "run.g=" + ",".join(f"{g:g}" for g in G_VALUES),
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=8",
        "executor.workers=1",
        "run.force=true",  # every repeat simulates (an identical sweep would reuse the first one's runs)
        f"tracking.uri={uri}",
    ]
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=1200, env=pspsweep_env(), check=False)


def check_sweep(uri: str, res: subprocess.CompletedProcess, cwd: Path) -> str:
    """One FINISHED parent (this sweep's) with 8 FINISHED children, each with psps.csv; returns the parent id."""
    from mlflow.tracking import MlflowClient

    assert res.returncode == 0, res.stderr[-4000:]
    assert "Traceback" not in res.stderr, res.stderr[-4000:]
    parent_files = list(cwd.glob("multirun/*/*/mlflow_parent_run_id"))
    assert len(parent_files) == 1, parent_files
    parent_id = parent_files[0].read_text().strip()
    client = MlflowClient(uri)
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED"
    assert "mlflow.parentRunId" not in parent.data.tags
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'", max_results=100
    )
    assert len(children) == len(G_VALUES), [c.data.params.get("run.g") for c in children]
    assert sorted(float(c.data.params["run.g"]) for c in children) == list(G_VALUES)
    for child in children:
        assert child.info.status == "FINISHED", (child.data.params["run.g"], child.info.status)
        assert child.data.metrics["n_units"] == 12
        names = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert "psps.csv" in names, (child.data.params["run.g"], names)
    # and every job's output folder has its own psps.csv
    assert len(list(cwd.glob("multirun/*/*/*/psps.csv"))) == len(G_VALUES)
    return parent_id


def test_eight_parallel_jobs_on_a_fresh_sqlite_store(tmp_path):
    for i in range(REPEATS):
        cwd = tmp_path / f"sweep{i}"
        cwd.mkdir()
        uri = f"sqlite:///{cwd / 't.db'}"
        started = time.monotonic()
        res = sweep(cwd, uri)
        check_sweep(uri, res, cwd)
        print(f"sqlite sweep {i}: {time.monotonic() - started:.1f} s")
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000)
        assert len(runs) == 1 + len(G_VALUES), "nothing but this sweep's runs in the fresh store"


# --------------------------------------------------------------------------- against an mlflow server


@pytest.fixture
def mlflow_server(tmp_path):
    """An ``mlflow server`` with a fresh store, stopped after the test."""
    with running_mlflow_server(tmp_path / "server") as url:
        yield url


def test_eight_parallel_jobs_against_an_mlflow_server(tmp_path, mlflow_server):
    parents = []
    for i in range(REPEATS):
        cwd = tmp_path / f"sweep{i}"
        cwd.mkdir()
        started = time.monotonic()
        res = sweep(cwd, mlflow_server)
        parents.append(check_sweep(mlflow_server, res, cwd))
        print(f"server sweep {i}: {time.monotonic() - started:.1f} s")
    assert len(set(parents)) == REPEATS
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000)
    assert len(runs) == REPEATS * (1 + len(G_VALUES))
    assert all(r.info.status == "FINISHED" for r in runs)
