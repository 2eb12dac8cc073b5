"""Tsodyks-Markram synapses (tm_glutamate_syn, tm_gaba_syn) against the model's equations.

Each event's conductance increment, read from the jump of the double-exponential
state pairs in NEURON, is compared with the deterministic Tsodyks-Markram model
written here in the jump form of Markram, Wang & Tsodyks (1998): between events
the available resources R relax to 1 with tau_rec and the utilisation u decays
to 0 with tau_facil; at an event u jumps by U (1 - u), the event releases u R,
and R drops by that amount. The mechanisms compute the same model with the
closed recursion, so the two are independent formulations. Single events are
compared with the existing glutamate_syn/gaba_syn, whose kinetics the TM
mechanisms must reproduce exactly. A slow test runs a train under NEURON and
CoreNEURON in a fresh process and compares the voltage traces.

NEURON loads a mechanism library only once per process, so the shipped folders
are loaded once (``load_mechanisms`` makes repeated loads a no-op).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

neuron = pytest.importorskip("neuron")
from neuron import h  # noqa: E402

from pspsweep.simulation.mechanisms import load_mechanisms, mechanism_source_dirs  # noqa: E402

DT = 0.025
SETTLE = 400  # steps before the first event (10 ms)
# event times in steps after the settle: a regular 50 Hz train and an irregular one
REGULAR = (0, 800, 1600, 2400)
IRREGULAR = (0, 120, 200, 1400, 1480, 1520, 5000, 5040)
# (U, tau_rec = D, tau_facil = F) in ms
PARAMETER_SETS = {"depressing": (0.5, 800.0, 0.0), "facilitating": (0.1, 100.0, 1000.0)}
# per mechanism, state name -> (its time constant, NetCon weight index, peak normalisation factor)
KINETICS = {
    "tm_glutamate_syn": {
        "A": ("tau1", 1, "factor_nmda"),
        "B": ("tau2", 1, "factor_nmda"),
        "C": ("tau3", 0, "factor_ampa"),
        "D": ("tau4", 0, "factor_ampa"),
    },
    "tm_gaba_syn": {"R": ("risetime", 0, "factor"), "D": ("decaytime", 0, "factor")},
}
WEIGHTS = {"tm_glutamate_syn": (0.012, 0.007), "tm_gaba_syn": (0.01,)}


def tm_releases(times: np.ndarray, U: float, tau_rec: float, tau_facil: float) -> np.ndarray:
    """Released fraction u_n R_n at each event, Markram et al. (1998) jump form."""
    releases = np.empty(len(times))
    R, u = 1.0, 0.0  # just after the previous event: resources, utilisation
    previous = times[0]
    for k, t in enumerate(times):
        gap = t - previous
        R = 1 - (1 - R) * math.exp(-gap / tau_rec) if tau_rec > 0 else 1.0
        u = u * math.exp(-gap / tau_facil) if tau_facil > 0 else 0.0
        u = u + U * (1 - u)
        releases[k] = u * R
        R -= u * R
        previous = t
    return releases


# ----------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def shipped_mechanisms():
    """Load the shipped mechanisms once (compiles on first use, about 20-60 s)."""
    return load_mechanisms(mechanism_source_dirs())


@pytest.fixture(autouse=True)
def fixed_step():
    """Fixed step, first order, dt 0.025; restore NEURON's globals afterwards."""
    cvode = h.CVode()
    saved = (h.dt, cvode.active(), h.secondorder)
    cvode.active(0)
    h.secondorder = 0
    h.dt = DT
    yield
    h.dt, h.secondorder = saved[0], saved[2]
    cvode.active(saved[1])


@pytest.fixture
def cell():
    """Factory of (soma, synapse, NetCon) on a passive single compartment; cleans up afterwards."""
    keep: list = []

    def make(mechanism: str, **params: float):
        soma = h.Section(name=f"stp{len(keep)}")
        soma.L = soma.diam = 20.0
        soma.insert("pas")
        soma.g_pas, soma.e_pas = 1e-4, -70.0
        syn = getattr(h, mechanism)(soma(0.5))
        for name, value in params.items():
            setattr(syn, name, value)
        nc = h.NetCon(None, syn)
        for i, w in enumerate(WEIGHTS["tm_" + mechanism.removeprefix("tm_")]):  # same weights for the old ones
            nc.weight[i] = w
        keep.append((soma, syn, nc))
        return soma, syn, nc

    yield make
    for _soma, _syn, nc in keep:  # NEURON 9 segfaults if a NetCon outlives its target's section
        nc.setpost(None)
    keep.clear()


