"""Pictures and tables for people: PNG plots of one sweep (no MLflow, no NEURON).

Each function writes one file and returns its path; the pipeline hands the files to the
tracker, whose UI previews PNG and CSV.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pspsweep import geometry
from pspsweep.cellmodel import CellSpec

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: at most this many unit traces are drawn, so a plot of thousands of units stays readable
MAX_TRACES = 60

_PYPLOT: Any = None
_PYPLOT_LOCK = threading.Lock()


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, imported on first use.

    Why lazily: the import takes about a second, and a sweep draws only at its end, so
    importing it with this module delayed every simulation. The lock makes a drawing
    function wait for a :func:`preload` still in progress.
    """
    global _PYPLOT
    with _PYPLOT_LOCK:
        if _PYPLOT is None:
            import matplotlib

            matplotlib.use("Agg")  # no display on clusters and in CI
            import matplotlib.pyplot as plt

            _PYPLOT = plt
    return _PYPLOT


def warm_up() -> None:
    """Import pyplot and render a tiny figure (loads the font list and the Agg renderer).

    The figure is made without pyplot, whose figure registry is not thread-safe.
    """
    _pyplot()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1), dpi=10)
    fig.text(0.5, 0.5, "0")
    FigureCanvasAgg(fig).draw()


def preload() -> threading.Thread:
    """Import matplotlib in a background thread, for a process that waits for its workers
    anyway; the drawing functions wait for it. Returns the (daemon) thread."""
    thread = threading.Thread(target=warm_up, name="pspsweep-preload-matplotlib", daemon=True)
    thread.start()
    return thread


