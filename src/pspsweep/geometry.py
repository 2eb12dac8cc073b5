"""Morphology geometry on plain data: section lengths, path distances, 3-D positions.

Works on a :class:`~pspsweep.cellmodel.CellSpec` (or just its sections) with numpy only,
so reports and analyses need no NEURON. Conventions match NEURON's:

* a section's length L is the arc length of its 3-D points (sum of the distances
  between consecutive points); x in [0, 1] is the fraction of that arc length;
* a child's 0-end sits at ``parent_x`` on its parent;
* path distances are measured along the tree from the soma centre, soma(0.5), as
  ``h.distance(soma(0.5), sec(x))`` does. The soma is the first section labelled
  ``Soma`` or, if there is none, the first root section (``parent is None``) — the same
  choice as :class:`pspsweep.simulation.cell.NeuronCell` for the usual case where that
  root is section 0.

Units: um throughout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pspsweep.cellmodel import CellSpec, SectionSpec
from pspsweep.errors import PspSweepError

__all__ = [
    "parse_locations",
    "path_distance",
    "path_distances",
    "point_at",
    "section_lengths",
    "unit_mean_distances",
]


def _sections(spec: CellSpec | Sequence[SectionSpec]) -> Sequence[SectionSpec]:
    return spec.sections if isinstance(spec, CellSpec) else spec


def _arc(points: np.ndarray) -> np.ndarray:
    """Cumulative arc length at each 3-D point (first entry 0)."""
    xyz = np.asarray(points, dtype=float)[:, :3]
    if xyz.shape[0] < 2:
        return np.zeros(xyz.shape[0])
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xyz, axis=0), axis=1))])


def section_lengths(spec: CellSpec | Sequence[SectionSpec]) -> np.ndarray:
    """Arc length (um) of every section from its 3-D points, in section order.

    A section with a single point (or only coincident points) has length 0.
    """
    return np.array([_arc(s.points)[-1] if len(s.points) else 0.0 for s in _sections(spec)], dtype=float)


def point_at(spec: CellSpec | Sequence[SectionSpec], section: int, x: float) -> np.ndarray:
    """3-D position (um, shape (3,)) at fraction ``x`` of the section's arc length.

    Linear interpolation between consecutive points; zero-length intervals (repeated
    points) are skipped, and a zero-length section returns its first point.

    Raises:
        IndexError: for a section index out of range.
        ValueError: for x outside [0, 1] or a section without points.
    """
    sec = _section(spec, section)
    _check_x(section, x)
    pts = np.asarray(sec.points, dtype=float)
    if pts.ndim != 2 or pts.shape[0] == 0 or pts.shape[1] < 3:
        raise ValueError(f"section {section} ({sec.name}) has no 3-D points")
    xyz = pts[:, :3]
    arc = _arc(pts)
    total = arc[-1]
    if total <= 0.0:
        return xyz[0].copy()
    target = float(x) * total
    # last point whose arc position is <= target; a zero-length interval [k, k+1] has
    # arc[k] == arc[k+1], so side="right" never selects it except at the very end
    k = int(np.searchsorted(arc, target, side="right")) - 1
    k = min(max(k, 0), len(arc) - 2)
    step = arc[k + 1] - arc[k]
    frac = 0.0 if step <= 0.0 else (target - arc[k]) / step
    return xyz[k] + min(max(frac, 0.0), 1.0) * (xyz[k + 1] - xyz[k])


class _Tree:
    """Parent links, lengths and root distances of a morphology, computed once."""

    def __init__(self, spec: CellSpec | Sequence[SectionSpec]) -> None:
        self.sections = _sections(spec)
        n = len(self.sections)
        if n == 0:
            raise ValueError("the morphology has no sections")
        self.lengths = section_lengths(self.sections)
        self.parent = [s.parent for s in self.sections]
        for i, p in enumerate(self.parent):
            if p is not None and not (0 <= p < n and p != i):
                raise ValueError(f"section {i} ({self.sections[i].name}) has invalid parent {p}")
        # distance of each section's 0-end from the 0-end of its tree's root
        self.start = np.full(n, np.nan)
        self.root = [-1] * n
        self.depth = [0] * n
        for i in range(n):
            self._resolve(i)
        labelled = [i for i, s in enumerate(self.sections) if s.label == "Soma"]
        roots = [i for i, p in enumerate(self.parent) if p is None]
        if labelled:
            self.soma = labelled[0]
        elif roots:
            self.soma = roots[0]
        else:  # pragma: no cover - a cycle is caught in _resolve
            raise ValueError("the morphology has no root section")

    def _parent_of(self, section: int) -> int:
        parent = self.parent[section]
        assert parent is not None, f"section {section} is a root"
        return parent

    def _resolve(self, i: int) -> None:
        chain = []
        j: int | None = i
        while j is not None and np.isnan(self.start[j]):
            if j in chain:
                raise ValueError(f"section {j} ({self.sections[j].name}) is part of a parent cycle")
            chain.append(j)
            j = self.parent[j]
        for k in reversed(chain):
            p = self.parent[k]
            if p is None:
                self.start[k], self.root[k], self.depth[k] = 0.0, k, 0
            else:
                px = float(self.sections[k].parent_x)
                _check_x(k, px, what="parent_x")
                self.start[k] = self.start[p] + px * self.lengths[p]
                self.root[k], self.depth[k] = self.root[p], self.depth[p] + 1

    def distance(self, a: tuple[int, float], b: tuple[int, float]) -> float:
        """Path length (um) between (section, x) locations a and b of the same tree."""
        (sa, xa), (sb, xb) = a, b
        if self.root[sa] != self.root[sb]:
            raise ValueError(
                f"sections {sa} and {sb} lie in different trees (roots {self.root[sa]} and {self.root[sb]})"
            )
        da = self.start[sa] + xa * self.lengths[sa]
        db = self.start[sb] + xb * self.lengths[sb]
        # climb to the lowest common section; ya, yb: positions of the paths on it
        ya, yb = xa, xb
        while sa != sb:  # one tree (checked above): every section climbed has a parent
            if self.depth[sa] >= self.depth[sb]:
                ya, sa = self.sections[sa].parent_x, self._parent_of(sa)
            else:
                yb, sb = self.sections[sb].parent_x, self._parent_of(sb)
        common_a = self.start[sa] + ya * self.lengths[sa]
        common_b = self.start[sa] + yb * self.lengths[sa]
        return float((da - common_a) + (db - common_b) + abs(common_a - common_b))


def path_distance(spec: CellSpec | Sequence[SectionSpec], section: int, x: float) -> float:
    """Tree path length (um) from the soma centre, soma(0.5), to ``sections[section](x)``.

    For the usual soma-rooted tree this is the distance of the section's attachment
    point plus ``x * L``, and ``|x - 0.5| * L`` on the soma itself.

    Raises:
        IndexError: for a section index out of range.
        ValueError: for x outside [0, 1], or a section not connected to the soma.
    """
    return float(path_distances(spec, [section], [x])[0])


def path_distances(
    spec: CellSpec | Sequence[SectionSpec], sections: Sequence[int] | np.ndarray, xs: Sequence[float] | np.ndarray
) -> np.ndarray:
    """Vectorised :func:`path_distance`: one distance (um) per (section, x) pair."""
    secs = np.asarray(sections).ravel()
    xs_arr = np.asarray(xs, dtype=float).ravel()
    if secs.shape != xs_arr.shape:
        raise ValueError(f"sections ({secs.size}) and xs ({xs_arr.size}) differ in length")
    if secs.size == 0:
        return np.empty(0)
    tree = _Tree(spec)
    soma = (tree.soma, 0.5)
    out = np.empty(secs.size)
    for k, (s, x) in enumerate(zip(secs, xs_arr)):
        i = _index(tree.sections, s)
        _check_x(i, x)
        out[k] = tree.distance(soma, (i, float(x)))
    return out


def parse_locations(sections: Any, xs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Section indices and x values of one unit from the unit table's ';'-joined fields.

    Accepts the strings of ``psps.csv`` (``"3;7;7"``, ``"0.25;0.5;0.9"``) as well as a
    single number (pandas reads a one-synapse unit as int/float) or a sequence.
    Empty or missing values give empty arrays.

    Raises:
        ValueError: if the two fields hold different numbers of entries.
    """
    s = _split(sections)
    x = _split(xs)
    if len(s) != len(x):
        raise ValueError(f"unit lists {len(s)} sections but {len(x)} x values")
    return np.array([int(float(v)) for v in s], dtype=int), np.array([float(v) for v in x], dtype=float)


