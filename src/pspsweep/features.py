"""Per-unit PSP features: signed amplitude and peak time of one unit's response.

A *unit* trace is the soma voltage of a run in which one presynaptic cell (or one
synapse) fires at ``t_stim``; the *baseline* trace is the run without any synapse.
Both are raw recordings (``t`` in ms, ``v`` in mV), possibly from CVODE: irregular
sample times, repeated time stamps at events, and a last sample that can lie well
before ``t_end`` (isf-reference 6.3).

Every trace is first put on a regular grid by piecewise-linear interpolation that
holds the first/last recorded value outside the recorded range (isf-reference 7.1).
Repeated time stamps are allowed: the value at such a time is the *last* sample
recorded there, and just before it the line runs towards the *first* one (a jump,
the same as ``numpy.interp`` does for non-decreasing sample times).

Two conventions are offered (:class:`AnalysisOptions`):

``"isf"`` reproduces ISF HEAD exactly (isf-reference 7.1-7.3):

* grid ``numpy.arange(0, t_end, 0.025)`` (half-open: ``t_end`` is not a grid point);
* pre-stimulus median over grid indices ``int(t_stim - 1/0.025)`` to
  ``int(t_stim/0.025)`` (exclusive), i.e. T in [1.75, 109.975] ms for t_stim = 110.
  This is ISF's quirk (``t_stim - 40`` instead of ``(t_stim - 1)/0.025``);
* extremum = first index of the largest ``|w|`` over grid indices >= ``int(t_stim/0.025)``;
* the returned peak time is the **absolute** grid time of that index (ISF's ``tMax``),
  and every peak time of this convention stays absolute and says so in its name
  (``t_peak_abs_ms``, ``t_mean_abs``, ``t_median_abs``). ISF's own summary subtracts
  its ``tPSPStart`` of 100 ms (not ``t_stim``): its ``tMean`` is ``t_mean_abs - 100``;
* ``baseline="constant"``: the median of the raw unit trace over the same window (what
  ISF's ``constant_baseline`` computes per trace; ISF HEAD crashes before reaching it,
  isf-reference 9.10).

``"pspsweep"`` (the default) fixes what is wrong or fragile in ISF:

* The pre-stimulus level is the median over the 1 ms that really precedes the
  stimulus, grid samples with ``t_stim - 1 <= T < t_stim``. ISF's long window starts
  at 1.75 ms, inside the -75 -> -80.6 mV relaxation from ``v_init``; with the dynamic
  baseline the bias is near zero, but with the constant baseline it shifts every
  amplitude by the drift.
* The grid is closed, ``T_k = k * resample_dt`` for ``0 <= T_k <= t_end`` (``t_end``
  is included when it lies on the grid, to 1e-9 of a step), and the extremum is searched
  over ``t_stim <= T <= t_end``: the whole simulated response window.
* ``resample_dt`` is honoured (ISF hard-codes 0.025 ms).
* The returned peak time is the **latency** ``T_peak - t_stim`` (ms), not an absolute
  time compared with an unrelated 100 ms.
* The median (not the mean) is used for the pre-stimulus level in both baseline
  methods, as in ISF: one glitching CVODE sample cannot shift it.

In both conventions the amplitude is **signed**: the value at the largest absolute
deflection, so IPSPs come out negative.

A train of presynaptic spikes (``options.pulses``) is measured pulse by pulse by
:func:`pulse_features_many` (docs/protocols.md, "Measuring each pulse"); under a voltage
clamp (``options.signal == "current"``) the traces are the clamp current (nA) and the
same measure gives the PSC, signed, inward negative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from pspsweep.config import BaselineMethod, Convention
from pspsweep.errors import PspSweepError

CONVENTIONS = tuple(c.value for c in Convention)
BASELINES = tuple(b.value for b in BaselineMethod)
ISF_RESAMPLE_DT_MS = 0.025
"""The grid step ISF hard-codes (ms)."""
PRE_STIMULUS_WINDOW_MS = 1.0
"""Length of the pre-stimulus window of the pspsweep convention (ms)."""
SIGNALS = ("voltage", "current")
_GRID_TOL = 1e-9  # tolerance, in grid steps, for "lies on the grid"


@dataclass(frozen=True)
class AnalysisOptions:
    """How unit traces become features and features become statistics.

    Attributes:
        convention: ``"pspsweep"`` (default, see the module docstring) or ``"isf"``
            (reproduce ISF HEAD exactly, quirks included).
        baseline: ``"dynamic"`` subtracts the synapse-free baseline run from the unit
            trace before measuring; ``"constant"`` subtracts a constant pre-stimulus
            level of the unit trace itself.
        threshold_mV: Response threshold (mV) used by the summary statistics. Under
            ``"pspsweep"`` a unit responds when ``|amplitude| >= threshold_mV``; under
            ``"isf"`` when ``amplitude >= threshold_mV`` (signed, IPSPs dropped).
            ``threshold_nA`` is the same for a clamp current (:attr:`threshold`).
        resample_dt: Step of the analysis grid (ms). Must be 0.025 under ``"isf"``.
        pulses: the presynaptic spike times (ms after ``t_stim``) whose responses are
            measured one by one (``protocol.spikes``); ``(0.0,)``: one response.
        signal: what the traces are: ``"voltage"`` (mV, PSPs) or ``"current"`` (nA,
            the clamp current of a voltage clamp: PSCs, inward negative).
        threshold_nA: Response threshold (nA) of PSCs (``signal == "current"``).

    Raises:
        PspSweepError: For an unknown convention or baseline, a negative threshold,
            a non-positive step, or a step other than 0.025 ms under ``"isf"``.
    """

    convention: str = "pspsweep"
    baseline: str = "dynamic"
    threshold_mV: float = 0.1
    resample_dt: float = 0.025
    pulses: tuple[float, ...] = (0.0,)
    signal: str = "voltage"
    threshold_nA: float = 0.002

    @property
    def amplitude_column(self) -> str:
        """The unit table's amplitude column of the first pulse: ``amplitude_mV`` (a PSP)
        or ``psc_nA`` (a clamp current)."""
        return "psc_nA" if self.signal == "current" else "amplitude_mV"

    @property
    def unit(self) -> str:
        """The signal's unit: ``mV`` or ``nA``."""
        return "nA" if self.signal == "current" else "mV"

    @property
    def response(self) -> str:
        """What a unit's response is called in labels: ``PSP`` or ``PSC``."""
        return "PSC" if self.signal == "current" else "PSP"

    @property
    def threshold(self) -> float:
        """The response threshold in the signal's unit (``threshold_mV`` or ``threshold_nA``)."""
        return self.threshold_nA if self.signal == "current" else self.threshold_mV

    @property
    def n_pulses(self) -> int:
        """How many presynaptic spikes each unit run has."""
        return len(self.pulses)

    def pulse_columns(self, pulse: int) -> tuple[str, str]:
        """The (amplitude, peak time) columns of pulse ``pulse`` (0-based): the first
        pulse's are :attr:`amplitude_column` and :attr:`peak_time_column`, pulse k >= 2
        adds ``_p<k>`` (``amplitude_mV_p2``, ``t_peak_ms_p2``)."""
        suffix = "" if pulse == 0 else f"_p{pulse + 1}"
        return self.amplitude_column + suffix, self.peak_time_column + suffix

    @property
    def peak_time_column(self) -> str:
        """The unit table's peak-time column, named by its reference: ``t_peak_ms`` (the
        latency from ``t_stim``) under ``"pspsweep"``, ``t_peak_abs_ms`` (time since the
        simulation's start, ISF's ``tMax``) under ``"isf"``."""
        return "t_peak_abs_ms" if self.convention == "isf" else "t_peak_ms"

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            raise PspSweepError(f"analysis.convention={self.convention!r} is not one of: {', '.join(CONVENTIONS)}")
        if self.baseline not in BASELINES:
            raise PspSweepError(f"analysis.baseline={self.baseline!r} is not one of: {', '.join(BASELINES)}")
        if not (math.isfinite(self.threshold_mV) and self.threshold_mV >= 0):
            raise PspSweepError(f"analysis.threshold_mV={self.threshold_mV} must be >= 0 (mV)")
        if not (math.isfinite(self.resample_dt) and self.resample_dt > 0):
            raise PspSweepError(f"analysis.resample_dt={self.resample_dt} must be positive (ms)")
        if not (math.isfinite(self.threshold_nA) and self.threshold_nA >= 0):
            raise PspSweepError(f"analysis.threshold_nA={self.threshold_nA} must be >= 0 (nA)")
        if self.signal not in SIGNALS:
            raise PspSweepError(f"the analysed signal {self.signal!r} is not one of: {', '.join(SIGNALS)}")
        if not self.pulses or any(b <= a for a, b in zip(self.pulses, self.pulses[1:])):
            raise PspSweepError(f"protocol.spikes={list(self.pulses)} must be increasing times (ms after tStim)")
        if self.convention == "isf" and self.resample_dt != ISF_RESAMPLE_DT_MS:
            raise PspSweepError(
                f"analysis.convention=isf uses ISF's fixed grid of {ISF_RESAMPLE_DT_MS} ms; "
                f"got analysis.resample_dt={self.resample_dt}"
            )


