"""Running the command (or the same job through the Python API) in a test folder, and
reading what it recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import pspsweep_env

#: files a finished job writes into its output folder
RESULT_FILES = ("psps.csv", "statistics.csv", "traces.npz", "amplitude_histogram.png", "traces.png")


def store_overrides(cwd: Path) -> list[str]:
    """The test's own store in ``cwd``, and one worker."""
    return [f"tracking.uri=sqlite:///{cwd / 't.db'}", "executor.workers=1"]


def run_command(cwd: Path, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """The ``pspsweep`` command started in ``cwd`` with its own store and one worker."""
    exe = Path(sys.executable).parent / "pspsweep"
    return subprocess.run(
        [str(exe), *args, *store_overrides(cwd)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=pspsweep_env(**env),
        check=False,
    )


def run_multirun_from_repo(
    tmp_path: Path, *overrides: str, timeout: float = 1800
) -> tuple[subprocess.CompletedProcess, str]:
    """``pspsweep -m`` started at the repository root (as the README's presets are, with
    their relative paths to ../shared), with its own store and folders in ``tmp_path``;
    the result and the store's URI."""
    from conftest import REPO

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    res = subprocess.run(
        [
            str(Path(sys.executable).parent / "pspsweep"),
            "-m",
            *overrides,
            "executor.progress=false",
            f"tracking.uri={store}",
            f"hydra.sweep.dir={tmp_path / 'multirun'}",
            f"executor.work_dir={tmp_path / 'work'}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=pspsweep_env(),
        check=False,
    )
    return res, store


def through_api(cwd: Path, overrides: list[str]) -> subprocess.CompletedProcess:
    """``pspsweep.run(overrides)`` launched in ``cwd``; exit code and stderr as the command's."""
    from pspsweep import api
    from pspsweep.cli import one_line
    from pspsweep.errors import PspSweepError

    before, launch = os.getcwd(), os.environ.get("PSPSWEEP_LAUNCH_DIR")
    os.chdir(cwd)
    os.environ["PSPSWEEP_LAUNCH_DIR"] = str(cwd)
    try:
        api.run(overrides)
    except PspSweepError as exc:
        return subprocess.CompletedProcess(overrides, 2, "", f"pspsweep: error: {one_line(exc)}\n")
    finally:
        os.chdir(before)
        if launch is None:
            os.environ.pop("PSPSWEEP_LAUNCH_DIR", None)
        else:
            os.environ["PSPSWEEP_LAUNCH_DIR"] = launch
    return subprocess.CompletedProcess(overrides, 0, "", "")


def all_runs(cwd: Path) -> list:
    """Every run in the test's store (all experiments); [] when no store was created."""
    db = cwd / "t.db"
    if not db.exists():
        return []
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    exps = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(exps) if exps else []


def result_files(cwd: Path) -> list[Path]:
    """Result files written anywhere below the launch directory (outputs/, multirun/)."""
    return sorted(p for name in RESULT_FILES for p in cwd.rglob(name))
