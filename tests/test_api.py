"""api: one sweep from Python (``pspsweep.run``), without Hydra's command and without MLflow.

Checked against the files the same job writes (psps.csv, traces.npz), against the same
sweep given as overrides, as a mapping or as a typed config, and, for run reuse, against
the finished run it reuses.
"""

from __future__ import annotations

import threading

import pandas as pd
import pytest

import pspsweep
from pspsweep import api, execution
from pspsweep.errors import PspSweepError

#: a small demo sweep, in this process (one worker, no tracking)
DEMO = ["run.units=[0,1,2]", "executor.workers=1", "executor.progress=false"]


def test_run_from_overrides_without_tracking(launch_dir):
    """The result's tables and traces are the job's files; no MLflow store is created."""
    result = pspsweep.run(DEMO, tracking=False, out_dir=launch_dir / "out")
    assert isinstance(result, pspsweep.SweepResult)
    assert result.run_id is None and result.tracking_uri is None and result.reused_from is None
    assert result.out_dir == launch_dir / "out" and result.label == "L4ss_C2"
    assert result.table["unit"].tolist() == [0, 1, 2]
    pd.testing.assert_frame_equal(result.table, pd.read_csv(launch_dir / "out" / "psps.csv"))
    assert result.metrics["n_units"] == 3 and result.metrics["amp_mean"] == pytest.approx(
        result.table["amplitude_mV"].mean()
    )
    assert set(result.statistics["celltype"]) == {"L4ss_C2"} and len(result.group_statistics) == 1
    traces = result.traces()
    assert sorted(traces.units.tolist()) == sorted(set(result.table["simulation"]))
    assert not (launch_dir / "mlflow.db").exists()


def test_one_time_reference_per_convention_in_every_file_and_metric(launch_dir):
    """Against the job's own psps.csv: under each convention the peak-time statistics
    of statistics.csv and the metrics are those of psps.csv's peak times, on the same
    reference, named by it (isf: absolute times, t_peak_abs_ms, t_mean_abs; pspsweep:
    latencies, t_peak_ms, t_mean). The isf latencies are the absolute times minus tStim."""
    results = {
        convention: pspsweep.run(
            [*DEMO, f"analysis.convention={convention}"], tracking=False, out_dir=launch_dir / convention
        )
        for convention in ("pspsweep", "isf")
    }
    for convention, (peak, mean, median) in {
        "pspsweep": ("t_peak_ms", "t_mean", "t_median"),
        "isf": ("t_peak_abs_ms", "t_mean_abs", "t_median_abs"),
    }.items():
        result = results[convention]
        times = result.table.loc[result.table["amplitude_mV"] >= 0.1, peak]  # every unit responds here
        assert len(times) == 3
        stats = result.statistics.iloc[0]
        assert stats[mean] == pytest.approx(times.mean()) == result.metrics[mean]
        assert stats[median] == pytest.approx(times.median()) == result.metrics[median]
        other = {"t_peak_ms", "t_mean", "t_peak_abs_ms", "t_mean_abs"} - {peak, mean}
        assert not other & {*result.table.columns, *result.statistics.columns, *result.metrics}
    latency = results["isf"].table["t_peak_abs_ms"] - 110.0  # run.tStim
    assert (latency > 0).all() and (latency < 40).all()


def test_mapping_typed_config_and_overrides_are_the_same_sweep(launch_dir):
    """A mapping merged onto the defaults, a typed config and overrides give the same
    amplitudes; a default output folder is made in the launch directory."""
    by_overrides = pspsweep.run([*DEMO, "run.g=2"], tracking=False, out_dir=launch_dir / "a")
    mapping = {"run": {"units": [0, 1, 2], "g": 2.0}, "executor": {"workers": 1, "progress": False}}
    by_mapping = pspsweep.run(mapping, tracking=False)
    typed = api.compose_config(mapping)
    typed.tracking.enabled = False
    by_typed = pspsweep.run(typed, out_dir=launch_dir / "c")
    assert by_mapping.out_dir.parent.parent == launch_dir / "outputs"
    amplitudes = by_overrides.table["amplitude_mV"].tolist()
    assert by_mapping.table["amplitude_mV"].tolist() == amplitudes == by_typed.table["amplitude_mV"].tolist()
    assert set(by_typed.table["gAMPA"]) == {2.0}


@pytest.mark.parametrize(
    "config, expected",
    [
        (["run.nope=1"], "run.nope"),
        ({"run": {"g": "many"}}, "run.g"),
        ("run.g=1", "list of strings"),
        (["run.celltype=NOPE"], "NOPE"),
        (["run.tEnd=10"], "run.tEnd"),
    ],
)
def test_bad_input_raises_before_anything_is_written(launch_dir, config, expected):
    """The API raises PspSweepError naming the culprit (the command turns it into its
    one line); no output folder, no store."""
    with pytest.raises(PspSweepError, match=expected.replace(".", r"\.")):
        pspsweep.run(config, tracking=False, out_dir=launch_dir / "out")
    assert not (launch_dir / "out").exists() and not (launch_dir / "mlflow.db").exists()


def test_the_package_import_stays_light():
    """``pspsweep.run`` is served on first use: importing the package (as every worker
    does) pulls in neither Hydra nor the API."""
    import subprocess
    import sys

    code = "import sys, pspsweep; print(','.join(m for m in ('hydra', 'pspsweep.api') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_cancelled_executor_stops_without_raising():
    """The job owns a cancel event: once set, the local executor ends without results and
    without raising (run reuse used to be raised from inside the executor). Here the
    chunks are held back until the event is set, as while the MLflow run opens."""
    workers = execution.LocalProcesses(1)
    cancel = threading.Event()
    workers.hold, workers.cancel = (lambda: not cancel.is_set()), cancel
    timer = threading.Timer(1.0, cancel.set)
    timer.start()
    try:
        assert list(workers.run(abs, [(-1,), (-2,)])) == []
    finally:
        timer.cancel()
        workers.close()


@pytest.mark.slow
def test_a_finished_sweep_is_reused_through_the_cancel_event(launch_dir):
    """With tracking and worker processes the run opens in the background; a finished
    run of the same sweep cancels the simulation and is the result: no second run, its
    files copied into the new folder."""
    overrides = [
        "run.units=[0,1]",
        "executor.workers=2",
        "executor.progress=false",
        f"tracking.uri=sqlite:///{launch_dir / 't.db'}",
    ]
    first = pspsweep.run(overrides, out_dir=launch_dir / "first")
    again = pspsweep.run(overrides, out_dir=launch_dir / "again")
    assert first.run_id and first.reused_from is None
    assert again.reused_from == again.run_id == first.run_id
    pd.testing.assert_frame_equal(again.table, first.table)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(again.tracking_uri)
    runs = client.search_runs([client.get_run(first.run_id).info.experiment_id])
    assert [r.info.run_id for r in runs] == [first.run_id] and runs[0].info.status == "FINISHED"
