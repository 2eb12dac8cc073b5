"""The amplitudes on the morphology: every synapse of every unit on a 2-D view of the cell.

The default view is the plane of the cell's two longest principal axes (a side view of
a pyramidal cell, whose long axis may lie along any axis of its file), the longest
vertical; ``xy``, ``xz`` and ``yz`` are the plain projections (``output.morphology_view``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pspsweep import geometry
from pspsweep.cellmodel import CellSpec
from pspsweep.config import MorphologyView
from pspsweep.report.plotting import DPI, finite_values, format_g, pyplot

VIEWS = tuple(v.value for v in MorphologyView)


@dataclass(frozen=True)
class View:
    """A projection of 3-D points (um) onto the plot: ``(xyz - origin) @ basis``, whose
    columns are the horizontal and the vertical direction."""

    origin: np.ndarray
    basis: np.ndarray
    labels: tuple[str, str]
    description: str

    def project(self, xyz: np.ndarray) -> np.ndarray:
        return (np.asarray(xyz, dtype=float)[:, :3] - self.origin) @ self.basis


def morphology_view(spec: CellSpec, view: str = "principal") -> View:
    """The projection ``view`` names (one of :data:`VIEWS`) for this cell.

    ``principal``: the singular vectors of the centred section points (PCA); the longest
    axis is vertical and points from the soma to the side where the cell extends
    farther (the apical tree of a pyramidal cell points up), the origin is the soma.
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    if view != "principal":
        axis = {"x": 0, "y": 1, "z": 2}
        basis = np.eye(3)[:, [axis[view[0]], axis[view[1]]]]
        return View(np.zeros(3), basis, (f"{view[0]} (µm)", f"{view[1]} (µm)"), f"{view} projection")
    pts = np.concatenate([np.asarray(s.points, dtype=float)[:, :3] for s in spec.sections])
    soma = _soma_centre(spec)
    _, _, vt = np.linalg.svd(pts - pts.mean(axis=0), full_matrices=False)
    longest, second = (vt[0], vt[1]) if len(vt) >= 2 else (np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0]))
    along = (pts - soma) @ longest
    if along.max() < -along.min():
        longest = -longest
    # a fixed sign for the horizontal axis, so the same cell always looks the same
    if second[np.argmax(np.abs(second))] < 0:
        second = -second
    labels = ("principal axis 2 (µm from soma)", "principal axis 1 (µm from soma)")
    return View(soma, np.stack([second, longest], axis=1), labels, "side view, plane of the two longest principal axes")


def _soma_centre(spec: CellSpec) -> np.ndarray:
    """Mean point of the sections labelled ``Soma`` (else of the root section)."""
    somata = [s for s in spec.sections if s.label.lower() == "soma"] or [
        next((s for s in spec.sections if s.parent is None), spec.sections[0])
    ]
    return np.concatenate([np.asarray(s.points, dtype=float)[:, :3] for s in somata]).mean(axis=0)


