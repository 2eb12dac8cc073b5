"""tracking: URI resolution, flattening, runs and parent/child links in a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest

from pspsweep import stores, tracking


def test_resolve_tracking_uri(tmp_path):
    assert tracking.resolve_tracking_uri(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert tracking.resolve_tracking_uri("sqlite:///t.db", tmp_path) == f"sqlite:///{tmp_path.resolve()}/t.db"
    assert tracking.resolve_tracking_uri("sqlite:////abs/t.db", tmp_path) == "sqlite:////abs/t.db"
    assert tracking.resolve_tracking_uri("http://127.0.0.1:5000", tmp_path) == "http://127.0.0.1:5000"


def test_flatten_lists_and_nesting():
    from pspsweep.config import Mode, Strategy

    flat = tracking.flatten(
        {
            "run": {"g": 1.0, "units": [0, 2], "x": None, "mode": Mode.cells},
            "neuron": {
                "biophysics": {},
                "mechanism_dirs": [],
                "scaling": [{"labels": ["Soma"], "kind": Strategy.restore}],
            },
        }
    )
    assert flat == {
        "run.g": "1.0",
        "run.units": "[0, 2]",
        "run.x": "None",
        "run.mode": "cells",
        "neuron.biophysics": "{}",
        "neuron.mechanism_dirs": "[]",
        "neuron.scaling": '[{"labels": ["Soma"], "kind": "restore"}]',
    }
    assert len(tracking.flatten({"a": "x" * 7000})["a"]) == tracking.MAX_PARAM_VALUE


def test_experiment_is_tagged_as_model_training_with_a_runs_view(tmp_path):
    """The tags MLflow's UI reads: the experiment kind (values of its ExperimentKind enum)
    and a shared view state (JSON with the runs table's selected columns)."""
    import json

    from mlflow.tracking import MlflowClient

    uri = tracking.resolve_tracking_uri(None, tmp_path)
    client = MlflowClient(uri)
    old = client.create_experiment("older")  # made before pspsweep tagged its experiments
    assert tracking.ensure_experiment(uri, "older") == old
    for name in ("older", "new"):
        tracking.ensure_experiment(uri, name)
        tags = client.get_experiment_by_name(name).tags
        assert tags["mlflow.experimentKind"] == "custom_model_development"
        view = json.loads(tags[f"mlflow.sharedViewState.{stores.VIEW_KEY}"])
        assert "metrics.`amp_mean`" in view["selectedColumns"]
    client.set_experiment_tag(old, "mlflow.experimentKind", "genai_development")
    tracking.ensure_experiment(uri, "older")
    assert client.get_experiment(old).tags["mlflow.experimentKind"] == "genai_development", "the user's choice stays"


def test_ui_hint_links_the_runs_table():
    link = "/#/experiments/7/runs?workflowType=machine_learning&viewStateShareKey=pspsweep"
    assert tracking.ui_hint("http://alice:pw@host:5000/", "7") == f"open the runs at: http://alice:***@host:5000{link}"
    local = tracking.ui_hint("sqlite:////a b/mlflow.db", "7")
    assert (
        local
        == f"open the UI with: mlflow ui --backend-store-uri 'sqlite:////a b/mlflow.db'\n  then the runs at: http://127.0.0.1:5000{link}"
    )
    assert tracking.ui_hint("http://host:5000") == "open the UI at: http://host:5000"


def test_child_runs_link_to_parent(tmp_path):
    uri = tracking.resolve_tracking_uri(None, tmp_path)
    parent = tracking.start_parent_run(uri, "exp", "sweep", {"sweep.overrides": "run.g=0.5,1"}, {"role": "p"})
    tracking.write_parent_run_id(tmp_path / "sweep", parent)
    assert tracking.read_parent_run_id(tmp_path / "sweep") == parent
    ids = []
    for g in (0.5, 1.0):
        t = tracking.MlflowTracker(uri, "exp", f"g={g}", parent_run_id=parent)
        t.log_params({"run.g": str(g)})
        t.log_metrics({"amp_mean": g * 2})
        f = tmp_path / "psps.csv"
        f.write_text("unit,amplitude_mV\n0,1.0\n")
        t.log_artifact(f)
        t.end("FINISHED")
        ids.append(t.run_id)
    tracking.end_run(uri, parent)
    children = tracking.child_runs(uri, parent)
    assert [c.info.run_id for c in children] == ids
    assert all(c.info.status == "FINISHED" for c in children)
    assert [c.data.metrics["amp_mean"] for c in children] == [1.0, 2.0]
    assert tracking.run_status(uri, parent) == "FINISHED"
    got = tracking.download_artifact(uri, ids[0], "psps.csv", tmp_path / "dl")
    assert Path(got).read_text().startswith("unit,amplitude_mV")
    # artifacts of a local store sit beside the database file
    assert (tmp_path / "mlartifacts").is_dir()


def test_failed_run_is_marked(tmp_path):
    uri = tracking.resolve_tracking_uri(None, tmp_path)
    t = tracking.MlflowTracker(uri, "exp", "bad")
    t.end("FAILED")
    t.end("FINISHED")  # a second end is ignored
    assert tracking.run_status(uri, t.run_id) == "FAILED"


def test_null_tracker_accepts_everything(tmp_path):
    t = tracking.NullTracker()
    t.log_params({"a": "1"})
    t.log_metrics({"m": 1.0})
    t.log_artifact(tmp_path)
    t.end()
    assert t.run_id is None


@pytest.mark.parametrize("count", [250])
def test_many_params_are_batched(tmp_path, count):
    uri = tracking.resolve_tracking_uri(None, tmp_path)
    t = tracking.MlflowTracker(uri, "exp", "many")
    t.log_params({f"p{i}": str(i) for i in range(count)})
    t.end()
    from mlflow.tracking import MlflowClient

    assert len(MlflowClient(uri).get_run(t.run_id).data.params) == count
