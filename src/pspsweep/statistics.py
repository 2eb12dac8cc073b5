"""Summary statistics of unit features per cell type (or merged group) and conductance.

Which cell types make up a merged group is decided in :mod:`pspsweep.celltypes`.

The input is a *unit table*: one row per unit and conductance, with at least

* ``celltype`` (str): presynaptic cell type, e.g. ``VPM_C2``;
* ``gAMPA``, ``gNMDA``, ``gGABA`` (float, nS): conductances of the run (NaN where a
  receptor does not apply, e.g. ``gGABA`` of an excitatory unit);
* ``amplitude_mV`` (float): signed amplitude from :func:`pspsweep.features.psp_features`
  (NaN = no result for this unit; the row is then not counted at all);
* the peak time from the same function **under the same convention**, in the column
  named by its reference (:attr:`~pspsweep.features.AnalysisOptions.peak_time_column`):
  ``t_peak_ms``, the latency from ``t_stim``, under ``"pspsweep"``; ``t_peak_abs_ms``,
  the absolute simulation time (ISF's ``tMax``), under ``"isf"``;
* optionally ``group`` (str): merged group name, see :func:`pspsweep.celltypes.assign_groups`.

Under a voltage clamp (``options.signal == "current"``) the amplitude column is
``psc_nA`` (the PSC, nA, inward negative) and the amplitude statistics are named
``psc_mean, ...`` instead of ``amp_mean, ...``. A train of presynaptic spikes adds a
column pair per pulse k >= 2 (``amplitude_mV_p2, t_peak_ms_p2``, ...) and ``ppr``
(:func:`feature_columns`); the statistics then get a ``pulse`` column (1, 2, ...) and
a row per pulse.

:func:`summary_statistics` returns one row per group key with the key columns followed
by :data:`STATISTICS_COLUMNS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from pspsweep.errors import PspSweepError
from pspsweep.features import DEFAULT_OPTIONS, AnalysisOptions

CONDUCTANCE_COLUMNS = ("gAMPA", "gNMDA", "gGABA")
DEFAULT_KEYS = ("celltype", *CONDUCTANCE_COLUMNS)
STATISTICS_COLUMNS = (
    *("n_units", "n_responding"),
    *("amp_mean", "amp_std", "amp_median", "amp_min", "amp_max"),
    *("t_mean", "t_std", "t_median"),
)
"""Statistic columns: counts, amplitudes (mV) and peak times (ms) of responding units."""
#: under "isf" the mean and median peak times are absolute, and named so (the spread has no reference)
_ISF_TIME_NAMES = {"t_mean": "t_mean_abs", "t_median": "t_median_abs"}


def statistics_columns(options: AnalysisOptions) -> tuple[str, ...]:
    """:data:`STATISTICS_COLUMNS` as named under ``options``' convention: ``t_mean`` and
    ``t_median`` are latencies from ``t_stim``; under ``"isf"`` they are the absolute
    ``t_mean_abs`` and ``t_median_abs``, as the unit table's ``t_peak_abs_ms``. The
    amplitude statistics of a clamp current are ``psc_mean, ...`` (nA)."""
    names: tuple[str, ...] = STATISTICS_COLUMNS
    if options.convention == "isf":
        names = tuple(_ISF_TIME_NAMES.get(name, name) for name in names)
    if options.signal == "current":
        names = tuple(
            _PSC_PREFIX + name.removeprefix(_AMP_PREFIX) if name.startswith(_AMP_PREFIX) else name for name in names
        )
    return names


_AMP_PREFIX, _PSC_PREFIX = "amp_", "psc_"


def feature_columns(options: AnalysisOptions, amplitudes: np.ndarray, t_peaks: np.ndarray) -> dict[str, np.ndarray]:
    """The unit table's feature columns: amplitude and peak time, per pulse of a train
    (:meth:`~pspsweep.features.AnalysisOptions.pulse_columns`), then ``ppr`` = A2 / A1
    (NaN where A1 is 0 or missing).

    Args:
        options: the analysis options the features were measured with.
        amplitudes, t_peaks: one value per unit, or one row per unit and a column per pulse.
    """
    amplitudes, t_peaks = np.asarray(amplitudes, dtype=float), np.asarray(t_peaks, dtype=float)
    if amplitudes.ndim == 1:
        amplitudes, t_peaks = amplitudes[:, None], t_peaks[:, None]
    columns: dict[str, np.ndarray] = {}
    for k in range(amplitudes.shape[1]):
        amplitude, peak = options.pulse_columns(k)
        columns[amplitude], columns[peak] = amplitudes[:, k], t_peaks[:, k]
    if amplitudes.shape[1] > 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            columns["ppr"] = np.where(amplitudes[:, 0] != 0, amplitudes[:, 1] / amplitudes[:, 0], np.nan)
    return columns


def pulse_view(df: pd.DataFrame, options: AnalysisOptions, pulse: int) -> tuple[pd.DataFrame, AnalysisOptions]:
    """Pulse ``pulse`` (0-based) of a unit table as a one-pulse table: its columns under
    the first pulse's names, and options of one pulse (the trial columns are pulse 1's:
    a later pulse's view has none)."""
    amplitude, peak = options.pulse_columns(pulse)
    single = dataclasses.replace(options, pulses=options.pulses[:1])
    if pulse == 0:
        return df, single
    first = (*options.pulse_columns(0), *trial_columns(options))
    view = df.drop(columns=[c for c in first if c in df.columns]).rename(columns=dict(zip((amplitude, peak), first)))
    return view, single


