"""Read an SWC morphology through NEURON's Import3d into plain :class:`SectionSpec` data.

The file is parsed and split into unbranched sections by NEURON's own
``Import3d_SWC_read`` (``import3d.hoc``), so the sections, their 3-D points and their
connection points are exactly those NEURON's Import3d tool would create. No hoc section
is instantiated: the section structure is read from the Import3d reader's
``Import3d_Section`` objects, and the two post-processing steps of
``Import3d_GUI.instantiate`` are repeated in Python:

* sections with a parent and only one point, or two points at the same position, are
  dropped and their children reattached to the dropped section's parent at the dropped
  section's connection point (``Import3d_GUI.chk_valid``);
* a section with a single point (a one-point soma) becomes a 3-point cylinder along x
  with length = diameter (``Import3d_GUI.sphere_rep``).

A section that Import3d connects "by wire" (``first == 1``) starts at its own first
point; its first raw point (the parent's point) is dropped as in ``instantiate``.

Labels come from the SWC type of a section's points: 1 ``Soma``, 2 ``Axon``,
3 ``Dendrite`` (basal), 4 ``ApicalDendrite``, any other k ``Custom<k>``. Names follow
the label: ``soma`` (further soma sections ``soma_1``, ``soma_2``, ...), ``axon_<i>``,
``dend_<i>``, ``apical_<i>``, ``custom<k>_<i>``, counted per label from 0 in index order.

Connection points (``parent_x``): a section that is not ``Soma`` and whose parent is a
``Soma`` section is attached at soma(0.5), the ISF convention (isf-reference 1.3; ISF
moves every soma child to soma(0.5) to keep anything off soma(0)). Every other section
keeps Import3d's position: 1 when it starts at the parent's last point, 0 when it starts
at the first point of the root, 0.5 when it starts inside a soma section.

Points are ``x, y, z, diam`` (diameter = 2 x SWC radius) in um, as Import3d holds them,
i.e. already rounded to single precision as NEURON stores 3-D points.

Before Import3d sees the file, every line is checked here (Import3d itself only prints
messages and may crash the process on a malformed file): 7 numeric columns
``id type x y z radius parent``, integer id/type/parent, ids unique and increasing down
the file, radius >= 0, the parent defined on an earlier line, one root (parent -1).
Errors name the file and line. One repair is made, with a warning: a further root that
lies exactly at the position of an earlier sample (an exporter split the tree at a
duplicated point, as in ISF's ``86_C2_center.swc``) is joined to that sample. Import3d
reads a normalised temporary copy of the file with the same line numbers (the 7 values
of each sample, the joined parent, comments and blank lines blanked out).

Differences to ISF's ``.hoc`` morphologies come from Import3d's SWC conventions: a
child section starts with a copy of its parent's point, so the connection from a soma
point to a dendrite's first sample is part of the dendrite (Import3d leaves it out, as
a "wire", only where a dendrite starts inside a multi-point soma or at a one-point
soma); a soma is split at its branch points into several ``Soma`` sections; a
one-point root becomes a cylinder as long as its diameter.

This module is part of the simulation package because it imports ``neuron``.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np
from neuron import h

from pspsweep.cellmodel import SectionSpec
from pspsweep.errors import InputFileError
from pspsweep.io.isf_hoc import SOMA_CHILD_X
from pspsweep.io.text import parse_float, parse_int, quote, read_lines

#: SWC structure identifiers -> section labels (any other type k -> ``Custom<k>``).
SWC_TYPE_LABELS: dict[int, str] = {1: "Soma", 2: "Axon", 3: "Dendrite", 4: "ApicalDendrite"}

#: Label -> section name prefix.
NAME_PREFIXES: dict[str, str] = {"Soma": "soma", "Axon": "axon", "Dendrite": "dend", "ApicalDendrite": "apical"}

_COLUMNS = "id type x y z radius parent"
_LINE_IN_MESSAGE = re.compile(r"\bline (\d+)")


def label_of_swc_type(swc_type: int) -> str:
    """The section label of an SWC type (1 Soma, 2 Axon, 3 Dendrite, 4 ApicalDendrite, else Custom<k>)."""
    return SWC_TYPE_LABELS.get(int(swc_type), f"Custom{int(swc_type)}")


@dataclass(frozen=True)
class SwcPoint:
    """One validated SWC sample (radius, not diameter) and the file line it came from."""

    id: int
    type: int
    x: float
    y: float
    z: float
    radius: float
    parent: int
    line: int
    #: True for a second root joined to an earlier sample at the same position
    rejoined: bool = False


def _integer(path: os.PathLike | str, lineno: int, token: str, what: str) -> int:
    try:
        return parse_int(token, negative=True)
    except ValueError:
        raise InputFileError(path, f"SWC {what} must be an integer, got {quote(token)}", lineno) from None


def validate_swc(path: os.PathLike | str) -> list[SwcPoint]:
    """Check the line format of an SWC file and return its samples in file order.

    Blank lines and ``#`` comments (whole-line or trailing) are skipped.

    Args:
        path: the ``.swc`` file.

    Returns:
        The samples, in file order.

    Raises:
        InputFileError: the file is missing or unreadable, or a line is malformed (the
            message names the file and line): not 7 numeric columns, a non-integer or
            negative id, a non-integer type or parent, a negative radius, a duplicate
            id, ids not increasing, a parent that is not defined on an earlier line,
            a further root that is not at an earlier sample's position, or fewer than
            two samples.

    Warns:
        UserWarning: a further root at an earlier sample's position was joined to it
            (its ``parent`` is that sample's id and ``rejoined`` is True).
    """
    lines = read_lines(path, "morphology")

    points: list[SwcPoint] = []
    line_of: dict[int, int] = {}
    root_line: int | None = None
    for lineno, text in enumerate(lines, start=1):
        body = text.split("#", 1)[0].strip()
        if not body:
            continue
        tokens = body.split()
        if len(tokens) != 7:
            raise InputFileError(path, f"expected 7 columns ({_COLUMNS}), got {len(tokens)}: {quote(text)}", lineno)
        id_ = _integer(path, lineno, tokens[0], "id")
        type_ = _integer(path, lineno, tokens[1], "type")
        parent = _integer(path, lineno, tokens[6], "parent id")
        try:
            values = [parse_float(t) for t in tokens]
        except ValueError:
            raise InputFileError(
                path, f"non-numeric value in an SWC line ({_COLUMNS}): {quote(text)}", lineno
            ) from None
        if not all(math.isfinite(v) for v in values):
            raise InputFileError(path, f"non-finite value in an SWC line: {quote(text)}", lineno)
        rejoined = False
        radius = values[5]
        if id_ < 0:
            raise InputFileError(path, f"SWC id must be >= 0, got {id_}", lineno)
        if radius < 0:
            raise InputFileError(path, f"negative radius {radius:g} of id {id_}", lineno)
        if id_ in line_of:
            raise InputFileError(path, f"duplicate id {id_} (first at line {line_of[id_]})", lineno)
        if points and id_ < points[-1].id:
            raise InputFileError(
                path,
                f"id {id_} after id {points[-1].id}: ids must increase down the file "
                "(NEURON's Import3d cannot reorder them)",
                lineno,
            )
        if parent < 0:
            if parent != -1:
                raise InputFileError(path, f"parent id {parent} of id {id_}: a root has parent -1", lineno)
            if root_line is not None:
                # a second root exactly at an earlier sample: an exporter split the tree there
                xyz = (values[2], values[3], values[4])
                twin = next((p for p in points if (p.x, p.y, p.z) == xyz), None)
                if twin is None:
                    raise InputFileError(
                        path,
                        f"second root (parent -1) at id {id_}, not at the position of any earlier "
                        f"sample; the first root is at line {root_line}: a cell must be a single tree",
                        lineno,
                    )
                warnings.warn(
                    f"{path}:{lineno}: second root id {id_} lies exactly at sample id {twin.id} "
                    f"(line {twin.line}); joined to it to make a single tree",
                    stacklevel=3,
                )
                parent, rejoined = twin.id, True
            else:
                root_line = lineno
        elif parent not in line_of:
            raise InputFileError(path, f"parent id {parent} of id {id_} is not defined on an earlier line", lineno)
        line_of[id_] = lineno
        points.append(SwcPoint(id_, type_, values[2], values[3], values[4], radius, parent, lineno, rejoined))
    if len(points) < 2:
        raise InputFileError(path, f"an SWC morphology needs at least 2 samples, found {len(points)}")
    return points


def _load_import3d() -> None:
    if not hasattr(h, "Import3d_SWC_read"):
        h.load_file("stdlib.hoc")
        h.load_file("import3d.hoc")


def _import3d_reader(path: os.PathLike | str, points: list[SwcPoint]):
    """Run NEURON's Import3d SWC reader on the samples of ``path`` (validated into ``points``).

    Import3d reads a normalised copy of the file with the same line numbers: each sample
    line as exactly its 7 values (a joined root with its new parent), every other line as
    ``#`` (Import3d rejects empty lines).
    """
    _load_import3d()
    lines = ["#"] * points[-1].line
    for p in points:
        lines[p.line - 1] = f"{p.id} {p.type} {p.x!r} {p.y!r} {p.z!r} {p.radius!r} {p.parent}"
    with tempfile.TemporaryDirectory(prefix="pspsweep-swc-") as tmp:
        # a fixed ASCII name: hoc cannot open a path with non-ASCII characters
        source = os.path.join(tmp, "cell.swc")
        with open(source, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        reader = h.Import3d_SWC_read()
        reader.quiet = 1
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                reader.input(source)
        except RuntimeError as exc:  # a hoc error inside Import3d
            raise InputFileError(path, f"NEURON's Import3d could not read the file: {exc}") from None
    for msg in out.getvalue().replace(source, str(path)).splitlines():
        if msg.lstrip().lower().startswith("error"):
            m = _LINE_IN_MESSAGE.search(msg)
            raise InputFileError(path, f"NEURON's Import3d: {msg.strip()}", int(m.group(1)) if m else None)
    return reader


@dataclass
class _Section:
    """An Import3d section while it is being post-processed."""

    key: int
    parent_key: int | None
    parent_x: float
    swc_type: int
    xyz: np.ndarray  # (3, n) raw points including Import3d's copy of the parent point
    diam: np.ndarray  # (n,)
    first: int


def _import3d_sections(reader) -> list[_Section]:
    out = []
    for i in range(int(reader.sections.count())):
        sec = reader.sections.o(i)
        if int(sec.iscontour_):  # pragma: no cover - SWC files have no contours
            raise AssertionError("unexpected contour section from an SWC file")
        n = int(sec.raw.ncol())
        xyz = np.array([sec.raw.getrow(r).to_python() for r in range(3)], dtype=float).reshape(3, n)
        parent = sec.parentsec
        out.append(
            _Section(
                key=int(sec.id),
                parent_key=None if parent is None else int(parent.id),
                parent_x=float(sec.parentx),
                swc_type=int(sec.type),
                xyz=xyz,
                diam=np.array(sec.d.to_python(), dtype=float),
                first=int(sec.first),
            )
        )
    return out


def _drop_degenerate(sections: list[_Section]) -> list[_Section]:
    """``Import3d_GUI.chk_valid``: drop 1-point and zero-length 2-point non-root sections."""
    sections = list(sections)
    for i in range(len(sections) - 1, -1, -1):
        sec = sections[i]
        if sec.parent_key is None:
            continue
        npts = sec.xyz.shape[1] - sec.first
        degenerate = npts <= 1 or (npts == 2 and np.array_equal(sec.xyz[:, sec.first], sec.xyz[:, sec.first + 1]))
        if not degenerate:
            continue
        del sections[i]
        for child in sections[i:]:
            if child.parent_key == sec.key:
                child.parent_key, child.parent_x = sec.parent_key, sec.parent_x
    return sections


def _points(sec: _Section) -> np.ndarray:
    """The section's (n, 4) points as ``instantiate`` adds them (``first`` on; sphere rule)."""
    pts = np.column_stack([sec.xyz[:, sec.first :].T, sec.diam[sec.first :]])
    if len(pts) == 1:  # Import3d_GUI.sphere_rep: 3-point cylinder along x, L = diam
        x, y, z, d = pts[0]
        pts = np.array([[x - d / 2, y, z, d], [x, y, z, d], [x + d / 2, y, z, d]])
    return pts


def read_swc(path: os.PathLike | str) -> tuple[SectionSpec, ...]:
    """Read an SWC morphology through NEURON's Import3d (see the module docstring).

    Args:
        path: the ``.swc`` file.

    Returns:
        One :class:`SectionSpec` per Import3d section in Import3d's order (parents
        before children; the root, usually the soma, is index 0), ``nseg=None``.

    Raises:
        InputFileError: the file is missing, unreadable or malformed (names the file and
            line), or NEURON's Import3d reports an error.
    """
    reader = _import3d_reader(path, validate_swc(path))
    sections = _drop_degenerate(_import3d_sections(reader))
    del reader

    index_of: dict[int, int] = {}
    labels = [label_of_swc_type(s.swc_type) for s in sections]
    counters: dict[str, int] = {}
    specs: list[SectionSpec] = []
    for i, (sec, label) in enumerate(zip(sections, labels)):
        k = counters.get(label, 0)
        counters[label] = k + 1
        prefix = NAME_PREFIXES.get(label, label.lower())
        name = ("soma" if k == 0 else f"soma_{k}") if label == "Soma" else f"{prefix}_{k}"
        if sec.parent_key is None:
            parent, parent_x = None, 0.0
        else:
            if sec.parent_key not in index_of:  # pragma: no cover - Import3d orders parents first
                raise InputFileError(path, f"section {name} precedes its parent in Import3d's order")
            parent = index_of[sec.parent_key]
            soma_child = labels[parent] == "Soma" and label != "Soma"
            parent_x = SOMA_CHILD_X if soma_child else sec.parent_x
        index_of[sec.key] = i
        specs.append(
            SectionSpec(name=name, label=label, parent=parent, parent_x=float(parent_x), points=_points(sec), nseg=None)
        )
    roots = [s.name for s in specs if s.parent is None]
    if len(roots) != 1:  # pragma: no cover - validate_swc allows exactly one root
        raise InputFileError(path, f"expected one root section, found {len(roots)}: {roots}")
    return tuple(specs)
