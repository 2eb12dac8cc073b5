"""Console entry points (``[project.scripts]`` in pyproject.toml).

Why a module of its own: local workers are spawned processes, and a spawned process
imports the launching script again, which imports the module named here. Keeping it free
of Hydra, OmegaConf and MLflow makes every worker ready to simulate about half a second
sooner; the commands themselves live in :mod:`pspsweep.cli`.
"""

from __future__ import annotations


def main() -> None:
    """``pspsweep``: see :func:`pspsweep.cli.main`."""
    from pspsweep.cli import main as command

    command()


def mechanisms_main() -> None:
    """``pspsweep-mechanisms``: see :func:`pspsweep.cli.mechanisms_main`."""
    from pspsweep.cli import mechanisms_main as command

    command()


def fit_main() -> None:
    """``pspsweep-fit``: see :func:`pspsweep.cli.fit_main`."""
    from pspsweep.cli import fit_main as command

    command()


def convert_param_main() -> None:
    """``pspsweep-convert-param``: see :func:`pspsweep.cli.convert_param_main`."""
    from pspsweep.cli import convert_param_main as command

    command()
