"""pspsweep: per-unit PSP sweeps on detailed NEURON models to calibrate synaptic conductances."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pspsweep")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"
