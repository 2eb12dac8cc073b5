"""The fit stage: unit tables of a conductance sweep -> statistics -> lines -> optimal g.

Input is the ``psps.csv`` of every job of a multirun (one table per conductance, or
per cell type and conductance). Cell types are merged into groups
(:mod:`pspsweep.celltypes`), statistics are computed per group and g, each statistic is
fitted by a line against g and inverted at the measured EPSPs (:mod:`pspsweep.fit.lines`,
isf-reference 7.4-7.6), and a bootstrap over units gives a confidence interval of the
optimal g. :func:`fit_stage` writes the tables and plots (:mod:`pspsweep.report`) and
returns what a tracker records (:func:`record_fit`); gathering the tables and opening
the tracker is the caller's business, so nothing here touches MLflow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from pspsweep.celltypes import CLASSIFICATIONS, assign_groups, groups_for
from pspsweep.config import FitConfig, MorphologyView, PspSweepConfig
from pspsweep.errors import PspSweepError
from pspsweep.features import AnalysisOptions
from pspsweep.fit.lines import bootstrap_optimal_g, linear_fits, optimal_g
from pspsweep.protocol_config import protocol_label
from pspsweep.run_record import fit_description
from pspsweep.statistics import require_columns, summary_statistics
from pspsweep.tracking import NOTE_TAG, Tracker
from pspsweep.validation import check_metric_name

#: statistics whose lines the optimal g uses
USED_STATISTICS = ("amp_mean", "amp_median", "amp_max")
#: measured PSC columns (nA, inward negative as in psps.csv), matched to the EPSP ones
MEASURED_PSC = {"EPSC_mean_measured": "EPSP_mean_measured", "EPSC_med_measured": "EPSP_med_measured"}
MEASURED_PSC["EPSC_max_measured"] = "EPSP_max_measured"
#: what the fit's tables call the amplitudes of a voltage clamp (nA, inward positive)
_INWARD_NAMES = (("amp_", "inward_psc_"), ("amplitude_mV", "inward_psc_nA"), ("EPSP_", "inward_EPSC_"))


@dataclass
class FitResult:
    """Tables of one fit."""

    units: pd.DataFrame
    group_statistics: pd.DataFrame
    celltype_statistics: pd.DataFrame
    fits: pd.DataFrame
    optimal: pd.DataFrame | None


class FitOutput(NamedTuple):
    """What :func:`fit_stage` produced: the tables, the files it wrote, and the metrics
    and tags of the fit's run."""

    result: FitResult
    files: list[Path]
    metrics: dict[str, float]
    tags: dict[str, str]


