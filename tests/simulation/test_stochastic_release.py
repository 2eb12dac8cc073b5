"""Stochastic release (stoch_glutamate_syn, stoch_gaba_syn) against probability theory.

Each trial is a fresh NEURON run (finitialize, events, run) on a passive compartment,
with the Random123 stream of every synapse keyed by (seed, unit, synapse, trial): the
seed is Random123's global index, (unit, synapse, trial) the stream's ids, sequence 0.
Counts and sizes are compared with what we did not write: the binomial law (failure
fraction, chi-square against Binomial(5, p), the CV sqrt((1 - p)/p)), scipy's gamma
distribution (quantal sizes, Kolmogorov-Smirnov) and the deterministic Tsodyks-Markram
model of test_stp.py (mean release per pulse). All seeds are fixed, so every run draws
the same numbers. A slow test runs a train under NEURON and CoreNEURON in a fresh
process and compares the voltage traces.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

neuron = pytest.importorskip("neuron")
from neuron import h  # noqa: E402
from test_stp import tm_releases  # noqa: E402  (the deterministic TM model, jump form)

from pspsweep.simulation.mechanisms import load_mechanisms, mechanism_source_dirs  # noqa: E402

DT = 0.025
EVENT_STEP = 40
EVENT = (EVENT_STEP + 0.25) * DT  # a quarter step after a grid point: delivered at step 40
TRAIN = tuple(EVENT + k * 20.0 for k in range(5))  # 50 Hz
SEED, UNIT = 20261206, 7
GLUTAMATE, GABA = (0.5, 0.3), (0.5,)  # NetCon weights (nS)
WEIGHTS = {
    "stoch_glutamate_syn": GLUTAMATE,
    "glutamate_syn": GLUTAMATE,
    "tm_glutamate_syn": GLUTAMATE,
    "stoch_gaba_syn": GABA,
    "gaba_syn": GABA,
}


def set_stream(syn, synapse: int, trial: int, seed: int = SEED, unit: int = UNIT) -> None:
    """Key the synapse's stream by (seed, unit, synapse, trial) and rewind it."""
    h.Random().Random123_globalindex(seed)
    syn.rng.set_ids(unit, synapse, trial)
    syn.rng.set_seq(0)


# ----------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def shipped_mechanisms():
    """Load the shipped mechanisms once (compiles on first use, about 20-60 s)."""
    h.load_file("stdrun.hoc")
    return load_mechanisms(mechanism_source_dirs())


@pytest.fixture(scope="module", autouse=True)
def fixed_step():
    """Fixed step, first order, dt 0.025, global index 0 afterwards; restore NEURON's globals."""
    cvode = h.CVode()
    saved = (h.dt, cvode.active(), h.secondorder)
    cvode.active(0)
    h.secondorder = 0
    h.dt = DT
    yield
    h.dt, h.secondorder = saved[0], saved[2]
    cvode.active(saved[1])
    h.Random().Random123_globalindex(0)


class Unit:
    """A passive compartment with synapses of one mechanism, one NetCon each."""

    def __init__(self, mechanism: str, n: int = 1, **params: float):
        self.soma = h.Section(name="stoch")
        self.soma.L = self.soma.diam = 20.0
        self.soma.insert("pas")
        self.soma.g_pas, self.soma.e_pas = 1e-4, -70.0
        self.syns, self.ncs = [], []
        for _ in range(n):
            syn = getattr(h, mechanism)(self.soma(0.5))
            for name, value in params.items():
                setattr(syn, name, value)
            nc = h.NetCon(None, syn)
            for i, w in enumerate(WEIGHTS[mechanism]):
                nc.weight[i] = w
            self.syns.append(syn)
            self.ncs.append(nc)
        self.v = h.Vector().record(self.soma(0.5)._ref_v)

    def trial(self, trial: int, times=(EVENT,), t_stop: float = EVENT + 10, seed: int = SEED) -> None:
        """One trial: key the streams, initialise, deliver ``times`` to every synapse, run."""
        for k, syn in enumerate(self.syns):
            if hasattr(syn, "rng"):  # the deterministic mechanisms draw nothing
                set_stream(syn, k, trial, seed)
        h.finitialize(-70.0)
        for nc in self.ncs:
            for t in times:
                nc.event(float(t))
        h.continuerun(t_stop)

    def close(self) -> None:
        for nc in self.ncs:  # NEURON 9 segfaults if a NetCon outlives its target's section
            nc.setpost(None)


@pytest.fixture
def unit():
    made: list[Unit] = []

    def make(mechanism: str = "stoch_glutamate_syn", n: int = 1, **params: float) -> Unit:
        made.append(Unit(mechanism, n, **params))
        return made[-1]

    yield make
    for u in made:
        u.close()


