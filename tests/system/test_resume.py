"""Interruption and resume: a killed sweep continues from its finished chunks, same results."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import pspsweep_env

pytestmark = pytest.mark.slow

#: 300 one-synapse units of the demo cell, fixed step, 10 units per chunk, one worker
SWEEP = [
    "network.celltypes.L4ss_C2.n_cells=300",
    "network.celltypes.L4ss_C2.max_synapses_per_cell=1",
    "run.reuse_identical=false",  # every unit simulated: 30 chunks
    "run.vardt=false",
    "executor.workers=1",
    "executor.chunk_size=10",
    "executor.progress=false",
]


def _default_sigint() -> None:
    # a command started in the background of a shell without job control inherits SIGINT
    # as ignored (so does this test when its runner was started that way); the command
    # here stands for one in a terminal's foreground, where Ctrl-C reaches it
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(cwd: Path, *extra: str) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "pspsweep"
    return subprocess.Popen(
        [str(exe), *SWEEP, *extra],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=pspsweep_env(),
        preexec_fn=_default_sigint,
    )


def chunk_files(cwd: Path) -> list[Path]:
    return sorted((cwd / ".pspsweep" / "chunks").glob("*/chunk-*.npz"))


def wait_for_chunks(proc: subprocess.Popen, cwd: Path, n: int, timeout: float = 600) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = len([p for p in chunk_files(cwd) if ".tmp" not in p.name])
        if done >= n:
            return done
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    pytest.fail(f"fewer than {n} chunks after {timeout} s")


def finished_psps(cwd: Path, proc: subprocess.Popen) -> pd.DataFrame:
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("results:"))
    return pd.read_csv(Path(line.split("results:", 1)[1].strip()) / "psps.csv")


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> pd.DataFrame:
    """psps.csv of the same sweep run without interruption."""
    reference = tmp_path_factory.mktemp("uninterrupted")
    psps = finished_psps(reference, start(reference, "tracking.enabled=false"))
    assert len(psps) == 300
    return psps


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killed_sweep_resumes_with_identical_results(tmp_path, full, sig):
    work = tmp_path / "interrupted"
    work.mkdir()
    db = f"tracking.uri=sqlite:///{work / 't.db'}"
    proc = start(work, db)
    done_at_kill = wait_for_chunks(proc, work, 15)
    proc.send_signal(sig)
    proc.wait(timeout=120)
    assert proc.returncode != 0
    on_disk = len(chunk_files(work))
    assert on_disk >= done_at_kill

    resumed = start(work, db)
    psps = finished_psps(work, resumed)
    pd.testing.assert_frame_equal(psps, full)

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{work / 't.db'}")
    runs = client.search_runs([client.get_experiment_by_name("pspsweep").experiment_id])
    finished = [r for r in runs if r.info.status == "FINISHED"]
    assert len(finished) == 1
    m = finished[0].data.metrics
    assert m["chunks_reused"] == on_disk, "every chunk on disk was reused"
    # no unit simulated twice beyond the chunk that was in flight
    assert m["chunks"] - m["chunks_reused"] <= 30 - done_at_kill + 1
    if sig != signal.SIGKILL:
        killed = [r for r in runs if r.info.status != "FINISHED"]
        assert len(killed) == 1 and killed[0].info.status == "KILLED"
    assert not chunk_files(work), "the chunk folder is removed once the results are written"