@dataclass(frozen=True)
class _Windows:
    """Grid and index windows for one (t_stim, t_end, options) combination."""

    grid: np.ndarray  # analysis grid (ms)
    pre: slice  # pre-stimulus window used for the level
    k_stim: int  # first grid index of the extremum search (to the end of the grid)
    t_ref: float  # subtracted from the grid time of the peak (ms)


#: the default options, shared (the options are frozen)
DEFAULT_OPTIONS = AnalysisOptions()


def psp_features(
    t: ArrayLike,
    v: ArrayLike,
    t_base: ArrayLike | None,
    v_base: ArrayLike | None,
    t_stim: float,
    t_end: float,
    options: AnalysisOptions = AnalysisOptions(),
) -> tuple[float, float]:
    """Signed amplitude and peak time of one unit.

    Args:
        t: Sample times of the unit run (ms), non-decreasing.
        v: Soma voltage of the unit run (mV), same length as ``t``.
        t_base: Sample times of the synapse-free baseline run (ms). May be None when
            ``options.baseline == "constant"``.
        v_base: Soma voltage of the baseline run (mV). May be None as ``t_base``.
        t_stim: Stimulus (release) time (ms).
        t_end: End of the simulation (ms), > ``t_stim``.
        options: Analysis options.

    Returns:
        ``(amplitude_mV, t_peak_ms)``. ``amplitude_mV`` is the signed deflection at the
        largest absolute deflection. ``t_peak_ms`` is the latency from ``t_stim`` under
        the ``"pspsweep"`` convention and the absolute time (ISF's ``tMax``) under
        ``"isf"``.

    Raises:
        PspSweepError: For malformed traces (empty, different lengths, non-finite,
            decreasing times), ``t_stim >= t_end``, or windows without grid samples.
    """
    amplitudes, t_peaks = psp_features_many([t], [v], t_base, v_base, t_stim, t_end, options)
    return float(amplitudes[0]), float(t_peaks[0])