def amplitude_histogram(table: pd.DataFrame, path: Path, threshold_mV: float, title: str) -> Path:
    """Histogram of signed PSP amplitudes (mV) with the response threshold marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    amps = table["amplitude_mV"].to_numpy(dtype=float)
    amps = amps[np.isfinite(amps)]
    bins = min(max(len(amps) // 3, 10), 60)
    ax.hist(amps, bins=bins, color="#4477aa", edgecolor="white")
    for sign in (-1, 1):
        ax.axvline(sign * threshold_mV, color="0.4", ls="--", lw=1)
    ax.set_xlabel("PSP amplitude (mV)")
    ax.set_ylabel("units")
    ax.set_title(f"{title}\n{len(amps)} units, threshold ±{threshold_mV:g} mV", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def trace_overview(t_baseline: np.ndarray, v_baseline: np.ndarray, traces: list[tuple[np.ndarray, np.ndarray]],
                   n_units: int, path: Path, t_stim: float, t_end: float, title: str) -> Path:
    """Soma voltage of the baseline and of some units (top) and unit minus baseline (bottom).

    Args:
        t_baseline, v_baseline: the synapse-free run (ms, mV).
        traces: (t, v) of the units to draw, largest amplitude first (at most ``MAX_TRACES``).
        n_units: how many units the sweep had (for the title).
        path: the PNG to write.
        t_stim, t_end: stimulus and end time (ms).
        title: first part of the title.
    """
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), dpi=110, sharex=True)
    t0 = max(0.0, t_stim - 10.0)
    grid = np.linspace(t0, t_end, 800)
    base = np.interp(grid, t_baseline, v_baseline)
    shown = traces[:MAX_TRACES]
    if shown:
        from matplotlib.collections import LineCollection

        # one collection per panel rather than a line per trace: a third faster to draw
        on_grid = np.array([np.interp(grid, t, v) for t, v in shown])
        colors = plt.get_cmap("viridis")(np.arange(len(shown)) / max(len(shown) - 1, 1))
        for ax, values in ((top, on_grid), (bottom, on_grid - base)):
            segments = np.stack([np.broadcast_to(grid, values.shape), values], axis=-1)
            ax.add_collection(LineCollection(segments, colors=colors, linewidths=0.7, alpha=0.8))
            ax.autoscale_view()
    top.plot(grid, base, color="k", lw=1.5, label="baseline (no synapse)")
    top.legend(loc="best", fontsize=8)
    for ax in (top, bottom):
        ax.axvline(t_stim, color="0.5", ls=":", lw=1)
    top.set_ylabel("soma V (mV)")
    bottom.set_ylabel("unit − baseline (mV)")
    bottom.set_xlabel("t (ms)")
    top.set_title(f"{title}: {len(shown)} of {n_units} units", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ------------------------------------------------------------------ sweep summaries

#: measured statistics drawn as reference lines: (column, label, line style)
_MEASURED_LINES = (
    ("EPSP_mean_measured", "measured mean", "-"),
    ("EPSP_med_measured", "measured median", "--"),
    ("EPSP_max_measured", "measured max", ":"),
)
#: fitted statistics of :func:`fit_plot`: (statistic, measured column, g column, label, colour, marker)
_FIT_SERIES = (
    ("amp_mean", "EPSP_mean_measured", "g_mean", "mean", "#4477aa", "o"),
    ("amp_median", "EPSP_med_measured", "g_median", "median", "#228833", "s"),
    ("amp_max", "EPSP_max_measured", "g_max", "max", "#cc6677", "^"),
)
#: fits with a coefficient of determination below this get a warning mark
MIN_R2 = 0.9
_WARN = "\u26a0"


def _grid(n: int, max_cols: int = 3, panel: tuple[float, float] = (4.2, 3.2),
          extra_width: float = 0.0) -> tuple[Figure, list]:
    """A figure of n small panels, at most ``max_cols`` per row; unused axes are hidden."""
    plt = _pyplot()
    n = max(n, 1)
    ncols = min(n, max_cols)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols + extra_width, panel[1] * nrows),
                             dpi=100, squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _measured_by_group(measured: pd.DataFrame | None, group_column: str = "group") -> pd.DataFrame:
    """Measured table indexed by group name (empty if None); missing columns become NaN."""
    if measured is None:
        return pd.DataFrame(columns=[c for c, _, _ in _MEASURED_LINES])
    if group_column in measured.columns:
        measured = measured.set_index(group_column)
    elif "celltype" in measured.columns:
        measured = measured.set_index("celltype")
    return measured.reindex(columns=[c for c, _, _ in _MEASURED_LINES]).astype(float)


def _finite(values: object) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    return a[np.isfinite(a)]


def _fmt_g(g: float) -> str:
    return f"{g:.3g}" if np.isfinite(g) else "n/a"


def group_histograms(units: pd.DataFrame, measured: pd.DataFrame | None, path: Path, threshold_mV: float,
                     *, group_column: str = "group", g_column: str = "g") -> Path:
    """Amplitude histograms per group, one step curve per conductance, measured values marked.

    Args:
        units: unit table with ``amplitude_mV`` and, if present, ``group_column`` (one
            panel per group; a single panel otherwise) and ``g_column`` (one curve per g).
        measured: measured EPSP table indexed by group (or with a group/celltype column),
            or None; its mean, median and max are drawn as vertical lines.
        path: the PNG to write.
        threshold_mV: response threshold, drawn at ±threshold.
    """
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    groups = list(dict.fromkeys(units[group_column])) if group_column in units.columns else [None]
    has_g = g_column in units.columns
    g_all = np.unique(_finite(units[g_column])) if has_g else np.array([np.nan])
    cmap = plt.get_cmap("viridis")
    colours = [cmap(0.85 * k / max(len(g_all) - 1, 1)) for k in range(len(g_all))]
    meas = _measured_by_group(measured, group_column)
    fig, axes = _grid(len(groups), extra_width=1.8)
    for ax, group in zip(axes, groups):
        sub = units if group is None else units[units[group_column] == group]
        amps = _finite(sub["amplitude_mV"])
        m = meas.loc[group] if group in meas.index else None
        ref = _finite([] if m is None else m.to_numpy())
        lo = min([*amps, *ref, -threshold_mV, 0.0]) if amps.size or ref.size else -1.0
        hi = max([*amps, *ref, threshold_mV, 0.0]) if amps.size or ref.size else 1.0
        pad = 0.02 * (hi - lo) or 0.5
        edges = np.linspace(lo - pad, hi + pad, 31)
        for g, colour in zip(g_all, colours):
            a = _finite(sub["amplitude_mV"][sub[g_column] == g]) if has_g else amps
            if a.size:
                ax.hist(a, bins=edges, histtype="step", lw=1.4, color=colour)
        if m is not None:
            for column, _, ls in _MEASURED_LINES:
                if np.isfinite(m[column]):
                    ax.axvline(m[column], color="#cc3311", ls=ls, lw=1.5)
        for sign in (-1, 1):
            ax.axvline(sign * threshold_mV, color="0.55", ls="-.", lw=0.9)
        name = "all units" if group is None else str(group)
        n_units = len(sub) // max(sub[g_column].nunique(), 1) if has_g else len(sub)
        ax.set_title(f"{name} ({n_units} units)", fontsize=10)
        ax.set_xlabel("PSP amplitude (mV)", fontsize=9)
        ax.set_ylabel("units", fontsize=9)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=8)
    handles = [plt.Line2D([], [], color=c, lw=1.6, label=f"g = {_fmt_g(g)} nS") for g, c in zip(g_all, colours)
               if has_g]
    handles += [plt.Line2D([], [], color="#cc3311", ls=ls, lw=1.5, label=label) for _, label, ls in _MEASURED_LINES
                if not meas.empty]
    handles.append(plt.Line2D([], [], color="0.55", ls="-.", lw=0.9, label=f"threshold ±{threshold_mV:g} mV"))
    fig.suptitle("PSP amplitude distributions per group", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1 - 1.8 / fig.get_figwidth(), 0.97))
    fig.legend(handles=handles, loc="upper left", fontsize=8, frameon=False,
               bbox_to_anchor=(1 - 1.75 / fig.get_figwidth(), 0.93))
    fig.savefig(path)
    plt.close(fig)
    return path


def fit_plot(stats: pd.DataFrame, fits: pd.DataFrame, optimal: pd.DataFrame | None, path: Path,
             *, group_column: str = "group", g_column: str = "g") -> Path:
    """Per group: amplitude statistics against g, their fitted lines and the optimal g.

    Args:
        stats: statistics per group and g (``amp_mean, amp_median, amp_max`` in mV).
        fits: :func:`pspsweep.fit.linear_fits` output (``<stat>_slope``, ``_offset``, ``_r2``).
        optimal: :func:`pspsweep.fit.optimal_g` output (measured values, ``optimal_g``,
            ``g_mean``/``g_median``/``g_max``, ``fit_ok``, optionally ``ci_low``/``ci_high``)
            or None. A NaN optimal g simply draws no vertical line.
        path: the PNG to write.

    A panel title carries a warning mark when ``fit_ok`` is False or a used fit has
    r² below :data:`MIN_R2` or no fit at all (fewer than two g values, constant statistic).
    """
    plt = _pyplot()
    groups = list(dict.fromkeys([*stats[group_column], *fits[group_column]]))
    fit_rows = {r[group_column]: r for r in fits.to_dict("records")}
    opt_rows = {} if optimal is None else {r[group_column]: r for r in optimal.to_dict("records")}
    fig, axes = _grid(len(groups), extra_width=1.9)
    for ax, group in zip(axes, groups):
        sub = stats[stats[group_column] == group].sort_values(g_column)
        g = sub[g_column].to_numpy(dtype=float)
        fit = fit_rows.get(group, {})
        opt = opt_rows.get(group, {})
        g_opt = float(opt.get("optimal_g", np.nan))
        # the x range covers the simulated g and, where finite, the inverted ones
        xs = [*_finite(g), *_finite([opt.get(c, np.nan) for c in ("optimal_g", "ci_low", "ci_high",
                                                                     "g_mean", "g_median", "g_max")])]
        x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
        span = (x_hi - x_lo) or max(abs(x_hi), 1.0)
        line_g = np.linspace(x_lo - 0.05 * span, x_hi + 0.05 * span, 50)
        problems, undefined = [], []
        for stat, meas_col, g_col, label, colour, marker in _FIT_SERIES:
            r2 = float(fit.get(f"{stat}_r2", np.nan))
            if not np.isfinite(r2):
                undefined.append(label)
            elif r2 < MIN_R2:
                problems.append(label)
            r2_text = f"r²={r2:.2f}" if np.isfinite(r2) else "r² n/a"
            ax.plot(g, sub[stat].to_numpy(dtype=float), marker, color=colour, ms=5,
                    label=f"{label} ({r2_text})")
            slope, offset = float(fit.get(f"{stat}_slope", np.nan)), float(fit.get(f"{stat}_offset", np.nan))
            if np.isfinite(slope) and np.isfinite(offset):
                ax.plot(line_g, slope * line_g + offset, "-", color=colour, lw=1.1, alpha=0.8)
            target = float(opt.get(meas_col, np.nan))
            if np.isfinite(target):
                ax.axhline(target, color=colour, ls="--", lw=0.9, alpha=0.8)
                g_hit = float(opt.get(g_col, np.nan))
                if np.isfinite(g_hit):
                    ax.plot([g_hit], [target], "x", color=colour, ms=7, mew=1.5)
        if np.isfinite(g_opt):
            ax.axvline(g_opt, color="k", lw=1.3)
        low, high = float(opt.get("ci_low", np.nan)), float(opt.get("ci_high", np.nan))
        if np.isfinite(low) and np.isfinite(high):
            ax.axvspan(low, high, color="0.5", alpha=0.2, lw=0)
        warn = []
        if opt and not bool(opt.get("fit_ok", True)):
            note = str(opt.get("note") or "").split(";")[0].strip()
            note = note if len(note) <= 45 else note[:44] + "…"
            warn.append(note or "fit not ok")
        if problems:
            warn.append(f"r²<{MIN_R2:g}: {', '.join(problems)}")
        if undefined:
            warn.append(f"no fit: {', '.join(undefined)}")
        title = f"{group}: optimal g = " + (f"{g_opt:.3g} nS" if np.isfinite(g_opt) else "n/a")
        if np.isfinite(low) and np.isfinite(high):
            title += f" [{low:.3g}, {high:.3g}]"
        if warn:
            title += f"\n{_WARN} " + "; ".join(warn)
        ax.set_title(title, fontsize=9, color="#bb0000" if warn else "black")
        ax.set_xlabel("g (nS)", fontsize=9)
        ax.set_ylabel("PSP amplitude (mV)", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, loc="best", framealpha=0.7)
    handles = [
        plt.Line2D([], [], color="0.3", marker="o", ls="", label="simulated statistic"),
        plt.Line2D([], [], color="0.3", lw=1.1, label="linear fit"),
        plt.Line2D([], [], color="0.3", ls="--", lw=0.9, label="measured value"),
        plt.Line2D([], [], color="0.3", marker="x", ls="", mew=1.5, label="fit meets measured"),
        plt.Line2D([], [], color="k", lw=1.3, label="optimal g"),
    ]
    if optimal is not None and {"ci_low", "ci_high"} <= set(optimal.columns):
        handles.append(plt.Rectangle((0, 0), 1, 1, color="0.5", alpha=0.2, label="bootstrap CI"))
    fig.suptitle("Amplitude statistics against conductance", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1 - 1.9 / fig.get_figwidth(), 0.97))
    fig.legend(handles=handles, loc="upper left", fontsize=8, frameon=False,
               bbox_to_anchor=(1 - 1.85 / fig.get_figwidth(), 0.93))
    fig.savefig(path)
    plt.close(fig)
    return path


def amplitude_vs_distance(units: pd.DataFrame, path: Path, *, g_column: str = "g") -> Path:
    """Scatter of unit amplitude (mV) against the mean soma path distance of its synapses (um).

    Args:
        units: unit table with ``amplitude_mV`` and ``distance_um``; points are coloured
            by ``g_column`` when it is present and takes several values.
        path: the PNG to write.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=110)
    d = units["distance_um"].to_numpy(dtype=float)
    a = units["amplitude_mV"].to_numpy(dtype=float)
    ok = np.isfinite(d) & np.isfinite(a)
    g_values = np.unique(_finite(units[g_column])) if g_column in units.columns else np.empty(0)
    title = f"PSP amplitude vs synapse distance ({int(ok.sum())} points)"
    if g_values.size > 1:
        g = units[g_column].to_numpy(dtype=float)
        ok &= np.isfinite(g)
        order = np.argsort(g[ok], kind="stable")
        sc = ax.scatter(d[ok][order], a[ok][order], c=g[ok][order], cmap="viridis", s=12, alpha=0.75, lw=0)
        fig.colorbar(sc, ax=ax, label="g (nS)")
    else:
        ax.scatter(d[ok], a[ok], color="#4477aa", s=12, alpha=0.75, lw=0)
        if g_values.size == 1:
            title += f", g = {_fmt_g(g_values[0])} nS"
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel("mean path distance of the unit's synapses to the soma (µm)")
    ax.set_ylabel("PSP amplitude (mV)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def morphology_map(spec: CellSpec, units: pd.DataFrame, path: Path,
                   projection: tuple[str, str] = ("x", "y"), *, g_column: str = "g") -> Path:
    """2-D projection of the morphology with every synapse coloured by its unit's amplitude.

    Sections are grey lines whose width follows the diameter. Each synapse of each unit
    (``sections``/``xs`` fields of the unit table) is a dot at its 3-D position, coloured
    by the unit's ``amplitude_mV`` on a diverging colour map centred at 0 mV (IPSPs blue,
    EPSPs red); units without an amplitude are drawn as grey rings. When the table holds
    several conductances, only the largest g of each group (or cell type) is drawn.

    Args:
        spec: the cell (only its sections are used).
        units: unit table with ``sections``, ``xs`` and ``amplitude_mV``.
        path: the PNG to write.
        projection: the two axes to show, from ``"x"``, ``"y"``, ``"z"``.
    """
    from matplotlib.collections import LineCollection

    plt = _pyplot()
    axis_index = {"x": 0, "y": 1, "z": 2}
    if len(projection) != 2 or any(p not in axis_index for p in projection) or projection[0] == projection[1]:
        raise ValueError(f"projection must be two different axes of x, y, z, got {projection!r}")
    ia, ib = axis_index[projection[0]], axis_index[projection[1]]
    shown = _largest_g(units, g_column)

    segments, widths = [], []
    for s in spec.sections:
        pts = np.asarray(s.points, dtype=float)
        if len(pts) >= 2:
            segments.extend(np.stack([pts[:-1][:, [ia, ib]], pts[1:][:, [ia, ib]]], axis=1))
            widths.extend(0.5 * (pts[:-1, 3] + pts[1:, 3]))
    xyz, amp = [], []
    for sections, xs, a in zip(shown["sections"], shown["xs"], shown["amplitude_mV"]):
        secs, x = geometry.parse_locations(sections, xs)
        for si, xi in zip(secs, x):
            xyz.append(geometry.point_at(spec, int(si), float(xi)))
            amp.append(float(a))
    xyz = np.array(xyz).reshape(-1, 3)
    amp = np.array(amp, dtype=float)

    # figure shape follows the projected extent (within 1:2 and 2:1)
    all_pts = np.concatenate([np.asarray(s.points, dtype=float)[:, :3] for s in spec.sections] + [xyz])
    extent = np.ptp(all_pts[:, [ia, ib]], axis=0) if len(all_pts) else np.ones(2)
    ratio = float(np.clip((extent[1] + 1e-9) / (extent[0] + 1e-9), 0.5, 2.0))
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 6.0 * ratio) if ratio >= 1 else (1.5 + 6.0 / ratio, 7.0), dpi=100)
    ax.add_collection(LineCollection(segments, linewidths=np.clip(0.5 * np.asarray(widths), 0.7, 8.0),
                                     colors="0.6", capstyle="round", zorder=1))
    missing = ~np.isfinite(amp)
    if missing.any():
        ax.scatter(xyz[missing, ia], xyz[missing, ib], s=14, facecolors="none", edgecolors="0.4", lw=0.6,
                   zorder=2, label="no amplitude")
        ax.legend(loc="lower right", fontsize=8)
    vmax = float(np.max(np.abs(amp[~missing]))) if (~missing).any() else 1.0
    vmax = vmax if vmax > 0 else 1.0
    order = np.argsort(np.abs(np.where(missing, 0.0, amp)), kind="stable")  # largest on top
    order = order[~missing[order]]
    sc = ax.scatter(xyz[order, ia], xyz[order, ib], c=amp[order], cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                    s=12, lw=0.2, edgecolors="k", zorder=3)
    fig.colorbar(sc, ax=ax, shrink=0.6, label="unit PSP amplitude (mV)")
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(f"{projection[0]} (µm)")
    ax.set_ylabel(f"{projection[1]} (µm)")
    g_note = ""
    if g_column in shown.columns and _finite(shown[g_column]).size:
        gs = np.unique(_finite(shown[g_column]))
        g_note = f", g = {_fmt_g(gs[0])} nS" if gs.size == 1 else ", largest g per group"
    ax.set_title(f"{spec.name}: {len(amp)} synapses of {len(shown)} units{g_note}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _largest_g(units: pd.DataFrame, g_column: str) -> pd.DataFrame:
    """The rows at the largest conductance of each group (or cell type, or the whole table).

    The conductance is ``g_column`` if present, else the row-wise maximum of ``gAMPA``,
    ``gNMDA``, ``gGABA``; without either, all rows are returned.
    """
    if g_column in units.columns:
        g = units[g_column].astype(float)
    else:
        present = [c for c in ("gAMPA", "gNMDA", "gGABA") if c in units.columns]
        if not present:
            return units
        g = units[present].astype(float).max(axis=1, skipna=True)
    key = next((c for c in ("group", "celltype") if c in units.columns), None)
    top = g.groupby(units[key]).transform("max") if key else pd.Series(g.max(), index=units.index)
    return units[(g == top) | (g.isna() & top.isna())]
