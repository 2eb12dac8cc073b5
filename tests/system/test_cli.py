"""cli: the command end to end in a fresh directory, read back from the MLflow store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import pspsweep_env

pytestmark = pytest.mark.slow


def pspsweep(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "pspsweep"
    return subprocess.run(
        [str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=pspsweep_env()
    )


def client(db: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{db}")


def runs(db: Path):
    c = client(db)
    exp = c.get_experiment_by_name("pspsweep")
    return c, c.search_runs([exp.experiment_id])


def artifact_table(c, run, name: str, dst: Path) -> pd.DataFrame:
    return pd.read_csv(c.download_artifacts(run.info.run_id, name, str(dst)))


def test_single_run_records_everything(tmp_path):
    db = tmp_path / "t.db"
    res = pspsweep(tmp_path, f"tracking.uri=sqlite:///{db}")
    assert res.returncode == 0, res.stderr
    assert "mlflow ui --backend-store-uri" in res.stdout
    assert not [p for p in tmp_path.rglob("*.log") if p.stat().st_size == 0], "no empty log file"
    c, found = runs(db)
    assert len(found) == 1
    run = found[0]
    assert run.info.status == "FINISHED"
    m = run.data.metrics
    for key in (
        "n_units",
        "n_responding",
        "amp_mean",
        "amp_std",
        "amp_median",
        "amp_min",
        "amp_max",
        "t_mean",
        "t_std",
        "t_median",
        "wall_time_s",
        "units_per_second",
    ):
        assert key in m, key
    p = run.data.params
    assert p["run.celltype"] == "L4ss_C2" and p["run.g"] == "1.0" and p["run.mode"] == "cells"
    for tag in ("pspsweep.version", "neuron.version", "mechanisms.sha256"):
        assert run.data.tags[tag]
    names = {a.path for a in c.list_artifacts(run.info.run_id)}
    assert {"psps.csv", "statistics.csv", "traces.npz", "amplitude_histogram.png", "traces.png", ".hydra"} <= names
    hydra_files = {a.path for a in c.list_artifacts(run.info.run_id, ".hydra")}
    assert {".hydra/config.yaml", ".hydra/overrides.yaml", ".hydra/hydra.yaml"} <= hydra_files
    psps = artifact_table(c, run, "psps.csv", tmp_path / "dl")
    assert len(psps) == m["n_units"] == 12
    for col in ("celltype", "unit", "cell_id", "synapse_id", "n_synapses", "amplitude_mV", "t_peak_ms"):
        assert col in psps.columns
    assert (psps.amplitude_mV > 0).all(), "excitatory units depolarise"
    assert not (tmp_path / "mlruns").exists()


def test_the_same_command_twice_leaves_one_run(tmp_path):
    """A finished identical run is reused without a copy: the store keeps one run, the
    second command names it with its link and still gets its files in its own folder."""
    db = tmp_path / "t.db"
    args = ("run.units=[0,1]", "executor.workers=1", f"tracking.uri=sqlite:///{db}")
    first = pspsweep(tmp_path, *args)
    again = pspsweep(tmp_path, *args)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    c, found = runs(db)
    assert len(found) == 1 and found[0].info.status == "FINISHED"
    run_id = found[0].info.run_id
    assert f"reused the finished run {run_id}" in again.stdout and "no new run" in again.stdout
    assert f"MLflow run {run_id}" in again.stdout and f"/runs/{run_id}" in again.stdout
    folders = [
        Path(line.split("results: ")[1]) for line in (first.stdout + again.stdout).splitlines() if "results: " in line
    ]
    assert len(folders) == 2 and folders[0] != folders[1]
    assert (folders[1] / "psps.csv").read_bytes() == (folders[0] / "psps.csv").read_bytes()


def test_multirun_parent_and_children_with_joblib(tmp_path):
    db = tmp_path / "t.db"
    res = pspsweep(tmp_path, "-m", "run.g=0.5,1.0", "hydra/launcher=joblib", f"tracking.uri=sqlite:///{db}")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("mlflow ui --backend-store-uri") == 1, "the UI hint comes once, at the end"
    last = [line.strip() for line in res.stdout.rstrip().splitlines()[-2:]]
    assert last[0].startswith("open the UI with: mlflow ui") and "workflowType=machine_learning" in last[1], res.stdout
    c, found = runs(db)
    parents = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in found if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 2
    assert parents[0].info.status == "FINISHED"
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in children)
    assert all(r.info.status == "FINISHED" for r in children)
    by_g = {float(r.data.params["run.g"]): r for r in children}
    low = artifact_table(c, by_g[0.5], "psps.csv", tmp_path / "a")
    high = artifact_table(c, by_g[1.0], "psps.csv", tmp_path / "b")
    assert (high.amplitude_mV.to_numpy() > low.amplitude_mV.to_numpy()).all()


def test_synapse_mode_and_inhibitory_units(tmp_path):
    db = tmp_path / "t.db"
    res = pspsweep(tmp_path, "run.mode=synapses", "run.celltype=INH_C2", f"tracking.uri=sqlite:///{db}")
    assert res.returncode == 0, res.stderr
    c, found = runs(db)
    psps = artifact_table(c, found[0], "psps.csv", tmp_path / "dl")
    assert (psps.n_synapses == 1).all()
    assert len(psps) == psps.synapse_id.nunique() > 8, "one row per synapse"
    assert (psps.amplitude_mV < 0).all(), "IPSPs are negative"
    assert found[0].data.metrics["n_responding"] > 0, "IPSPs count as responses"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("run.tStim=abc", "run.tStim"),
        ("run.celltype=NOPE", "valid cell types: L4ss_C2, L5tt_C2, INH_C2"),
        ("run.tEnd=100", "run.tEnd=100.0 must be greater than run.tStim=110.0"),
        ("run.mode=both", "run.mode"),
        ("neuron.param_file=/nonexistent/x.param", "/nonexistent/x.param"),
        ("+run.gampa=1", "unknown key run.gampa (did you mean run.gAMPA?)"),
        ("fit.measured=nope.csv", "fit.measured: file not found"),
    ],
)
def test_bad_input_gives_one_line(tmp_path, override, expected):
    db = tmp_path / "t.db"
    res = pspsweep(tmp_path, override, f"tracking.uri=sqlite:///{db}", timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert expected in lines[0] and lines[0].startswith("pspsweep: error:")
    assert "Traceback" not in res.stderr
    assert not db.exists() or not runs(db)[1], "bad input is refused before a run is recorded"
    assert not (tmp_path / "outputs").exists(), "a refused command leaves no output folder"


def test_multirun_fit_on_parent_and_refit(tmp_path):
    measured = tmp_path / "measured.csv"
    measured.write_text("celltype,EPSP_mean_measured,EPSP_med_measured,EPSP_max_measured\nL4,0.8,0.7,1.6\n")
    db = tmp_path / "t.db"
    res = pspsweep(
        tmp_path,
        "-m",
        "run.g=0.5,1,2",
        f"fit.measured={measured}",
        "fit.bootstrap=200",
        "executor.workers=1",
        f"tracking.uri=sqlite:///{db}",
    )
    assert res.returncode == 0, res.stderr
    assert "optimal conductances" in res.stdout
    c, found = runs(db)
    parent = next(r for r in found if "mlflow.parentRunId" not in r.data.tags)
    (fit,) = fit_runs(found, parent)
    fit_files = {a.path for a in c.list_artifacts(fit.info.run_id)}
    assert {
        "optimal_g.csv",
        "group_statistics.csv",
        "fit.png",
        "group_histograms.png",
        "amplitude_vs_distance.png",
        "morphology_amplitudes.png",
        "units.parquet",
    } <= fit_files
    table = artifact_table(c, fit, "optimal_g.csv", tmp_path / "first")
    row = table.set_index("group").loc["L4"]
    for col in ("optimal_g", "g_mean", "g_median", "g_max", "amp_mean_slope", "amp_mean_offset", "ci_low", "ci_high"):
        assert col in table.columns, col
    assert row.ci_low <= row.optimal_g <= row.ci_high
    assert fit.data.metrics["optimal_g.L4"] == pytest.approx(row.optimal_g)
    # refit from the store alone: a second fit run with the same table, the first kept
    exe = Path(sys.executable).parent / "pspsweep-fit"
    again = subprocess.run(
        [str(exe), parent.info.run_id, f"fit.measured={measured}", "fit.bootstrap=200", f"tracking.uri=sqlite:///{db}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=pspsweep_env(),
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    _, found = runs(db)
    first, second = fit_runs(found, parent)
    assert first.info.run_id == fit.info.run_id
    refit = artifact_table(c, second, "optimal_g.csv", tmp_path / "second")
    pd.testing.assert_frame_equal(table, refit)
    # the same multirun again reuses every job; its fit reads the reused runs
    rerun = pspsweep(tmp_path, "-m", "run.g=0.5,1,2", f"fit.measured={measured}", "fit.bootstrap=200",
                     "executor.workers=1", f"tracking.uri=sqlite:///{db}")  # fmt: skip
    assert rerun.returncode == 0 and rerun.stdout.count("reused the finished run") == 3, rerun.stderr
    _, found = runs(db)
    parents = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    new_parent = next(r for r in parents if r.info.run_id != parent.info.run_id)
    children = [r for r in found if r.data.tags.get("mlflow.parentRunId") == new_parent.info.run_id]
    assert [r.data.tags.get("pspsweep.kind") for r in children] == ["fit"], "no copy runs of the jobs"
    assert len([k for k in new_parent.data.tags if k.startswith("pspsweep.reused.")]) == 3
    reused_fit = artifact_table(c, children[0], "optimal_g.csv", tmp_path / "third")
    pd.testing.assert_frame_equal(table, reused_fit)


def fit_runs(found, parent) -> list:
    """The fit runs nested under ``parent``, oldest first."""
    nested = [
        r
        for r in found
        if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id and r.data.tags.get("pspsweep.kind") == "fit"
    ]
    return sorted(nested, key=lambda r: r.info.start_time)


def test_refit_of_unknown_run_is_one_line(tmp_path):
    exe = Path(sys.executable).parent / "pspsweep-fit"
    db = tmp_path / "t.db"
    from pspsweep.tracking import ensure_experiment

    ensure_experiment(f"sqlite:///{db}", "pspsweep")
    res = subprocess.run(
        [str(exe), "0123456789abcdef", "fit.measured=x.csv", f"tracking.uri=sqlite:///{db}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=pspsweep_env(),
        timeout=120,
    )
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "0123456789abcdef" in res.stderr


def test_refit_without_store_is_refused(tmp_path):
    exe = Path(sys.executable).parent / "pspsweep-fit"
    res = subprocess.run(
        [str(exe), "abc", "fit.measured=x.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=pspsweep_env(),
        timeout=120,
    )
    assert res.returncode == 2 and "no MLflow store" in res.stderr
    assert not (tmp_path / "mlflow.db").exists(), "reading never creates a store"


def test_multirun_with_submitit_local_launcher(tmp_path):
    db = tmp_path / "t.db"
    res = pspsweep(
        tmp_path,
        "-m",
        "run.g=0.5,1.0",
        "hydra/launcher=submitit_local",
        "executor.workers=1",
        f"tracking.uri=sqlite:///{db}",
    )
    assert res.returncode == 0, res.stderr
    _, found = runs(db)
    parents = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in found if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 2
    assert all(r.info.status == "FINISHED" for r in found)