def trial_columns(options: AnalysisOptions) -> tuple[str, str, str, str]:
    """A unit table's trial columns (pulse 1, over a unit's trials; docs/trials.md): the
    mean of the successes, the failure rate, the SD and the CV: ``success_mean_mV,
    failure_rate, amplitude_sd_mV, amplitude_cv``; under a voltage clamp
    ``success_mean_nA, failure_rate, psc_sd_nA, psc_cv``."""
    stem = options.amplitude_column.removesuffix(f"_{options.unit}")
    return f"success_mean_{options.unit}", "failure_rate", f"{stem}_sd_{options.unit}", f"{stem}_cv"


def trial_statistics_columns(options: AnalysisOptions) -> tuple[str, ...]:
    """The statistics of the trial columns: mean and median of each over the units, then
    ``fraction_responding_any`` (``success_amp_mean, success_amp_median, failure_rate_mean,
    ..., amp_sd_mean, ..., amp_cv_median``; ``psc`` for ``amp`` under a voltage clamp)."""
    prefix = _PSC_PREFIX if options.signal == "current" else _AMP_PREFIX
    stems = (f"success_{prefix.rstrip('_')}", "failure_rate", f"{prefix}sd", f"{prefix}cv")
    return (*(f"{stem}_{s}" for stem in stems for s in ("mean", "median")), "fraction_responding_any")


def trial_statistics(table: pd.DataFrame, options: AnalysisOptions) -> dict[str, float]:
    """:func:`trial_statistics_columns` of a set of units: the mean and median of each
    trial column over the units with a result (NaN values, e.g. the success mean of a
    unit that never released, left out), and the fraction of them that released in any
    trial (failure rate below 1)."""
    present = table[~table[options.amplitude_column].isna()]
    out: dict[str, float] = {}
    names = iter(trial_statistics_columns(options))
    for column in trial_columns(options):
        values = finite(present[column].to_numpy(float))
        for statistic in (np.mean, np.median):
            out[next(names)] = float(statistic(values)) if values.size else np.nan
    failure = present["failure_rate"].to_numpy(float)
    out[next(names)] = float(np.mean(failure < 1.0)) if failure.size else np.nan
    return out


def finite(values: np.ndarray) -> np.ndarray:
    """The finite entries of ``values``."""
    return values[np.isfinite(values)]


def has_trial_columns(table: pd.DataFrame, options: AnalysisOptions) -> bool:
    """Whether a unit table has the trial columns (a sweep with trials, docs/trials.md)."""
    return all(c in table.columns for c in trial_columns(options))


def response_statistics(amplitudes: np.ndarray, t_peaks: np.ndarray, options: AnalysisOptions) -> dict[str, float]:
    """Statistics of one set of units (one group at one conductance).

    The single implementation used by :func:`summary_statistics` and by the bootstrap
    in :mod:`pspsweep.fit`.

    Args:
        amplitudes: Signed amplitudes (mV); NaN entries are missing units.
        t_peaks: Peak times (ms) as produced by the features under ``options``.
        options: Convention and threshold.

    Returns:
        A dict with the keys of :func:`statistics_columns`. ``n_units`` counts the
        non-missing units and ``n_responding`` those passing the threshold
        (``|a| >= threshold`` under ``"pspsweep"``, ``a >= threshold`` under
        ``"isf"``; ``threshold_mV``, or ``threshold_nA`` for a clamp current). The
        other values are over the responding units only: mean, **population**
        standard deviation (ddof = 0, as ISF), median, min and max of the amplitudes
        (mV or nA, signed), and mean / population std / median of the peak
        time (ms) on the reference of ``t_peaks``. All NaN when no unit responds.
    """
    amplitudes = np.asarray(amplitudes, dtype=float)
    t_peaks = np.asarray(t_peaks, dtype=float)
    present = ~np.isnan(amplitudes)
    with np.errstate(invalid="ignore"):
        if options.convention == "isf":
            responding = present & (amplitudes >= options.threshold)
        else:
            responding = present & (np.abs(amplitudes) >= options.threshold)
    a = amplitudes[responding]
    t = t_peaks[responding]
    names = statistics_columns(options)
    out: dict[str, float] = {"n_units": int(present.sum()), "n_responding": int(a.size)}
    if a.size == 0:
        out.update({name: np.nan for name in names[2:]})
        return out
    values = (np.mean(a), np.std(a), np.median(a), np.min(a), np.max(a), np.mean(t), np.std(t), np.median(t))
    out.update({name: float(v) for name, v in zip(names[2:], values)})
    return out


