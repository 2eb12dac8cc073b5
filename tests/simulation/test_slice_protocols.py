"""The slice lab's protocols (``SliceProtocol``) against closed-form results and the
reference strategy.

* Voltage clamp of one passive compartment with an AMPA-only synapse and an ideal clamp
  (series resistance 1e-3 MOhm): the clamp current's deviation from the baseline is the
  synaptic current g(t) (hold_V - E_AMPA), with g(t) the double exponential of
  glutamate_syn's own equations (peak-normalised to the NetCon weight). pspsweep reports
  it inward negative: an EPSC at -70 mV is negative. The recorded current of step n
  carries the conductance at the step's start (NEURON computes the electrode current
  after solving the step with the synaptic current of its start), so the samples follow
  g(t - dt): checked at every sample, and the peak within 1 % of w (hold_V - E).
* A train through the Tsodyks-Markram receptor under that clamp: each pulse's PSC,
  measured from the current just before it, follows u_n R_n of the TM model written in
  Markram et al.'s (1998) jump form (``test_stp.tm_releases``), so the paired-pulse
  ratio is below 1 for a depressing and above 1 for a facilitating synapse.
* Holding the demo cell at -70 mV: the soma is at -70 mV at tStim to 1e-3 mV, and every
  protocol gives ``restore`` the ``reference`` traces to the last bit (fixed step), or
  within CVODE's tolerance.
"""

from __future__ import annotations

import gc
import math
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("neuron")

from demo_model import demo
from test_stp import PARAMETER_SETS, tm_releases

from pspsweep.builders import mechanism_dirs
from pspsweep.cellmodel import CellSpec, Discretization, LabelBiophysics, MechanismSpec, SectionSpec, SimSettings
from pspsweep.embedding import ReceptorSpec
from pspsweep.io.isf_embedding import GLUTAMATE_SYN_PARAMETERS
from pspsweep.simulation.protocols import ProtocolSpec
from pspsweep.simulation.runner import SweepRequest, UnitSimulator
from pspsweep.units import Unit, make_units

DT = 0.025
T_STIM, T_END = 20.0, 100.0
HOLD_V, E_AMPA = -70.0, 0.0
W_AMPA = 1.0  # nS
IDEAL_CLAMP = ProtocolSpec("vclamp", hold_V=HOLD_V, clamp="voltage", series_resistance=1e-3)
ONE_SYNAPSE = Unit(0, "one", 0, (0,), (0,), (0.5,))


def one_compartment() -> CellSpec:
    """A passive sphere-like cylinder, 20 um long and wide, one segment."""
    soma = SectionSpec("soma", "Soma", None, 0.5, np.array([[0, 0, 0, 20.0], [20, 0, 0, 20.0]]), nseg=1)
    passive = LabelBiophysics("Soma", Ra=100.0, cm=1.0, mechanisms=(MechanismSpec("pas", {"g": 1e-4, "e": -70.0}),))
    return CellSpec(
        "one_compartment",
        (soma,),
        (passive,),
        Discretization(rule="fixed", nseg=1),
        sim=SimSettings(v_init=-70.0, dt=DT, celsius=34.0),
        mechanism_dirs=mechanism_dirs(["synapses"]),
    )


def clamp_deviation(request: SweepRequest) -> tuple[np.ndarray, np.ndarray]:
    """(t, clamp current of the unit run minus the baseline's) of the one synapse."""
    gc.collect()
    sim = UnitSimulator(request)
    t_b, i_b = sim.baseline()
    t, i = sim.unit(ONE_SYNAPSE)
    assert np.array_equal(t, t_b)
    del sim
    return t, i - i_b


def ampa_conductance(s: np.ndarray) -> np.ndarray:
    """glutamate_syn's AMPA conductance (nS) ``s`` ms after an event of weight W_AMPA."""
    tau_decay, tau_rise = GLUTAMATE_SYN_PARAMETERS["tau3"], GLUTAMATE_SYN_PARAMETERS["tau4"]
    t_peak = tau_decay * tau_rise / (tau_decay - tau_rise) * math.log(tau_decay / tau_rise)
    factor = 1 / (math.exp(-t_peak / tau_decay) - math.exp(-t_peak / tau_rise))
    g = W_AMPA * factor * (np.exp(-s / tau_decay) - np.exp(-s / tau_rise))
    return np.where(s >= 0, g, 0.0)


