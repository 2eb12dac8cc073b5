"""The cell model as plain data: morphology, biophysics and simulation settings.

A :class:`CellSpec` is a complete, NEURON-free description of a cell. Readers
(``pspsweep.io``) and the demo generator (``pspsweep.demo``) produce it; the
simulation package (``pspsweep.simulation.cell``) turns it into NEURON sections.

Units: lengths and diameters in um, Ra in ohm*cm, cm in uF/cm2, conductance
densities in S/cm2, voltages in mV, times in ms, temperature in degC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Keys of a distribution that steer the rule rather than being mechanism parameters
#: (isf-reference section 2.4). Every other key of a mechanism entry is a parameter.
DISTRIBUTION_CONTROL_KEYS: dict[str, tuple[str, ...]] = {
    "uniform": (),
    "linear": ("distance", "slope", "offset"),
    "linear_capped": ("distance", "param_name", "prox_value", "dist_value", "dist_value_distance"),
    "exponential": ("distance", "offset", "linScale", "_lambda", "xOffset"),
    "capped_exponential": ("distance", "offset", "linScale", "_lambda", "xOffset", "max_g"),
    "exponential_by_z_dist": ("distance", "offset", "linScale", "_lambda", "xOffset"),
    "sigmoid": ("distance", "offset", "linScale", "xOffset", "width"),
    "uniform_range": ("begin", "end", "outsidescale", "outsidescale_sections"),
}


def control_value_problem(name: str, value: Any) -> str | None:
    """What is wrong with one control value of a spatial rule, or None: names are
    strings, section lists hold section indices, every other control is a finite number."""
    if name in ("distance", "param_name"):
        return None if isinstance(value, str) else "expected a string"
    if name == "outsidescale_sections":
        ok = value is None or (
            isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
        )
        return None if ok else "expected a list of section indices"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "expected a number"
    try:
        finite = math.isfinite(float(value))
    except OverflowError:  # an integer beyond float range
        finite = False
    return None if finite else "expected a finite number"


@dataclass(frozen=True)
class SectionSpec:
    """One unbranched section.

    Attributes:
        name: hoc-style name (``soma``, ``dend_1_0``, ``axon_0``).
        label: section label that selects the biophysics (``Soma``, ``Dendrite``,
            ``ApicalDendrite``, ``AIS``, ``Myelin``, ...).
        parent: index of the parent section in ``CellSpec.sections``; None for the root.
        parent_x: position on the parent where this section's 0-end attaches.
        points: array (n, 4) of 3-D points ``x, y, z, diam`` in um (n >= 1).
        nseg: fixed number of segments, or None to apply the cell's nseg rule.
    """

    name: str
    label: str
    parent: int | None
    parent_x: float
    points: np.ndarray
    nseg: int | None = None


@dataclass(frozen=True)
class MechanismSpec:
    """A density mechanism inserted into every section of a label.

    Attributes:
        name: NEURON suffix (``pas``, ``hh``, ``NaTa_t``).
        params: bare parameter name -> file value g0 (``{"gNaTa_tbar": 2.43}``).
        spatial: distribution rule name, a key of ``DISTRIBUTION_CONTROL_KEYS``.
        distribution: the rule's control keys and values (``{"distance": "relative", ...}``).
    """

    name: str
    params: dict[str, float]
    spatial: str = "uniform"
    distribution: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelBiophysics:
    """Passive properties, ions and density mechanisms of one section label.

    Attributes:
        label: the section label these apply to.
        Ra: axial resistivity (ohm*cm); None keeps NEURON's default.
        cm: specific capacitance (uF/cm2); None keeps NEURON's default.
        ions: section-wide ion settings such as ``{"ek": -85.0, "ena": 50.0}`` (mV).
        mechanisms: density mechanisms in insertion order.
    """

    label: str
    Ra: float | None = None
    cm: float | None = None
    ions: dict[str, float] = field(default_factory=dict)
    mechanisms: tuple[MechanismSpec, ...] = ()


@dataclass(frozen=True)
class Discretization:
    """How nseg is chosen for sections without a fixed nseg.

    ``rule="isf_dlambda"``: ISF's d-lambda variant (isf-reference 1.5): lambda_f from the
    diameter of the point at index n//2, nseg = 2*floor((L/(0.1*lambda_f) + 0.5)/2) + 1,
    then ``ceil(L/max_seg_length)`` if segments are longer than ``max_seg_length``.
    ``rule="fixed"``: every such section gets ``nseg``.
    """

    rule: str = "isf_dlambda"
    f: float = 100.0
    max_seg_length: float | None = None
    nseg: int = 1


@dataclass(frozen=True)
class DiameterScaling:
    """Scale the 3-D point diameters of chosen sections after the biophysics are set.

    Sections are visited in index order; a section is chosen when its label is in
    ``labels`` and the path distance from soma(0) to its far end (x = 1) is at most
    ``max_distance_um`` (None: no limit). Once ``max_sections`` sections are scaled the
    walk stops (isf-reference 1.8 expresses ISF's ``scale_apical_morph_86`` this way:
    labels [ApicalDendrite], factor 2.5, max_distance_um 1000, max_sections 33).
    """

    factor: float
    labels: tuple[str, ...] = ()
    max_distance_um: float | None = None
    max_sections: int | None = None


@dataclass(frozen=True)
class SimSettings:
    """Initial voltage (mV), fixed time step (ms) and temperature (degC)."""

    v_init: float = -75.0
    dt: float = 0.025
    celsius: float = 34.0


@dataclass(frozen=True)
class CellSpec:
    """A complete cell description.

    Attributes:
        name: a human-readable name.
        sections: all sections; indices are the integers used by synapse files.
        biophysics: per-label settings, applied in this order.
        discretization: the nseg rule.
        diameter_scalings: applied in order after the biophysics.
        sim: simulation settings.
        mechanism_dirs: folders of .mod files this cell needs, compiled and loaded once.
    """

    name: str
    sections: tuple[SectionSpec, ...]
    biophysics: tuple[LabelBiophysics, ...]
    discretization: Discretization = Discretization()
    diameter_scalings: tuple[DiameterScaling, ...] = ()
    sim: SimSettings = SimSettings()
    mechanism_dirs: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        """Distinct section labels in first-appearance order."""
        return tuple(dict.fromkeys(s.label for s in self.sections))
