"""Console entry points (``[project.scripts]`` in pyproject.toml).

Why a module of its own: local workers are spawned processes, and a spawned process
imports the launching script again, which imports the module named here. Keeping it free
of Hydra, OmegaConf and MLflow makes every worker ready to simulate about half a second
sooner; the commands themselves live in :mod:`pspsweep.cli`.
"""

from __future__ import annotations

import gc
import sys


def exit_if_version_asked(command: str) -> None:
    """``COMMAND --version``: pspsweep's version, before Hydra could print its own."""
    if "--version" in sys.argv[1:]:
        from pspsweep import __version__

        print(f"{command} {__version__}")
        raise SystemExit(0)


def main() -> None:
    """``pspsweep``: see :func:`pspsweep.cli.main`."""
    exit_if_version_asked("pspsweep")
    # Start-up creates a few hundred thousand long-lived objects (Hydra, pandas, MLflow's
    # ORM), which the cyclic collector scans again and again: 10-30 % of that CPU time,
    # taken from the workers while they simulate. Turned on again by
    # collect_garbage_again at the end of a job, or when a multirun starts.
    gc.disable()
    from pspsweep.cli import main as command

    command()


def mechanisms_main() -> None:
    """``pspsweep-mechanisms``: see :func:`pspsweep.cli.mechanisms_main`."""
    exit_if_version_asked("pspsweep-mechanisms")
    from pspsweep.cli import mechanisms_main as command

    command()


def fit_main() -> None:
    """``pspsweep-fit``: see :func:`pspsweep.cli.fit_main`."""
    exit_if_version_asked("pspsweep-fit")
    from pspsweep.cli import fit_main as command

    command()


def convert_param_main() -> None:
    """``pspsweep-convert-param``: see :func:`pspsweep.cli.convert_param_main`."""
    exit_if_version_asked("pspsweep-convert-param")
    from pspsweep.cli import convert_param_main as command

    command()


def export_nwb_main() -> None:
    """``pspsweep-export-nwb``: see :func:`pspsweep.cli.export_nwb_main`."""
    exit_if_version_asked("pspsweep-export-nwb")
    from pspsweep.cli import export_nwb_main as command

    command()


def collect_garbage_again() -> None:
    """Turn Python's cyclic garbage collector on again after :func:`main`'s start-up.

    Everything alive now is frozen first (``gc.freeze``): turning the collector on then
    costs no full collection of the start-up's objects, which stay alive anyway.
    """
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