def test_voltage_clamp_psc_is_the_synaptic_current_of_the_mechanism():
    receptor = ReceptorSpec("glutamate_syn", True, dict(GLUTAMATE_SYN_PARAMETERS))
    request = SweepRequest(one_compartment(), receptor, (W_AMPA, 0.0), False, T_STIM, T_END, protocol=IDEAL_CLAMP)
    t, psc = clamp_deviation(request)
    # nS * mV = pA; the sample of step n holds the conductance at its start
    expected = ampa_conductance(t - DT - T_STIM) * (HOLD_V - E_AMPA) * 1e-3
    big = np.abs(expected) > 0.01 * W_AMPA * abs(HOLD_V - E_AMPA) * 1e-3
    assert big.sum() > 100
    np.testing.assert_allclose(psc[big], expected[big], rtol=2e-3)
    peak = int(np.argmax(np.abs(psc)))
    assert psc[peak] < 0  # inward, reported negative
    assert psc[peak] == pytest.approx(W_AMPA * (HOLD_V - E_AMPA) * 1e-3, rel=0.01)
    # within one step of the conductance's own peak, as the mechanism integrates it
    discrete_peak = T_STIM + DT * int(np.argmax(ampa_conductance(np.arange(0, 5, DT))))
    assert abs(t[peak] - discrete_peak) <= DT + 1e-9


@pytest.mark.parametrize("kind", sorted(PARAMETER_SETS))
def test_train_pscs_follow_the_tsodyks_markram_recursion(kind):
    u, tau_rec, tau_facil = PARAMETER_SETS[kind]
    parameters = {k: v for k, v in GLUTAMATE_SYN_PARAMETERS.items() if k in ("tau1", "tau2", "tau3", "tau4")}
    receptor = ReceptorSpec(
        "tm_glutamate_syn", True, {**parameters, "U": u, "tau_rec": tau_rec, "tau_facil": tau_facil}
    )
    spikes = (0.0, 20.0, 40.0, 60.0)
    train = replace(IDEAL_CLAMP, name="train", spikes=spikes)
    t, psc = clamp_deviation(
        SweepRequest(one_compartment(), receptor, (W_AMPA, 0.0), False, T_STIM, T_END, protocol=train)
    )
    pulses = []
    for k, spike in enumerate(spikes):
        start = T_STIM + spike
        end = T_STIM + spikes[k + 1] if k + 1 < len(spikes) else T_END
        before = psc[np.searchsorted(t, start) - 1]
        window = psc[(t >= start) & (t < end)]
        pulses.append(window[np.argmax(np.abs(window - before))] - before)
    pulses_arr = np.array(pulses)
    releases = tm_releases(np.array(spikes), u, tau_rec, tau_facil)
    np.testing.assert_allclose(pulses_arr / pulses_arr[0], releases / releases[0], rtol=1e-4)
    ppr = pulses_arr[1] / pulses_arr[0]
    assert (ppr < 1) if kind == "depressing" else (ppr > 1)


def _demo_runs(request: SweepRequest, units: list[Unit]) -> tuple[list[np.ndarray], dict[str, float]]:
    gc.collect()
    sim = UnitSimulator(request)
    out = list(sim.baseline())
    for unit in units:
        out.extend(sim.unit(unit))
    values = dict(sim.protocol_values)
    del sim
    gc.collect()
    return out, values


DEMO_PROTOCOLS = {
    "hold_V": ProtocolSpec("hold", hold_V=HOLD_V),
    "voltage clamp": ProtocolSpec("vclamp", hold_V=HOLD_V, clamp="voltage", series_resistance=10.0),
    "train with hold_I": ProtocolSpec("train", hold_I=0.05, spikes=(0.0, 10.0, 20.0)),
}


