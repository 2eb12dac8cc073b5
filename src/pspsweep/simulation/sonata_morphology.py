"""SONATA morphologies as bmtk's BioNet builds them, turned into plain section specs.

bmtk instantiates an SWC file with NEURON's Import3d inside its ``Biophys1`` template;
a section's id is its position in the template's ``all`` list. ``aibs_perisomatic``
processing (and ``nml:`` templates) then deletes the reconstructed axon and appends a
stub of two sections (L 30 um, diam 1 um; ``axon[0]`` on ``soma[0](0.5)``, ``axon[1]``
on ``axon[0](1)``), and ``h.define_shape()`` gives the stub 3-D points. The ``dL``
rule sets nseg = 1 + 2 int(L / 2 dL) for every section.

:func:`bmtk_sections` does exactly this in NEURON (the template below has the lines of
bmtk's ``Biophys1.hoc``), then reads back every section's 3-D points (float32 in NEURON,
so rebuilding them with ``pt3dadd`` gives the same geometry), parent and nseg, and
deletes the cell again.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from pspsweep.cellmodel import SectionSpec
from pspsweep.errors import PspSweepError

_TEMPLATE = "PspsweepSonataBiophys"
_TEMPLATE_HOC = """
begintemplate {name}
public init
public soma, dend, apic, axon
public all, somatic, basal, apical, axonal
objref all, somatic, basal, apical, axonal
objref this, nl, i3d
create soma[1]
create dend[1]
create apic[1]
create axon[1]
proc init() {
    all = new SectionList()
    somatic = new SectionList()
    basal = new SectionList()
    apical = new SectionList()
    axonal = new SectionList()
    forall delete_section()
    nl = new Import3d_SWC_read()
    nl.quiet = 1
    nl.input($s1)
    i3d = new Import3d_GUI(nl, 0)
    i3d.instantiate(this)
}
endtemplate {name}
""".replace("{name}", _TEMPLATE)

#: SWC section types bmtk knows (the first four letters of a section name) -> pspsweep labels
SECTION_LABELS = {"soma": "Soma", "dend": "Dendrite", "apic": "ApicalDendrite", "axon": "Axon"}
#: model processing pspsweep reproduces
PROCESSING = ("aibs_perisomatic",)


def _template(h: Any) -> Any:
    if not hasattr(h, _TEMPLATE):
        h.load_file("stdrun.hoc")
        h.load_file("import3d.hoc")
        h(_TEMPLATE_HOC)
    return getattr(h, _TEMPLATE)


def _replace_axon_with_stub(h: Any, cell: Any) -> None:
    for sec in list(cell.axon):
        h.delete_section(sec=sec)
    h.execute("create axon[2]", cell)
    for sec in cell.axon:
        sec.L = 30
        sec.diam = 1
        cell.axonal.append(sec=sec)
        cell.all.append(sec=sec)
    cell.axon[0].connect(cell.soma[0], 0.5, 0)
    cell.axon[1].connect(cell.axon[0], 1, 0)
    h.define_shape()


def _section_spec(h: Any, sec: Any, index: dict[str, int], dL: float) -> SectionSpec:
    name = sec.name().split(".", 1)[1]
    kind = name[:4]
    if kind not in SECTION_LABELS:
        raise PspSweepError(f"section {name}: SWC type not one of soma, axon, dend, apic")
    points = np.array(
        [[h.x3d(i, sec=sec), h.y3d(i, sec=sec), h.z3d(i, sec=sec), h.diam3d(i, sec=sec)] for i in range(sec.n3d())]
    )
    parent, parent_x = None, 0.0
    seg = sec.parentseg()
    if seg is not None:
        if sec.orientation() != 0.0:
            raise PspSweepError(f"section {name}: connected by its 1-end, which pspsweep does not build")
        parent, parent_x = index[seg.sec.name()], float(seg.x)
    nseg = 1 + 2 * int(sec.L / (2 * dL))
    return SectionSpec(name, SECTION_LABELS[kind], parent, parent_x, points, nseg)


def _stub_points(soma: SectionSpec, k: int) -> np.ndarray:
    """Points of stub section ``k`` (0 or 1): 30 um along x from the soma centre rounded to
    whole um, so that float32 coordinates keep L at exactly 30 um as bmtk's stub has (the
    points define_shape gives it round to an L 1e-7 off)."""
    start = np.round(soma.points[len(soma.points) // 2, :3]) + [30.0 * k, 0.0, 0.0]
    return np.array([[*start, 1.0], [*(start + [30.0, 0.0, 0.0]), 1.0]])


def bmtk_sections(swc: Path, processing: str, dL: float) -> tuple[SectionSpec, ...]:
    """The sections of an SWC morphology as bmtk builds them, in bmtk's section order.

    Raises:
        PspSweepError: unsupported model processing, or a morphology Import3d cannot read.
    """
    if processing not in PROCESSING:
        raise PspSweepError(f"model_processing {processing!r} is not supported (supported: {', '.join(PROCESSING)})")
    if not swc.is_file():
        raise PspSweepError(f"morphology file not found: {swc}")
    from neuron import h

    try:
        cell = _template(h)(str(swc))
    except RuntimeError as exc:
        raise PspSweepError(f"morphology {swc}: NEURON's Import3d cannot read it: {exc}") from None
    try:
        if len(list(cell.soma)) == 0:
            raise PspSweepError(f"morphology {swc}: no soma")
        _replace_axon_with_stub(h, cell)
        sections = list(cell.all)
        index = {sec.name(): i for i, sec in enumerate(sections)}
        specs = tuple(_section_spec(h, sec, index, dL) for sec in sections)
        specs = specs[:-2] + tuple(replace(s, points=_stub_points(specs[0], k)) for k, s in enumerate(specs[-2:]))
    finally:
        for sec in list(cell.all):
            h.delete_section(sec=sec)
        del cell
    return specs
