"""The folder the command was started from: relative inputs, the default store and the
work folders resolve there, also in jobs that Hydra runs in another directory."""

from __future__ import annotations

import os
from pathlib import Path

_VARIABLE = "PSPSWEEP_LAUNCH_DIR"


def remember_launch_dir() -> None:
    """Record the current directory as the launch folder (kept if already recorded, as in
    a job a multirun starts), for this process and the processes it starts."""
    os.environ.setdefault(_VARIABLE, os.getcwd())


def launch_dir() -> Path:
    """The launch folder (the current directory where none was recorded)."""
    return Path(os.environ.get(_VARIABLE, os.getcwd()))