def _deliver(ncs, steps: tuple[int, ...]) -> np.ndarray:
    """Queue events a quarter step after the grid points SETTLE + steps; return their times."""
    times = np.array([(SETTLE + s + 0.25) * DT for s in steps])
    for nc in ncs:
        for t in times:
            nc.event(float(t))
    return times


def _increments(syn, mechanism: str, steps: tuple[int, ...]) -> dict[str, list[float]]:
    """Run past the last event; per state, the jump each event caused (exact under cnexp)."""
    kinetics = KINETICS[mechanism]
    event_steps = {SETTLE + s for s in steps}
    jumps: dict[str, list[float]] = {name: [] for name in kinetics}
    for step in range(SETTLE + max(steps) + 2):
        before = {name: getattr(syn, name) for name in kinetics}
        h.fadvance()
        if step in event_steps:
            for name, (tau, *_) in kinetics.items():
                decay = math.exp(-DT / getattr(syn, tau))
                jumps[name].append(getattr(syn, name) / decay - before[name])
    return jumps


# ----------------------------------------------------------------- trains vs the TM model


@pytest.mark.parametrize("mechanism", ["tm_glutamate_syn", "tm_gaba_syn"])
@pytest.mark.parametrize("pset", sorted(PARAMETER_SETS))
@pytest.mark.parametrize("train", [REGULAR, IRREGULAR], ids=["regular", "irregular"])
def test_increments_follow_tsodyks_markram(cell, mechanism, pset, train):
    U, tau_rec, tau_facil = PARAMETER_SETS[pset]
    _soma, syn, nc = cell(mechanism, U=U, tau_rec=tau_rec, tau_facil=tau_facil)
    h.finitialize(-70.0)
    times = _deliver([nc], train)
    jumps = _increments(syn, mechanism, train)
    releases = tm_releases(times, U, tau_rec, tau_facil)
    for name, (_, weight_index, factor) in KINETICS[mechanism].items():
        expected = getattr(syn, factor) * WEIGHTS[mechanism][weight_index] * releases
        np.testing.assert_allclose(jumps[name], expected, rtol=1e-9, atol=0, err_msg=f"{mechanism}.{name} jumps")
    # the recording variables hold u and R of the last event
    last_u_r = releases[-1]
    assert math.isclose(syn.u_event * syn.R_event, last_u_r, rel_tol=1e-12)


@pytest.mark.parametrize("mechanism", ["tm_glutamate_syn", "tm_gaba_syn"])
@pytest.mark.parametrize("pset", sorted(PARAMETER_SETS))
def test_paired_pulse_ratio(cell, mechanism, pset):
    """A2/A1 < 1 for the depressing set, > 1 for the facilitating one (conductance and PSP)."""
    U, tau_rec, tau_facil = PARAMETER_SETS[pset]
    extra = {"e": -90.0} if mechanism == "tm_gaba_syn" else {}
    soma, syn, nc = cell(mechanism, U=U, tau_rec=tau_rec, tau_facil=tau_facil, **extra)
    h.finitialize(-70.0)
    pair = (0, 800)  # 20 ms apart
    _deliver([nc], pair)
    state = "C" if mechanism == "tm_glutamate_syn" else "D"  # AMPA or GABA decay term
    tau = getattr(syn, KINETICS[mechanism][state][0])
    v, jumps = [], []
    for step in range(SETTLE + 1600):
        before = getattr(syn, state)
        h.fadvance()
        v.append(soma(0.5).v)
        if step - SETTLE in pair:
            jumps.append(getattr(syn, state) / math.exp(-DT / tau) - before)
    trace = np.array(v)
    # PSP amplitude: largest deviation in the 20 ms after an event from the value at the event
    amplitudes = [np.max(np.abs(trace[SETTLE + s : SETTLE + s + 800] - trace[SETTLE + s - 1])) for s in pair]
    ppr_g, ppr_psp = jumps[1] / jumps[0], amplitudes[1] / amplitudes[0]
    if pset == "depressing":
        assert ppr_g < 1 and ppr_psp < 1, (ppr_g, ppr_psp)
    else:
        assert ppr_g > 1 and ppr_psp > 1, (ppr_g, ppr_psp)


