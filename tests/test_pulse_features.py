"""pspsweep.features.pulse_features_many: each pulse of a train, on closed-form traces."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from pspsweep.errors import PspSweepError
from pspsweep.features import AnalysisOptions, psp_features_many, pulse_features_many

T_STIM = 110.0
T_END = 200.0
TRAIN = (0.0, 20.0, 40.0, 60.0)


def alpha(t: np.ndarray, amp: float, tau: float, t0: float) -> np.ndarray:
    """Alpha function: 0 before ``t0``, peak ``amp`` at ``t0 + tau`` (ms)."""
    s = np.clip((np.asarray(t, dtype=float) - t0) / tau, 0.0, None)
    return amp * s * np.exp(1.0 - s)


def cvode_like(rng: np.random.Generator, n: int = 3000) -> np.ndarray:
    """Irregular sample times with a repeated time stamp, ending before T_END."""
    t = np.sort(rng.uniform(0.0, T_END - 0.7, n))
    return np.concatenate([[0.0], t[:1500], [t[1500]], t[1500:]])


@pytest.mark.parametrize("convention", ["pspsweep", "isf"])
@pytest.mark.parametrize("baseline_method", ["dynamic", "constant"])
def test_one_pulse_equals_the_single_response_bit_for_bit(convention, baseline_method):
    rng = np.random.default_rng(7)
    options = AnalysisOptions(convention=convention, baseline=baseline_method)
    t_b = cvode_like(rng)
    v_b = -75.0 - 5.0 * (1 - np.exp(-t_b / 20.0))
    ts = [cvode_like(rng) for _ in range(5)]
    vs = [-75.0 - 5.0 * (1 - np.exp(-t / 20.0)) + alpha(t, a, 3.0, T_STIM) for t, a in zip(ts, (0.5, -0.3, 1e-4, 2, 0))]
    amps, peaks = pulse_features_many(ts, vs, t_b, v_b, T_STIM, T_END, options)
    ref_amps, ref_peaks = psp_features_many(ts, vs, t_b, v_b, T_STIM, T_END, options)
    assert amps.shape == peaks.shape == (5, 1)
    assert np.array_equal(amps[:, 0], ref_amps) and np.array_equal(peaks[:, 0], ref_peaks)


def train(t: np.ndarray, amps: tuple[float, ...], taus: tuple[float, ...]) -> np.ndarray:
    """A sum of alpha functions, one per pulse of TRAIN (what a linear synapse gives)."""
    return sum(alpha(t, a, tau, T_STIM + p) for a, tau, p in zip(amps, taus, TRAIN))


def test_fast_responses_of_a_train_each_give_their_own_amplitude_and_latency():
    # tau 1 ms: each response has decayed to < 1e-6 of its peak before the next pulse
    t = np.arange(0.0, T_END + 0.01, 0.01)
    amps_in = (0.8, 0.5, 0.35, 0.3)
    v = -70.0 + train(t, amps_in, (1.0,) * 4)
    amps, peaks = pulse_features_many([t], [v], t, np.full(t.size, -70.0), T_STIM, T_END, AnalysisOptions(pulses=TRAIN))
    assert amps[0] == pytest.approx(amps_in, rel=1e-9, abs=1e-6)
    assert peaks[0] == pytest.approx([1.0] * 4, abs=1e-9)  # latency from each pulse: the alpha's tau


def test_a_response_still_decaying_is_the_level_the_next_pulse_is_measured_from():
    # pulse 1: slow (tau 8 ms), at 20 ms still at 56 % of its peak and falling; pulse 2: fast (tau 1 ms)
    dt = 0.025
    t = np.arange(0.0, T_END + dt / 2, dt)
    a1, a2 = 1.0, 0.4
    v = -70.0 + alpha(t, a1, 8.0, T_STIM) + alpha(t, a2, 1.0, T_STIM + 20.0)
    options = AnalysisOptions(pulses=(0.0, 20.0))
    amps, peaks = pulse_features_many([t], [v], t, np.full(t.size, -70.0), T_STIM, T_END, options)
    # pulse 1's window ends before pulse 2: its own peak at tStim + 8 ms
    assert amps[0, 0] == pytest.approx(a1, rel=1e-6) and peaks[0, 0] == pytest.approx(8.0, abs=1e-9)
    # pulse 2 from the sample just before it: the maximum of the continuous sum above that
    # level (scipy's bounded search on the closed form), near a2 plus pulse 1's decay since
    t2 = T_STIM + 20.0
    level = float(alpha(t2 - dt, a1, 8.0, T_STIM))
    best = minimize_scalar(
        lambda x: -(alpha(x, a1, 8.0, T_STIM) + alpha(x, a2, 1.0, t2)), bounds=(t2, t2 + 5.0), method="bounded"
    )
    assert amps[0, 1] == pytest.approx(-best.fun - level, abs=1e-4)
    assert peaks[0, 1] == pytest.approx(best.x - t2, abs=dt)
    # measured from the pre-stimulus level instead, it would be about 0.9 mV
    assert abs(amps[0, 1] - (a2 + float(alpha(t2 + 1.0, a1, 8.0, T_STIM)))) > 0.5


def test_clamp_currents_keep_their_sign_inward_negative():
    t = np.arange(0.0, T_END + 0.01, 0.01)
    i = 0.1 + train(t, (-0.05, -0.08, -0.02, -0.03), (1.0,) * 4)  # nA, holding current 0.1 nA
    options = AnalysisOptions(pulses=TRAIN, signal="current")
    amps, _ = pulse_features_many([t], [i], t, np.full(t.size, 0.1), T_STIM, T_END, options)
    assert amps[0] == pytest.approx([-0.05, -0.08, -0.02, -0.03], abs=1e-6)
    assert options.amplitude_column == "psc_nA" and options.pulse_columns(1) == ("psc_nA_p2", "t_peak_ms_p2")


def test_isf_convention_gives_absolute_peak_times_per_pulse():
    t = np.arange(0.0, T_END + 0.01, 0.01)
    v = -70.0 + train(t, (0.8, 0.5, 0.35, 0.3), (1.0,) * 4)
    options = AnalysisOptions(convention="isf", pulses=TRAIN)
    _, peaks = pulse_features_many([t], [v], t, np.full(t.size, -70.0), T_STIM, T_END, options)
    assert peaks[0] == pytest.approx([T_STIM + p + 1.0 for p in TRAIN], abs=1e-9)
    assert options.pulse_columns(3) == ("amplitude_mV_p4", "t_peak_abs_ms_p4")


@pytest.mark.parametrize("pulses", [(0.0, 20.0, 95.0), (0.0, 0.03, 0.04)])
def test_pulses_without_grid_samples_of_their_own_are_refused(pulses):
    t = np.arange(0.0, T_END, 0.1)
    with pytest.raises(PspSweepError, match="protocol.spikes"):
        pulse_features_many([t], [t * 0], t, t * 0, T_STIM, T_END, AnalysisOptions(pulses=pulses))


def test_options_refuse_unordered_pulses_unknown_signals_and_negative_thresholds():
    for change, culprit in (
        ({"pulses": (0.0, 20.0, 20.0)}, "protocol.spikes"),
        ({"pulses": ()}, "protocol.spikes"),
        ({"signal": "conductance"}, "conductance"),
        ({"threshold_nA": -1.0}, "threshold_nA"),
    ):
        with pytest.raises(PspSweepError, match=culprit):
            dataclasses.replace(AnalysisOptions(), **change)
