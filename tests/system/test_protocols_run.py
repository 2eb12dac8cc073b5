"""The slice protocols through the command, recorded in MLflow.

* ``protocol=hold`` (hold_V = -70 mV) on the shared 86 cell at fixed step: the run's
  metrics say the soma was at -70 mV at tStim (within the issue's 0.05 mV) and give the
  holding current; ``restore`` writes the ``reference`` traces to the last bit.
* The same on the demo cell under CVODE (the default integrator).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.command import all_runs, run_command, run_multirun_from_repo
from helpers.isf86 import isf86_overrides

pytestmark = pytest.mark.slow

HOLD_V = -70.0


def held_run(tmp_path: Path, name: str, *overrides: str) -> tuple[Path, dict[str, float]]:
    """A ``protocol=hold`` sweep in its own folder; its output folder and metrics."""
    cwd = tmp_path / name
    cwd.mkdir()
    out = cwd / "out"
    res = run_command(cwd, "protocol=hold", "executor.progress=false", f"hydra.run.dir={out}", *overrides)
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = all_runs(cwd)
    return out, dict(run.data.metrics)


@pytest.mark.realdata
def test_hold_v_on_the_86_cell_and_restore_equals_reference(isf86, tmp_path):
    common = (*isf86_overrides(isf86), "run.celltype=VPM_C2", "run.units=[0,1,2]", "run.vardt=false")
    outputs = {}
    for strategy in ("reference", "restore"):
        out, metrics = held_run(tmp_path, strategy, *common, f"run.strategy={strategy}", "run.record_dtype=float64")
        assert abs(metrics["v_at_tstim_mV"] - HOLD_V) <= 0.05
        assert metrics["holding_current_nA"] > 0  # the cell rests below -70 mV
        outputs[strategy] = np.load(out / "traces.npz")
    reference, restored = outputs["reference"], outputs["restore"]
    assert sorted(reference.files) == sorted(restored.files)
    for name in reference.files:
        assert np.array_equal(reference[name], restored[name]), name


def test_hold_v_on_the_demo_cell_under_cvode(tmp_path):
    _, metrics = held_run(tmp_path, "demo")
    assert abs(metrics["v_at_tstim_mV"] - HOLD_V) <= 0.05
    assert np.isfinite(metrics["holding_current_nA"])


@pytest.mark.realdata
def test_a_fit_multirun_under_hold_v_names_the_protocol(isf86, tmp_path):
    """ISF's VPM_C2 fit of the 86 cell (the isf86 preset, three units per job) held at
    -70 mV: every job finishes, the fit run nested under the parent has its optimal g,
    its fit.png, and says which protocol its numbers come from."""
    from mlflow.tracking import MlflowClient

    res, store = run_multirun_from_repo(tmp_path, "+experiment=isf86", "protocol=hold", "run.units=[0,1,2]")
    assert res.returncode == 0, res.stderr[-3000:]
    client = MlflowClient(store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    (parent,) = [r for r in runs if r.data.tags.get("pspsweep.role") == "parent"]
    assert all(r.info.status == "FINISHED" for r in runs)
    jobs = [
        r
        for r in runs
        if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id and "v_at_tstim_mV" in r.data.metrics
    ]
    assert len(jobs) == 4 and all(abs(r.data.metrics["v_at_tstim_mV"] - HOLD_V) <= 0.05 for r in jobs)
    fit = client.get_run(parent.data.tags["pspsweep.latest_fit"])
    assert fit.data.tags["fit.protocol"] == "protocol hold (hold_V=-70 mV)"
    assert any(k.startswith("optimal_g.") for k in fit.data.metrics)
    assert "fit.png" in {a.path for a in client.list_artifacts(fit.info.run_id)}