def psp_features_many(
    ts: Sequence[ArrayLike],
    vs: Sequence[ArrayLike],
    t_base: ArrayLike | None,
    v_base: ArrayLike | None,
    t_stim: float,
    t_end: float,
    options: AnalysisOptions = AnalysisOptions(),
) -> tuple[np.ndarray, np.ndarray]:
    """Features of many units sharing one baseline run (resampled once).

    Args:
        ts: Sample times of each unit run (ms).
        vs: Soma voltage of each unit run (mV), in the order of ``ts``.
        t_base: Sample times of the baseline run (ms); None allowed for the constant
            baseline.
        v_base: Soma voltage of the baseline run (mV); None allowed as ``t_base``.
        t_stim: Stimulus time (ms).
        t_end: End of the simulation (ms).
        options: Analysis options.

    Returns:
        ``(amplitudes_mV, t_peaks_ms)``, float arrays of length ``len(ts)`` with the
        meaning given in :func:`psp_features`.

    Raises:
        PspSweepError: As :func:`psp_features`; a unit's message gives its index.
    """
    if len(ts) != len(vs):
        raise PspSweepError(f"got {len(ts)} time arrays but {len(vs)} voltage arrays")
    windows = _windows(float(t_stim), float(t_end), options)
    base_grid = _baseline_on_grid(t_base, v_base, windows.grid, options)
    amplitudes = np.empty(len(ts))
    t_peaks = np.empty(len(ts))
    for i, (t, v) in enumerate(zip(ts, vs)):
        w = resample(t, v, windows.grid, name=f"unit trace {i}")
        if base_grid is not None:
            w = w - base_grid
        amplitudes[i], t_peaks[i] = _extremum(w, windows)
    return amplitudes, t_peaks


