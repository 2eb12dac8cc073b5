"""hydra_callbacks.fit_parent_run: every fit of a multirun is a run of its own, nested under
the parent, whose metrics are those of its own files; the jobs' tables come from the
child runs and from the finished runs that jobs reused (a real SQLite store)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pspsweep import tracking
from pspsweep.config import PspSweepConfig
from pspsweep.hydra_callbacks import fit_parent_run

SCALES = np.array([0.2, 0.3, 0.5, 0.8, 1.1])  # mV/nS per unit: amplitude = scale * g


def job_table(g: float) -> pd.DataFrame:
    """A psps.csv of the demo cell's L4ss_C2 units at conductance g."""
    units = np.arange(len(SCALES))
    return pd.DataFrame(
        {
            "celltype": "L4ss_C2",
            "unit": units,
            "sections": "1;2",
            "xs": "0.5;0.5",
            "distance_um": 10.0,
            "g": g,
            "amplitude_mV": SCALES * g,
            "t_peak_ms": 3.0,
        }
    )


def finished_run(uri: str, g: float, folder: Path, parent: str | None = None) -> str:
    run = tracking.MlflowTracker(uri, "pspsweep", f"g={g}", parent_run_id=parent)
    path = folder / f"g{g}" / "psps.csv"
    path.parent.mkdir(parents=True)
    job_table(g).to_csv(path, index=False)
    run.log_artifact(path)
    run.end("FINISHED")
    assert run.run_id is not None
    return run.run_id


def measured_csv(path: Path, g_true: float) -> str:
    row = (SCALES.mean() * g_true, np.median(SCALES) * g_true, SCALES.max() * g_true)
    pd.DataFrame(
        [("L4", *row)], columns=["group", "EPSP_mean_measured", "EPSP_med_measured", "EPSP_max_measured"]
    ).to_csv(path, index=False)
    return str(path)


def test_two_refits_leave_two_consistent_fit_runs_and_read_reused_jobs(tmp_path):
    """Against the amplitudes made proportional to g: measured values made at 1.2 and
    1.6 nS give those optimal g. A multirun with two child runs and a job that reused
    an earlier run (g = 2, recorded on the parent) is fitted twice: two FINISHED fit
    runs under the parent, each with the metrics of its own optimal_g.csv, every job's
    table read (three conductances), and the parent naming the newest fit."""
    uri = tracking.resolve_tracking_uri(None, tmp_path)
    earlier = finished_run(uri, 2.0, tmp_path / "earlier")
    parent = tracking.start_parent_run(uri, "pspsweep", "sweep", {}, {})
    for g in (0.5, 1.0):
        finished_run(uri, g, tmp_path / "jobs", parent)
    tracking.record_reused_job(uri, parent, earlier, tmp_path / "jobs" / "2")
    cfg = PspSweepConfig()  # the demo cell, for the morphology map
    cfg.fit.bootstrap = 0
    fit_runs = []
    for g_true in (1.2, 1.6):
        cfg.fit.measured = measured_csv(tmp_path / f"measured_{g_true}.csv", g_true)
        result, fit_run = fit_parent_run(cfg, uri, parent, tmp_path / f"fit_{g_true}")
        assert sorted(result.units["g"].unique()) == [0.5, 1.0, 2.0]
        assert result.optimal.set_index("group").loc["L4", "optimal_g"] == pytest.approx(g_true, rel=1e-12)
        fit_runs.append(fit_run)
    client = tracking._client(uri)
    assert client.get_run(parent).data.tags[tracking.LATEST_FIT_TAG] == fit_runs[-1]
    nested = [r for r in tracking.child_runs(uri, parent) if r.data.tags.get(tracking.KIND_TAG) == tracking.FIT_KIND]
    assert sorted(r.info.run_id for r in nested) == sorted(fit_runs)
    for g_true, run_id in zip((1.2, 1.6), fit_runs):
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        table = pd.read_csv(tracking.download_artifact(uri, run_id, "optimal_g.csv", tmp_path / run_id))
        row = table.set_index("group").loc["L4"]
        assert run.data.metrics["optimal_g.L4"] == pytest.approx(row["optimal_g"], rel=1e-12)
        assert row["optimal_g"] == pytest.approx(g_true, rel=1e-12)
        assert run.data.metrics["fit_ok.L4"] == float(row["fit_ok"]) == 1.0
    # fit runs are no jobs: a third fit still reads the three job tables only
    assert len(tracking.job_runs(uri, parent)) == 3


def test_a_fit_run_whose_recording_fails_ends_failed(tmp_path, monkeypatch):
    """A fit whose files could not all be recorded is never a FINISHED run with half its
    artifacts beside its metrics."""
    import pspsweep.fit.stage

    uri = tracking.resolve_tracking_uri(None, tmp_path)
    parent = tracking.start_parent_run(uri, "pspsweep", "sweep", {}, {})
    for g in (0.5, 1.0):
        finished_run(uri, g, tmp_path / "jobs", parent)
    cfg = PspSweepConfig()
    cfg.fit.bootstrap = 0
    cfg.fit.measured = measured_csv(tmp_path / "measured.csv", 0.8)

    def disk_full(tracker, output) -> None:
        tracker.log_artifact(output.files[0])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pspsweep.fit.stage, "record_fit", disk_full)
    with pytest.raises(OSError):
        fit_parent_run(cfg, uri, parent, tmp_path / "fit")
    fits = [r for r in tracking.child_runs(uri, parent) if r.data.tags.get(tracking.KIND_TAG) == tracking.FIT_KIND]
    assert [r.info.status for r in fits] == ["FAILED"]
    assert tracking.LATEST_FIT_TAG not in tracking._client(uri).get_run(parent).data.tags
