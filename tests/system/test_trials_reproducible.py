"""Stochastic trials do not depend on where or in what order they run (issue 18).

The same demo sweep with stochastic release (p = 0.3, quantal CV 0.3, 8 trials of 12
units, two units per chunk, fixed step) gives the identical ``trials.parquet`` with one
and two local workers, on a Dask cluster, with ``reference`` and ``restore``, with five
units per chunk, and after a SIGKILL and a resume; another seed gives other draws. With p = 1 and one trial the
shared 86 cell's VPM_C2 sweep writes the deterministic protocol's psps.csv byte for byte.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import pspsweep_env
from helpers.command import run_command
from helpers.isf86 import isf86_overrides
from system.test_resume import chunk_files, finished_psps, wait_for_chunks

pytestmark = pytest.mark.slow

TRIALS = [
    "network.release={L4*: {p: 0.3, quantal_cv: 0.3}}",
    "protocol.trials=8",
    "run.vardt=false",
    "executor.progress=false",
    "tracking.enabled=false",
]


def trials_table(out: Path) -> pd.DataFrame:
    table = pd.read_parquet(out / "trials.parquet")
    return table.sort_values(["celltype", "unit", "trial"]).reset_index(drop=True)


def run_trials(tmp_path: Path, name: str, *extra: str, chunk_size: int = 2) -> pd.DataFrame:
    cwd = tmp_path / name
    cwd.mkdir()
    res = run_command(cwd, *TRIALS, f"executor.chunk_size={chunk_size}", f"hydra.run.dir={cwd / 'out'}", *extra)
    assert res.returncode == 0, res.stderr[-3000:]
    return trials_table(cwd / "out")


def test_the_same_seed_gives_the_same_trials_wherever_they_run(tmp_path):
    reference = run_trials(tmp_path, "one", "executor.workers=1")
    assert len(reference) == 12 * 8
    assert 0 < (~reference["any_release"]).mean() < 1
    variants = {
        "two workers": ["executor.workers=2"],
        "dask": ["executor=dask", "executor.workers=2"],
        "reference strategy": ["run.strategy=reference", "executor.workers=2"],
    }
    for name, extra in variants.items():
        pd.testing.assert_frame_equal(run_trials(tmp_path, name.replace(" ", "_"), *extra), reference, obj=name)
    rechunked = run_trials(tmp_path, "five_per_chunk", "executor.workers=2", chunk_size=5)
    pd.testing.assert_frame_equal(rechunked, reference, obj="five units per chunk")
    other = run_trials(tmp_path, "other_seed", "protocol.seed=1", "executor.workers=2")
    assert not other["n_released"].equals(reference["n_released"])


def start(cwd: Path, *args: str) -> subprocess.Popen:
    """The command in the background, as test_resume starts it (one worker)."""
    exe = Path(sys.executable).parent / "pspsweep"
    return subprocess.Popen(
        [str(exe), *args, "executor.workers=1"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=pspsweep_env(),
    )


def test_a_killed_sweep_resumes_with_the_same_trials(tmp_path):
    sweep = ["network.celltypes.L4ss_C2.n_cells=60", "protocol.trials=20", *TRIALS[:1], *TRIALS[2:]]
    sweep.append("executor.chunk_size=2")
    uninterrupted = tmp_path / "uninterrupted"
    uninterrupted.mkdir()
    finished_psps(uninterrupted, start(uninterrupted, *sweep))
    work = tmp_path / "killed"
    work.mkdir()
    proc = start(work, *sweep)
    wait_for_chunks(proc, work, 5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=120)
    assert chunk_files(work) and proc.returncode != 0
    finished_psps(work, start(work, *sweep))

    def only(cwd: Path) -> Path:
        (folder,) = [p.parent for p in cwd.glob("outputs/*/*/trials.parquet")]
        return folder

    pd.testing.assert_frame_equal(trials_table(only(work)), trials_table(only(uninterrupted)))


@pytest.mark.realdata
def test_p_1_and_one_trial_is_the_deterministic_protocol_byte_for_byte(isf86, tmp_path):
    common = [*isf86_overrides(isf86), "run.celltype=VPM_C2", "run.g=1", "executor.progress=false"]
    digests = {}
    for name, extra in (("deterministic", []), ("p_1", ["network.release={VPM_C2: {p: 1}}", "protocol.trials=1"])):
        cwd = tmp_path / name
        cwd.mkdir()
        res = run_command(cwd, *common, "tracking.enabled=false", f"hydra.run.dir={cwd / 'out'}", *extra)
        assert res.returncode == 0, res.stderr[-3000:]
        digests[name] = hashlib.sha256((cwd / "out" / "psps.csv").read_bytes()).hexdigest()
        assert not (cwd / "out" / "trials.parquet").exists()
    assert digests["p_1"] == digests["deterministic"]