def pulse_features_many(
    ts: Sequence[ArrayLike],
    vs: Sequence[ArrayLike],
    t_base: ArrayLike | None,
    v_base: ArrayLike | None,
    t_stim: float,
    t_end: float,
    options: AnalysisOptions = AnalysisOptions(),
) -> tuple[np.ndarray, np.ndarray]:
    """Features of every pulse of a train (``options.pulses``), unit by unit.

    ``w`` is the unit trace minus the baseline run (or the unit trace alone under the
    constant baseline) on the analysis grid, and ``T_k = t_stim + pulses[k]``. Pulse 1 is
    measured as :func:`psp_features_many` measures a single response, from its
    pre-stimulus median, but searched only up to ``T_2``. Pulse k >= 2 is measured from
    ``w`` at the last grid sample before ``T_k`` (the response to the earlier pulses
    still decaying there); its window runs from ``T_k`` to ``T_(k+1)`` (excluded), the
    last pulse's to ``t_end``. The amplitude is ``w - level`` at its extremum in the
    direction of pulse 1's amplitude (the largest for a positive A1, the smallest for a
    negative one, the largest ``|w - level|`` for A1 = 0; first such sample), so that the
    decay of earlier responses below the level is not taken for a response of the
    opposite sign. The peak time is the latency
    from ``T_k`` under ``"pspsweep"``, the absolute grid time under ``"isf"``. Under
    ``"isf"`` ``T_k``'s first grid index is ``int(T_k / 0.025)``, as ISF's for t_stim.

    Returns:
        ``(amplitudes, t_peaks)``, arrays of shape ``(len(ts), len(options.pulses))``;
        with one pulse the single column equals :func:`psp_features_many` bit for bit.

    Raises:
        PspSweepError: As :func:`psp_features_many`, or when a pulse has no grid sample
            of its own before ``t_end``.
    """
    if len(ts) != len(vs):
        raise PspSweepError(f"got {len(ts)} time arrays but {len(vs)} voltage arrays")
    first = _windows(float(t_stim) + options.pulses[0], float(t_end), options)
    starts = [first.k_stim, *(_pulse_start(float(t_stim) + p, first.grid, options) for p in options.pulses[1:])]
    if any(b <= a for a, b in zip(starts, starts[1:])) or starts[-1] >= first.grid.size:
        raise PspSweepError(
            f"protocol.spikes={list(options.pulses)}: every pulse needs grid samples of its own between "
            f"tStim = {t_stim} ms and tEnd = {t_end} ms (step {first.grid[1] - first.grid[0]:g} ms)"
        )
    stops = [*starts[1:], first.grid.size]
    refs = [first.t_ref, *(0.0 if options.convention == "isf" else float(t_stim) + p for p in options.pulses[1:])]
    base_grid = _baseline_on_grid(t_base, v_base, first.grid, options)
    amplitudes = np.empty((len(ts), len(starts)))
    t_peaks = np.empty((len(ts), len(starts)))
    for i, (t, v) in enumerate(zip(ts, vs)):
        w = resample(t, v, first.grid, name=f"unit trace {i}")
        if base_grid is not None:
            w = w - base_grid
        amplitudes[i, 0], t_peaks[i, 0] = _extremum(w[: stops[0]], first)
        direction = float(np.sign(amplitudes[i, 0]))
        for k in range(1, len(starts)):
            window = _Windows(first.grid, slice(0, 0), starts[k], refs[k])
            amplitudes[i, k], t_peaks[i, k] = _extremum(w[: stops[k]], window, w[starts[k] - 1], direction)
    return amplitudes, t_peaks


