"""CoreNEURON's flavour of the mechanisms for the tests that compare it with NEURON."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest


def compile_or_skip(dirs: Iterable[str] | None = None) -> None:
    """Build the CoreNEURON flavour of ``dirs`` (default: the shipped folders) here,
    cached, or skip the test saying why it cannot be built."""
    from pspsweep.errors import PspSweepError
    from pspsweep.simulation.mechanisms import compile_mechanisms

    try:
        compile_mechanisms(None if dirs is None else [Path(d) for d in dirs], coreneuron=True)
    except PspSweepError as exc:
        pytest.skip(f"nrnivmodl -coreneuron cannot build the mechanisms here: {exc}")