def summary_statistics(
    df: pd.DataFrame,
    options: AnalysisOptions = DEFAULT_OPTIONS,
    by: Sequence[str] = DEFAULT_KEYS,
) -> pd.DataFrame:
    """Amplitude and peak-time statistics per group key (isf-reference 7.5).

    Args:
        df: Unit table (see the module docstring); needs ``amplitude_mV``, the peak
            time (``options.peak_time_column``) and the columns named in ``by``.
        options: Convention and threshold (see :func:`response_statistics`).
        by: Grouping columns, default ``celltype, gAMPA, gNMDA, gGABA``; use
            ``("group", "gAMPA", "gNMDA", "gGABA")`` after :func:`pspsweep.celltypes.assign_groups`. NaN
            keys (e.g. ``gGABA`` of excitatory units) form groups of their own.

    Returns:
        One row per key combination, sorted by the keys: the ``by`` columns, then
        ``n_units, n_responding, amp_mean, amp_std, amp_median, amp_min, amp_max``
        (mV) and ``t_mean, t_std, t_median`` (ms; ``t_mean_abs, t_std, t_median_abs``
        under ``"isf"``). Under ``"isf"`` rows without a
        responding unit are omitted (as ISF); under ``"pspsweep"`` they are kept with
        ``n_responding = 0`` and NaN statistics.

        With several pulses, a ``pulse`` column (1, 2, ...) follows the ``by`` columns
        and each key has a row per pulse.

        A table with trials (:func:`trial_columns`) adds :func:`trial_statistics_columns`
        (pulse 1's; NaN in a later pulse's rows).

    Raises:
        PspSweepError: If a needed column is missing.
    """
    keys = list(by)
    if not keys:
        raise PspSweepError("summary_statistics needs at least one grouping column")
    if options.n_pulses > 1:
        parts = []
        for k in range(options.n_pulses):
            view, single = pulse_view(df, options, k)
            part = summary_statistics(view, single, by)
            part.insert(len(keys), "pulse", k + 1)
            parts.append(part)
        return pd.concat(parts, ignore_index=True).sort_values([*keys, "pulse"], kind="stable", ignore_index=True)
    peak, column = options.peak_time_column, options.amplitude_column
    require_columns(df, [*keys, column, peak], "unit table")
    trials = has_trial_columns(df, options)
    rows = []
    for key, sub in df.groupby(keys, sort=True, dropna=False):
        amplitudes = sub[column].to_numpy(dtype=float)
        stats = response_statistics(amplitudes, sub[peak].to_numpy(dtype=float), options)
        if options.convention == "isf" and stats["n_responding"] == 0:
            continue
        if trials:
            stats.update(trial_statistics(sub, options))
        rows.append({**dict(zip(keys, key)), **stats})
    extra = trial_statistics_columns(options) if trials else ()
    table = pd.DataFrame(rows, columns=[*keys, *statistics_columns(options), *extra])
    return table.astype({"n_units": "int64", "n_responding": "int64"})


def require_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise :class:`PspSweepError` naming the columns of ``df`` that are missing.

    Args:
        df: The table to check.
        columns: Required column names.
        what: How the message calls the table.

    Raises:
        PspSweepError: If any of ``columns`` is missing.
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise PspSweepError(f"{what} lacks column(s) {missing}; it has {list(df.columns)}")


#: statistics that also become per-cell-type and per-group metrics (``psc_*`` for PSCs)
KEY_STATISTICS = ("n_responding", "amp_mean", "amp_median", "amp_max")
#: trial statistics that also do, in a sweep with trials
KEY_TRIAL_STATISTICS = ("failure_rate_mean", "amp_cv_mean", "amp_cv_median", "fraction_responding_any")


