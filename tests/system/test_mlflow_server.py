"""tracking against a real ``mlflow server`` on 127.0.0.1, and the MLflow UI in a browser."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pspsweep_env, running_mlflow_server

pytestmark = pytest.mark.slow

#: screenshots kept for a look after the run (ignored by git)
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """An MLflow tracking server on a free loopback port, stopped after the module."""
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


@pytest.fixture(scope="module")
def sweep(server, tmp_path_factory):
    """A small multirun with a fit, tracked on the server; returns the parent run."""
    from mlflow.tracking import MlflowClient

    cwd = tmp_path_factory.mktemp("sweep")
    measured = cwd / "measured.csv"
    measured.write_text("celltype,EPSP_mean_measured,EPSP_med_measured,EPSP_max_measured\nL4,0.8,0.7,1.6\n")
    exe = Path(sys.executable).parent / "pspsweep"
    res = subprocess.run(
        [
            str(exe),
            "-m",
            "run.g=0.5,1.0",
            "hydra/launcher=joblib",
            f"fit.measured={measured}",
            "fit.bootstrap=100",
            "executor.workers=1",
            f"tracking.uri={server}",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=pspsweep_env(),
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    client = MlflowClient(server)
    exp = client.get_experiment_by_name("pspsweep")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    return client, exp, parents[0], runs


def test_parent_children_metrics_artifacts_through_server(sweep):
    client, _, parent, runs = sweep
    nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    children = [r for r in nested if r.data.tags.get("pspsweep.kind") != "fit"]
    (fit_run,) = [r for r in nested if r.data.tags.get("pspsweep.kind") == "fit"]
    assert len(children) == 2 and all(r.info.status == "FINISHED" for r in nested)
    assert parent.info.status == "FINISHED"
    assert "optimal_g.L4" in fit_run.data.metrics
    for child in children:
        assert child.data.metrics["n_units"] == 12
        names = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"psps.csv", "traces.npz", "amplitude_histogram.png"} <= names
    fit = {a.path for a in client.list_artifacts(fit_run.info.run_id)}
    assert {"optimal_g.csv", "fit.png", "group_histograms.png"} <= fit


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


def browser_flags(profile: Path) -> list[str]:
    """Headless Chromium with a fresh profile (no stored MLflow UI choices), 20 s of virtual time."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=20000",
        "--window-size=1400,1000",
    ]


def required_chromium() -> str:
    browser = chromium()
    if browser is None:
        pytest.skip("no chromium on this machine (Debian package 'chromium'; .ci/run installs it)")
    return browser


def test_fit_run_page_renders_in_browser(sweep, server, tmp_path):
    browser = required_chromium()
    _, exp, parent, _ = sweep
    fit_run = parent.data.tags["pspsweep.latest_fit"]
    page = f"{server}/#/experiments/{exp.experiment_id}/runs/{fit_run}/artifacts/fit.png?workflowType=machine_learning"
    flags = browser_flags(tmp_path / "profile")
    shot = ARTIFACTS / "mlflow_fit_run.png"
    shot.parent.mkdir(exist_ok=True)
    dom = subprocess.run([browser, *flags, "--dump-dom", page], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert fit_run in html or "fit " in html, "the run page names the fit run"
    assert "Evaluation runs" not in html, "the model-training view of the run, not the GenAI one"
    for name in ("fit.png", "group_histograms.png", "optimal_g.csv", "morphology_amplitudes.png"):
        assert name in html, f"the artifact browser lists {name}"
    res = subprocess.run([browser, *flags, f"--screenshot={shot}", page], capture_output=True, text=True, timeout=180)
    assert res.returncode == 0 and shot.stat().st_size > 10_000, res.stderr[-2000:]


@pytest.fixture(scope="module")
def single_run(server, tmp_path_factory):
    """A three-unit demo run tracked on the server: the run and the link the command printed."""
    from mlflow.tracking import MlflowClient

    cwd = tmp_path_factory.mktemp("single")
    exe = Path(sys.executable).parent / "pspsweep"
    args = [str(exe), "run.units=[0,1,2]", "executor.workers=1", "executor.progress=false", f"tracking.uri={server}"]
    res = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=pspsweep_env(), timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    link = next(line.split("open the runs at: ")[1] for line in res.stdout.splitlines() if "open the runs at: " in line)
    run_id = next(line.split()[2] for line in res.stdout.splitlines() if line.strip().startswith("MLflow run "))
    return MlflowClient(server).get_run(run_id), link


def test_printed_link_opens_the_runs_table_with_the_psp_metrics(single_run, server, tmp_path):
    """The link opens, in a browser that never chose a view (MLflow 3.17 then defaults to
    its GenAI overview of traces), the experiment's runs table with amp_mean as a column."""
    browser = required_chromium()
    run, link = single_run
    assert link.startswith(f"{server}/#/experiments/{run.info.experiment_id}/runs?")
    flags = browser_flags(tmp_path / "profile")
    dom = subprocess.run([browser, *flags, "--dump-dom", link], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "Model training" in html and run.info.run_name in html, "the runs table of the model-training view"
    assert ">amp_mean<" in html and repr(run.data.metrics["amp_mean"]) in html, "amp_mean is a column, with its value"
    for genai in ("Token Usage", "Detect Issues", "Evaluation runs"):
        assert genai not in html, f"not the GenAI overview ({genai})"
    shot = tmp_path / "mlflow_runs_table.png"
    res = subprocess.run([browser, *flags, f"--screenshot={shot}", link], capture_output=True, text=True, timeout=180)
    assert res.returncode == 0 and shot.stat().st_size > 10_000, res.stderr[-2000:]
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)
    print(f"screenshot: {ARTIFACTS / shot.name}")
