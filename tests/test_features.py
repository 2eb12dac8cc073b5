"""pspsweep.features: per-unit amplitude and peak time on synthetic traces."""

from __future__ import annotations

import numpy as np
import pytest

from pspsweep.errors import PspSweepError
from pspsweep.features import (
    AnalysisOptions,
    analysis_grid,
    psp_features,
    psp_features_many,
    resample,
)

T_STIM = 110.0
T_END = 150.0
PSPSWEEP = AnalysisOptions()
ISF = AnalysisOptions(convention="isf")
ISF_GRID = np.arange(0.0, T_END, 0.025)


def drift(t: np.ndarray) -> np.ndarray:
    """Relaxation from -75 mV towards about -80.6 mV plus a slow rise (mV)."""
    return -75.0 - 5.6 * (1.0 - np.exp(-t / 20.0)) + 0.004 * t


def alpha(t: np.ndarray, amp: float, tau: float = 2.0, t0: float = T_STIM) -> np.ndarray:
    """Alpha-function PSP with peak ``amp`` (mV) at ``t0 + tau`` (ms)."""
    s = np.clip((t - t0) / tau, 0.0, None)
    return amp * s * np.exp(1.0 - s)


def double_exp(t: np.ndarray, amp: float, tau1: float, tau2: float) -> tuple[np.ndarray, float]:
    """Normalised double exponential starting at T_STIM; returns (trace, peak time)."""
    t_peak = tau1 * tau2 / (tau2 - tau1) * np.log(tau2 / tau1)
    norm = np.exp(-t_peak / tau2) - np.exp(-t_peak / tau1)
    s = np.clip(t - T_STIM, 0.0, None)
    return amp * (np.exp(-s / tau2) - np.exp(-s / tau1)) / norm, T_STIM + t_peak


def cvode_times(rng: np.random.Generator, t_last: float, dense_from: float = T_STIM) -> np.ndarray:
    """Irregular, CVODE-like sample times: sparse before the stimulus, dense after."""
    early = np.sort(rng.uniform(0.0, dense_from, 300))
    late = np.arange(dense_from, t_last, 0.01) + rng.uniform(0.0, 0.004, 1)
    late = late[(late > dense_from) & (late < t_last)]
    return np.concatenate([[0.0], early, [dense_from], late, [t_last]])


@pytest.fixture
def baseline() -> tuple[np.ndarray, np.ndarray]:
    """A synapse-free run sampled irregularly, ending before t_end (as CVODE does)."""
    rng = np.random.default_rng(1)
    t = np.concatenate([[0.0], np.sort(rng.uniform(0.0, 148.4778, 400)), [148.4778]])
    return t, drift(t)


def test_alpha_psp_on_drift_recovers_amplitude_and_latency(baseline):
    t_base, v_base = baseline
    t = np.arange(0.0, T_END, 0.025)  # unit sampled on the analysis grid
    v = drift(t) + alpha(t, 0.5)
    amp, latency = psp_features(t, v, t_base, v_base, T_STIM, T_END, PSPSWEEP)
    assert amp == pytest.approx(0.5, abs=1e-4), f"amplitude {amp} mV, expected 0.5 +- 1e-4"
    assert latency == pytest.approx(2.0, abs=1e-9)


def test_double_exponential_on_irregular_samples(baseline):
    t_base, v_base = baseline
    t = cvode_times(np.random.default_rng(2), 149.2)
    psp, t_peak = double_exp(t, 0.8, 0.5, 5.0)
    amp, latency = psp_features(t, drift(t) + psp, t_base, v_base, T_STIM, T_END, PSPSWEEP)
    assert amp == pytest.approx(0.8, abs=1e-3)
    assert latency == pytest.approx(t_peak - T_STIM, abs=0.0125 + 1e-9), (latency, t_peak)


def test_negative_ipsp_is_signed(baseline):
    t_base, v_base = baseline
    t = cvode_times(np.random.default_rng(3), 146.0)
    v = drift(t) + alpha(t, -0.4, tau=3.0)
    for options in (PSPSWEEP, ISF):
        amp, t_peak = psp_features(t, v, t_base, v_base, T_STIM, T_END, options)
        assert amp == pytest.approx(-0.4, abs=1e-3), options
    assert t_peak == pytest.approx(113.0, abs=0.0125 + 1e-9)  # ISF: absolute time