def unit_mean_distances(
    spec: CellSpec | Sequence[SectionSpec], sections: Sequence[Any], xs: Sequence[Any]
) -> np.ndarray:
    """Mean soma path distance (um) of each unit's synapses (NaN for a unit without any).

    Args:
        spec: the morphology.
        sections, xs: per unit, the ``sections`` and ``xs`` fields of the unit table.
    """
    parsed = [parse_locations(s, x) for s, x in zip(sections, xs)]
    if not parsed:
        return np.empty(0)
    all_s = np.concatenate([p[0] for p in parsed])
    all_x = np.concatenate([p[1] for p in parsed])
    d = path_distances(spec, all_s, all_x)
    out = np.full(len(parsed), np.nan)
    start = 0
    for k, (s, _) in enumerate(parsed):
        if s.size:
            out[k] = float(np.mean(d[start : start + s.size]))
        start += s.size
    return out


# ---------------------------------------------------------------------------- helpers


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    if isinstance(value, (int, float, np.integer, np.floating)):
        return [] if isinstance(value, (float, np.floating)) and np.isnan(value) else [str(value)]
    return [str(v) for v in value]


def _index(sections: Sequence[SectionSpec], section: Any) -> int:
    i = int(section)
    if i != section or not 0 <= i < len(sections):
        raise IndexError(f"section index {section} out of range 0..{len(sections) - 1}")
    return i


