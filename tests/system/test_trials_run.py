"""Trials end to end (docs/trials.md): ``protocol.trials=5`` on the demo through
``pspsweep.run``, recorded in MLflow. The files agree with each other, recomputed with
pandas: each unit's trials.parquet rows average to psps.csv's amplitude, and give its
failure rate and SD; the run holds trials.parquet and trials.png and the trial metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import pspsweep

pytestmark = pytest.mark.slow

TRIALS = 5


def test_five_trials_on_the_demo_write_consistent_files(launch_dir):
    overrides = [
        f"protocol.trials={TRIALS}",
        "run.units=[0,1,2,3,4,5]",
        "executor.workers=1",
        "executor.progress=false",
        f"tracking.uri=sqlite:///{launch_dir / 't.db'}",
    ]
    result = pspsweep.run(overrides, out_dir=launch_dir / "out")
    out = launch_dir / "out"
    psps = pd.read_csv(out / "psps.csv")
    trials = pd.read_parquet(out / "trials.parquet")
    assert (out / "trials.png").is_file()
    assert len(trials) == len(psps) * TRIALS
    assert list(psps.columns[-5:]) == [
        "success_mean_mV",
        "failure_rate",
        "amplitude_sd_mV",
        "amplitude_cv",
        "simulation",
    ]
    by_unit = trials.groupby(["celltype", "unit"])
    per_unit = psps.set_index(["celltype", "unit"])
    np.testing.assert_allclose(by_unit["amplitude_mV"].mean(), per_unit["amplitude_mV"], rtol=1e-12)
    np.testing.assert_allclose(by_unit["any_release"].mean(), 1 - per_unit["failure_rate"], rtol=1e-12)
    np.testing.assert_allclose(by_unit["amplitude_mV"].std(), per_unit["amplitude_sd_mV"], rtol=1e-9, atol=1e-12)
    assert (trials["n_released"] == trials["unit"].map(per_unit.loc["L4ss_C2", "n_synapses"])).all()  # deterministic
    assert by_unit["trial"].apply(sorted).map(list).tolist() == [list(range(TRIALS))] * len(psps)

    stats = pd.read_csv(out / "statistics.csv")
    assert stats["failure_rate_mean"].tolist() == pytest.approx([psps["failure_rate"].mean()])
    assert result.metrics["fraction_responding_any"] == pytest.approx((psps["failure_rate"] < 1).mean())
    from mlflow.tracking import MlflowClient

    client = MlflowClient(result.tracking_uri)
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"trials.parquet", "trials.png", "psps.csv"} <= artifacts
    assert "amp_cv_median" in client.get_run(result.run_id).data.metrics


def released_every_third_trial_failing(monkeypatch) -> None:
    """Make the demo's synapses 'stochastic' in this process: a unit's trial releases at
    every synapse, except when ``unit + trial`` is a multiple of 3 (no release at all)."""
    from pspsweep.simulation.runner import UnitSimulator

    run_unit = UnitSimulator.unit

    def unit(self, u, trial=0):
        self.test_released = [0 if (u.index + trial) % 3 == 0 else 1] * u.n_synapses
        return run_unit(self, u, trial)

    monkeypatch.setattr(UnitSimulator, "unit", unit)
    monkeypatch.setattr(UnitSimulator, "stochastic", property(lambda self: True))
    monkeypatch.setattr(UnitSimulator, "released", property(lambda self: self.test_released))


@pytest.mark.parametrize("n_trials", [1, 3])
def test_failures_reach_every_file(launch_dir, monkeypatch, n_trials):
    """With a release pattern known in advance, psps.csv's failure rates and success
    means are those of trials.parquet's rows; one stochastic trial has no SD."""
    released_every_third_trial_failing(monkeypatch)
    overrides = [f"protocol.trials={n_trials}", "run.units=[0,1,2,3,4,5]", "executor.workers=1"]
    result = pspsweep.run([*overrides, "executor.progress=false"], tracking=False, out_dir=launch_dir / "out")
    psps = pd.read_csv(launch_dir / "out" / "psps.csv").set_index(["celltype", "unit"])
    trials = pd.read_parquet(launch_dir / "out" / "trials.parquet")
    expected = trials["unit"].to_numpy() + trials["trial"].to_numpy()
    assert (trials["any_release"] == (expected % 3 != 0)).all()
    by_unit = trials.groupby(["celltype", "unit"])
    failures = by_unit["any_release"].apply(lambda r: 1 - r.mean())
    np.testing.assert_allclose(psps["failure_rate"], failures, rtol=1e-12)
    successes = trials[trials["any_release"]].groupby(["celltype", "unit"])["amplitude_mV"].mean()
    np.testing.assert_allclose(psps["success_mean_mV"], successes.reindex(psps.index), rtol=1e-12)
    assert result.metrics["fraction_responding_any"] == pytest.approx((failures < 1).mean())
    if n_trials == 1:
        assert psps["amplitude_sd_mV"].isna().all() and psps["amplitude_cv"].isna().all()
