"""reliability: no wrong result recorded as right, end to end (issue 14's reproductions).

Each test runs the command on the demo cell as a user would and checks against a fresh
run of the same sweep in a folder of its own (what the result must be), or against the
store's own record (no run left RUNNING, no password stored).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import pspsweep_env, running_mlflow_server
from helpers.command import all_runs
from helpers.command import run_command as pspsweep

pytestmark = pytest.mark.slow

ONE_SYNAPSE = ("network.celltypes.L4ss_C2.max_synapses_per_cell=1", "executor.progress=false")


def amplitudes(res: subprocess.CompletedProcess) -> pd.Series:
    """The amplitudes of the psps.csv in the output folder a command printed."""
    assert res.returncode == 0, res.stderr[-3000:]
    out = Path(next(line.split("results: ")[1] for line in res.stdout.splitlines() if "results: " in line))
    return pd.read_csv(out / "psps.csv")["amplitude_mV"]


def test_moving_synapses_simulates_again(tmp_path):
    """The reuse key covers where synapses sit: the same units placed on the soma are not
    the finished dendritic run (which reported 0.6936 mV instead of 0.9395 mV)."""
    first = pspsweep(tmp_path, *ONE_SYNAPSE)
    moved = pspsweep(tmp_path, *ONE_SYNAPSE, "network.celltypes.L4ss_C2.labels=[Soma]")
    assert "reused" not in moved.stdout
    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    fresh = pspsweep(fresh_dir, *ONE_SYNAPSE, "network.celltypes.L4ss_C2.labels=[Soma]")
    assert amplitudes(moved).tolist() == amplitudes(fresh).tolist()
    assert amplitudes(moved).tolist() != amplitudes(first).tolist()


def test_commands_started_in_the_same_second_keep_their_own_results(tmp_path):
    """Ten pairs differing only in run.g, each pair started together: twenty commands,
    each with its own folder whose psps.csv holds its own conductance and amplitudes;
    a command that found a finished run of its sweep reused it, so the store holds one
    FINISHED run per command that simulated and no copies."""
    exe = Path(sys.executable).parent / "pspsweep"
    pspsweep(tmp_path, "run.units=[0]", "executor.progress=false")  # the store exists, as in the report
    results = []
    for _ in range(10):
        procs = [
            subprocess.Popen(
                [
                    str(exe),
                    f"run.g={g}",
                    "run.units=[0,1]",
                    "executor.progress=false",
                    f"tracking.uri=sqlite:///{tmp_path / 't.db'}",
                    "executor.workers=1",
                ],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=pspsweep_env(),
            )
            for g in (1, 2)
        ]
        for g, p in zip((1, 2), procs):
            out, err = p.communicate(timeout=600)
            results.append((g, subprocess.CompletedProcess(p.args, p.returncode, out, err)))
    folders = set()
    by_g: dict[int, list] = {1: [], 2: []}
    for g, res in results:
        out = Path(next(line.split("results: ")[1] for line in res.stdout.splitlines() if "results: " in line))
        folders.add(out)
        table = pd.read_csv(out / "psps.csv")
        assert set(table["g"]) == {g}
        assert f"run.g={g}" in (out / ".hydra" / "overrides.yaml").read_text()
        by_g[g].append(table["amplitude_mV"].tolist())
    assert len(folders) == 20
    assert all(a == by_g[1][0] for a in by_g[1]) and all(a == by_g[2][0] for a in by_g[2])
    assert by_g[1][0] != by_g[2][0]
    finished = [r for r in all_runs(tmp_path) if r.data.params.get("run.units") == "[0, 1]"]
    simulated = [res for _, res in results if "reused the finished run" not in res.stdout]
    assert 2 <= len(finished) == len(simulated) < 20, "the later pairs reuse the first runs"
    assert all(r.info.status == "FINISHED" for r in finished)


def test_identical_commands_started_together_both_finish(tmp_path):
    """In a fresh folder (no store yet) two identical commands both finish with the
    same results (one failed with "duplicate column name: step" in 4 of 4 trials)."""
    exe = Path(sys.executable).parent / "pspsweep"
    args = [str(exe), "executor.progress=false", f"tracking.uri=sqlite:///{tmp_path / 't.db'}", "executor.workers=1"]
    procs = [
        subprocess.Popen(
            args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=pspsweep_env()
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    done = [subprocess.CompletedProcess(p.args, p.returncode, *out) for p, out in zip(procs, outputs)]
    assert amplitudes(done[0]).tolist() == amplitudes(done[1]).tolist()
    assert all(r.info.status == "FINISHED" for r in all_runs(tmp_path))


def test_a_run_whose_files_were_deleted_is_not_reused(tmp_path):
    import shutil

    first = pspsweep(tmp_path, "executor.progress=false")
    shutil.rmtree(tmp_path / "mlartifacts")
    again = pspsweep(tmp_path, "executor.progress=false")
    assert "reused" not in again.stdout
    assert amplitudes(again).tolist() == amplitudes(first).tolist()


@pytest.mark.parametrize(
    "store, message",
    [
        ("http://127.0.0.1:{port}", "no tracking server answers"),
        ("./mlruns", "no longer records runs in a folder"),
        ("sqlite:///{tmp}/corrupt.db", "not a usable SQLite database"),
        ("sqlite:///{tmp}", "is a folder"),
    ],
)
def test_a_store_that_cannot_record_fails_before_simulating(tmp_path, store, message):
    from conftest import free_port

    (tmp_path / "corrupt.db").write_bytes(b"garbage" * 1000)
    uri = store.format(port=free_port(), tmp=tmp_path)
    exe = Path(sys.executable).parent / "pspsweep"
    started = time.monotonic()
    res = subprocess.run(
        [str(exe), f"tracking.uri={uri}", "executor.workers=1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=pspsweep_env(),
        check=False,
    )
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pspsweep: error:") and message in lines[0], res.stderr
    assert time.monotonic() - started < 60
    assert not list(tmp_path.rglob("psps.csv"))


def test_a_launch_folder_with_url_characters_keeps_its_store(tmp_path):
    """A folder holding ? or %20 is the store's folder (the store went to a file "q" in
    the parent folder, or failed after 100 s)."""
    cwd = tmp_path / "run?q=1 %20 x"
    cwd.mkdir()
    exe = Path(sys.executable).parent / "pspsweep"
    res = subprocess.run(
        [str(exe), "executor.workers=1", "executor.progress=false", "run.units=[0]"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=pspsweep_env(),
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert (cwd / "mlflow.db").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [cwd.name]


def test_work_dir_holds_chunks_and_states(tmp_path):
    work = tmp_path / "work"
    res = pspsweep(tmp_path, "executor.progress=false", "run.vardt=false", f"executor.work_dir={work}")
    assert res.returncode == 0, res.stderr
    assert (work / "states").is_dir()
    assert not (tmp_path / "states").exists()


def test_passwords_in_the_tracking_uri_are_never_stored_or_printed(tmp_path):
    with running_mlflow_server(tmp_path / "server") as url:
        uri = url.replace("http://", "http://alice:s3cret@")
        exe = Path(sys.executable).parent / "pspsweep"
        res = subprocess.run(
            [str(exe), f"tracking.uri={uri}", "executor.workers=1", "executor.progress=false", "run.units=[0]"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            env=pspsweep_env(),
            check=False,
        )
        assert res.returncode == 0, res.stderr
        assert "s3cret" not in res.stdout + res.stderr
        from mlflow.tracking import MlflowClient

        client = MlflowClient(url)
        run = client.search_runs([e.experiment_id for e in client.search_experiments()])[0]
        assert "s3cret" not in repr(run.data.params) + repr(run.data.tags)
        saved = client.download_artifacts(run.info.run_id, ".hydra", str(tmp_path / "dl"))
        assert all("s3cret" not in p.read_text() for p in Path(saved).iterdir())
    assert all("s3cret" not in p.read_text() for p in (tmp_path / "outputs").rglob("*.yaml"))


def test_a_stopped_joblib_multirun_leaves_no_run_running(tmp_path):
    """SIGTERM to the launching process of a joblib multirun: the parent and every child
    end KILLED or FINISHED (the children stayed RUNNING)."""
    exe = Path(sys.executable).parent / "pspsweep"
    proc = subprocess.Popen(
        [
            str(exe),
            "-m",
            "run.g=1,2",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            "executor.workers=1",
            "executor.progress=false",
            "run.vardt=false",
            "network.celltypes.L4ss_C2.n_cells=200",
            f"tracking.uri=sqlite:///{tmp_path / 't.db'}",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=pspsweep_env(),
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = all_runs(tmp_path) if (tmp_path / "t.db").exists() else []
        if sum(1 for r in runs if "mlflow.parentRunId" in r.data.tags) == 2:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the children did not start")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=300)
    statuses = [r.info.status for r in all_runs(tmp_path)]
    assert len(statuses) == 3 and "RUNNING" not in statuses, statuses
