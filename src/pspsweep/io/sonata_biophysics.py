"""Biophysics of SONATA cells: NeuroML2 cell files and Allen Cell Types JSON fits.

Both are read as bmtk's BioNet applies them (``NMLLoad`` for ``nml:`` templates,
``set_params_peri`` of ``aibs_perisomatic`` for JSON ``dynamics_params``), per section
type ``soma``, ``dend``, ``apic``, ``axon`` (pspsweep's labels ``Soma``, ``Dendrite``,
``ApicalDendrite``, ``Axon``):

* NeuroML2: ``resistivity`` -> Ra, ``specificCapacitance`` -> cm, ``channelDensity`` of
  ``pas`` -> g_pas and e_pas, any other ``channelDensity``/``channelDensityNernst`` -> the
  mechanism ``ionChannel`` with its ``id`` (``gbar_NaTs``) set to ``condDensity``, its
  ``erev`` as ena or ek for ``na``/``k`` channels; ``concentrationModel`` -> the mechanism
  ``id`` with ``gamma`` and ``decay``. Units are not converted (bmtk takes the numbers).
  ``segmentGroup="all"`` means every section type.
* JSON: ``passive`` ra, cm per section type and e_pas (pas in every section), ``genome``
  entries (mechanism, parameter name, value), ``conditions.erev`` ena/ek per section type.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from pspsweep.cellmodel import LabelBiophysics, MechanismSpec
from pspsweep.errors import PspSweepError

#: bmtk's section types (the first four letters of a section's name) -> pspsweep labels
SECTION_LABELS = {"soma": "Soma", "dend": "Dendrite", "apic": "ApicalDendrite", "axon": "Axon"}
_GROUPS = {
    "all": tuple(SECTION_LABELS),
    "soma": ("soma",),
    "somatic": ("soma",),
    "axon": ("axon",),
    "axonal": ("axon",),
    "dend": ("dend",),
    "basal": ("dend",),
    "dendritic": ("dend",),
    "apic": ("apic",),
    "apical": ("apic",),
}


class _Label:
    """What one section type collects before it becomes a LabelBiophysics."""

    def __init__(self) -> None:
        self.Ra: float | None = None
        self.cm: float | None = None
        self.ions: dict[str, float] = {}
        self.mechanisms: dict[str, dict[str, float]] = {}

    def set(self, mech: str, param: str, value: float) -> None:
        self.mechanisms.setdefault(mech, {})[param] = value


def _number(text: str | None, what: str) -> float:
    try:
        return float(str(text).split(" ")[0])
    except ValueError:
        raise PspSweepError(f"{what}: not a number: {text!r}") from None


def _bare(name: str, mech: str, where: str) -> str:
    if not name.endswith("_" + mech):
        raise PspSweepError(f"{where}: parameter {name!r} is not <parameter>_{mech}")
    return name[: -len(mech) - 1]


def _labels(collected: dict[str, _Label]) -> tuple[LabelBiophysics, ...]:
    return tuple(
        LabelBiophysics(
            SECTION_LABELS[t],
            lab.Ra,
            lab.cm,
            dict(lab.ions),
            tuple(MechanismSpec(m, dict(p)) for m, p in lab.mechanisms.items()),
        )
        for t, lab in collected.items()
    )


def _nml_element(tag: str, a: dict[str, str], lab: _Label, where: str) -> None:
    if tag == "resistivity":
        lab.Ra = _number(a.get("value"), where)
    elif tag == "specificCapacitance":
        lab.cm = _number(a.get("value"), where)
    elif tag in ("channelDensity", "channelDensityNernst"):
        channel, value = a.get("ionChannel", ""), _number(a.get("condDensity"), where)
        if channel == "pas" and tag == "channelDensity":
            lab.set("pas", "g", value)
            lab.set("pas", "e", _number(a.get("erev"), where))
            return
        lab.set(channel, _bare(a.get("id", ""), channel, where), value)
        if a.get("ion") in ("na", "k") and "erev" in a:
            lab.ions["e" + a["ion"]] = _number(a["erev"], where)
    elif tag == "concentrationModel":
        mech = a.get("id", "")
        if a.get("type") != mech:
            raise PspSweepError(f"{where}: concentrationModel id {mech!r} differs from its type {a.get('type')!r}")
        lab.set(mech, "gamma", _number(a.get("gamma"), where))
        lab.set(mech, "decay", _number(a.get("decay"), where))


def nml_biophysics(path: Path) -> tuple[LabelBiophysics, ...]:
    """The biophysics of a NeuroML2 cell file, per section type, in document order.

    Raises:
        PspSweepError: an unreadable file, an element without segmentGroup, a
            parameter id that is not ``<name>_<ionChannel>``.
    """
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise PspSweepError(f"NeuroML2 cell file {path}: {exc}") from None
    collected: dict[str, _Label] = {t: _Label() for t in SECTION_LABELS}
    tags = ("resistivity", "specificCapacitance", "channelDensity", "channelDensityNernst", "concentrationModel")
    for elem in root.iter():
        tag = elem.tag.split("}")[-1]
        if tag not in tags:
            continue
        where = f"NeuroML2 cell file {path}: <{tag} id={elem.attrib.get('id', tag)!r}>"
        group = elem.attrib.get("segmentGroup")
        if group is None or group.lower() not in _GROUPS:
            raise PspSweepError(f"{where}: segmentGroup {group!r} is not one of {', '.join(_GROUPS)}")
        for section_type in _GROUPS[group.lower()]:
            _nml_element(tag, dict(elem.attrib), collected[section_type], where)
    return _labels(collected)


def _json_passive(data: dict[str, Any], where: str) -> dict[str, _Label]:
    try:
        passive = data["passive"][0]
        cms = {c["section"]: float(c["cm"]) for c in passive["cm"]}
        # a section type without cm gets no entry: a cell with such sections is refused
        collected = {t: _Label() for t in SECTION_LABELS if t in cms}
        for section_type, lab in collected.items():
            lab.Ra = float(passive["ra"])
            lab.cm = cms[section_type]
            lab.set("pas", "e", float(passive["e_pas"]))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise PspSweepError(f"{where}: passive section incomplete ({exc!r})") from None
    return collected


def json_biophysics(path: Path) -> tuple[LabelBiophysics, ...]:
    """The biophysics of an Allen Cell Types JSON fit, as ``set_params_peri`` applies them.

    Raises:
        PspSweepError: an unreadable file or a missing passive, genome or erev entry.
    """
    where = f"biophysics JSON {path}"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PspSweepError(f"{where}: {exc}") from None
    collected = _json_passive(data, where)
    try:
        for entry in data["genome"]:
            section_type, name = entry["section"], entry["name"]
            if section_type not in collected:
                continue  # bmtk applies it to no section
            mech = entry.get("mechanism", "") or name.rsplit("_", 1)[-1]
            collected[section_type].set(mech, _bare(name, mech, where), float(entry["value"]))
        for erev in data["conditions"][0]["erev"]:
            if erev["section"] in collected:
                collected[erev["section"]].ions.update({"ena": float(erev["ena"]), "ek": float(erev["ek"])})
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise PspSweepError(f"{where}: genome or conditions incomplete ({exc!r})") from None
    return _labels(collected)
