"""The constant somatic current that holds the soma at ``hold_V`` at tStim.

``protocol.hold_V`` in current clamp: an IClamp at soma(0.5) injects a constant current
from t = 0, and that current is found so that the soma is at hold_V when the unit's
events arrive. It is the root of V(tStim; I) - hold_V, found with the secant method;
every evaluation is the run every unit starts with (``finitialize(v_init)``,
then the steps up to the activation), so the found current holds the soma at hold_V in
exactly the runs that follow, whether or not the cell has reached a steady state by
tStim. A voltage clamp during the settle followed by a current clamp with the measured
current (the other common method) would hold it only at a steady state, and switching
the electrode would itself perturb the run. Why this method: docs/protocols.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pspsweep.errors import PspSweepError
from pspsweep.simulation import settings
from pspsweep.simulation.protocols import CLAMP_DURATION_MS
from pspsweep.simulation.strategies import advance_to_activation

#: the secant stops within this of hold_V (mV)
VOLTAGE_TOLERANCE_MV = 1e-4
#: |V(tStim) - hold_V| accepted when it cannot (mV): CVODE's own tolerance
HOLD_TOLERANCE_MV = 1e-3
#: the second current tried (nA), towards hold_V from the free-running voltage
FIRST_STEP_NA = 0.1
MAX_RUNS = 40


@dataclass(frozen=True)
class Holding:
    """The found holding current (nA), the soma voltage it gives at tStim (mV) and the
    runs it took."""

    current: float
    v_at_stim: float
    runs: int


def find_holding_current(h: Any, cell: Any, request: Any, hold_v: float) -> Holding:
    """The constant current into soma(0.5) that puts the soma at ``hold_v`` at tStim.

    Raises:
        PspSweepError: when no current within the runs allowed holds it there (e.g. the
            cell fires at that potential).
    """
    electrode = [h.IClamp(cell.soma(0.5))]  # dropped (freed) when the search ends
    electrode[0].dur = CLAMP_DURATION_MS

    def v_at_stim(current: float) -> float:
        electrode[0].amp = current
        settings.apply_run(h, request.cell.sim, request.vardt, request.t_end, False)
        h.finitialize(request.cell.sim.v_init)
        advance_to_activation(h, request)
        return float(cell.soma(0.5).v)

    try:
        tried = secant(v_at_stim, hold_v)
    finally:
        electrode.clear()
    current, reached = tried[-1]
    if not (math.isfinite(reached) and abs(reached - hold_v) <= HOLD_TOLERANCE_MV):
        raise PspSweepError(
            f"protocol.hold_V={hold_v:g}: no constant current holds the soma there at tStim "
            f"(after {len(tried)} runs, {current:.6g} nA gives {reached:.6g} mV); the cell may fire at "
            "that potential: choose another hold_V, or protocol.hold_I"
        )
    return Holding(current, reached, len(tried))


def secant(v_at: Callable[[float], float], target: float) -> list[tuple[float, float]]:
    """The (current, voltage) pairs tried by the secant method on v_at(I) = target, the
    last the closest: it stops when the voltage is within ``VOLTAGE_TOLERANCE_MV``.

    Written out, not scipy's ``root_scalar``: that stops on the step in I, which needs
    runs beyond the one that already holds the soma (each run is a whole settle)."""
    tried = [(0.0, v_at(0.0))]
    step = math.copysign(FIRST_STEP_NA, target - tried[0][1])
    tried.append((step, v_at(step)))
    while abs(tried[-1][1] - target) > VOLTAGE_TOLERANCE_MV and len(tried) < MAX_RUNS:
        (i0, v0), (i1, v1) = tried[-2], tried[-1]
        if v1 == v0 or not math.isfinite(v1):
            break
        i2 = i1 - (v1 - target) * (i1 - i0) / (v1 - v0)
        tried.append((i2, v_at(i2)))
    return sorted(tried, key=lambda pair: -abs(pair[1] - target))
