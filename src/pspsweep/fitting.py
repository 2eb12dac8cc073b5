"""The fit stage: unit tables of a conductance sweep -> statistics -> lines -> optimal g.

Input is the ``psps.csv`` of every job of a multirun (one table per conductance, or
per cell type and conductance). Cell types are merged into groups, statistics are
computed per group and g, each statistic is fitted by a line against g and inverted at
the measured EPSPs (isf-reference 7.4-7.6), and a bootstrap over units gives a
confidence interval of the optimal g. Everything here is plain pandas; reading the
tables from MLflow and logging the results is the caller's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from pspsweep.config import FitConfig, check_metric_name
from pspsweep.errors import PspSweepError
from pspsweep.features import AnalysisOptions
from pspsweep.fit import bootstrap_optimal_g, linear_fits, optimal_g
from pspsweep.celltypes import assign_groups, groups_for
from pspsweep.statistics import require_columns, summary_statistics

#: artifact names of a fit (fixed, documented in the README)
OPTIMAL_G_CSV = "optimal_g.csv"
GROUP_STATISTICS_CSV = "group_statistics.csv"
CELLTYPE_STATISTICS_CSV = "celltype_statistics.csv"
FITS_CSV = "fits.csv"
UNITS_PARQUET = "units.parquet"

#: statistics whose lines the optimal g uses
USED_STATISTICS = ("amp_mean", "amp_median", "amp_max")


@dataclass
class FitResult:
    """Tables of one fit."""

    units: pd.DataFrame
    group_statistics: pd.DataFrame
    celltype_statistics: pd.DataFrame
    fits: pd.DataFrame
    optimal: pd.DataFrame | None


def fit_conductances(
    tables: Sequence[pd.DataFrame],
    measured: pd.DataFrame | None,
    fit: FitConfig,
    options: AnalysisOptions,
    excitatory_prefixes: Sequence[str] | None = None,
) -> FitResult:
    """Statistics per group and g, linear fits and (with ``measured``) the optimal g.

    Args:
        tables: unit tables (``psps.csv``) with ``celltype, unit, g, amplitude_mV, t_peak_ms``.
        measured: measured EPSP table indexed by group, or None for statistics and lines only.
        fit: groups, weights, bootstrap and the R^2 limit.
        options: the analysis convention and threshold the units were measured with.
        excitatory_prefixes: cell-type prefixes allowed in ISF's merged groups.

    Returns:
        The fit tables; ``optimal`` is None without ``measured``.

    Raises:
        PspSweepError: without unit tables, or with fewer than two conductances.
    """
    if not tables:
        raise PspSweepError("no unit tables to fit: did every job of the multirun fail?")
    units = pd.concat(tables, ignore_index=True)
    require_columns(units, ["celltype", "unit", "g", "amplitude_mV", "t_peak_ms"], "unit table (psps.csv)")
    # empty fit.groups (the default) means ISF's merging, as None does
    groups = groups_for(list(units["celltype"]), fit.groups or None, excitatory_prefixes)
    for group in groups:  # each becomes part of metric names (optimal_g.<group>)
        check_metric_name(group, "group")
    grouped = assign_groups(units, groups)
    celltype_stats = summary_statistics(units, options, by=("celltype", "g"))
    group_stats = summary_statistics(grouped, options, by=("group", "g"))
    if units["g"].nunique() < 2:
        raise PspSweepError(f"a fit needs at least two conductances; the sweep has g = {sorted(units['g'].unique())}")
    fits = linear_fits(group_stats, g_column="g")
    optimal = None
    if measured is not None:
        optimal = optimal_g(fits, measured, weights=tuple(fit.weights))
        optimal = _flag_poor_lines(optimal, fit.min_r2)
        if fit.bootstrap > 0:
            boot = bootstrap_optimal_g(grouped, measured, n_boot=fit.bootstrap, seed=fit.seed, ci=fit.ci,
                                       options=options, weights=tuple(fit.weights))
            optimal = optimal.merge(boot[["group", "ci_low", "ci_high", "ci_level", "n_boot_valid", "n_units"]],
                                    on="group", how="left")
        optimal = optimal[optimal["group"].isin(groups)].reset_index(drop=True)
    return FitResult(grouped, group_stats, celltype_stats, fits, optimal)


def _flag_poor_lines(optimal: pd.DataFrame, min_r2: float) -> pd.DataFrame:
    """Mark groups whose used lines explain too little of their statistic."""
    out = optimal.copy()
    r2 = out[[f"{s}_r2" for s in USED_STATISTICS]]
    poor = (r2 < min_r2).any(axis=1)
    for i in np.flatnonzero(poor.to_numpy()):
        worst = r2.iloc[i].idxmin().removesuffix("_r2")
        note = f"poor linear fit of {worst} (R^2 {r2.iloc[i].min():.3f} < {min_r2})"
        prev = out.at[out.index[i], "note"]
        out.at[out.index[i], "note"] = f"{prev}; {note}" if isinstance(prev, str) and prev else note
    out["fit_ok"] = out["fit_ok"].astype(bool) & ~poor
    return out


def write_fit_tables(result: FitResult, out_dir: Path) -> list[Path]:
    """Write the fit's tables: CSV for people, Parquet for the unit table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for name, table in ((GROUP_STATISTICS_CSV, result.group_statistics),
                        (CELLTYPE_STATISTICS_CSV, result.celltype_statistics), (FITS_CSV, result.fits),
                        (OPTIMAL_G_CSV, result.optimal)):
        if table is not None:
            table.to_csv(out_dir / name, index=False)
            files.append(out_dir / name)
    result.units.to_parquet(out_dir / UNITS_PARQUET, index=False)
    files.append(out_dir / UNITS_PARQUET)
    return files


def optimal_g_metrics(optimal: pd.DataFrame | None) -> dict[str, float]:
    """Metrics ``optimal_g.<group>`` (and per-statistic g, CI bounds) for the parent run."""
    if optimal is None:
        return {}
    metrics: dict[str, float] = {}
    for _, row in optimal.iterrows():
        group = str(row["group"])
        for column in ("optimal_g", "g_mean", "g_median", "g_max", "ci_low", "ci_high"):
            if column in row and pd.notna(row[column]):
                metrics[f"{column}.{group}"] = float(row[column])
    return metrics
