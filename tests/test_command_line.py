"""The command line's own messages: --help, --version, warnings, a refused job's folder.

Checked against pyproject.toml (the commands and the version installed), Hydra's config
groups (`pspsweep --info`) and the files a job leaves behind.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import warnings
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import REPO, pspsweep_env

from pspsweep import cli

#: the console commands pyproject.toml installs
COMMANDS = sorted(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"])


def command(name: str, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / name
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120, env=pspsweep_env())


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_answers_help_and_version(name):
    helped = command(name, "--help")
    assert helped.returncode == 0 and helped.stderr == "", helped.stderr
    assert name in helped.stdout and "Hydra" not in helped.stdout.splitlines()[0]
    told = command(name, "--version")
    assert told.returncode == 0 and told.stdout == f"{name} {version('pspsweep')}\n", told.stdout + told.stderr


def test_help_lists_the_commands_groups_and_launchers():
    text = command("pspsweep", "--help").stdout
    assert text.startswith("pspsweep: ") and "powered by Hydra" not in text
    assert all(name in text for name in COMMANDS)
    # the groups and options as Hydra finds them in conf/
    groups = [("neuron", "demo, isf, sonata"), ("network", "demo, isf, sonata"), ("executor", "dask, local")]
    for group, options in groups:
        assert f"{group}: {options}" in text, text
    assert all(launcher in text for launcher in ("basic", "joblib", "submitit_local", "slurm"))


def test_a_warning_is_shown_once_per_command(capsys, monkeypatch):
    monkeypatch.setattr(cli, "_SHOWN_WARNINGS", set())
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = cli.show_warning_once
        for _ in range(3):  # as a multirun reads the same file for every job
            warnings.warn("x.param: morphology found next to it", UserWarning, stacklevel=1)
        warnings.warn("something else", DeprecationWarning, stacklevel=1)
    assert capsys.readouterr().err.splitlines() == [
        "pspsweep: warning: x.param: morphology found next to it",
        "pspsweep: warning: something else (DeprecationWarning)",
    ]


def test_a_refused_jobs_folder_goes_and_a_folder_with_results_stays(tmp_path):
    refused = tmp_path / "outputs" / "2026-01-01" / "10-00-00-aaaaaa"
    (refused / ".hydra").mkdir(parents=True)
    (refused / ".hydra" / "config.yaml").write_text("run: {}\n")
    (refused / "pspsweep.log").write_text("")
    cli.remove_unproduced(refused, keep_above=tmp_path)
    assert not (tmp_path / "outputs").exists(), "the emptied date and outputs folders go too"

    other = tmp_path / "outputs" / "2026-01-01" / "09-00-00-bbbbbb"
    finished = tmp_path / "outputs" / "2026-01-01" / "10-00-00-cccccc"
    for folder in (other, finished):
        (folder / ".hydra").mkdir(parents=True)
    (finished / "psps.csv").write_text("unit\n0\n")
    (other / "notes.txt").write_text("the user's")
    refused = tmp_path / "outputs" / "2026-01-01" / "11-00-00-dddddd"
    (refused / ".hydra").mkdir(parents=True)
    cli.remove_unproduced(refused, keep_above=tmp_path)
    cli.remove_unproduced(finished, keep_above=tmp_path)
    assert not refused.exists()
    assert (finished / "psps.csv").is_file() and (finished / ".hydra").is_dir(), "results are never removed"
    assert (other / "notes.txt").is_file()