def run_train(u: Unit, times=None) -> np.ndarray:
    """Deliver ``times`` (default TRAIN) from now on; increment/w of each event (synapse x event)."""
    times = TRAIN if times is None else times
    for nc in u.ncs:
        for t in times:
            nc.event(float(t))
    amounts = []
    for t in times:
        h.continuerun(t + h.dt)  # one step past the event's delivery
        amounts.append([syn.amount_event for syn in u.syns])
    return np.array(amounts).T


def train_draws(u: Unit, trial: int, seed: int = SEED, keys: list[int] | None = None) -> np.ndarray:
    """run_train for one trial from finitialize; ``keys``: the synapses' stream ids (default: position)."""
    for syn, key in zip(u.syns, keys or range(len(u.syns)), strict=True):
        set_stream(syn, key, trial, seed)
    h.finitialize(-70.0)
    return run_train(u)


# ----------------------------------------------------------------- release probability


@pytest.fixture(scope="module")
def one_synapse_p03():
    """2,000 trials of a one-synapse unit, p = 0.3: released sites and PSP amplitude per trial."""
    u = Unit("stoch_glutamate_syn", p=0.3)
    released, amplitude = [], []
    for trial in range(2000):
        u.trial(trial)
        released.append(u.syns[0].n_released)
        amplitude.append(max(u.v) - u.v[0])
    u.close()
    return np.array(released), np.array(amplitude)


def test_failure_fraction_of_one_synapse(one_synapse_p03):
    released, _ = one_synapse_p03
    assert set(released) == {0.0, 1.0}
    n, failures = len(released), np.mean(released == 0)
    sigma = math.sqrt(0.7 * 0.3 / n)
    assert abs(failures - 0.7) <= 3 * sigma, (failures, sigma)


def test_psp_amplitude_cv_without_quantal_variability(one_synapse_p03):
    released, amplitude = one_synapse_p03
    # a failure moves nothing; every release gives the same PSP
    assert np.all(amplitude[released == 0] == 0.0)
    assert np.ptp(amplitude[released == 1]) == 0.0 and amplitude[released == 1][0] > 0.1
    cv = amplitude.std() / amplitude.mean()
    expected = math.sqrt(0.7 / 0.3)
    assert abs(cv / expected - 1) <= 0.05, (cv, expected)


def test_released_count_of_five_synapses_is_binomial(unit):
    u = unit("stoch_glutamate_syn", n=5, p=0.3)
    counts = []
    for trial in range(2000):
        u.trial(trial, t_stop=EVENT + 1)
        counts.append(sum(syn.n_released for syn in u.syns))
    observed = np.bincount(np.array(counts, dtype=int), minlength=6)
    expected = len(counts) * stats.binom.pmf(np.arange(6), 5, 0.3)
    # merge the tail bins (expected counts below 5) so that the chi-square law applies
    observed = np.append(observed[:4], observed[4:].sum())
    expected = np.append(expected[:4], expected[4:].sum())
    result = stats.chisquare(observed, expected)
    assert result.pvalue > 0.001, (observed, expected, result)


@pytest.mark.parametrize("mechanism", ["stoch_glutamate_syn", "stoch_gaba_syn"])
def test_conductance_follows_the_draw(unit, mechanism):
    """The decay state jumps by factor * w * released sites / n_sites, nothing on a failure."""
    u = unit(mechanism, p=0.5, n_sites=4)
    syn = u.syns[0]
    state, factor = ("C", "factor_ampa") if mechanism == "stoch_glutamate_syn" else ("D", "factor")
    tau = syn.tau3 if mechanism == "stoch_glutamate_syn" else syn.decaytime
    seen = set()
    for trial in range(40):
        u.trial(trial, t_stop=EVENT + DT)
        jump = getattr(syn, state) / math.exp(-(h.t - EVENT_STEP * DT) / tau)  # back to the delivery
        expected = getattr(syn, factor) * WEIGHTS[mechanism][0] * syn.n_released / 4
        assert math.isclose(jump, expected, rel_tol=1e-9, abs_tol=1e-300), (trial, jump, expected)
        seen.add(int(syn.n_released))
    assert len(seen) >= 4, seen  # the draws did vary


# ----------------------------------------------------------------- quantal variability


@pytest.mark.parametrize("cv", [0.4, 1.5])  # shape 6.25 and 0.44 (the shape < 1 branch)
def test_quantal_sizes_are_gamma(unit, cv):
    u = unit("stoch_gaba_syn", quantal_cv=cv)
    sizes = []
    for trial in range(2000):
        u.trial(trial, t_stop=EVENT + DT)
        sizes.append(u.syns[0].amount_event)
    sizes = np.array(sizes)
    law = stats.gamma(a=1 / cv**2, scale=cv**2)
    result = stats.kstest(sizes, law.cdf)
    assert result.pvalue > 0.001, result
    assert abs(sizes.mean() - 1) <= 4 * cv / math.sqrt(len(sizes))