# ----------------------------------------------------------------- same kinetics as the existing mechanisms


@pytest.mark.parametrize(("existing", "ranges"), [("glutamate_syn", ("gampa", "gnmda", "i")), ("gaba_syn", ("g", "i"))])
@pytest.mark.parametrize("U", [1.0, 0.37])
def test_single_event_equals_existing_mechanism(cell, existing, ranges, U):
    """One event: the TM conductance is U times the existing one (identical for U = 1)."""
    soma, old, old_nc = cell(existing)
    tm = getattr(h, "tm_" + existing)(soma(0.5))  # same segment: same voltage for the Mg block
    tm.U, tm.tau_rec, tm.tau_facil = U, 800.0, 1000.0
    tm_nc = h.NetCon(None, tm)
    for i in range(len(WEIGHTS["tm_" + existing])):
        tm_nc.weight[i] = old_nc.weight[i]
    try:
        h.finitialize(-70.0)
        _deliver([old_nc, tm_nc], (0,))
        for _ in range(SETTLE + 4000):
            h.fadvance()
            for name in ranges:
                if U == 1.0:
                    assert getattr(tm, name) == getattr(old, name), f"{name} at t={h.t}"
                else:
                    assert math.isclose(getattr(tm, name), U * getattr(old, name), rel_tol=1e-12, abs_tol=1e-300)
        assert getattr(old, ranges[0]) > 0  # the event did arrive
    finally:
        tm_nc.setpost(None)


# ----------------------------------------------------------------- CoreNEURON


def coreneuron_and_neuron_traces() -> dict:
    """In a fresh process: soma voltage under a NetStim train onto both TM synapses,
    run by NEURON and by CoreNEURON (the -coreneuron build serves both engines)."""
    from neuron import coreneuron

    load_mechanisms(mechanism_source_dirs(), coreneuron=True)
    soma = h.Section(name="soma")
    soma.L = soma.diam = 20.0
    soma.insert("pas")
    soma.e_pas = -70.0
    keep = []
    for mechanism, pset in (("tm_glutamate_syn", "facilitating"), ("tm_gaba_syn", "depressing")):
        syn = getattr(h, mechanism)(soma(0.5))
        syn.U, syn.tau_rec, syn.tau_facil = PARAMETER_SETS[pset]
        stim = h.NetStim()
        stim.start, stim.interval, stim.number, stim.noise = 5.0, 13.0, 8, 0
        nc = h.NetCon(stim, syn)
        for i, w in enumerate(WEIGHTS[mechanism]):
            nc.weight[i] = 40 * w
        keep.append((syn, stim, nc))
    v = h.Vector().record(soma(0.5)._ref_v)
    h.CVode().cache_efficient(1)
    h.dt = DT
    pc = h.ParallelContext()
    pc.set_maxstep(10)
    traces = []
    for enable in (False, True):
        coreneuron.enable = enable
        h.finitialize(-70.0)
        pc.psolve(150.0)
        traces.append(np.array(v))
    coreneuron.enable = False
    neuron_v, core_v = traces
    return {
        "samples": [len(neuron_v), len(core_v)],
        "max_dv": float(np.max(np.abs(neuron_v - core_v))),
        "range": float(np.ptp(neuron_v)),
    }


@pytest.mark.slow
def test_coreneuron_equals_neuron_on_a_train():
    from helpers import isolated
    from helpers.coreneuron import compile_or_skip

    compile_or_skip()
    result = isolated.call(__file__, "coreneuron_and_neuron_traces")
    assert result["samples"][0] == result["samples"][1] == 6001
    assert result["range"] > 0.1, "the train must move the voltage"
    assert result["max_dv"] <= 1e-9, result
