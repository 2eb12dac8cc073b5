"""pspsweep: per-unit PSP sweeps on detailed NEURON models to calibrate synaptic conductances.

``pspsweep.run(overrides)`` runs one sweep from Python (:mod:`pspsweep.api`);
``pspsweep.isf.run_ex_synapses`` is a drop-in for ISF's function of that name.
"""

from __future__ import annotations

from typing import Any

#: names served by pspsweep.api, imported on first use: workers import this package,
#: and the API pulls in Hydra and MLflow
_API = ("run", "SweepResult")


def __getattr__(name: str) -> Any:
    # __version__ on first use: importlib.metadata scans the installed distributions
    # (about 50 ms), which every spawned worker would pay without ever reading it
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("pspsweep")
        except PackageNotFoundError:  # running from a source tree without installation
            value = "0.0.0+source"
        globals()["__version__"] = value
        return value
    if name in _API:
        from pspsweep import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
