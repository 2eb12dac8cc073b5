"""Provenance facts for tags: installed versions and the source commit."""

from __future__ import annotations

import subprocess
from pathlib import Path


def neuron_version() -> str:
    """The installed NEURON version (without importing NEURON's hoc interpreter twice)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("neuron")
    except PackageNotFoundError:
        import neuron

        return str(neuron.__version__)


def git_commit() -> str | None:
    """The git commit of pspsweep's source tree, when it runs from a checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None
