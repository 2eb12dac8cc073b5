"""Folders of a job: the one the command was started from (relative inputs, the default
store and the work folders resolve there, also in jobs that Hydra runs in another
directory), and the work folders of chunks and settled states."""

from __future__ import annotations

import os
from pathlib import Path

from pspsweep.config import PspSweepConfig
from pspsweep.errors import PspSweepError

_VARIABLE = "PSPSWEEP_LAUNCH_DIR"


def remember_launch_dir() -> None:
    """Record the current directory as the launch folder (kept if already recorded, as in
    a job a multirun starts), for this process and the processes it starts."""
    os.environ.setdefault(_VARIABLE, os.getcwd())


def launch_dir() -> Path:
    """The launch folder (the current directory where none was recorded)."""
    return Path(os.environ.get(_VARIABLE, os.getcwd()))


def work_folders(cfg: PspSweepConfig) -> tuple[Path, Path]:
    """Where finished chunks and settled states are kept: ``chunks`` and ``states`` in
    ``executor.work_dir``, else in ``.pspsweep`` of the launch directory; the states in
    ``executor.state_dir`` when given. Relative folders are taken from the launch directory."""

    def from_launch_dir(folder: str) -> Path:
        path = Path(folder).expanduser()
        return path if path.is_absolute() else launch_dir() / path

    base = from_launch_dir(cfg.executor.work_dir or ".pspsweep")
    states = from_launch_dir(cfg.executor.state_dir) if cfg.executor.state_dir else base / "states"
    return base / "chunks", states


def check_work_folders(cfg: PspSweepConfig) -> None:
    """Create the work folders now, so that a folder nobody may write to is named before
    anything runs.

    Raises:
        PspSweepError: naming the folder and the config key.
    """
    chunks, states = work_folders(cfg)
    states_key = "executor.state_dir" if cfg.executor.state_dir else "executor.work_dir"
    for folder, key in ((chunks, "executor.work_dir"), (states, states_key)):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            writable = os.access(folder, os.W_OK | os.X_OK)
        except OSError as exc:
            raise PspSweepError(f"{key}: cannot create {folder}: {exc.strerror}") from None
        if not writable:
            raise PspSweepError(f"{key}: {folder} is not writable; set {key}=DIR")