@pytest.mark.parametrize("vardt", [False, True], ids=["fixed step", "cvode"])
@pytest.mark.parametrize("name", sorted(DEMO_PROTOCOLS))
def test_restore_gives_the_reference_runs_of_every_protocol(name, vardt):
    cell, embedding = demo()
    units = make_units(embedding, "L4ss_C2", "cells")[:3]
    receptor = embedding.receptors["L4ss_C2"]
    request = SweepRequest(cell, receptor, (1.5, 1.5), vardt, 110.0, 150.0, protocol=DEMO_PROTOCOLS[name])
    reference, values = _demo_runs(request, units)
    restored, restored_values = _demo_runs(replace(request, strategy="restore"), units)
    assert values == restored_values
    assert len(reference) == len(restored) == 2 + 2 * len(units)
    if not vardt:
        assert all(np.array_equal(a, b) for a, b in zip(reference, restored))
    else:
        for (t_a, v_a), (t_b, v_b) in zip(zip(reference[::2], reference[1::2]), zip(restored[::2], restored[1::2])):
            np.testing.assert_allclose(np.interp(t_a, t_b, v_b), v_a, atol=1e-6)
    if name == "hold_V":
        t_b, v_b = reference[0], reference[1]
        assert abs(float(np.interp(110.0, t_b, v_b)) - HOLD_V) <= 1e-3
        assert values["holding_current_nA"] != 0 and values["holding_search_runs"] < 15


def test_the_holding_current_is_part_of_the_settled_state_key():
    cell, embedding = demo()
    receptor = embedding.receptors["L4ss_C2"]
    request = SweepRequest(cell, receptor, (1.5, 1.5), False, 110.0, 150.0, strategy="restore")
    keys = {}
    for name, spec in {
        "isf": ProtocolSpec(),
        "-70": DEMO_PROTOCOLS["hold_V"],
        "-65": ProtocolSpec(hold_V=-65.0),
    }.items():
        gc.collect()
        sim = UnitSimulator(replace(request, protocol=spec))
        keys[name] = sim.state_key(4)
        del sim
    assert len(set(keys.values())) == 3


def test_the_secant_search_converges_on_a_nonlinear_cell_and_stops_where_none_holds():
    """Against closed forms: V(I) = -80 + 30 tanh(I / 0.3) reaches -70 mV at I = 0.3 atanh(1/3);
    V(I) = -80 + 5 tanh(I) never does (the search ends, the best try last)."""
    from pspsweep.simulation.holding import MAX_RUNS, VOLTAGE_TOLERANCE_MV, secant

    tried = secant(lambda i: -80 + 30 * math.tanh(i / 0.3), HOLD_V)
    assert abs(tried[-1][1] - HOLD_V) <= VOLTAGE_TOLERANCE_MV
    assert tried[-1][0] == pytest.approx(0.3 * math.atanh(1 / 3), rel=1e-5)
    assert len(tried) < 10
    unreachable = secant(lambda i: -80 + 5 * math.tanh(i), HOLD_V)
    assert len(unreachable) <= MAX_RUNS and abs(unreachable[-1][1] - HOLD_V) > 1


def test_a_potential_no_constant_current_holds_is_refused_by_name(monkeypatch):
    """The search's failure reaches the user as one line naming protocol.hold_V (a search
    that ends 10 mV away, as one would on a cell that fires at hold_V)."""
    from pspsweep.errors import PspSweepError
    from pspsweep.simulation import holding

    monkeypatch.setattr(holding, "secant", lambda v_at, target: [(0.0, v_at(0.0)), (0.5, target + 10.0)])
    cell, embedding = demo()
    request = SweepRequest(cell, embedding.receptors["L4ss_C2"], (1.5, 1.5), False, 110.0, 150.0)
    gc.collect()
    with pytest.raises(PspSweepError, match=r"protocol.hold_V=-20: no constant current holds the soma .* -10 mV"):
        UnitSimulator(replace(request, protocol=ProtocolSpec(hold_V=-20.0)))
    gc.collect()