def statistics_metrics(
    table: pd.DataFrame,
    stats: pd.DataFrame,
    group_stats: pd.DataFrame,
    options: AnalysisOptions,
    excitatory: dict[str, bool] | None = None,
) -> dict[str, float]:
    """Summary metrics of a sweep: every statistic over all its units (``amp_mean``, ...);
    with several cell types also ``amp_mean.<celltype>`` and ``amp_mean.group.<group>``
    (and n_responding, amp_median, amp_max); with ``excitatory`` (cell type -> kind)
    ``n_units``, ``n_responding``, ``amp_mean``, ... ``.excitatory`` and ``.inhibitory``
    of each kind present, so EPSPs and IPSPs are never averaged together.

    With trials (:func:`has_trial_columns`) the overall metrics add the
    :func:`trial_statistics_columns` (pulse 1) and the per-cell-type and group ones
    :data:`KEY_TRIAL_STATISTICS`.

    PSCs name them ``psc_mean``, ...; pulse k >= 2 of a train adds ``_p<k>`` to the
    statistic (``amp_mean_p2``, ``amp_mean_p2.excitatory``), and the paired-pulse ratio
    of the units responding to pulse 1 gives ``ppr_mean`` and ``ppr_median``."""
    if options.n_pulses == 1:
        return _pulse_metrics(table, stats, group_stats, options, excitatory)
    metrics: dict[str, float] = {}
    for k in range(options.n_pulses):
        view, single = pulse_view(table, options, k)
        stats_k, group_stats_k = (f[f["pulse"] == k + 1].drop(columns="pulse") for f in (stats, group_stats))
        values = _pulse_metrics(view, stats_k, group_stats_k, single, excitatory)
        metrics.update(values if k == 0 else {_pulse_metric_name(name, k): v for name, v in values.items()})
    a1 = table[options.amplitude_column].to_numpy(float)
    with np.errstate(invalid="ignore"):
        ratios = table["ppr"].to_numpy(float)[np.abs(a1) >= options.threshold]
    ratios = ratios[np.isfinite(ratios)]
    metrics["ppr_mean"] = float(np.mean(ratios)) if ratios.size else np.nan
    metrics["ppr_median"] = float(np.median(ratios)) if ratios.size else np.nan
    return metrics


def _pulse_metric_name(name: str, pulse: int) -> str:
    """``amp_mean.L4ss_C2`` of pulse ``pulse`` (0-based): ``amp_mean_p2.L4ss_C2``."""
    statistic, dot, rest = name.partition(".")
    return f"{statistic}_p{pulse + 1}{dot}{rest}"


def _pulse_metrics(
    table: pd.DataFrame,
    stats: pd.DataFrame,
    group_stats: pd.DataFrame,
    options: AnalysisOptions,
    excitatory: dict[str, bool] | None,
) -> dict[str, float]:
    """:func:`statistics_metrics` of one pulse (one-pulse table and options)."""
    overall = summary_statistics(table.assign(sweep="all"), options, by=("sweep",))
    if len(overall):
        metrics = {k: float(v) for k, v in overall.iloc[0].items() if k != "sweep"}
    else:
        metrics = {"n_responding": 0.0}
    named = dict(zip(STATISTICS_COLUMNS, statistics_columns(options)))
    key_statistics = [named.get(name, name) for name in KEY_STATISTICS]
    trials = has_trial_columns(table, options)
    if trials:
        signal_prefix = _PSC_PREFIX if options.signal == "current" else _AMP_PREFIX
        key_statistics += [name.replace(_AMP_PREFIX, signal_prefix) for name in KEY_TRIAL_STATISTICS]
    if table["celltype"].nunique() > 1:
        for frame, key, prefix in ((stats, "celltype", ""), (group_stats, "group", "group.")):
            for _, row in frame.iterrows():
                metrics.update({f"{name}.{prefix}{row[key]}": float(row[name]) for name in key_statistics})
    for kind, suffix in ((True, "excitatory"), (False, "inhibitory")):
        rows = table[table["celltype"].map(excitatory or {}) == kind]
        if len(rows):
            values = response_statistics(
                rows[options.amplitude_column].to_numpy(float), rows[options.peak_time_column].to_numpy(float), options
            )
            if trials:
                values.update(trial_statistics(rows, options))
            metrics.update({f"{name}.{suffix}": float(values[name]) for name in ("n_units", *key_statistics)})
    return metrics
