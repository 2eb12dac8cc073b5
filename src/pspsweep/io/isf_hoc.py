"""Read an ISF-style NEURON ``.hoc`` morphology the way ISF does (isf-reference 1.1-1.3).

ISF does not interpret hoc: it scans the file line by line for the substrings
``create``, ``pt3dadd`` and ``connect``. This reader follows the same rules but
rejects the inputs on which ISF would silently produce a corrupted cell:

* a ``create`` line whose text matches no label rule, or several;
* ``pt3dadd`` lines outside the point block of a section;
* unknown parents, sections without points, sections without a parent, cycles.

Every error is an :class:`~pspsweep.errors.InputFileError` naming the file and line.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from pspsweep.cellmodel import SectionSpec
from pspsweep.errors import InputFileError
from pspsweep.io.text import parse_float, quote, read_lines

#: Substring rules of a ``create`` line -> section label (isf-reference 1.1, rule 2).
HOC_LABEL_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("soma",), "Soma"),
    (("dend", "BasalDendrite"), "Dendrite"),
    (("apical",), "ApicalDendrite"),
    (("axon",), "Axon"),
)

#: Position on the soma where every soma child is attached (isf-reference 1.3).
SOMA_CHILD_X = 0.5

_STRIP_CHARS = "{} \t\r\n"


@dataclass
class _RawSection:
    """A section while it is being parsed."""

    name: str
    label: str
    line: int
    points: list[tuple[float, float, float, float]] = field(default_factory=list)
    block_closed: bool = False
    parent_name: str | None = None
    parent_x: float | None = None
    connect_line: int | None = None


def label_of_create_line(text: str) -> list[str]:
    """Labels whose substring rule matches a ``create`` line.

    Args:
        text: the raw line.

    Returns:
        The matching labels in rule order; ISF requires exactly one.
    """
    return [label for subs, label in HOC_LABEL_RULES if any(s in text for s in subs)]


def _parse_create(path: os.PathLike | str, lineno: int, text: str) -> tuple[str, str]:
    """Return (name, label) of a ``create`` line or raise."""
    tokens = text.strip(_STRIP_CHARS).split()
    if len(tokens) < 2:
        raise InputFileError(path, f"'create' line without a section name: {quote(text)}", lineno)
    name = tokens[1]
    if len(tokens) > 2 or "," in name:
        raise InputFileError(path, f"'create' line must create exactly one section: {quote(text)}", lineno)
    labels = label_of_create_line(text)
    rules = "soma -> Soma, dend/BasalDendrite -> Dendrite, apical -> ApicalDendrite, axon -> Axon"
    if not labels:
        raise InputFileError(path, f"section {quote(name)} matches no label rule ({rules})", lineno)
    if len(labels) > 1:
        raise InputFileError(
            path,
            f"section {quote(name)} matches several label rules ({', '.join(labels)}); "
            f"the line must contain exactly one of: {rules}",
            lineno,
        )
    return name, labels[0]


def _parse_float(path: os.PathLike | str, lineno: int, token: str, what: str) -> float:
    """Parse one finite float or raise naming the line."""
    try:
        value = parse_float(token)
    except ValueError:
        raise InputFileError(path, f"malformed number {quote(token)} in {what}", lineno) from None
    if not math.isfinite(value):
        raise InputFileError(path, f"non-finite number {quote(token)} in {what}", lineno)
    return value


def _parse_pt3dadd(path: os.PathLike | str, lineno: int, text: str) -> tuple[float, float, float, float]:
    """Parse the four numbers of a ``pt3dadd(x, y, z, d)`` line."""
    start = text.find("(", text.find("pt3dadd"))
    end = text.find(")", start + 1) if start >= 0 else -1
    if start < 0 or end < 0:
        raise InputFileError(path, f"malformed pt3dadd statement: {quote(text)}", lineno)
    fields = text[start + 1 : end].split(",")
    if len(fields) != 4:
        raise InputFileError(path, f"pt3dadd needs 4 numbers (x, y, z, diam), got {len(fields)}: {quote(text)}", lineno)
    x, y, z, d = (_parse_float(path, lineno, f, "pt3dadd") for f in fields)
    if d < 0:
        raise InputFileError(path, f"negative diameter {d} in pt3dadd", lineno)
    return x, y, z, d


def _parse_connect(path: os.PathLike | str, lineno: int, text: str) -> tuple[str, str, float]:
    """Parse ``connect CHILD(c), PARENT(p)``; returns (child text, parent name, p)."""
    comma = text.find(",")
    if comma < 0:
        raise InputFileError(
            path, f"malformed connect statement (expected 'connect CHILD(c), PARENT(p)'): {quote(text)}", lineno
        )
    child_part = text[:comma].strip(_STRIP_CHARS)
    child = child_part.split("connect", 1)[-1].split("(", 1)[0].strip()
    rest = text[comma + 1 :].strip(_STRIP_CHARS)
    open_ = rest.find("(")
    close = rest.find(")", open_ + 1) if open_ >= 0 else -1
    if open_ <= 0 or close < 0:
        raise InputFileError(
            path, f"malformed connect statement (expected 'PARENT(p)' after the comma): {quote(text)}", lineno
        )
    parent = rest[:open_].strip()
    if not parent:
        raise InputFileError(path, f"connect statement without a parent name: {quote(text)}", lineno)
    p = _parse_float(path, lineno, rest[open_ + 1 : close], "connect")
    if not 0.0 <= p <= 1.0:
        raise InputFileError(path, f"parent position {p} outside [0, 1] in connect", lineno)
    return child, parent, p


def read_hoc(path: os.PathLike | str) -> tuple[SectionSpec, ...]:
    """Read an ISF-style ``.hoc`` morphology.

    Sections are returned in ``create`` order; their indices are the section indices
    used by ``.syn`` files (isf-reference 1.2). Labels come from substrings of the
    ``create`` line; every section whose parent is labelled ``Soma`` is attached at
    soma(0.5), all others at the parent position written in the file (1.3). The
    ``nseg`` written in the file is ignored: every section gets ``nseg=None``.

    Args:
        path: the ``.hoc`` file.

    Returns:
        One :class:`SectionSpec` per ``create`` statement, with points (n, 4) as
        ``x, y, z, diam`` in um.

    Raises:
        InputFileError: the file is missing or unreadable, or a statement is malformed
            (the message names the file and line): a ``create`` line matching zero or
            several label rules, a duplicate section name, malformed numbers,
            ``pt3dadd`` outside a section's point block, ``connect`` before any
            ``create`` or twice for one section, an unknown parent, a section
            without points, a non-soma section without parent, a soma with a
            parent, not exactly one soma section, or a cycle.

    Notes:
        As in ISF, a ``connect`` line is assigned to the most recently created section,
        whatever child name it spells (a differing child name only triggers a warning),
        and lines containing ``Spine`` are skipped. Block comments are only recognised
        when ``/*`` and ``*/`` are on the same line (that line is skipped). Unlike ISF,
        lines starting with ``//`` are skipped as comments (ISF would read a
        ``// created by ...`` line as a ``create`` statement).
    """
    lines = read_lines(path, "morphology")

    raw: list[_RawSection] = []
    by_name: dict[str, int] = {}
    for lineno, text in enumerate(lines, start=1):
        if ("/*" in text and "*/" in text) or text.lstrip().startswith("//"):
            continue
        current = raw[-1] if raw else None
        if "create" in text:
            if current is not None and not current.points:
                raise InputFileError(path, f"section {quote(current.name)} has no pt3dadd points", current.line)
            name, label = _parse_create(path, lineno, text)
            if name in by_name:
                first = raw[by_name[name]].line
                raise InputFileError(path, f"section {quote(name)} created twice (first at line {first})", lineno)
            by_name[name] = len(raw)
            raw.append(_RawSection(name=name, label=label, line=lineno))
            continue
        if "Spine" in text:
            continue
        if "pt3dadd" in text:
            if current is None:
                raise InputFileError(path, "pt3dadd before any 'create' statement", lineno)
            if current.block_closed:
                raise InputFileError(
                    path,
                    f"pt3dadd after the point block of section {quote(current.name)} ended "
                    "(ISF would ignore this point); keep a section's points on consecutive lines",
                    lineno,
                )
            current.points.append(_parse_pt3dadd(path, lineno, text))
            continue
        if current is not None and current.points:
            current.block_closed = True
        if "connect" in text:
            if current is None:
                raise InputFileError(path, "'connect' before any 'create' statement", lineno)
            if current.connect_line is not None:
                raise InputFileError(
                    path,
                    f"second 'connect' for section {quote(current.name)} (first at line {current.connect_line}); "
                    "a connect line is assigned to the most recently created section",
                    lineno,
                )
            child, parent, p = _parse_connect(path, lineno, text)
            if child and child != current.name:
                warnings.warn(
                    f"{path}:{lineno}: connect names child {quote(child)} but is assigned to the most "
                    f"recently created section {quote(current.name)} (ISF behaviour)",
                    stacklevel=2,
                )
            current.parent_name, current.parent_x, current.connect_line = parent, p, lineno

    if not raw:
        raise InputFileError(path, "no 'create' statement found")
    if not raw[-1].points:
        raise InputFileError(path, f"section {quote(raw[-1].name)} has no pt3dadd points", raw[-1].line)
    somas = [r for r in raw if r.label == "Soma"]
    if len(somas) != 1:
        where = ", ".join(f"{quote(r.name)} (line {r.line})" for r in somas) or "none"
        raise InputFileError(path, f"expected exactly one soma section, found {len(somas)}: {where}")

    parents: list[int | None] = []
    for r in raw:
        if r.label == "Soma":
            if r.parent_name is not None:
                raise InputFileError(path, f"soma section {quote(r.name)} must not have a parent", r.connect_line)
            parents.append(None)
            continue
        if r.parent_name is None:
            raise InputFileError(path, f"section {quote(r.name)} has no 'connect' statement (no parent)", r.line)
        if r.parent_name not in by_name:
            raise InputFileError(
                path, f"unknown parent section {quote(r.parent_name)} of {quote(r.name)}", r.connect_line
            )
        index = by_name[r.parent_name]
        if raw[index] is r:
            raise InputFileError(path, f"section {quote(r.name)} is connected to itself", r.connect_line)
        parents.append(index)

    _check_acyclic(path, raw, parents)

    sections = []
    for r, parent_index in zip(raw, parents):
        if parent_index is None:
            parent_x = 0.0
        elif raw[parent_index].label == "Soma":
            parent_x = SOMA_CHILD_X
        else:
            parent_x = float(r.parent_x)  # type: ignore[arg-type]
        sections.append(
            SectionSpec(
                name=r.name,
                label=r.label,
                parent=parent_index,
                parent_x=parent_x,
                points=np.asarray(r.points, dtype=float).reshape(-1, 4),
                nseg=None,
            )
        )
    return tuple(sections)


def _check_acyclic(path: os.PathLike | str, raw: list[_RawSection], parents: list[int | None]) -> None:
    """Raise if following parents from some section never reaches the root."""
    reaches_root = [p is None for p in parents]
    for start in range(len(raw)):
        chain = []
        i: int | None = start
        seen: set[int] = set()
        while i is not None and not reaches_root[i]:
            if i in seen:
                r = raw[i]
                raise InputFileError(path, f"cycle in the section tree through {quote(r.name)}", r.connect_line)
            seen.add(i)
            chain.append(i)
            i = parents[i]
        for j in chain:
            reaches_root[j] = True


def relative_point_positions(points: np.ndarray) -> np.ndarray:
    """ISF's ``relPts``: cumulative Euclidean distance along the points, normalised to [0, 1].

    Args:
        points: array (n, >=3) of 3-D points (only x, y, z are used).

    Returns:
        Array (n,) with relPts[0] = 0 and relPts[-1] = 1 (isf-reference 1.6).

    Raises:
        ValueError: the points have zero total length (a single point or all equal).
    """
    xyz = np.asarray(points, dtype=float)[:, :3]
    steps = np.sqrt(np.sum(np.diff(xyz, axis=0) ** 2, axis=1))
    cum = np.concatenate(([0.0], np.cumsum(steps)))
    total = cum[-1]
    if not total > 0.0:
        raise ValueError("section has zero length")
    return cum / total


def section_length(points: np.ndarray) -> float:
    """Arc length (um) of a section: the sum of distances between consecutive points."""
    xyz = np.asarray(points, dtype=float)[:, :3]
    return float(np.sum(np.sqrt(np.sum(np.diff(xyz, axis=0) ** 2, axis=1))))
