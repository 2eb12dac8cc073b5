"""nwb: a sweep's traces as NWB intracellular data.

Checked against pynwb reading the file back (its own time and unit conversions:
``get_timestamps``, ``get_data_in_units``), against nwbinspector (the NWB community's
checker: no finding at an error level), and against pspsweep's features recomputed from
what pynwb reads, which must equal those computed from the traces written.
"""

from __future__ import annotations

import datetime
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import pspsweep_env

import pspsweep
from pspsweep.errors import PspSweepError
from pspsweep.features import AnalysisOptions, psp_features
from pspsweep.nwb import NWB_FILE, NwbSession, export, regular_step, write_nwb
from pspsweep.traces import TraceSet, save_traces

#: nwbinspector's importances that mean the file is wrong, not just improvable
ERROR_LEVELS = ("ERROR", "PYNWB_VALIDATION", "CRITICAL")
T_STIM, T_END = 110.0, 150.0


def synthetic_sweep() -> tuple[TraceSet, pd.DataFrame]:
    """A fixed-step baseline and unit, two CVODE-like units with a repeated time stamp at
    the event, and four units of two cell types (units 0 and 2 of A share a simulation)."""
    grid = np.arange(0.0, T_END + 0.0125, 0.025)
    rng = np.random.default_rng(1)

    def psp(t: np.ndarray, amp: float) -> np.ndarray:
        s = np.clip(t - T_STIM, 0, None)
        return (-70.0 + amp * (np.exp(-s / 10) - np.exp(-s / 2))).astype(np.float32)

    irregular = [np.sort(np.concatenate([rng.uniform(0, T_END, 400), [T_STIM, T_STIM, 0.0, T_END]])) for _ in range(2)]
    ts = [grid, *irregular]
    vs = [psp(grid, 1.5), psp(irregular[0], -0.8), psp(irregular[1], 0.3)]
    traces = TraceSet(grid, np.full(len(grid), -70.0, np.float32), ts, vs, np.array([0, 1, 3]))
    table = pd.DataFrame(
        {
            "celltype": ["A", "A", "A", "B"],
            "unit": [0, 1, 2, 0],
            "cell_id": [10, 11, 12, 40],
            "synapse_id": ["1;2", "3", "4;5", "7"],
            "gAMPA": [1.0, 1.0, 1.0, np.nan],
            "gNMDA": [1.0, 1.0, 1.0, np.nan],
            "gGABA": [np.nan, np.nan, np.nan, 2.0],
            "simulation": [0, 1, 0, 3],
        }
    )
    return traces, table


def session(**kw) -> NwbSession:
    return NwbSession("synthetic sweep", "test-id", datetime.datetime.now().astimezone(), "cellX", T_STIM, **kw)


def read_back(path):
    """The open file, its recordings table and {series name: (t ms, v mV or nA, series)},
    times and values converted by pynwb (seconds and SI units) and scaled back."""
    from pynwb import NWBHDF5IO

    io = NWBHDF5IO(str(path), "r")
    nwbfile = io.read()
    series = {
        name: (np.asarray(s.get_timestamps()) * 1e3, np.asarray(s.get_data_in_units()) / s.conversion, s)
        for name, s in nwbfile.acquisition.items()
    }
    rows = nwbfile.intracellular_recordings.to_dataframe()
    return io, nwbfile, rows, series


def error_findings(path) -> list[str]:
    from nwbinspector import inspect_nwbfile

    return [f"{m.importance.name} {m.check_function_name}: {m.message}" for m in inspect_nwbfile(str(path))]


def test_regular_step_tells_fixed_from_variable_step():
    grid = np.cumsum(np.full(6000, 0.025)) - 0.025  # NEURON's t += dt: rounding, not irregularity
    assert regular_step(grid) == 0.025
    assert regular_step(np.array([0.0, 0.1, 0.1, 0.3])) is None
    assert regular_step(np.array([0.0, 0.1, 0.25])) is None and regular_step(np.array([1.0])) is None


