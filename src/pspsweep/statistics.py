"""Summary statistics of unit features per cell type (or merged group) and conductance.

The input is a *unit table*: one row per unit and conductance, with at least

* ``celltype`` (str): presynaptic cell type, e.g. ``VPM_C2``;
* ``gAMPA``, ``gNMDA``, ``gGABA`` (float, nS): conductances of the run (NaN where a
  receptor does not apply, e.g. ``gGABA`` of an excitatory unit);
* ``amplitude_mV`` (float): signed amplitude from :func:`pspsweep.features.psp_features`
  (NaN = no result for this unit; the row is then not counted at all);
* ``t_peak_ms`` (float): peak time from the same function **under the same
  convention**: latency from ``t_stim`` under ``"pspsweep"``, absolute simulation time
  (ISF's ``tMax``) under ``"isf"``;
* optionally ``group`` (str): merged group name, see :func:`assign_groups`.

:func:`summary_statistics` returns one row per group key with the key columns followed
by :data:`STATISTICS_COLUMNS`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from pspsweep.celltypes import ISF_HEAD_EXCITATORY
from pspsweep.errors import PspSweepError
from pspsweep.features import AnalysisOptions

ISF_DETECTION_STRINGS = ("L2", "L34", "L4", "L5st", "L5tt", "L6cc", "L6ct", "VPM_C2")
"""ISF's default merge groups (isf-reference 7.4), matched as substrings."""
ISF_T_PSP_START_MS = 100.0
"""ISF's ``tPSPStart``: peak times are reported relative to it under ``"isf"`` (ms)."""

CONDUCTANCE_COLUMNS = ("gAMPA", "gNMDA", "gGABA")
DEFAULT_KEYS = ("celltype", *CONDUCTANCE_COLUMNS)
STATISTICS_COLUMNS = (
    *("n_units", "n_responding"),
    *("amp_mean", "amp_std", "amp_median", "amp_min", "amp_max"),
    *("t_mean", "t_std", "t_median"),
)
"""Statistic columns: counts, amplitudes (mV) and peak times (ms) of responding units."""


def response_statistics(
    amplitudes: np.ndarray, t_peaks: np.ndarray, options: AnalysisOptions
) -> dict[str, float]:
    """Statistics of one set of units (one group at one conductance).

    The single implementation used by :func:`summary_statistics` and by the bootstrap
    in :mod:`pspsweep.fit`.

    Args:
        amplitudes: Signed amplitudes (mV); NaN entries are missing units.
        t_peaks: Peak times (ms) as produced by the features under ``options``.
        options: Convention and threshold.

    Returns:
        A dict with the keys of :data:`STATISTICS_COLUMNS`. ``n_units`` counts the
        non-missing units and ``n_responding`` those passing the threshold
        (``|a| >= threshold_mV`` under ``"pspsweep"``, ``a >= threshold_mV`` under
        ``"isf"``). The other values are over the responding units only: mean,
        **population** standard deviation (ddof = 0, as ISF), median, min and max of
        the amplitudes (mV, signed), and mean / population std / median of the peak
        time (ms): the latency from ``t_stim`` under ``"pspsweep"`` and
        ``t_peak - 100`` ms (ISF's ``tPSPStart``) under ``"isf"``. All NaN when no
        unit responds.
    """
    amplitudes = np.asarray(amplitudes, dtype=float)
    t_peaks = np.asarray(t_peaks, dtype=float)
    present = ~np.isnan(amplitudes)
    with np.errstate(invalid="ignore"):
        if options.convention == "isf":
            responding = present & (amplitudes >= options.threshold_mV)
        else:
            responding = present & (np.abs(amplitudes) >= options.threshold_mV)
    a = amplitudes[responding]
    t = t_peaks[responding]
    if options.convention == "isf":
        t = t - ISF_T_PSP_START_MS
    out: dict[str, float] = {"n_units": int(present.sum()), "n_responding": int(a.size)}
    if a.size == 0:
        out.update({name: np.nan for name in STATISTICS_COLUMNS[2:]})
        return out
    out.update(
        amp_mean=float(np.mean(a)),
        amp_std=float(np.std(a)),
        amp_median=float(np.median(a)),
        amp_min=float(np.min(a)),
        amp_max=float(np.max(a)),
        t_mean=float(np.mean(t)),
        t_std=float(np.std(t)),
        t_median=float(np.median(t)),
    )
    return out