def _pulse_start(t_pulse: float, grid: np.ndarray, options: AnalysisOptions) -> int:
    """First grid index of a pulse's window (as ``_windows``' ``k_stim`` for t_stim)."""
    if options.convention == "isf":
        return int(t_pulse / ISF_RESAMPLE_DT_MS)
    return math.ceil(t_pulse / options.resample_dt - _GRID_TOL)


def _baseline_on_grid(
    t_base: ArrayLike | None, v_base: ArrayLike | None, grid: np.ndarray, options: AnalysisOptions
) -> np.ndarray | None:
    """The baseline run on the grid for the dynamic baseline, None for the constant one."""
    if options.baseline != "dynamic":
        return None
    if t_base is None or v_base is None:
        raise PspSweepError("the dynamic baseline needs the baseline run (t_base, v_base)")
    return resample(t_base, v_base, grid, name="baseline trace")


def analysis_grid(t_end: float, options: AnalysisOptions = AnalysisOptions()) -> np.ndarray:
    """The grid every trace is resampled on (ms).

    Args:
        t_end: End of the simulation (ms), > 0.
        options: Analysis options (convention and step).

    Returns:
        ``numpy.arange(0, t_end, 0.025)`` under ``"isf"``; ``k * resample_dt`` for
        ``0 <= k * resample_dt <= t_end`` (to 1e-9 of a step) under ``"pspsweep"``.

    Raises:
        PspSweepError: If ``t_end`` is not positive and finite.
    """
    if not (math.isfinite(t_end) and t_end > 0):
        raise PspSweepError(f"t_end must be a positive time in ms, got {t_end}")
    if options.convention == "isf":
        return np.arange(0.0, t_end, ISF_RESAMPLE_DT_MS)
    n_steps = math.floor(t_end / options.resample_dt + _GRID_TOL)
    return np.arange(n_steps + 1) * options.resample_dt


def resample(t: ArrayLike, v: ArrayLike, grid: np.ndarray, name: str = "trace") -> np.ndarray:
    """Piecewise-linear resampling that holds the end values (isf-reference 7.1).

    Args:
        t: Sample times (ms), non-empty, finite and non-decreasing. At a repeated time
            the last sample wins; just before it the line runs to the first one.
        v: Values at ``t`` (mV), same length.
        grid: Times to evaluate at (ms).
        name: How error messages call this trace.

    Returns:
        The values on ``grid`` (mV).

    Raises:
        PspSweepError: For an empty trace, different lengths, non-finite values or
            decreasing times.
    """
    t_arr, v_arr = _checked_trace(t, v, name)
    steps = np.diff(t_arr)
    if np.all(steps > 0):
        return np.interp(grid, t_arr, v_arr)
    return _interp_non_decreasing(grid, t_arr, v_arr)