def test_synthetic_sweep_reads_back_with_pynwb(tmp_path):
    traces, table = synthetic_sweep()
    path = write_nwb(traces, table, session(), tmp_path / NWB_FILE)
    io, nwbfile, rows, series = read_back(path)
    with io:
        assert set(series) == {"baseline", "A_unit0", "A_unit1", "B_unit0"}
        for name, t, v in zip(("A_unit0", "A_unit1", "B_unit0"), traces.ts, traces.vs):
            t_back, v_back, s = series[name]
            assert type(s).__name__ == "CurrentClampSeries" and s.unit == "volts" and s.conversion == 1e-3
            np.testing.assert_array_equal(s.data[:], v)  # the stored mV, unchanged
            np.testing.assert_allclose(v_back, v, rtol=1e-6)
            np.testing.assert_allclose(t_back, t, rtol=1e-12, atol=1e-12)
        fixed, variable = series["A_unit0"][2], series["A_unit1"][2]
        assert fixed.timestamps is None and fixed.rate == 40000.0 and fixed.starting_time == 0.0
        assert variable.rate is None and len(variable.timestamps) == len(traces.ts[1])
        # one row per unit and one for the baseline; units 0 and 2 of A share a series
        assert len(rows) == 5
        own = rows["intracellular_recordings"]
        assert own["kind"].tolist() == ["baseline", "unit", "unit", "unit", "unit"]
        assert own["celltype"].tolist() == ["", "A", "A", "A", "B"] and own["unit"].tolist() == [-1, 0, 1, 2, 0]
        assert own["cell_id"].tolist() == [-1, 10, 11, 12, 40]
        assert [list(s) for s in own["synapse_ids"]] == [[], [1, 2], [3], [4, 5], [7]]
        assert own["gGABA"].tolist()[4] == 2.0 and np.isnan(own["gAMPA"].tolist()[4])
        assert set(own["protocol"]) == {"single_spike"}
        responses = [r.timeseries.name for r in rows[("responses", "response")]]
        assert responses == ["baseline", "A_unit0", "A_unit1", "A_unit0", "B_unit0"]
        sequential = nwbfile.icephys_sequential_recordings.to_dataframe()
        assert sequential["stimulus_type"].tolist() == ["none (baseline)", "single_spike: A", "single_spike: B"]
        assert nwbfile.identifier == "test-id" and nwbfile.session_start_time.tzinfo is not None


def test_features_from_the_nwb_traces_equal_those_of_the_written_traces(tmp_path):
    traces, table = synthetic_sweep()
    path = write_nwb(traces, table, session(), tmp_path / NWB_FILE)
    io, _, _, series = read_back(path)
    with io:
        t_b, v_b, _ = series["baseline"]
        for name, t, v in zip(("A_unit0", "A_unit1", "B_unit0"), traces.ts, traces.vs):
            t_n, v_n, _ = series[name]
            expected = psp_features(t, v, traces.t_baseline, traces.v_baseline, T_STIM, T_END, AnalysisOptions())
            got = psp_features(t_n, v_n, t_b, v_b, T_STIM, T_END, AnalysisOptions())
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_nwbinspector_finds_no_error(tmp_path):
    """No finding at an error level; the one best-practice violation left is the model
    cell's species, which pspsweep does not know."""
    traces, table = synthetic_sweep()
    findings = error_findings(write_nwb(traces, table, session(), tmp_path / NWB_FILE))
    assert not [f for f in findings if f.split()[0] in ERROR_LEVELS], findings
    violations = [f for f in findings if f.startswith("BEST_PRACTICE_VIOLATION")]
    assert [v.split()[1] for v in violations] == ["check_subject_species_exists:"], findings


def test_a_protocol_recording_current_gets_voltage_clamp_series(tmp_path):
    traces, table = synthetic_sweep()
    path = write_nwb(traces, table, session(recorded="current"), tmp_path / NWB_FILE)
    io, _, _, series = read_back(path)
    with io:
        kinds = {type(s).__name__ for _, _, s in series.values()}
        assert kinds == {"VoltageClampSeries"}
        s = series["A_unit0"][2]
        assert s.unit == "amperes" and s.conversion == 1e-9
    with pytest.raises(PspSweepError, match="'charge'"):
        write_nwb(traces, table, session(recorded="charge"), tmp_path / "x.nwb")


def test_export_of_an_output_folder(tmp_path):
    traces, table = synthetic_sweep()
    save_traces(traces, tmp_path / "traces.npz")
    table.to_csv(tmp_path / "psps.csv", index=False)
    path = export(str(tmp_path))
    assert path == tmp_path / NWB_FILE
    io, nwbfile, rows, _ = read_back(path)
    with io:
        assert len(rows) == 5 and "A" in nwbfile.session_description and nwbfile.subject.subject_id == "model cell"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing" / "folder", "neither an output folder"),
        (lambda p: p, "has no traces.npz"),
        (lambda p: (p / "psps.csv").write_text("x\n") and p / "psps.csv", "neither an output folder"),
    ],
)
def test_export_refuses_what_is_no_sweep(tmp_path, make, message):
    with pytest.raises(PspSweepError, match=message):
        export(str(make(tmp_path)))


