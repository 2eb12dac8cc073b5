"""Experiment presets (conf/experiment): each one runs end to end as its comment says.

Run from the repository root, as a user following the README would, so that the
presets' relative paths to ../shared are the ones checked; units are cut to a few per
job. Checked against the preset's own promise: every job finishes and, with a measured
table, the parent run carries the fit.
"""

from __future__ import annotations

import pytest
from conftest import REPO
from helpers.command import run_multirun_from_repo

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

PRESETS = sorted(p.stem for p in (REPO / "src" / "pspsweep" / "conf" / "experiment").glob("*.yaml"))


def test_there_are_presets():
    assert "isf86" in PRESETS


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_runs_end_to_end(preset, tmp_path, isf86):
    from mlflow.tracking import MlflowClient

    res, store = run_multirun_from_repo(tmp_path, f"+experiment={preset}", "run.units=[0,1,2]")
    assert res.returncode == 0, res.stderr[-3000:]
    client = MlflowClient(store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if r.data.tags.get("pspsweep.role") == "parent"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and children and all(r.info.status == "FINISHED" for r in runs)
    if parents[0].data.params.get("fit.measured", "None") != "None":
        fit_run = parents[0].data.tags["pspsweep.latest_fit"]  # the fit's own run, nested under the parent
        assert any(k.startswith("optimal_g.") for k in client.get_run(fit_run).data.metrics)