# ----------------------------------------------------------------- stochastic Tsodyks-Markram


PARAMETER_SETS = {"depressing": (0.5, 800.0, 0.0), "facilitating": (0.1, 100.0, 1000.0)}


@pytest.mark.parametrize("pset", sorted(PARAMETER_SETS))
def test_mean_release_follows_deterministic_tm(unit, pset):
    """Per pulse, the mean increment/w over 1,000 trials is the TM model's u_n R_n."""
    U, tau_rec, tau_facil = PARAMETER_SETS[pset]
    u = unit("stoch_glutamate_syn", U=U, tau_rec=tau_rec, tau_facil=tau_facil, n_sites=4)
    h.dt = 0.5  # release uses the events' times only; a coarse step makes trials cheap
    try:
        per_pulse = np.array([train_draws(u, trial)[0] for trial in range(1000)])
    finally:
        h.dt = DT
    assert u.syns[0].n_events == len(TRAIN)
    expected = tm_releases(np.array(TRAIN), U, tau_rec, tau_facil)
    mean, se = per_pulse.mean(axis=0), per_pulse.std(axis=0, ddof=1) / math.sqrt(len(per_pulse))
    assert np.all(np.abs(mean - expected) <= 4 * se), (mean, expected, se)
    assert np.all(se > 0)


def test_without_randomness_equals_the_deterministic_mechanisms(unit):
    """p = 1, one site, no quantal variability: glutamate_syn's and gaba_syn's single event
    and tm_glutamate_syn's train (U = 1, no plasticity), to the last bit."""
    no_plasticity = {"U": 1.0, "tau_rec": 0.0, "tau_facil": 0.0}
    for mechanism, reference, params, times in (
        ("stoch_glutamate_syn", "glutamate_syn", {}, (EVENT,)),
        ("stoch_gaba_syn", "gaba_syn", {}, (EVENT,)),
        ("stoch_glutamate_syn", "tm_glutamate_syn", no_plasticity, TRAIN),
    ):
        traces = []
        for name, parameters in ((mechanism, {}), (reference, params)):
            u = unit(name, **parameters)
            u.trial(0, times=times, t_stop=times[-1] + 30)
            traces.append(np.array(u.v))
            u.close()
        assert np.ptp(traces[0]) > 0.1, "the events must move the voltage"
        assert np.array_equal(traces[0], traces[1]), f"{mechanism} vs {reference}"


# ----------------------------------------------------------------- reproducibility


STOCHASTIC = {"U": 0.4, "tau_rec": 200.0, "tau_facil": 100.0, "n_sites": 3, "p": 0.9, "quantal_cv": 0.5}


def draws_in_fresh_process(trials: list[int]) -> list:
    """In a fresh process: train_draws of a 3-synapse unit for ``trials`` (JSON-able)."""
    h.load_file("stdrun.hoc")
    load_mechanisms(mechanism_source_dirs())
    h.dt = DT
    u = Unit("stoch_glutamate_syn", n=3, **STOCHASTIC)
    return [train_draws(u, trial).tolist() for trial in trials]


def test_same_keys_same_draws_in_any_order(unit):
    u = unit("stoch_glutamate_syn", n=3, **STOCHASTIC)
    trials = list(range(12))
    forward = {trial: train_draws(u, trial) for trial in trials}
    backward = {trial: train_draws(u, trial) for trial in reversed(trials)}
    for trial in trials:
        assert np.array_equal(forward[trial], backward[trial]), trial
    # the synapses created in the other order, keyed by the same ids: the same draws per key
    v = unit("stoch_glutamate_syn", n=3, **STOCHASTIC)
    swapped = train_draws(v, 5, keys=[2, 1, 0])
    assert np.array_equal(swapped[::-1], forward[5])
    # the draws vary with the trial and the synapse, and they are not all releases
    assert len({forward[trial].tobytes() for trial in trials}) == len(trials)
    assert not np.array_equal(forward[0][0], forward[0][1])
    assert np.any(forward[0] == 0) or np.any(forward[1] == 0)


def test_another_seed_other_draws(unit):
    u = unit("stoch_glutamate_syn", n=3, **STOCHASTIC)
    same = [train_draws(u, 3, seed=SEED) for _ in range(2)]
    other = train_draws(u, 3, seed=SEED + 1)
    largest = train_draws(u, 3, seed=2**32 - 1)  # the largest 32-bit seed is a seed of its own
    assert np.array_equal(same[0], same[1])
    assert not np.array_equal(same[0], other)
    assert not np.array_equal(same[0], largest) and not np.array_equal(other, largest)


