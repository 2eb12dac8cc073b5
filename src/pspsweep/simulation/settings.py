"""NEURON's process-global simulation settings, written and read here only.

``h.dt``, ``h.celsius``, ``h.v_init``, ``h.tstop``, ``h.secondorder`` and the CVODE
switch and tolerances are globals of the NEURON process: every cell and every run of the
process shares them. Spawned workers do not inherit them, so each run re-asserts what it
needs (:func:`apply_run`) and the settled-state key reads them back (:func:`integrator`,
:func:`second_order`).
"""

from __future__ import annotations

from typing import Any

from pspsweep.cellmodel import SimSettings


def apply_cell(h: Any, sim: SimSettings) -> None:
    """Set ``dt`` (ms), ``celsius`` (degC) and ``v_init`` (mV) of a freshly built cell
    (the standard run library is loaded for ``v_init``)."""
    h.load_file("stdrun.hoc")
    h.dt = float(sim.dt)
    h.celsius = float(sim.celsius)
    h.v_init = float(sim.v_init)


def apply_run(h: Any, sim: SimSettings, vardt: bool, t_end: float, coreneuron: bool) -> None:
    """Re-assert the integrator before a run: CVODE on or off, ``dt``, ``celsius``,
    ``tstop``, and what CoreNEURON needs (``cache_efficient``)."""
    h.CVode().active(1 if vardt else 0)
    h.dt = sim.dt
    h.celsius = sim.celsius
    h.tstop = t_end
    if coreneuron:
        from pspsweep.simulation import coreneuron as engine

        engine.prepare(h)


def integrator(h: Any, vardt: bool) -> tuple:
    """The integrator's identity for cache keys: CVODE and its tolerances (NEURON's
    defaults; pspsweep does not change them), or fixed step."""
    cvode = h.CVode()
    return ("cvode", float(cvode.atol()), float(cvode.rtol())) if vardt else ("fixed",)


def second_order(h: Any) -> int:
    """NEURON's ``secondorder`` (0, its default; pspsweep does not change it)."""
    return int(h.secondorder)
