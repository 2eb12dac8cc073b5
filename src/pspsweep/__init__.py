"""pspsweep: per-unit PSP sweeps on detailed NEURON models to calibrate synaptic conductances."""

from __future__ import annotations


def __getattr__(name: str) -> str:
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
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