def test_cvode_draws_as_the_fixed_step(unit):
    """Draws depend on the event times only, so CVODE releases what the fixed step releases."""
    u = unit("stoch_glutamate_syn", n=3, **STOCHASTIC)
    fixed = train_draws(u, 2)
    h.CVode().active(1)
    try:
        variable = train_draws(u, 2)
    finally:
        h.CVode().active(0)
        h.dt = DT  # CVODE leaves its last step in dt
    assert np.array_equal(fixed, variable)


def test_same_draws_in_a_fresh_process(unit):
    from helpers import isolated

    u = unit("stoch_glutamate_syn", n=3, **STOCHASTIC)
    here = [train_draws(u, trial).tolist() for trial in (0, 9)]
    there = isolated.call(__file__, "draws_in_fresh_process", [0, 9])
    assert there == here


def test_restore_then_reseed_gives_the_fresh_draws(unit):
    """SaveState before the events, another trial run, restore + reseed: the fresh trial."""
    u = unit("stoch_glutamate_syn", n=2, **STOCHASTIC)
    fresh = train_draws(u, 4)
    fresh_v = np.array(u.v)
    h.finitialize(-70.0)
    h.continuerun(0.5)
    saved = h.SaveState()
    saved.save()
    train_draws(u, 11)  # moves the streams, counters and the NetCons' release state
    h.finitialize(-70.0)
    saved.restore()
    for k, syn in enumerate(u.syns):
        assert syn.n_released == 0 and syn.n_events == 0  # counters are restored too
        set_stream(syn, k, 4)
    h.frecord_init()
    restored = run_train(u)
    assert np.array_equal(restored, fresh)
    assert np.array_equal(np.array(u.v), fresh_v[int(round(0.5 / DT)) :])


# ----------------------------------------------------------------- CoreNEURON


def coreneuron_and_neuron_traces() -> dict:
    """In a fresh process: soma voltage under a NetStim train onto both stochastic synapses
    (plasticity, 3 sites, quantal variability), run by NEURON and by CoreNEURON."""
    from neuron import coreneuron

    h.load_file("stdrun.hoc")
    load_mechanisms(mechanism_source_dirs(), coreneuron=True)
    soma = h.Section(name="soma")
    soma.L = soma.diam = 20.0
    soma.insert("pas")
    soma.e_pas = -70.0
    keep = []
    for mechanism in ("stoch_glutamate_syn", "stoch_gaba_syn"):
        syn = getattr(h, mechanism)(soma(0.5))
        for name, value in STOCHASTIC.items():
            setattr(syn, name, value)
        stim = h.NetStim()
        stim.start, stim.interval, stim.number, stim.noise = 5.0, 13.0, 8, 0
        nc = h.NetCon(stim, syn)
        for i, w in enumerate(WEIGHTS[mechanism]):
            nc.weight[i] = 40 * w
        keep.append((syn, stim, nc))
    v = h.Vector().record(soma(0.5)._ref_v)
    h.dt = DT
    pc = h.ParallelContext()
    pc.set_maxstep(10)
    traces, released = [], []
    for enable in (False, True):
        coreneuron.enable = enable
        for k, (syn, _stim, _nc) in enumerate(keep):
            set_stream(syn, k, 1, seed=2**32 - 1)  # the largest seed crosses to CoreNEURON too
        h.finitialize(-70.0)
        pc.psolve(150.0)
        traces.append(np.array(v))
        released.append([syn.n_released for syn, _, _ in keep])
    coreneuron.enable = False
    neuron_v, core_v = traces
    return {
        "samples": [len(neuron_v), len(core_v)],
        "max_dv": float(np.max(np.abs(neuron_v - core_v))),
        "range": float(np.ptp(neuron_v)),
        "released": released,
    }


@pytest.mark.slow
def test_coreneuron_equals_neuron_on_a_stochastic_train():
    from helpers import isolated
    from helpers.coreneuron import compile_or_skip

    compile_or_skip()
    result = isolated.call(__file__, "coreneuron_and_neuron_traces")
    assert result["samples"][0] == result["samples"][1] == 6001
    assert result["range"] > 0.1, "the train must move the voltage"
    # some events failed: fewer releases than 8 events x 3 sites per synapse
    assert min(result["released"][0]) > 0 and max(result["released"][0]) < 24, result
    assert result["released"][0] == result["released"][1], "CoreNEURON's counters come back to NEURON"
    assert result["max_dv"] <= 1e-9, result