def morphology_map(
    spec: CellSpec,
    units: pd.DataFrame,
    path: Path,
    view: str = "principal",
    *,
    g_column: str = "g",
    label: str = "unit PSP amplitude (mV)",
) -> Path:
    """2-D view of the morphology with every synapse coloured by its unit's amplitude.

    Sections are grey lines whose width follows the diameter. Each synapse of each unit
    (``sections``/``xs`` fields of the unit table) is a dot at its 3-D position, coloured
    by the unit's ``amplitude_mV`` on a diverging colour map centred at 0 mV (IPSPs blue,
    EPSPs red); units without an amplitude are drawn as grey rings. When the table holds
    several conductances, only the largest g of each group (or cell type) is drawn.

    Args:
        spec: the cell (only its sections are used).
        units: unit table with ``sections``, ``xs`` and ``amplitude_mV``.
        path: the PNG to write.
        view: one of :data:`VIEWS` (:func:`morphology_view`).
        label: the colour bar's label (a PSC's under a voltage clamp).
    """
    from matplotlib.collections import LineCollection

    plt = pyplot()
    projection = morphology_view(spec, view)
    shown = _largest_g(units, g_column)
    segments, widths = _projected_sections(spec, projection)
    xyz, amp = _synapse_points(spec, shown)
    all_pts = np.concatenate([np.asarray(s.points, dtype=float)[:, :3] for s in spec.sections] + [xyz])
    fig, ax = plt.subplots(figsize=_map_size(projection.project(all_pts)), dpi=DPI)
    ax.add_collection(
        LineCollection(
            segments, linewidths=np.clip(0.5 * np.asarray(widths), 0.7, 8.0), colors="0.6", capstyle="round", zorder=1
        )
    )
    _draw_synapses(fig, ax, projection.project(xyz), amp, label)
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(projection.labels[0], fontsize=11)
    ax.set_ylabel(projection.labels[1], fontsize=11)
    ax.tick_params(labelsize=10)
    title = f"{spec.name}: {len(amp)} synapses of {len(shown)} units{_g_note(shown, g_column)}"
    ax.set_title(f"{title}\n{projection.description}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _map_size(points_2d: np.ndarray) -> tuple[float, float]:
    """Figure inches that follow the projected extent (aspect kept within 1:2 and 2:1)."""
    extent = np.ptp(points_2d, axis=0) if len(points_2d) else np.ones(2)
    ratio = float(np.clip((extent[1] + 1e-9) / (extent[0] + 1e-9), 0.5, 2.0))
    return (7.5, 1.2 + 6.0 * ratio) if ratio >= 1 else (1.5 + 6.0 / ratio, 7.0)


def _draw_synapses(fig: Any, ax: Any, xy: np.ndarray, amp: np.ndarray, label: str) -> None:
    """Synapses on a diverging map centred at 0 mV, largest on top; those without an amplitude as rings."""
    missing = ~np.isfinite(amp)
    if missing.any():
        ax.scatter(
            xy[missing, 0],
            xy[missing, 1],
            s=14,
            facecolors="none",
            edgecolors="0.4",
            lw=0.6,
            zorder=2,
            label="no amplitude",
        )
        ax.legend(loc="lower right", fontsize=10)
    vmax = float(np.max(np.abs(amp[~missing]))) if (~missing).any() else 1.0
    vmax = vmax if vmax > 0 else 1.0
    order = np.argsort(np.abs(np.where(missing, 0.0, amp)), kind="stable")
    order = order[~missing[order]]
    sc = ax.scatter(
        xy[order, 0],
        xy[order, 1],
        c=amp[order],
        cmap="RdBu_r",
        vmin=-vmax,
        vmax=vmax,
        s=12,
        lw=0.2,
        edgecolors="k",
        zorder=3,
    )
    fig.colorbar(sc, ax=ax, shrink=0.6, label=label)


def _projected_sections(spec: CellSpec, view: View) -> tuple[list[np.ndarray], list[float]]:
    """The sections as 2-D line segments of ``view`` and their mean diameters."""
    segments: list[np.ndarray] = []
    widths: list[float] = []
    for s in spec.sections:
        pts = np.asarray(s.points, dtype=float)
        if len(pts) >= 2:
            flat = view.project(pts)
            segments.extend(np.stack([flat[:-1], flat[1:]], axis=1))
            widths.extend(0.5 * (pts[:-1, 3] + pts[1:, 3]))
    return segments, widths


def _synapse_points(spec: CellSpec, units: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """3-D position of every synapse of every unit, and its unit's amplitude."""
    xyz, amp = [], []
    for sections, xs, a in zip(units["sections"], units["xs"], units["amplitude_mV"]):
        secs, x = geometry.parse_locations(sections, xs)
        for si, xi in zip(secs, x):
            xyz.append(geometry.point_at(spec, int(si), float(xi)))
            amp.append(float(a))
    return np.array(xyz).reshape(-1, 3), np.array(amp, dtype=float)


def _g_note(shown: pd.DataFrame, g_column: str) -> str:
    if g_column not in shown.columns or not finite_values(shown[g_column]).size:
        return ""
    gs = np.unique(finite_values(shown[g_column]))
    return f", g = {format_g(gs[0])} nS" if gs.size == 1 else ", largest g per group"


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
