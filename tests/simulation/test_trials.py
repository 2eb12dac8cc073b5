"""Trials of stochastic release through the simulator, against closed-form statistics.

One passive compartment (``test_slice_protocols.one_compartment``) and the stochastic
glutamate receptor without plasticity, seeded with fixed seeds:

* one synapse, p = 0.3, 2,000 trials: the failure fraction is within 3 sigma of 0.7
  (sigma = sqrt(0.7 * 0.3 / 2000));
* five synapses, p = 0.3: the count of releasing synapses per trial passes a chi-square
  test against Binomial(5, 0.3) (scipy, p-value > 0.001);
* one synapse without quantal variability: the amplitude's CV over trials is within 5 %
  of sqrt((1 - p) / p), the binomial CV;
* the draws of a trial depend on (seed, cell type, synapse, trial) only: ``restore``
  gives ``reference``'s trials to the last bit, trials run in another order give the
  same, and another seed gives other draws.
"""

from __future__ import annotations

import gc
import math
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("neuron")
from scipy import stats
from test_slice_protocols import one_compartment

from pspsweep.embedding import ReceptorSpec
from pspsweep.io.isf_embedding import GLUTAMATE_SYN_PARAMETERS
from pspsweep.receptors import NO_PLASTICITY
from pspsweep.simulation.protocols import ProtocolSpec
from pspsweep.simulation.runner import SweepRequest, UnitSimulator
from pspsweep.units import Unit

T_STIM, T_END = 5.0, 12.0
KINETICS = {k: v for k, v in GLUTAMATE_SYN_PARAMETERS.items() if k in ("tau1", "tau2", "tau3", "tau4")}


def stochastic(p: float, quantal_cv: float = 0.0) -> ReceptorSpec:
    parameters = {**KINETICS, **NO_PLASTICITY, "p": p, "quantal_cv": quantal_cv, "n_sites": 1.0}
    return ReceptorSpec("stoch_glutamate_syn", True, parameters)


def unit_of(n_synapses: int) -> Unit:
    return Unit(0, "L4ss_C2", 0, tuple(range(n_synapses)), (0,) * n_synapses, (0.5,) * n_synapses)


def run_trials(request: SweepRequest, unit: Unit, trials) -> tuple[np.ndarray, np.ndarray]:
    """(peak depolarisation from the baseline, releases) of each trial, in the order given."""
    gc.collect()
    sim = UnitSimulator(request)
    _, v_b = sim.baseline()
    peaks, released = [], []
    for k in trials:
        _, v = sim.unit(unit, k)
        peaks.append(float(np.max(v - v_b)))
        released.append(sim.released)
    del sim
    gc.collect()
    return np.array(peaks), np.array(released)


def request(receptor: ReceptorSpec, seed: int = 7, strategy: str = "restore", n: int = 1) -> SweepRequest:
    spec = ProtocolSpec(trials=2, seed=seed)
    return SweepRequest(one_compartment(), receptor, (1.0, 0.0), False, T_STIM, T_END, strategy, n, protocol=spec)


def test_failure_fraction_of_one_synapse():
    trials = 2000
    _, released = run_trials(request(stochastic(0.3)), unit_of(1), range(trials))
    failures = float(np.mean(released[:, 0] == 0))
    assert abs(failures - 0.7) <= 3 * math.sqrt(0.7 * 0.3 / trials)


def test_releasing_synapses_of_five_are_binomial():
    _, released = run_trials(request(stochastic(0.3), n=5), unit_of(5), range(1000))
    counts = np.bincount((released > 0).sum(axis=1), minlength=6)
    expected = stats.binom.pmf(np.arange(6), 5, 0.3) * counts.sum()
    # the sparse tail merged, as a chi-square test needs about 5 per cell
    observed, expected = np.append(counts[:4], counts[4:].sum()), np.append(expected[:4], expected[4:].sum())
    assert stats.chisquare(observed, expected).pvalue > 0.001


def test_amplitude_cv_of_one_synapse_is_binomial():
    p = 0.3
    peaks, released = run_trials(request(stochastic(p)), unit_of(1), range(2000))
    assert np.all(peaks[released[:, 0] == 0] == 0)  # a failure leaves the trace untouched
    cv = float(np.std(peaks, ddof=1) / np.mean(peaks))
    assert cv == pytest.approx(math.sqrt((1 - p) / p), rel=0.05)


def test_draws_depend_on_seed_synapse_and_trial_only():
    receptor, unit = stochastic(0.5, quantal_cv=0.3), unit_of(3)
    restored = run_trials(request(receptor, n=3), unit, range(40))
    reference = run_trials(request(receptor, strategy="reference", n=3), unit, range(40))
    backwards = run_trials(request(receptor, n=3), unit, range(39, -1, -1))
    for a, b in zip(restored, reference):
        assert np.array_equal(a, b)
    assert np.array_equal(restored[0], backwards[0][::-1]) and np.array_equal(restored[1], backwards[1][::-1])
    other_seed = run_trials(replace(request(receptor, n=3), protocol=ProtocolSpec(trials=2, seed=8)), unit, range(40))
    assert not np.array_equal(restored[1], other_seed[1])