def fit_conductances(
    tables: Sequence[pd.DataFrame],
    measured: pd.DataFrame | None,
    fit: FitConfig,
    options: AnalysisOptions,
    excitatory_prefixes: Sequence[str] | None = None,
) -> FitResult:
    """Statistics per group and g, linear fits and (with ``measured``) the optimal g.

    Args:
        tables: unit tables (``psps.csv``) with ``celltype, unit, g, amplitude_mV`` and
            the peak time (``options.peak_time_column``).
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
    units, measured, options = fitted_amplitudes(units, measured, options)
    if options.convention == "isf" and "t_peak_abs_ms" not in units and "t_peak_ms" in units:
        # the psps.csv of a sweep recorded before the column was named by its reference
        units = units.rename(columns={"t_peak_ms": "t_peak_abs_ms"})
    require_columns(units, ["celltype", "unit", "g", "amplitude_mV", options.peak_time_column], "unit table (psps.csv)")
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
        optimal = _optimal_with_interval(fits, grouped, measured, fit, options)
        optimal = optimal[optimal["group"].isin(groups)].reset_index(drop=True)
    return FitResult(grouped, group_stats, celltype_stats, fits, optimal)


def fitted_amplitudes(
    units: pd.DataFrame, measured: pd.DataFrame | None, options: AnalysisOptions
) -> tuple[pd.DataFrame, pd.DataFrame | None, AnalysisOptions]:
    """What the fit runs on, as ``amplitude_mV`` with options of one pulse: pulse 1's
    amplitude of a train; under a voltage clamp the **inward** PSC, ``-psc_nA`` (nA,
    inward positive, so the mean, median and max EPSC are the lines of the mean, median
    and max EPSP), against the measured ``EPSC_*_measured`` negated alike.

    Raises:
        PspSweepError: a PSC fit's measured table lacks the ``EPSC_*_measured`` columns.
    """
    single = dataclasses.replace(options, pulses=options.pulses[:1])
    if options.signal != "current":
        return units, measured, single
    require_columns(units, ["psc_nA"], "unit table (psps.csv) of a voltage clamp")
    units = units.drop(columns=["amplitude_mV"], errors="ignore").assign(amplitude_mV=-units["psc_nA"])
    if measured is not None:
        require_columns(measured, list(MEASURED_PSC), "measured table of a voltage clamp (fit.measured)")
        measured = -measured[list(MEASURED_PSC)].rename(columns=MEASURED_PSC)
    return units, measured, dataclasses.replace(single, signal="voltage", threshold_mV=options.threshold_nA)


def inward_names(table: pd.DataFrame) -> pd.DataFrame:
    """A fit table of a voltage clamp with its columns named for the inward PSC
    (``inward_psc_mean``, ``inward_EPSC_mean_measured``, ``inward_psc_mean_slope``, ...)."""

    def renamed(column: str) -> str:
        for old, new in _INWARD_NAMES:
            if column.startswith(old):
                return new + column.removeprefix(old)
        return column

    return table.rename(columns=renamed)


def _optimal_with_interval(
    fits: pd.DataFrame, grouped: pd.DataFrame, measured: pd.DataFrame, fit: FitConfig, options: AnalysisOptions
) -> pd.DataFrame:
    """The optimal g per group, poor lines and extrapolations flagged, with the bootstrap
    interval if asked for."""
    optimal = _flag_poor_lines(optimal_g(fits, measured, weights=tuple(fit.weights)), fit.min_r2)
    optimal = _flag_extrapolated(optimal, grouped)
    if fit.bootstrap <= 0:
        return optimal
    boot = bootstrap_optimal_g(
        grouped, measured, n_boot=fit.bootstrap, seed=fit.seed, ci=fit.ci, options=options, weights=tuple(fit.weights)
    )
    return optimal.merge(
        boot[["group", "ci_low", "ci_high", "ci_level", "n_boot_valid", "n_units"]], on="group", how="left"
    )


def _flag_poor_lines(optimal: pd.DataFrame, min_r2: float) -> pd.DataFrame:
    """Mark groups whose used lines explain too little of their statistic."""
    out = optimal.copy()
    r2 = out[[f"{s}_r2" for s in USED_STATISTICS]]
    poor = (r2 < min_r2).any(axis=1)
    for i in np.flatnonzero(poor.to_numpy()):
        worst = r2.iloc[i].idxmin().removesuffix("_r2")
        _add_note(out, int(i), f"poor linear fit of {worst}: R^2 {r2.iloc[i].min():.3f} below fit.min_r2={min_r2}")
    out["fit_ok"] = out["fit_ok"].astype(bool) & ~poor
    return out


def _flag_extrapolated(optimal: pd.DataFrame, grouped: pd.DataFrame) -> pd.DataFrame:
    """Mark groups whose optimal g lies outside the conductances simulated for them: a
    straight line is only known between its points (column ``extrapolated``, a note,
    ``fit_ok`` False)."""
    out = optimal.copy()
    sampled = grouped.groupby("group")["g"].agg(["min", "max"]).reindex(out["group"])
    low, high = sampled["min"].to_numpy(dtype=float), sampled["max"].to_numpy(dtype=float)
    g = out["optimal_g"].to_numpy(dtype=float)
    tol = 1e-9 * np.maximum(np.abs(high), 1.0)
    with np.errstate(invalid="ignore"):
        outside = np.isfinite(g) & np.isfinite(low) & ((g < low - tol) | (g > high + tol))
    for i in np.flatnonzero(outside):
        _add_note(out, int(i), f"extrapolated: optimal g {g[i]:.3g} nS outside the sampled {low[i]:g}-{high[i]:g} nS")
    out.insert(out.columns.get_loc("note") + 1, "extrapolated", outside)
    out["fit_ok"] = out["fit_ok"].astype(bool) & ~outside
    return out


def _add_note(table: pd.DataFrame, i: int, note: str) -> None:
    prev = table.at[table.index[i], "note"]
    table.at[table.index[i], "note"] = f"{prev}; {note}" if isinstance(prev, str) and prev else note


def fit_summary(optimal: pd.DataFrame) -> str:
    """The optimal conductances as a table for the console, then one line per group
    without a sound value saying why (its note)."""
    shown = optimal[["group", "optimal_g", "g_mean", "g_median", "g_max", "fit_ok"]].to_string(index=False)
    reasons = [f"  {row.group}: {row.note}" for row in optimal.itertuples() if not row.fit_ok]
    return "\n".join([shown, *reasons])


def optimal_g_metrics(optimal: pd.DataFrame | None) -> dict[str, float]:
    """Metrics ``optimal_g.<group>`` (and per-statistic g, CI bounds) of a fit run."""
    if optimal is None:
        return {}
    metrics: dict[str, float] = {}
    for _, row in optimal.iterrows():
        group = str(row["group"])
        for column in ("optimal_g", "g_mean", "g_median", "g_max", "ci_low", "ci_high"):
            if column in row and pd.notna(row[column]):
                metrics[f"{column}.{group}"] = float(row[column])
        metrics[f"fit_ok.{group}"] = float(bool(row["fit_ok"]))
    return metrics


def measured_table(fit: FitConfig) -> pd.DataFrame | None:
    """The measured EPSP table named by ``fit.measured``, or None without one.

    Raises:
        PspSweepError: naming ``fit.measured`` and the file (and line) at fault.
    """
    from pspsweep.builders import resolve_path
    from pspsweep.io.measured import read_measured_epsp

    return read_measured_epsp(resolve_path(fit.measured, "fit.measured")) if fit.measured else None


def fit_stage(
    cfg: PspSweepConfig, tables: Sequence[pd.DataFrame], measured: pd.DataFrame | None, out_dir: Path
) -> FitOutput:
    """Fit the unit tables of a multirun and write the fit's tables and plots into ``out_dir``.

    Args:
        cfg: the configuration (fit, analysis, network classification and neuron are used).
        tables: the children's unit tables (``psps.csv``).
        measured: the measured EPSP table (:func:`measured_table`), or None.
        out_dir: folder for the fit's files.

    Returns:
        The fit tables, the files written, and the metrics and tags of the fit.
    """
    from pspsweep.builders import cell_spec_from_config
    from pspsweep.protocol_config import analysis_options
    from pspsweep.report import fit_figures, write_fit_tables
    from pspsweep.report.plotting import Measure

    options = analysis_options(cfg)
    excitatory, _ = CLASSIFICATIONS[cfg.network.classification]
    result = fit_conductances(tables, measured, cfg.fit, options, excitatory)
    clamp = options.signal == "current"
    files = write_fit_tables(result, out_dir, inward_names if clamp else None)
    fitted = "inward PSC, -psc_nA (nA)" if clamp else "amplitude_mV (mV)"
    if options.n_pulses > 1:
        fitted += ", pulse 1"
    if any("failure_rate" in t.columns for t in tables):  # a sweep with trials (docs/trials.md)
        n = cfg.protocol.trials
        fitted += f", trial mean over {n} trial{'s' if n > 1 else ''} (failures included)"
    if cfg.network.kind == "sonata":
        fitted += "; g: a scale factor of the circuit's own weights, not nS"
    measure = Measure("amplitude_mV", "nA", "PSC", "inward PSC (nA, −psc_nA)") if clamp else Measure()
    shown = -measured.rename(columns=MEASURED_PSC) if clamp and measured is not None else measured
    files += fit_figures(
        result,
        shown,
        cell_spec_from_config(cfg.neuron),
        out_dir,
        options.threshold,
        cfg.fit.min_r2,
        convention=options.convention,
        view=MorphologyView(cfg.output.morphology_view).value,
        measure=measure,
        protocol=f"{protocol_label(cfg.protocol)}; fitted: {fitted}",
    )
    # tags, not params: a refit may use another measured table than the first fit
    tags = {
        "fit.measured": str(cfg.fit.measured),
        "fit.weights": str(list(cfg.fit.weights)),
        "fit.groups": str(cfg.fit.groups),
        "fit.convention": options.convention,
        "fit.protocol": protocol_label(cfg.protocol),
        "fit.amplitude": fitted,
    }
    return FitOutput(result, files, optimal_g_metrics(result.optimal), tags)


def record_fit(tracker: Tracker, output: FitOutput) -> None:
    """Hand a fit's files, tags and metrics to the tracker of the fit's own run."""
    for f in output.files:
        tracker.log_artifact(f)
    tracker.set_tags({**output.tags, NOTE_TAG: fit_description(output.metrics)})
    tracker.log_metrics(output.metrics)