def _checked_trace(t: ArrayLike, v: ArrayLike, name: str) -> tuple[np.ndarray, np.ndarray]:
    t_arr = np.asarray(t, dtype=float)
    v_arr = np.asarray(v, dtype=float)
    if t_arr.ndim != 1 or v_arr.ndim != 1:
        raise PspSweepError(f"{name}: t and v must be 1-D arrays")
    if t_arr.size == 0:
        raise PspSweepError(f"{name}: the trace is empty")
    if t_arr.size != v_arr.size:
        raise PspSweepError(f"{name}: {t_arr.size} time samples but {v_arr.size} voltage samples")
    if not (np.all(np.isfinite(t_arr)) and np.all(np.isfinite(v_arr))):
        raise PspSweepError(f"{name}: the trace contains NaN or infinite values")
    decreasing = np.flatnonzero(np.diff(t_arr) < 0)
    if decreasing.size:
        k = int(decreasing[0])
        raise PspSweepError(
            f"{name}: sample times decrease at index {k + 1} "
            f"({t_arr[k]} -> {t_arr[k + 1]} ms); they must be non-decreasing"
        )
    return t_arr, v_arr


def _interp_non_decreasing(x: np.ndarray, t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``numpy.interp`` semantics for non-decreasing ``t``, made explicit.

    For each x the left sample is the last one with ``t[j] <= x``; the right one is
    ``j + 1``, which then lies strictly later, so no division by zero occurs.
    """
    n = t.size
    if n == 1:
        return np.full(x.shape, v[0])
    j = np.searchsorted(t, x, side="right") - 1
    inside = (j >= 0) & (j < n - 1)
    out = np.where(j < 0, v[0], v[-1])
    jj = j[inside]
    slope = (v[jj + 1] - v[jj]) / (t[jj + 1] - t[jj])
    out[inside] = slope * (x[inside] - t[jj]) + v[jj]
    return out


def _windows(t_stim: float, t_end: float, options: AnalysisOptions) -> _Windows:
    if not (math.isfinite(t_stim) and math.isfinite(t_end)):
        raise PspSweepError(f"t_stim and t_end must be finite, got {t_stim} and {t_end} ms")
    if not t_stim < t_end:
        raise PspSweepError(f"t_stim ({t_stim} ms) must be earlier than t_end ({t_end} ms)")
    grid = analysis_grid(t_end, options)
    if options.convention == "isf":
        i0 = int(t_stim - 1 / ISF_RESAMPLE_DT_MS)  # ISF's quirk: t_stim - 40
        i1 = int(t_stim / ISF_RESAMPLE_DT_MS)
        if i0 < 0 or i0 >= i1:
            raise PspSweepError(
                f"the ISF baseline window (grid indices {i0}..{i1}) is empty or starts before "
                f"t = 0 for t_stim = {t_stim} ms; the 'isf' convention needs t_stim >= 40 ms"
            )
        pre, k_stim, t_ref = slice(i0, i1), i1, 0.0
    else:
        dt = options.resample_dt
        k_stim = math.ceil(t_stim / dt - _GRID_TOL)
        k_pre = max(0, math.ceil((t_stim - PRE_STIMULUS_WINDOW_MS) / dt - _GRID_TOL))
        if k_pre >= k_stim:
            raise PspSweepError(
                f"no grid sample before t_stim = {t_stim} ms (resample_dt = {dt} ms); "
                "the pre-stimulus level cannot be measured"
            )
        pre, t_ref = slice(k_pre, k_stim), t_stim
    if k_stim >= grid.size:
        raise PspSweepError(f"no grid sample between t_stim = {t_stim} ms and t_end = {t_end} ms")
    return _Windows(grid=grid, pre=pre, k_stim=k_stim, t_ref=t_ref)


def _extremum(
    w: np.ndarray, windows: _Windows, level: float | None = None, direction: float = 0.0
) -> tuple[float, float]:
    """Signed extremum of ``w`` minus ``level`` (default: its pre-stimulus median) from
    ``windows.k_stim`` to the end of ``w``, and its time: the largest ``|w|``, or with a
    ``direction`` of +1 (-1) the largest (smallest) ``w``."""
    w = w - (np.median(w[windows.pre]) if level is None else level)
    searched = w[windows.k_stim :]
    k = windows.k_stim + int(np.argmax(np.abs(searched) if direction == 0 else direction * searched))
    return float(w[k]), float(windows.grid[k] - windows.t_ref)
