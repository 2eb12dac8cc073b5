"""Conductance fit: statistics against g, inverted at the measured values (isf-reference 7.6).

For every group, each statistic S of :data:`FIT_STATISTICS` is fitted by ordinary least
squares as ``S ~ slope * g + offset`` over the conductances simulated (a degree-1
``numpy.polyfit``, as ISF). The measured mean, median and maximum EPSP are then mapped
back to conductances

    g_mean = (EPSP_mean_measured - amp_mean_offset) / amp_mean_slope
    g_median = (EPSP_med_measured - amp_median_offset) / amp_median_slope
    g_max = (EPSP_max_measured - amp_max_offset) / amp_max_slope

and combined as ``optimal_g = (2 g_mean + 2 g_median + 1 g_max) / 5`` (weights
configurable). The std fit is reported but not used, as in ISF.

Tables:

* **statistics** (input of :func:`linear_fits`): one row per group and conductance,
  e.g. :func:`pspsweep.statistics.summary_statistics` with ``by=("group", "gAMPA")``.
  Needs the group column, the conductance column (``g_column``) and
  ``amp_mean, amp_std, amp_median, amp_max`` (mV).
* **fits** (output of :func:`linear_fits`): ``group, n_points`` and for each statistic
  S: ``S_slope`` (mV/nS), ``S_offset`` (mV), ``S_r2`` (coefficient of determination)
  and ``S_max_resid`` (largest absolute residual, mV).
* **measured**: indexed by group name (or with a group column) with
  ``EPSP_mean_measured, EPSP_med_measured, EPSP_max_measured`` (mV).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from pspsweep.errors import PspSweepError
from pspsweep.features import DEFAULT_OPTIONS, AnalysisOptions
from pspsweep.statistics import require_columns, response_statistics, summary_statistics

FIT_STATISTICS = ("amp_mean", "amp_std", "amp_median", "amp_max")
"""Statistics fitted against g."""
FIT_SUFFIXES = ("slope", "offset", "r2", "max_resid")
MEASURED_COLUMNS = ("EPSP_mean_measured", "EPSP_med_measured", "EPSP_max_measured")
"""Measured-table columns (mV), matched to ``amp_mean, amp_median, amp_max``."""
_INVERTED = (  # (statistic, measured column, output column)
    ("amp_mean", "EPSP_mean_measured", "g_mean"),
    ("amp_median", "EPSP_med_measured", "g_median"),
    ("amp_max", "EPSP_max_measured", "g_max"),
)
OPTIMAL_COLUMNS = ("optimal_g", "g_mean", "g_median", "g_max", "fit_ok", "note")
BOOTSTRAP_COLUMNS = (
    *("optimal_g", "ci_low", "ci_high", "ci_level"),
    *("n_boot", "n_boot_valid", "n_units"),
)
FIT_COLUMNS = tuple(f"{s}_{x}" for s in FIT_STATISTICS for x in FIT_SUFFIXES)


def linear_fits(stats: pd.DataFrame, g_column: str = "g", group_column: str = "group") -> pd.DataFrame:
    """Straight-line fit of each statistic against the conductance, per group.

    Rows whose statistic is NaN (no responding unit) are left out of that statistic's
    fit. A fit needs at least two distinct conductances; otherwise its values are NaN.
    ``S_r2`` is NaN when the statistic does not vary (zero total sum of squares).

    Args:
        stats: Statistics table (see the module docstring), one row per group and g.
        g_column: Conductance column (nS), e.g. ``"g"`` or ``"gAMPA"``.
        group_column: Group column.

    Returns:
        The fits table: ``group_column, n_points`` then ``S_slope, S_offset, S_r2,
        S_max_resid`` for S in ``amp_mean, amp_std, amp_median, amp_max``; groups in
        order of first appearance.

    Raises:
        PspSweepError: If a column is missing, a g value is not finite, or a group has
            several rows for the same g (e.g. gAMPA != gNMDA mixed in one group).
    """
    require_columns(stats, [group_column, g_column, *FIT_STATISTICS], "statistics table")
    rows = []
    for group, sub in stats.groupby(group_column, sort=False):
        g = sub[g_column].to_numpy(dtype=float)
        if not np.all(np.isfinite(g)):
            raise PspSweepError(f"group {group!r}: column {g_column!r} has non-finite values")
        if np.unique(g).size != g.size:
            raise PspSweepError(
                f"group {group!r} has several rows for the same {g_column}; fit one conductance series per group"
            )
        values = {s: sub[s].to_numpy(dtype=float) for s in FIT_STATISTICS}
        rows.append({group_column: group, "n_points": int(g.size), **_fit_group(g, values)})
    table = pd.DataFrame(rows, columns=[group_column, "n_points", *FIT_COLUMNS])
    return table.astype({"n_points": "int64"})


def optimal_g(
    fits: pd.DataFrame,
    measured: pd.DataFrame,
    weights: Sequence[float] | np.ndarray = (2, 2, 1),
    group_column: str = "group",
) -> pd.DataFrame:
    """Conductance at which the fitted lines meet the measured EPSP statistics.

    Args:
        fits: Output of :func:`linear_fits`.
        measured: Measured table (see the module docstring).
        weights: Weights of ``(g_mean, g_median, g_max)`` in ``optimal_g``.
        group_column: Group column of ``fits`` (and of ``measured`` if not indexed).

    Returns:
        One row per group present in either table (groups of ``fits`` first, then the
        measured-only ones): ``group_column, optimal_g, g_mean, g_median, g_max`` (nS),
        ``fit_ok`` (bool), ``note`` (str, why ``fit_ok`` is False, else empty), the
        three ``EPSP_*_measured`` columns (mV), then ``n_points`` and the fit columns.
        A group missing on either side gets NaN values, like ISF, and
        ``fit_ok = False``. A g whose slope is zero or undefined is NaN.

    Raises:
        PspSweepError: For missing columns, duplicated measured groups or bad weights.
    """
    w = checked_weights(weights)
    require_columns(fits, [group_column, "n_points", *FIT_COLUMNS], "fits table")
    meas = _measured_table(measured, group_column)
    fit_rows = {row[group_column]: row for row in fits.to_dict("records")}
    order = list(dict.fromkeys([*fit_rows, *meas.index]))
    rows = []
    for group in order:
        fit = fit_rows.get(group)
        m = meas.loc[group].to_dict() if group in meas.index else None
        row = {group_column: group, **_invert(fit, m, w)}
        row.update({c: np.nan if m is None else m[c] for c in MEASURED_COLUMNS})
        row["n_points"] = 0 if fit is None else fit["n_points"]
        row.update({c: np.nan if fit is None else fit[c] for c in FIT_COLUMNS})
        rows.append(row)
    columns = [group_column, *OPTIMAL_COLUMNS, *MEASURED_COLUMNS, "n_points", *FIT_COLUMNS]
    table = pd.DataFrame(rows, columns=columns)
    return table.astype({"fit_ok": bool, "n_points": "int64"})


def bootstrap_optimal_g(
    unit_table: pd.DataFrame,
    measured: pd.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    *,
    options: AnalysisOptions = DEFAULT_OPTIONS,
    weights: Sequence[float] = (2, 2, 1),
    group_column: str = "group",
    g_column: str = "g",
    unit_column: str = "unit",
) -> pd.DataFrame:
    """Percentile bootstrap confidence interval of the optimal conductance.

    Units are resampled with replacement inside each group, keeping all their
    conductances (one draw of units serves every g), and each replicate goes through
    the point estimate's own code. A unit is ``(celltype, unit_column)`` when the table
    has ``celltype``. Each group's generator is seeded by ``(seed, crc32(group))``, so
    a group's interval does not depend on the other groups. Measured values are exact.

    Args:
        unit_table: ``group_column, unit_column, g_column, amplitude_mV`` and the peak
            time (``options.peak_time_column``).
        measured: Measured table (see the module docstring).
        n_boot: Number of bootstrap replicates (>= 1).
        seed: Seed of the random generators.
        ci: Confidence level in (0, 1).
        options: Convention and threshold of the statistics.
        weights: Weights of ``(g_mean, g_median, g_max)``.
        group_column, g_column, unit_column: Group, conductance (nS) and unit columns.

    Returns:
        Per group: ``optimal_g`` (point estimate, nS), ``ci_low, ci_high`` (nS),
        ``ci_level``, ``n_boot``, ``n_boot_valid`` (finite replicates), ``n_units``;
        NaN bounds where no replicate is finite.

    Raises:
        PspSweepError: Missing columns, bad ``n_boot``/``ci``, or a unit with several
            rows at one conductance.
    """
    _check_bootstrap(n_boot, ci)
    w = checked_weights(weights)
    peak = options.peak_time_column
    require_columns(unit_table, [group_column, unit_column, g_column, "amplitude_mV", peak], "unit table")
    meas = _measured_table(measured, group_column)
    stats = summary_statistics(unit_table, options, by=(group_column, g_column))
    point = optimal_g(linear_fits(stats, g_column, group_column), meas, w, group_column)
    key = [unit_column] if "celltype" not in unit_table.columns else ["celltype", unit_column]
    by_group = dict(list(unit_table.groupby(group_column, sort=False)))
    q = ((1 - ci) / 2, 1 - (1 - ci) / 2)
    draws = _Draws(int(n_boot), seed, options, w)
    rows = []
    for group, g_opt in zip(point[group_column], point["optimal_g"]):
        m = meas.loc[group].to_dict() if group in meas.index else None
        valid, n_units = _replicates(by_group.get(group), key, (g_column, peak), group, m, draws)
        low, high = np.quantile(valid, q) if valid.size else (np.nan, np.nan)
        rows.append((group, g_opt, float(low), float(high), ci, int(n_boot), valid.size, n_units))
    return pd.DataFrame(rows, columns=[group_column, *BOOTSTRAP_COLUMNS])


class _Draws(NamedTuple):
    """How each group is resampled: replicates, seed, statistics options, weights."""

    n_boot: int
    seed: int
    options: AnalysisOptions
    weights: np.ndarray


def _check_bootstrap(n_boot: int, ci: float) -> None:
    if int(n_boot) != n_boot or n_boot < 1:
        raise PspSweepError(f"n_boot must be a positive integer, got {n_boot}")
    if not 0 < ci < 1:
        raise PspSweepError(f"ci must lie strictly between 0 and 1, got {ci}")


def _replicates(
    units: pd.DataFrame | None,
    key: list[str],
    columns: tuple[str, str],
    group: object,
    measured: Mapping[str, float] | None,
    draws: _Draws,
) -> tuple[np.ndarray, int]:
    """The finite optimal g of the replicates of one group (none without units or
    measured values), and the group's number of units; ``columns``: conductance and
    peak time."""
    if units is None:
        return np.empty(0), 0
    amp, t_peak, g = _paired(units, key, columns, group)
    if measured is None:
        return np.empty(0), amp.shape[0]
    # a generator per group: a group's interval does not depend on the other groups
    rng = np.random.default_rng([draws.seed, zlib.crc32(str(group).encode())])
    reps = [_replicate(amp, t_peak, g, rng, draws.options, measured, draws.weights) for _ in range(draws.n_boot)]
    return np.array(reps)[np.isfinite(reps)], amp.shape[0]


def _fit_line(g: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """OLS line through the finite points: (slope, offset, r2, max |residual|)."""
    ok = np.isfinite(y)
    g, y = g[ok], y[ok]
    if np.unique(g).size < 2:
        return (np.nan,) * 4
    slope, offset = np.polyfit(g, y, 1)
    resid = y - (slope * g + offset)
    ss_tot = float(np.sum((y - np.mean(y)) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else np.nan
    return float(slope), float(offset), r2, float(np.max(np.abs(resid)))


def _fit_group(g: np.ndarray, values: Mapping[str, np.ndarray]) -> dict[str, float]:
    """All fit columns of one group from its g values and statistic arrays."""
    out: dict[str, float] = {}
    for s in FIT_STATISTICS:
        out.update(zip((f"{s}_{x}" for x in FIT_SUFFIXES), _fit_line(g, values[s])))
    return out


def _invert(
    fit: Mapping[str, float] | None, measured: Mapping[str, float] | None, weights: np.ndarray
) -> dict[str, Any]:
    """g_mean, g_median, g_max, optimal_g, fit_ok and note of one group."""
    out: dict[str, Any] = {c: np.nan for c in OPTIMAL_COLUMNS[:4]}
    notes = []
    if fit is None:
        notes.append("no simulated units for this group")
    if measured is None:
        notes.append("no measured EPSPs for this group")
    if fit is not None and measured is not None:
        for stat, column, name in _INVERTED:
            slope, offset = fit[f"{stat}_slope"], fit[f"{stat}_offset"]
            if math.isfinite(slope) and slope != 0:
                out[name] = (measured[column] - offset) / slope
        used = [(wi, name) for wi, (_, _, name) in zip(weights, _INVERTED) if wi > 0]
        out["optimal_g"] = sum(wi * out[name] for wi, name in used) / sum(wi for wi, _ in used)
        used_names = {name for _, name in used}
        for stat, column, name in _INVERTED:
            if name in used_names and not math.isfinite(out[name]):
                notes.append(f"undefined {name}: {_why_undefined(fit, measured, stat, column)}")
        negative = [name for _, name in used if out[name] <= 0]
        if negative:  # a conductance is positive: the lines miss the measured EPSPs
            notes.append(f"non-positive {', '.join(negative)} (the lines meet the measured EPSPs at g <= 0)")
    out["fit_ok"] = not notes
    out["note"] = "; ".join(notes)
    return out


def _why_undefined(fit: Mapping[str, float], measured: Mapping[str, float], stat: str, column: str) -> str:
    """Why the line of ``stat`` gives no g at the measured ``column``."""
    if not math.isfinite(measured[column]):
        return f"no measured {column}"
    if fit["n_points"] < 2:
        return "fewer than 2 conductances"
    if not math.isfinite(fit[f"{stat}_slope"]):
        return f"fewer than 2 conductances with responding units ({stat})"
    return f"{stat} does not change with g (zero slope)"


def _replicate(
    amp: np.ndarray,
    t_peak: np.ndarray,
    g: np.ndarray,
    rng: np.random.Generator,
    options: AnalysisOptions,
    measured: Mapping[str, float] | None,
    weights: np.ndarray,
) -> float:
    """Optimal g of one bootstrap replicate (units x g matrices resampled by row)."""
    idx = rng.integers(0, amp.shape[0], amp.shape[0])
    per_g = [response_statistics(amp[idx, j], t_peak[idx, j], options) for j in range(g.size)]
    values = {s: np.array([st[s] for st in per_g]) for s in FIT_STATISTICS}
    return float(_invert({"n_points": int(g.size), **_fit_group(g, values)}, measured, weights)["optimal_g"])


def _paired(
    sub: pd.DataFrame, key: list[str], columns: tuple[str, str], group: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Units x g matrices of amplitude and peak time (NaN where a unit lacks a g);
    ``columns``: the conductance and peak-time columns."""
    g_column, peak = columns
    if sub.duplicated([*key, g_column]).any():
        raise PspSweepError(f"group {group!r}: a unit ({', '.join(key)}) has several rows at one {g_column}")
    amp = sub.pivot(index=key, columns=g_column, values="amplitude_mV").sort_index(axis=1)
    t_peak = sub.pivot(index=key, columns=g_column, values=peak)
    t_peak = t_peak.reindex(index=amp.index, columns=amp.columns)
    g = amp.columns.to_numpy(dtype=float)
    return amp.to_numpy(dtype=float), t_peak.to_numpy(dtype=float), g


def _measured_table(measured: pd.DataFrame, group_column: str) -> pd.DataFrame:
    """The measured table indexed by group, with its three columns as floats."""
    if group_column in measured.columns:
        measured = measured.set_index(group_column)
    require_columns(measured, MEASURED_COLUMNS, "measured EPSP table")
    if measured.index.has_duplicates:
        dup = measured.index[measured.index.duplicated()].unique().tolist()
        raise PspSweepError(f"measured EPSP table lists group(s) {dup} more than once")
    return measured.loc[:, list(MEASURED_COLUMNS)].astype(float)


def checked_weights(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """``fit.weights`` as an array, checked (the one rule for them, also before a run)."""
    w = np.asarray(weights, dtype=float)
    if w.shape != (3,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise PspSweepError(
            f"fit.weights must be three non-negative numbers (g_mean, g_median, g_max) "
            f"with a positive sum, got {tuple(weights)}"
        )
    return w