def summary_statistics(
    df: pd.DataFrame,
    options: AnalysisOptions = AnalysisOptions(),
    by: Sequence[str] = DEFAULT_KEYS,
) -> pd.DataFrame:
    """Amplitude and peak-time statistics per group key (isf-reference 7.5).

    Args:
        df: Unit table (see the module docstring); needs ``amplitude_mV``,
            ``t_peak_ms`` and the columns named in ``by``.
        options: Convention and threshold (see :func:`response_statistics`).
        by: Grouping columns, default ``celltype, gAMPA, gNMDA, gGABA``; use
            ``("group", "gAMPA", "gNMDA", "gGABA")`` after :func:`assign_groups`. NaN
            keys (e.g. ``gGABA`` of excitatory units) form groups of their own.

    Returns:
        One row per key combination, sorted by the keys: the ``by`` columns, then
        ``n_units, n_responding, amp_mean, amp_std, amp_median, amp_min, amp_max``
        (mV) and ``t_mean, t_std, t_median`` (ms). Under ``"isf"`` rows without a
        responding unit are omitted (as ISF); under ``"pspsweep"`` they are kept with
        ``n_responding = 0`` and NaN statistics.

    Raises:
        PspSweepError: If a needed column is missing.
    """
    keys = list(by)
    if not keys:
        raise PspSweepError("summary_statistics needs at least one grouping column")
    require_columns(df, [*keys, "amplitude_mV", "t_peak_ms"], "unit table")
    rows = []
    for key, sub in df.groupby(keys, sort=True, dropna=False):
        amplitudes = sub["amplitude_mV"].to_numpy(dtype=float)
        stats = response_statistics(amplitudes, sub["t_peak_ms"].to_numpy(dtype=float), options)
        if options.convention == "isf" and stats["n_responding"] == 0:
            continue
        rows.append({**dict(zip(keys, key)), **stats})
    table = pd.DataFrame(rows, columns=[*keys, *STATISTICS_COLUMNS])
    return table.astype({"n_units": "int64", "n_responding": "int64"})


def merge_groups(
    celltypes: Iterable[str],
    groups: Mapping[str, Sequence[str]] | None = None,
    excitatory_prefixes: Iterable[str] | None = None,
) -> dict[str, list[str]]:
    """Which cell types make up each merged group.

    Default (``groups is None``), ISF's ``merge_celltypes`` (isf-reference 7.4): for
    each detection string of :data:`ISF_DETECTION_STRINGS` in order, the members are the
    cell types, in ascending string order, whose prefix (text before the first ``_``)
    is allowed and which contain the string as a **substring**. Hence ``L6cc`` also
    collects ``L6ccinv_*``, ``L4`` collects ``L4py/L4sp/L4ss_*``, ``VPM_C2`` only
    ``VPM_C2`` and ``L1_*`` nothing.

    With ``groups``, each value is a list of :mod:`fnmatch` patterns matched against
    the whole name (e.g. ``{"L2": ["L2_*"]}``); members are in ascending order.

    Groups without any member are left out. A cell type may belong to several groups.
    ISF takes a merged group's baseline run from its first member; pspsweep computes
    features per cell type against that type's own baseline run, which is the same
    synapse-free simulation in every task (isf-reference 10.3).

    Args:
        celltypes: Cell-type names (duplicates ignored).
        groups: Group name -> fnmatch patterns, or None for ISF's default merging.
        excitatory_prefixes: Allowed prefixes. None means ISF HEAD's excitatory list
            (:data:`ISF_HEAD_EXCITATORY`) for the default merging and no prefix
            filter when ``groups`` is given; pass a list to filter in either case.

    Returns:
        Group name -> member cell types, groups in the order of the detection strings
        (or of ``groups``).

    Raises:
        PspSweepError: If a group's patterns are given as a plain string.
    """
    names = sorted(set(celltypes))
    if excitatory_prefixes is None and groups is None:
        excitatory_prefixes = ISF_HEAD_EXCITATORY
    if excitatory_prefixes is not None:
        allowed = set(excitatory_prefixes)
        names = [c for c in names if c.split("_", 1)[0] in allowed]
    merged: dict[str, list[str]] = {}
    if groups is None:
        for s in ISF_DETECTION_STRINGS:
            members = [c for c in names if s in c]
            if members:
                merged[s] = members
        return merged
    for group, patterns in groups.items():
        if isinstance(patterns, str):
            raise PspSweepError(
                f"group {group!r}: patterns must be a list of strings, got the string {patterns!r}"
            )
        members = [c for c in names if any(fnmatch.fnmatchcase(c, p) for p in patterns)]
        if members:
            merged[group] = members
    return merged


def assign_groups(
    df: pd.DataFrame,
    groups: Mapping[str, Sequence[str]],
    celltype_column: str = "celltype",
    group_column: str = "group",
) -> pd.DataFrame:
    """Add the merged-group column to a unit table.

    Args:
        df: Unit table with ``celltype_column``.
        groups: Group -> member cell types, as returned by :func:`merge_groups`.
        celltype_column: Column holding the cell type.
        group_column: Name of the new column.

    Returns:
        A new table, rows grouped by group in the order of ``groups`` and in their
        original order inside a group, with ``group_column`` appended. Rows of cell
        types in no group are dropped; rows of a cell type in several groups appear
        once per group. The index is reset.

    Raises:
        PspSweepError: If ``celltype_column`` is missing or ``group_column`` exists.
    """
    require_columns(df, [celltype_column], "unit table")
    if group_column in df.columns:
        raise PspSweepError(f"unit table already has a {group_column!r} column")
    parts = [
        df[df[celltype_column].isin(members)].assign(**{group_column: group})
        for group, members in groups.items()
    ]
    if not parts:
        return df.iloc[:0].assign(**{group_column: pd.Series(dtype=object)})
    return pd.concat(parts, ignore_index=True)


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
