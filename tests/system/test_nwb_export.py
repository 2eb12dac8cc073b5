"""traces.nwb of a VPM_C2 sweep on the shared 86 cell, written by the job and exported
from its MLflow run.

Checked against nwbinspector (no finding at an error level), against pynwb reading the
file (the amplitudes pspsweep's own features give on what pynwb returns equal psps.csv),
and against the run's own tags and artifacts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import pspsweep_env
from helpers.command import run_command
from helpers.isf86 import isf86_overrides

from pspsweep.features import AnalysisOptions, psp_features
from pspsweep.nwb import NWB_FILE

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

ERROR_LEVELS = ("ERROR", "PYNWB_VALIDATION", "CRITICAL")


def vpm_c2(isf86: Path, tmp_path: Path, name: str, *extra: str) -> Path:
    """Three VPM_C2 units (CVODE, float64 voltages: the traces the features were computed on)."""
    out = tmp_path / name
    res = run_command(
        tmp_path,
        *isf86_overrides(isf86),
        "run.celltype=VPM_C2",
        "run.units=[0,1,2]",
        "run.record_dtype=float64",
        "analysis.convention=isf",
        "executor.progress=false",
        f"executor.work_dir={tmp_path / 'work'}",
        f"hydra.run.dir={out}",
        *extra,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def amplitudes_from_nwb(path: Path) -> list[float]:
    """Per unit row, the amplitude of the series pynwb returns (in volts and seconds, scaled to mV and ms)."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        rows = nwbfile.intracellular_recordings.to_dataframe()

        def trace(series):
            return np.asarray(series.get_timestamps()) * 1e3, np.asarray(series.get_data_in_units()) * 1e3

        t_b, v_b = trace(nwbfile.acquisition["baseline"])
        options = AnalysisOptions(convention="isf")
        return [
            psp_features(*trace(r.timeseries), t_b, v_b, 110.0, 150.0, options)[0]
            for kind, r in zip(rows[("intracellular_recordings", "kind")], rows[("responses", "response")])
            if kind == "unit"
        ]


def test_vpm_c2_traces_nwb_passes_the_inspector_and_gives_psps_csv(tmp_path, isf86):
    from mlflow.tracking import MlflowClient
    from nwbinspector import inspect_nwbfile
    from pynwb import NWBHDF5IO

    out = vpm_c2(isf86, tmp_path, "nwb", "output.nwb=true")
    path = out / NWB_FILE
    findings = [f"{m.importance.name} {m.check_function_name}: {m.message}" for m in inspect_nwbfile(str(path))]
    assert not [f for f in findings if f.split()[0] in ERROR_LEVELS], findings
    table = pd.read_csv(out / "psps.csv")
    np.testing.assert_allclose(amplitudes_from_nwb(path), table["amplitude_mV"], rtol=1e-9, atol=1e-12)

    client = MlflowClient(f"sqlite:///{tmp_path / 't.db'}")
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert NWB_FILE in {a.path for a in client.list_artifacts(run.info.run_id)}
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        assert nwbfile.identifier == run.data.tags["pspsweep.sweep_key"]
        assert nwbfile.subject.subject_id == "86_C2_center" and "VPM_C2" in nwbfile.session_description


def test_a_run_without_nwb_is_exported_and_reused_with_it(tmp_path, isf86):
    """The command exports a finished run from the store; a job asking for NWB that reuses
    a run without it writes and records the file."""
    from mlflow.tracking import MlflowClient
    from pynwb import NWBHDF5IO

    out = vpm_c2(isf86, tmp_path, "plain")
    assert not (out / NWB_FILE).exists()
    client = MlflowClient(f"sqlite:///{tmp_path / 't.db'}")
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    code = "from pspsweep.entry import export_nwb_main; export_nwb_main()"
    exported = subprocess.run(
        [sys.executable, "-c", code, run.info.run_id, f"tracking.uri=sqlite:///{tmp_path / 't.db'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=pspsweep_env(),
        timeout=600,
    )
    assert exported.returncode == 0, exported.stderr[-3000:]
    path = tmp_path / f"traces-{run.info.run_id}.nwb"
    table = pd.read_csv(out / "psps.csv")
    np.testing.assert_allclose(amplitudes_from_nwb(path), table["amplitude_mV"], rtol=1e-9, atol=1e-12)
    with NWBHDF5IO(str(path), "r") as io:
        assert io.read().identifier == run.data.tags["pspsweep.sweep_key"]

    again = vpm_c2(isf86, tmp_path, "again", "output.nwb=true")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [r.info.run_id for r in runs] == [run.info.run_id], "reuse creates no run"
    assert (again / NWB_FILE).is_file()
    assert NWB_FILE in {a.path for a in client.list_artifacts(run.info.run_id)}, "added to the reused run"
    np.testing.assert_allclose(amplitudes_from_nwb(again / NWB_FILE), table["amplitude_mV"], rtol=1e-9, atol=1e-12)
