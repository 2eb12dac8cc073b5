"""pspsweep.simulation.protocols: the strategies execute any protocol, not only ISF's.

A protocol of this test's own (each synapse activated twice, at tStim and 3 ms later)
runs through ``UnitSimulator``: ``restore`` gives the ``reference`` traces to the last bit
(``np.array_equal`` on every t and v sample), and the second event shows in the trace
(it differs from ISF's single-spike run after tStim + 3 ms only). Fixed step, demo cell.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("neuron")

from demo_model import demo

from pspsweep.simulation.protocols import SingleSpike
from pspsweep.simulation.runner import SweepRequest, UnitSimulator
from pspsweep.units import make_units

SECOND_EVENT_MS = 3.0


class TwoSpikes(SingleSpike):
    """ISF's protocol with a second activation of every synapse."""

    def deliver(self, netcons: Sequence[Any]) -> None:
        for nc in netcons:
            nc.event(self.t_stim)
            nc.event(self.t_stim + SECOND_EVENT_MS)


def _runs(request: SweepRequest, units, protocol) -> list[np.ndarray]:
    gc.collect()
    sim = UnitSimulator(request, protocol)
    out = list(sim.baseline())
    for u in units:
        out.extend(sim.unit(u))
    del sim
    gc.collect()
    return out


def test_restore_executes_another_protocol_exactly():
    cell, emb = demo()
    units = make_units(emb, "L4ss_C2", "cells")[:3]
    request = SweepRequest(cell, emb.receptors["L4ss_C2"], (1.5, 1.5), False, 110.0, 150.0)
    reference = _runs(request, units, TwoSpikes)
    restored = _runs(replace(request, strategy="restore"), units, TwoSpikes)
    assert len(reference) == len(restored) == 2 + 2 * len(units)
    assert all(np.array_equal(a, b) for a, b in zip(reference, restored))

    single = _runs(request, units, SingleSpike)
    t = reference[2]
    for v_two, v_one in zip(reference[3::2], single[3::2]):
        differs = np.flatnonzero(v_two != v_one)
        assert differs.size and t[differs[0]] > 110.0 + SECOND_EVENT_MS