def _section(spec: CellSpec | Sequence[SectionSpec], section: int) -> SectionSpec:
    sections = _sections(spec)
    return sections[_index(sections, section)]


def _check_x(section: int, x: float, what: str = "x") -> None:
    if not 0.0 <= float(x) <= 1.0:
        raise ValueError(f"section {section}: {what} = {x} outside [0, 1]")


def isf_dlambda_nseg(
    length_um: float,
    diam_um: float,
    Ra: float,
    cm: float,
    f: float = 100.0,
    max_seg_length: float | None = None,
) -> int:
    """ISF's d-lambda nseg (isf-reference 1.5).

    Args:
        length_um: section length L (um), NEURON's ``sec.L``.
        diam_um: diameter (um) of the original 3-D point with index n//2.
        Ra: axial resistivity (ohm*cm).
        cm: specific capacitance (uF/cm2).
        f: frequency (Hz) of the AC length constant.
        max_seg_length: if set and L/nseg exceeds it, nseg = ceil(L/max_seg_length)
            (may be even).

    Returns:
        nseg = 2*floor((L/(0.1*lambda_f) + 0.5)/2) + 1 with
        lambda_f = 1e5*sqrt(d/(4*pi*f*Ra*cm)) um, then the max_seg_length rule.

    Raises:
        PspSweepError: if the diameter, Ra, cm or f is not positive.
    """
    if diam_um <= 0 or Ra <= 0 or cm <= 0 or f <= 0:
        raise PspSweepError(
            f"d-lambda rule needs positive diameter, Ra, cm and f (got diam={diam_um}, Ra={Ra}, cm={cm}, f={f})"
        )
    lambda_f = 1e5 * math.sqrt(diam_um / (4.0 * math.pi * f * Ra * cm))
    nseg = 2 * math.floor((length_um / (0.1 * lambda_f) + 0.5) / 2.0) + 1
    if max_seg_length is not None and length_um / nseg > max_seg_length:
        nseg = max(1, math.ceil(length_um / max_seg_length))
    return int(nseg)


#: NEURON's defaults for sections without a biophysics entry
NEURON_DEFAULT_RA = 35.4
NEURON_DEFAULT_CM = 1.0


def neuron_length(points: np.ndarray) -> float:
    """Section length as NEURON computes it: arc length of the float32-stored 3-D points (um)."""
    xyz = np.asarray(points, dtype=np.float32)[:, :3].astype(np.float64)
    return float(np.sum(np.sqrt(np.sum(np.diff(xyz, axis=0) ** 2, axis=1))))


def segment_counts(spec: CellSpec) -> list[int]:
    """nseg of every section, as :mod:`pspsweep.simulation.cell` sets it, without NEURON.

    Used to find units whose synapses sit on the same segments before any simulation.
    """
    bio = {b.label: b for b in spec.biophysics}
    disc = spec.discretization
    out = []
    for s in spec.sections:
        if s.nseg is not None:
            out.append(int(s.nseg))
        elif disc.rule == "fixed":
            out.append(int(disc.nseg))
        else:
            b = bio.get(s.label)
            ra = b.Ra if b is not None and b.Ra is not None else NEURON_DEFAULT_RA
            cm = b.cm if b is not None and b.cm is not None else NEURON_DEFAULT_CM
            d_mid = float(np.asarray(s.points)[len(s.points) // 2, 3])
            out.append(isf_dlambda_nseg(neuron_length(s.points), d_mid, ra, cm, disc.f, disc.max_seg_length))
    return out


def segment_of(nseg: int, x: float) -> int:
    """The segment a point process at x lands on: x clamped to [0.5/nseg, 1 - 0.5/nseg] as
    ISF does, then NEURON's ``min(floor(nseg * x), nseg - 1)`` (isf-reference 3.4)."""
    x = min(max(x, 0.5 / nseg), 1.0 - 0.5 / nseg)
    return min(int(math.floor(nseg * x)), nseg - 1)