@pytest.mark.slow  # creating the MLflow store takes seconds
def test_export_of_an_unknown_run_names_it(tmp_path):
    from pspsweep.tracking import MlflowTracker

    store = f"sqlite:///{tmp_path / 't.db'}"
    MlflowTracker(store, "e", "r").end()
    with pytest.raises(PspSweepError, match="no run 0123abcd"):
        export("0123abcd", uri=store)


def test_the_command_exports_a_folder_and_refuses_bad_input_in_one_line(tmp_path):
    """The console script's function (pyproject's ``pspsweep-export-nwb``), in a process."""
    traces, table = synthetic_sweep()
    save_traces(traces, tmp_path / "traces.npz")
    table.to_csv(tmp_path / "psps.csv", index=False)
    code = "import sys; from pspsweep.entry import export_nwb_main; export_nwb_main()"

    def command(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, env=pspsweep_env(), timeout=300
        )

    ok = command(str(tmp_path), str(tmp_path / "out.nwb"))
    assert ok.returncode == 0 and (tmp_path / "out.nwb").is_file(), ok.stderr
    bad = command(str(tmp_path / "nowhere"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "neither an output folder" in bad.stderr
    assert not (tmp_path / "nowhere").exists()


def test_the_command_is_a_console_script():
    import tomllib

    from conftest import REPO

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["pspsweep-export-nwb"] == "pspsweep.entry:export_nwb_main"


def test_output_nwb_is_off_by_default(compose):
    assert compose().output.nwb is False


def test_a_demo_sweep_with_output_nwb_writes_traces_nwb(launch_dir):
    """The job writes traces.nwb beside traces.npz; its amplitudes are psps.csv's."""
    overrides = ["run.units=[0,1,2]", "executor.workers=1", "executor.progress=false", "output.nwb=true"]
    result = pspsweep.run([*overrides, "run.record_dtype=float64"], tracking=False, out_dir=launch_dir / "out")
    io, nwbfile, rows, series = read_back(launch_dir / "out" / NWB_FILE)
    with io:
        t_b, v_b, _ = series["baseline"]
        own = rows["intracellular_recordings"]
        for i, response in enumerate(rows[("responses", "response")]):
            if own["kind"].iloc[i] == "baseline":
                continue
            t, v, _ = series[response.timeseries.name]
            amplitude, _ = psp_features(t, v, t_b, v_b, T_STIM, T_END, AnalysisOptions())
            assert amplitude == pytest.approx(result.table["amplitude_mV"].iloc[i - 1], rel=1e-9, abs=1e-12)
        assert nwbfile.protocol == "single_spike" and len(rows) == 4


def test_a_voltage_clamp_train_is_stored_as_clamp_current_with_its_spike_times(tmp_path, compose):
    from pspsweep.nwb import sweep_session

    cfg = compose("protocol=vclamp", "protocol.spikes=[0,20]")
    traces, table = synthetic_sweep()
    trace_session = sweep_session(cfg, table, "a-sweep-key")
    assert (trace_session.protocol, trace_session.recorded) == ("vclamp", "current")
    assert trace_session.spikes == (cfg.run.tStim, cfg.run.tStim + 20.0)
    path = write_nwb(traces, table, trace_session, tmp_path / NWB_FILE)
    io, nwbfile, _, series = read_back(path)
    with io:
        assert {type(s).__name__ for _, _, s in series.values()} == {"VoltageClampSeries"}
        assert f"at {cfg.run.tStim:g}, {cfg.run.tStim + 20:g} ms (a train)" in nwbfile.stimulus_notes
        assert "inward negative" in nwbfile.stimulus_notes
    findings = error_findings(path)
    assert not [f for f in findings if f.split()[0] in ERROR_LEVELS], findings


def test_the_default_protocol_keeps_its_single_spike_session(compose):
    from pspsweep.nwb import protocol_of, sweep_session

    default = sweep_session(compose(), synthetic_sweep()[1], "key")
    assert (default.protocol, default.recorded, default.spikes) == ("single_spike", "voltage", (default.t_stim,))
    # a run recorded before protocols (no protocol.* settings) reads as ISF's protocol
    assert protocol_of({}, 110.0) == ("single_spike", "voltage", (110.0,))
    settings = {"protocol.name": "train", "protocol.spikes": "[0, 20.0]", "protocol.clamp": "current"}
    assert protocol_of(settings, 100.0) == ("train", "voltage", (100.0, 120.0))
