"""Turn a :class:`~pspsweep.cellmodel.CellSpec` into NEURON sections, the way ISF does.

:func:`build_cell` follows ISF's build order (isf-reference 2.8):

1. create one Python-named section per :class:`~pspsweep.cellmodel.SectionSpec`, in index
   order, and add its 3-D points with ``h.pt3dadd`` (NEURON stores them in float32);
2. connect every child's 0-end to ``parent(parent_x)``;
3. set ``Ra`` and ``cm`` of every section whose label has a biophysics entry;
4. choose nseg (isf-reference 1.5, :func:`isf_dlambda_nseg`) once, before any mechanism;
5. label by label, in biophysics order: insert the density mechanisms with their spatial
   distributions (isf-reference 2.4), then set the label's ions section-wide (2.5);
6. apply the :class:`~pspsweep.cellmodel.DiameterScaling` steps (isf-reference 1.8).

Labels without a biophysics entry keep NEURON's defaults (Ra 35.4 ohm*cm, cm 1 uF/cm2,
no mechanisms).

Distances (all path lengths along the tree, um, taken with ``h.distance(seg_a, seg_b)``):

* ``D_label``: from the 0-end of the first section (index order) that has the label and
  whose parent is the soma; for the soma's own label from soma(0). Used by
  ``exponential``, ``capped_exponential``, ``exponential_by_z_dist`` (non-apical),
  ``sigmoid`` and ``uniform_range``.
* ``D_soma0``: from soma(0). Used by ``linear`` and ``linear_capped``.
* ``maxDist(label)``: the soma's length for the soma label; otherwise the largest
  ``D_label`` at x = 1 over the terminal sections of the subtrees rooted at that label's
  soma children. ``distance="relative"`` divides d by it.

Distributions are evaluated at the segment centres x_k = (k + 0.5)/nseg.

Notes:
    The connection position is taken from ``SectionSpec.parent_x`` as given. ISF moves
    every soma child to soma(0.5) (isf-reference 1.3); the readers write 0.5 into the
    spec, the builder does not override it.

    NEURON state is process-global. The sections belong to the :class:`NeuronCell` only
    (unique Python names, no hoc names), so several cells can coexist and a cell's
    sections disappear when the cell object is garbage collected.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
from neuron import h

from pspsweep.cellmodel import (
    DISTRIBUTION_CONTROL_KEYS,
    CellSpec,
    DiameterScaling,
    LabelBiophysics,
    MechanismSpec,
    SimSettings,
)
from pspsweep.errors import PspSweepError
from pspsweep.geometry import isf_dlambda_nseg, segment_of

#: Errors NEURON raises for unknown mechanisms, parameters or ions (hoc errors surface
#: as RuntimeError).
_NEURON_ERRORS = (AttributeError, ValueError, LookupError, NameError, RuntimeError, TypeError)

#: Control keys a rule may omit.
_OPTIONAL_CONTROL_KEYS = {"outsidescale_sections"}

#: Label whose ``exponential_by_z_dist`` uses the z-difference instead of a path length.
_Z_DIST_LABEL = "ApicalDendrite"

_cell_ids = itertools.count()


def build_cell(spec: CellSpec, load: bool = True) -> NeuronCell:
    """Build the NEURON cell described by ``spec``.

    Args:
        spec: the cell description.
        load: if True and ``spec.mechanism_dirs`` is non-empty, compile (cached) and load
            those mechanism folders first through
            :func:`pspsweep.simulation.mechanisms.load_mechanisms`.

    Returns:
        The built cell. NEURON globals (dt, celsius) are not touched; call
        :meth:`NeuronCell.apply_sim_settings`.

    Raises:
        PspSweepError: for an unknown mechanism, parameter, ion, distribution rule or
            nseg rule, a missing distribution key, a section with fewer than two 3-D
            points, or a biophysics label that has no sections.
    """
    if load and spec.mechanism_dirs:
        from pspsweep.simulation.mechanisms import load_mechanisms

        load_mechanisms([Path(d) for d in spec.mechanism_dirs])
    return NeuronCell(spec)


def _check_rule(label: str, mech: MechanismSpec) -> None:
    """Refuse an unknown spatial rule or a missing control key, naming the label."""
    rule = mech.spatial
    if rule not in DISTRIBUTION_CONTROL_KEYS:
        raise PspSweepError(
            f"label {label!r}: mechanism {mech.name!r} has unknown spatial rule {rule!r} "
            f"(known: {', '.join(DISTRIBUTION_CONTROL_KEYS)})"
        )
    for key in DISTRIBUTION_CONTROL_KEYS[rule]:
        if key not in mech.distribution and key not in _OPTIONAL_CONTROL_KEYS:
            raise PspSweepError(f"label {label!r}: mechanism {mech.name!r} ({rule}) lacks key {key!r}")


class NeuronCell:
    """A :class:`~pspsweep.cellmodel.CellSpec` instantiated in NEURON.

    Attributes:
        spec: the description this cell was built from.
        sections: hoc sections; list index = ``CellSpec.sections`` index.
        soma: the first section labelled ``Soma`` (section 0 if there is none).
        soma_index: index of ``soma`` in ``sections``.
        v_init: initial membrane potential (mV) for ``finitialize``; from ``spec.sim``
            until :meth:`apply_sim_settings` changes it.

    Every query returns plain Python or numpy values.
    """

    def __init__(self, spec: CellSpec) -> None:
        """Build the cell (mechanisms must already be loaded; see :func:`build_cell`)."""
        self.spec = spec
        self.v_init = float(spec.sim.v_init)
        self._prefix = f"{spec.name}[{next(_cell_ids)}]"
        n = len(spec.sections)
        self._children: list[list[int]] = [[] for _ in range(n)]
        for i, s in enumerate(spec.sections):
            if s.parent is not None:
                if not 0 <= s.parent < n or s.parent == i:
                    raise PspSweepError(f"cell {spec.name!r}: section {i} ({s.name}) has invalid parent {s.parent}")
                self._children[s.parent].append(i)
        self._by_label: dict[str, list[int]] = {}
        for i, s in enumerate(spec.sections):
            self._by_label.setdefault(s.label, []).append(i)
        soma_ids = self._by_label.get("Soma", [])
        self.soma_index = soma_ids[0] if soma_ids else 0
        self._soma_label = spec.sections[self.soma_index].label if n else "Soma"
        self._max_dist_cache: dict[str, float] = {}

        self.sections: list[Any] = []
        self._create_sections()
        self._connect()
        self.soma = self.sections[self.soma_index]
        self._set_passive()
        self._set_nseg()
        for bio in spec.biophysics:
            self._insert_biophysics(bio)
        for scaling in spec.diameter_scalings:
            self._scale_diameters(scaling)

    def __repr__(self) -> str:
        return f"NeuronCell({self._prefix}, {len(self.sections)} sections)"

    # ------------------------------------------------------------------ build steps

    def _create_sections(self) -> None:
        for i, s in enumerate(self.spec.sections):
            pts = np.asarray(s.points, dtype=float)
            if pts.ndim != 2 or pts.shape[1] != 4 or pts.shape[0] < 2:
                raise PspSweepError(
                    f"cell {self.spec.name!r}: section {i} ({s.name}) needs an (n, 4) array "
                    f"of at least 2 3-D points, got shape {pts.shape}"
                )
            sec = h.Section(name=f"{self._prefix}.{s.name}")
            for x, y, z, d in pts:
                h.pt3dadd(float(x), float(y), float(z), float(d), sec=sec)
            self.sections.append(sec)

    def _connect(self) -> None:
        for i, s in enumerate(self.spec.sections):
            if s.parent is None:
                continue
            if not 0.0 <= s.parent_x <= 1.0:
                raise PspSweepError(
                    f"cell {self.spec.name!r}: section {i} ({s.name}) has parent_x {s.parent_x} outside [0, 1]"
                )
            self.sections[i].connect(self.sections[s.parent](s.parent_x), 0)

    def _label_sections(self, label: str) -> list[int]:
        ids = self._by_label.get(label)
        if not ids:
            raise PspSweepError(
                f"cell {self.spec.name!r}: biophysics given for label {label!r}, "
                f"but no section has that label (labels: {', '.join(self.spec.labels)})"
            )
        return ids

    def _set_passive(self) -> None:
        for bio in self.spec.biophysics:
            for i in self._label_sections(bio.label):
                sec = self.sections[i]
                if bio.Ra is not None:
                    sec.Ra = float(bio.Ra)
                if bio.cm is not None:
                    sec.cm = float(bio.cm)

    def _set_nseg(self) -> None:
        disc = self.spec.discretization
        for i, (s, sec) in enumerate(zip(self.spec.sections, self.sections)):
            if s.nseg is not None:
                nseg = int(s.nseg)
            elif disc.rule == "fixed":
                nseg = int(disc.nseg)
            elif disc.rule == "isf_dlambda":
                d_mid = float(np.asarray(s.points)[len(s.points) // 2, 3])
                try:
                    nseg = isf_dlambda_nseg(sec.L, d_mid, sec.Ra, sec(0.5).cm, disc.f, disc.max_seg_length)
                except PspSweepError as exc:
                    raise PspSweepError(f"section {i} ({s.name}): {exc}") from None
            else:
                raise PspSweepError(
                    f"cell {self.spec.name!r}: unknown discretization rule {disc.rule!r} (known: isf_dlambda, fixed)"
                )
            if nseg < 1:
                raise PspSweepError(f"section {i} ({s.name}): nseg must be >= 1, got {nseg}")
            sec.nseg = nseg

    def _insert_biophysics(self, bio: LabelBiophysics) -> None:
        ids = self._label_sections(bio.label)
        for mech in bio.mechanisms:
            for i in ids:
                sec = self.sections[i]
                try:
                    sec.insert(mech.name)
                except _NEURON_ERRORS as exc:
                    raise PspSweepError(
                        f"label {bio.label!r}: mechanism {mech.name!r} does not exist in NEURON "
                        f"(are its .mod files compiled and loaded?): {exc}"
                    ) from None
                for param, values in self._mechanism_values(bio.label, i, mech).items():
                    for k, value in enumerate(values):
                        seg = sec((k + 0.5) / sec.nseg)
                        try:
                            setattr(seg, f"{param}_{mech.name}", float(value))
                        except _NEURON_ERRORS as exc:
                            raise PspSweepError(
                                f"label {bio.label!r}: mechanism {mech.name!r} has no parameter "
                                f"{param!r} (NEURON name {param}_{mech.name}): {exc}"
                            ) from None
        for ion, value in bio.ions.items():
            for i in ids:
                try:
                    setattr(self.sections[i], ion, float(value))
                except _NEURON_ERRORS as exc:
                    raise PspSweepError(
                        f"label {bio.label!r}: cannot set ion variable {ion!r} = {value} "
                        f"on section {i} ({self.spec.sections[i].name}); no inserted mechanism "
                        f"uses that ion: {exc}"
                    ) from None

    def _scale_diameters(self, scaling: DiameterScaling) -> None:
        scaled = 0
        for i, s in enumerate(self.spec.sections):
            if scaling.labels and s.label not in scaling.labels:
                continue
            sec = self.sections[i]
            if scaling.max_distance_um is not None and h.distance(self.soma(0), sec(1)) > scaling.max_distance_um:
                continue
            if scaling.max_sections is not None and scaled >= scaling.max_sections:
                break
            for j in range(int(sec.n3d())):
                h.pt3dchange(j, sec.diam3d(j) * scaling.factor, sec=sec)
            scaled += 1

    # ------------------------------------------------------------------ distributions

    def _label_origin(self, label: str) -> Any:
        """Origin segment of D_label."""
        if label == self._soma_label:
            return self.soma(0)
        roots = self._label_roots(label)
        if not roots:
            raise PspSweepError(
                f"label {label!r}: a distance-dependent rule needs a section of this label "
                f"attached to the soma, but there is none"
            )
        return self.sections[roots[0]](0)

    def _label_roots(self, label: str) -> list[int]:
        """Sections of ``label`` whose parent is a soma section, in index order."""
        out = []
        for i in self._by_label.get(label, []):
            parent = self.spec.sections[i].parent
            if parent is not None and self.spec.sections[parent].label == self._soma_label:
                out.append(i)
        return out

    def max_dist(self, label: str) -> float:
        """maxDist of a label (um), the divisor of relative distances (isf-reference 2.4).

        Raises:
            PspSweepError: if the label has no sections attached to the soma.
        """
        if label in self._max_dist_cache:
            return self._max_dist_cache[label]
        if label == self._soma_label:
            value = float(self.soma.L)
        else:
            origin = self._label_origin(label)
            value = 0.0
            for root in self._label_roots(label):
                stack = [root]
                while stack:
                    i = stack.pop()
                    if self._children[i]:
                        stack.extend(self._children[i])
                    else:
                        value = max(value, float(h.distance(origin, self.sections[i](1))))
        self._max_dist_cache[label] = value
        return value

    def _segment_x(self, i: int) -> np.ndarray:
        nseg = int(self.sections[i].nseg)
        return (np.arange(nseg) + 0.5) / nseg

    def _path_distances(self, origin: Any, i: int) -> np.ndarray:
        sec = self.sections[i]
        return np.array([h.distance(origin, sec(x)) for x in self._segment_x(i)])

    def _z_distances(self, i: int) -> np.ndarray:
        """z of the original points minus the soma's mid-point z, interpolated at x_k."""
        pts = np.asarray(self.spec.sections[i].points, dtype=float)
        soma_pts = np.asarray(self.spec.sections[self.soma_index].points, dtype=float)
        z_soma = soma_pts[len(soma_pts) // 2, 2]
        steps = np.sqrt(np.sum(np.diff(pts[:, :3], axis=0) ** 2, axis=1))
        cum = np.concatenate([[0.0], np.cumsum(steps)])
        rel = cum / cum[-1] if cum[-1] > 0 else np.linspace(0.0, 1.0, len(pts))
        return np.interp(self._segment_x(i), rel, pts[:, 2] - z_soma)

    def _mechanism_values(self, label: str, i: int, mech: MechanismSpec) -> dict[str, np.ndarray]:
        """Bare parameter name -> value at every segment centre of section ``i``."""
        _check_rule(label, mech)
        rule, c = mech.spatial, mech.distribution
        params = {p: float(v) for p, v in mech.params.items() if p not in DISTRIBUTION_CONTROL_KEYS[rule]}
        nseg = int(self.sections[i].nseg)
        if rule == "uniform":
            return {p: np.full(nseg, g0) for p, g0 in params.items()}
        d = self._rule_distances(label, i, rule, c)
        if rule == "linear":
            slope, offset = float(c["slope"]), float(c["offset"])
            return {p: np.maximum(g0 * (d * slope + 1.0), g0 * offset) for p, g0 in params.items()}
        if rule == "linear_capped":
            prox, dist = float(c["prox_value"]), float(c["dist_value"])
            at = float(c["dist_value_distance"])
            values = np.where(d >= at, dist, prox + (dist - prox) / at * d)
            return {str(c["param_name"]): values}
        if rule in ("exponential", "capped_exponential", "exponential_by_z_dist"):
            shape = float(c["offset"]) + float(c["linScale"]) * np.exp(float(c["_lambda"]) * (d - float(c["xOffset"])))
            out = {p: g0 * shape for p, g0 in params.items()}
            if rule == "capped_exponential":
                max_g = float(c["max_g"])
                out = {p: np.minimum(v, max_g) for p, v in out.items()}
            return out
        if rule == "sigmoid":
            shape = float(c["offset"]) + float(c["linScale"]) / (
                1.0 + np.exp((d - float(c["xOffset"])) / float(c["width"]))
            )
            return {p: g0 * shape for p, g0 in params.items()}
        # uniform_range
        begin, end, outside = float(c["begin"]), float(c["end"]), float(c["outsidescale"])
        forced = {int(s) for s in (c.get("outsidescale_sections") or ())}
        inside = np.zeros(nseg, bool) if i in forced else (begin <= d) & (d <= end)
        return {p: np.where(inside, g0, g0 * outside) for p, g0 in params.items()}

    def _rule_distances(self, label: str, i: int, rule: str, ctrl: dict) -> np.ndarray:
        """The distance of every segment centre of section ``i`` that ``rule`` reads:
        from the soma, the label's origin or along z; relative to maxDist, or in mm for
        ``exponential_by_z_dist``."""
        relative = rule != "uniform_range" and ctrl.get("distance") == "relative"
        if rule in ("linear", "linear_capped"):
            d = self._path_distances(self.soma(0), i)
        elif rule == "exponential_by_z_dist" and label == _Z_DIST_LABEL:
            d = self._z_distances(i)
        else:
            d = self._path_distances(self._label_origin(label), i)
        if relative:
            max_dist = self.max_dist(label)
            if max_dist <= 0:
                raise PspSweepError(f"label {label!r}: maxDist is 0, relative distance undefined")
            d = d / max_dist
        elif rule == "exponential_by_z_dist":
            d = d / 1000.0
        return d

    # ------------------------------------------------------------------ queries

    def section_indices(self, label: str) -> list[int]:
        """Indices of the sections with ``label`` (empty if none)."""
        return list(self._by_label.get(label, []))

    def nseg_per_section(self) -> list[int]:
        """nseg of every section, in index order."""
        return [int(sec.nseg) for sec in self.sections]

    def nseg_by_label(self) -> dict[str, int]:
        """Total number of segments per label, labels in first-appearance order."""
        return {label: sum(int(self.sections[i].nseg) for i in self._by_label[label]) for label in self.spec.labels}

    def area_by_label(self) -> dict[str, float]:
        """Membrane area (um2, sum of ``seg.area()``) per label, with current diameters."""
        return {
            label: float(sum(seg.area() for i in self._by_label[label] for seg in self.sections[i]))
            for label in self.spec.labels
        }

    def total_area(self) -> float:
        """Membrane area (um2) of the whole cell."""
        return float(sum(seg.area() for sec in self.sections for seg in sec))

    def _check_location(self, section: int, x: float) -> Any:
        if not 0 <= section < len(self.sections):
            raise PspSweepError(
                f"cell {self.spec.name!r}: section index {section} out of range 0..{len(self.sections) - 1}"
            )
        if not 0.0 <= x <= 1.0:
            raise PspSweepError(f"section {section}: x = {x} outside [0, 1]")
        return self.sections[section]

    def clamped_x(self, section: int, x: float) -> float:
        """``x`` kept away from the section ends as ISF's ``activate_hoc_syn`` does.

        Returns:
            min(max(x, 0.5/nseg), 1 - 0.5/nseg) (isf-reference 3.4 step 2), so x = 0 maps
            to the first segment centre and x = 1 to the last.
        """
        nseg = int(self._check_location(section, x).nseg)
        return min(max(float(x), 0.5 / nseg), 1.0 - 0.5 / nseg)

    def segment_index(self, section: int, x: float) -> int:
        """0-based segment on which NEURON places a point process at ``x``.

        ``x`` is first clamped with :meth:`clamped_x` (so 0 and 1 give the first and last
        segment, never the zero-area end nodes), then NEURON's rule
        min(floor(nseg*x), nseg - 1) is applied.
        """
        return segment_of(int(self._check_location(section, x).nseg), float(x))

    def segment_path_distance(self, section: int, x: float) -> float:
        """Path length (um) from the soma centre, soma(0.5), to ``sections[section](x)``."""
        sec = self._check_location(section, x)
        return float(h.distance(self.soma(0.5), sec(float(x))))

    def section_points(self) -> list[np.ndarray]:
        """Current 3-D points per section, arrays (n, 4) of x, y, z, diam (um).

        Coordinates are the spec's original ones (NEURON may translate children when it
        defines the shape); diameters are NEURON's current ones, so scaled sections show
        their scaled diameters.
        """
        out = []
        for s, sec in zip(self.spec.sections, self.sections):
            pts = np.array(s.points, dtype=float, copy=True)
            pts[:, 3] = [sec.diam3d(j) for j in range(int(sec.n3d()))]
            out.append(pts)
        return out

    def density(self, section: int, x: float, mech: str, param: str) -> float:
        """Value of ``<param>_<mech>`` in the segment containing ``sections[section](x)``."""
        sec = self._check_location(section, x)
        try:
            return float(getattr(sec(float(x)), f"{param}_{mech}"))
        except _NEURON_ERRORS as exc:
            raise PspSweepError(f"section {section}: no parameter {param!r} of mechanism {mech!r}: {exc}") from None

    def apply_sim_settings(self, sim: SimSettings | None = None) -> None:
        """Set NEURON's ``dt`` (ms), ``celsius`` (degC) and ``v_init`` (mV) from ``sim``
        (``spec.sim`` if None) through :mod:`pspsweep.simulation.settings`, and remember
        ``v_init``. They are process globals that spawned workers do not inherit: every
        worker builds its cell and calls this itself."""
        from pspsweep.simulation import settings

        sim = self.spec.sim if sim is None else sim
        settings.apply_cell(h, sim)
        self.v_init = float(sim.v_init)
