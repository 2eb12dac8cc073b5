"""NEURON back end: mechanisms, cell construction, protocols and the per-unit runner.

This package is the only part of pspsweep that imports ``neuron``. Everything outside it
works with plain data (``pspsweep.cellmodel``, numpy arrays, pandas tables); hoc objects
never leave this package.
"""

import os as _os

# no GUI on clusters and in CI; also silences NEURON's "no DISPLAY" warning at import
_os.environ.setdefault("NEURON_MODULE_OPTIONS", "-nogui")