def test_trace_ending_before_t_end_holds_last_value():
    # a flat baseline and a ramp that stops being recorded at 141.31 ms
    t_base, v_base = np.array([0.0, 148.4778]), np.array([-80.0, -80.0])
    t = np.array([0.0, 60.0, T_STIM, 141.31])
    v = np.array([-80.0, -80.0, -80.0, -80.0 + 0.01 * (141.31 - T_STIM)])
    amp, latency = psp_features(t, v, t_base, v_base, T_STIM, T_END, PSPSWEEP)
    assert amp == pytest.approx(0.01 * 31.31, abs=1e-12)
    assert latency == pytest.approx(141.325 - T_STIM, abs=1e-9)  # first held grid sample
    amp_isf, t_isf = psp_features(t, v, t_base, v_base, T_STIM, T_END, ISF)
    assert amp_isf == pytest.approx(0.01 * 31.31, abs=1e-12)
    assert t_isf == pytest.approx(141.325, abs=1e-9)
    grid = analysis_grid(T_END, PSPSWEEP)
    held = resample(t, v, grid)
    assert np.all(held[grid >= 141.31] == v[-1])


def test_repeated_time_stamps_jump_like_numpy_interp():
    t = np.array([0.0, 10.0, 10.0, 20.0])
    v = np.array([0.0, 1.0, 5.0, 5.0])
    x = np.array([-1.0, 5.0, 9.999, 10.0, 15.0, 25.0])
    out = resample(t, v, x)
    assert out == pytest.approx([0.0, 0.5, 0.9999, 5.0, 5.0, 5.0], abs=1e-12)
    assert np.array_equal(out, np.interp(x, t, v))
    only_duplicates = resample([3.0, 3.0], [1.0, 2.0], x)
    assert np.array_equal(only_duplicates, [1.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    assert np.array_equal(only_duplicates, np.interp(x, [3.0, 3.0], [1.0, 2.0]))


def test_repeated_time_stamp_at_the_event(baseline):
    t_base, v_base = baseline
    t = np.arange(0.0, T_END, 0.025)
    t = np.sort(np.concatenate([t, [T_STIM, T_STIM]]))  # event time recorded three times
    v = drift(t) + alpha(t, 0.5)
    amp, latency = psp_features(t, v, t_base, v_base, T_STIM, T_END, PSPSWEEP)
    assert amp == pytest.approx(0.5, abs=1e-4)
    assert latency == pytest.approx(2.0, abs=1e-9)


def test_many_matches_single(baseline):
    t_base, v_base = baseline
    rng = np.random.default_rng(4)
    ts, vs = [], []
    for amp, t_last in [(0.3, 149.9), (-0.2, 141.3), (1.1, 145.0)]:
        t = cvode_times(rng, t_last)
        ts.append(t)
        vs.append(drift(t) + alpha(t, amp))
    for options in (PSPSWEEP, ISF, AnalysisOptions(baseline="constant")):
        amps, tps = psp_features_many(ts, vs, t_base, v_base, T_STIM, T_END, options)
        single = [psp_features(t, v, t_base, v_base, T_STIM, T_END, options) for t, v in zip(ts, vs)]
        assert np.array_equal(amps, [a for a, _ in single])
        assert np.array_equal(tps, [tp for _, tp in single])


def isf_window_trace(psp_amp: float) -> tuple[np.ndarray, np.ndarray]:
    """Deflection w on the ISF grid whose median is 0.5 only over samples 70..4399.

    w = 1 on samples 0..2234, 0 on 2235..4399, then an alpha PSP. The window
    [70, 4400) holds 2165 ones and 2165 zeros; moving either end by one sample
    changes the median to 0 or 1.
    """
    w = np.zeros(ISF_GRID.size)
    w[:2235] = 1.0
    w += alpha(ISF_GRID, psp_amp)
    return ISF_GRID.copy(), w


def test_isf_baseline_window_is_1_75_to_109_975():
    t, w = isf_window_trace(2.0)
    v_base = drift(t)
    amp_isf, t_isf = psp_features(t, v_base + w, t, v_base, T_STIM, T_END, ISF)
    assert amp_isf == pytest.approx(1.5, abs=1e-9), "ISF median over [1.75, 109.975] is 0.5"
    assert t_isf == pytest.approx(112.0, abs=1e-9)
    amp, latency = psp_features(t, v_base + w, t, v_base, T_STIM, T_END, PSPSWEEP)
    assert amp == pytest.approx(2.0, abs=1e-9), "pspsweep median over [109, 110) is 0"
    assert latency == pytest.approx(2.0, abs=1e-9)


def test_isf_constant_baseline_matches_spec_steps():
    rng = np.random.default_rng(5)
    t = cvode_times(rng, 148.0)
    v = drift(t) + alpha(t, 0.5)
    amp, t_peak = psp_features(t, v, None, None, T_STIM, T_END, AnalysisOptions("isf", "constant"))
    # isf-reference 7.1-7.3 step by step
    vg = np.interp(ISF_GRID, t, v)
    w = vg - np.median(vg[70:4400])
    k = 4400 + int(np.argmax(np.abs(w[4400:])))
    assert (amp, t_peak) == (w[k], ISF_GRID[k])
    # the long window sits in the initial relaxation: strongly biased
    assert abs(amp - 0.5) > 0.05, amp
    amp_new, _ = psp_features(t, v, None, None, T_STIM, T_END, AnalysisOptions(baseline="constant"))
    assert amp_new == pytest.approx(0.5, abs=0.02)


def test_pspsweep_constant_baseline_uses_last_ms():
    t = np.arange(0.0, T_END, 0.01)
    v = np.where(t < 109.0, -60.0, -70.0) + alpha(t, 0.5)  # a step before the window
    options = AnalysisOptions(baseline="constant")
    amp, latency = psp_features(t, v, None, None, T_STIM, T_END, options)
    assert amp == pytest.approx(0.5, abs=1e-6)
    assert latency == pytest.approx(2.0, abs=1e-9)


def test_grids():
    isf = analysis_grid(T_END, ISF)
    assert isf.size == 6000 and isf[-1] == pytest.approx(149.975)
    assert np.array_equal(isf, ISF_GRID)
    ours = analysis_grid(T_END, PSPSWEEP)
    assert ours.size == 6001 and ours[-1] == pytest.approx(150.0)
    assert analysis_grid(T_END, AnalysisOptions(resample_dt=0.1)).size == 1501


def test_resample_dt_is_honoured():
    t = np.arange(0.0, T_END, 0.005)
    v = -70.0 + alpha(t, 0.5, tau=2.05)
    amp, latency = psp_features(t, v, None, None, T_STIM, T_END, AnalysisOptions(baseline="constant", resample_dt=0.1))
    assert latency == pytest.approx(2.1, abs=1e-9)  # nearest point of the 0.1 ms grid
    assert amp == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize(
    ("t", "v", "t_stim", "t_end", "match"),
    [
        ([0.0, 1.0], [0.0, 0.0], 150.0, 150.0, "earlier than t_end"),
        ([0.0, 1.0], [0.0, 0.0], 151.0, 150.0, "earlier than t_end"),
        ([], [], 110.0, 150.0, "empty"),
        ([0.0, 2.0, 1.0], [0.0, 0.0, 0.0], 110.0, 150.0, "decrease at index 2"),
        ([0.0, 1.0], [0.0], 110.0, 150.0, "2 time samples but 1"),
        ([0.0, 1.0], [0.0, np.nan], 110.0, 150.0, "NaN"),
        ([0.0, 1.0], [0.0, 0.0], 0.0, 150.0, "no grid sample before"),
    ],
)
def test_invalid_traces_raise(t, v, t_stim, t_end, match):
    with pytest.raises(PspSweepError, match=match):
        psp_features(t, v, None, None, t_stim, t_end, AnalysisOptions(baseline="constant"))


def test_invalid_baseline_trace_and_isf_window():
    t = np.array([0.0, 150.0])
    v = np.array([-70.0, -70.0])
    with pytest.raises(PspSweepError, match="baseline trace"):
        psp_features(t, v, [0.0, -1.0], [0.0, 0.0], T_STIM, T_END, PSPSWEEP)
    with pytest.raises(PspSweepError, match="needs the baseline run"):
        psp_features(t, v, None, None, T_STIM, T_END, PSPSWEEP)
    with pytest.raises(PspSweepError, match="t_stim >= 40"):
        psp_features(t, v, t, v, 30.0, T_END, ISF)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"convention": "neuron"}, "convention"),
        ({"baseline": "median"}, "baseline"),
        ({"threshold_mV": -0.1}, "threshold_mV"),
        ({"resample_dt": 0.0}, "resample_dt"),
        ({"convention": "isf", "resample_dt": 0.01}, "fixed grid"),
    ],
)
def test_invalid_options(kwargs, match):
    with pytest.raises(PspSweepError, match=match):
        AnalysisOptions(**kwargs)
