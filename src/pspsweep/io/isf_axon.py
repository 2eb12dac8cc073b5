"""ISF's synthetic hillock, axon initial segment and myelin (isf-reference 1.4).

ISF appends three straight sections along -z below the soma when the cell
parameters contain an ``AIS`` block, whatever axon the morphology already has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pspsweep.cellmodel import SectionSpec
from pspsweep.errors import PspSweepError


@dataclass(frozen=True)
class _AxonPiece:
    """Geometry of one synthetic section."""

    name: str
    label: str
    n_points: int
    spacing_um: float
    diam_first: float
    diam_last: float
    nseg: int


#: Hillock, initial segment and myelin in attachment order (isf-reference 1.4 table).
SYNTHETIC_AXON: tuple[_AxonPiece, ...] = (
    _AxonPiece("axon_0", "AIS", 5, 5.0, 3.0, 1.75, 5),
    _AxonPiece("axon_0_0", "AIS", 7, 5.0, 1.75, 1.0, 7),
    _AxonPiece("axon_0_0_0", "Myelin", 21, 50.0, 1.0, 1.0, 21),
)


def synthetic_axon(sections: tuple[SectionSpec, ...]) -> tuple[SectionSpec, ...]:
    """Build ISF's hillock, AIS and myelin for a morphology.

    The first hillock point is ``c - r*z_hat``, where ``c`` is the soma 3-D point with
    index ``n_soma // 2`` and ``r`` half its diameter. All points lie on a line along -z,
    each section starting where the previous one ends; diameters taper linearly from
    point to point. Hillock ``axon_0`` (label ``AIS``, 5 points 5 um apart, 3.0 -> 1.75 um,
    nseg 5) hangs at soma(0.5); ``axon_0_0`` (``AIS``, 7 points 5 um apart, 1.75 -> 1.0 um,
    nseg 7) at hillock(1); ``axon_0_0_0`` (``Myelin``, 21 points 50 um apart, 1.0 um,
    nseg 21) at AIS(1). Lengths: 20, 30 and 1000 um.

    Args:
        sections: the morphology's sections (typically from ``read_hoc``); the first
            section labelled ``Soma`` is used.

    Returns:
        The three new sections. Their parent indices refer to ``sections + result``,
        i.e. they get indices ``len(sections)`` ... ``len(sections) + 2``.

    Raises:
        PspSweepError: there is no section labelled ``Soma``.
    """
    soma_index = next((i for i, s in enumerate(sections) if s.label == "Soma"), None)
    if soma_index is None:
        raise PspSweepError("synthetic axon: the morphology has no section labelled 'Soma'")
    soma_points = np.asarray(sections[soma_index].points, dtype=float)
    centre = soma_points[len(soma_points) // 2]
    start = centre[:3] - np.array([0.0, 0.0, centre[3] / 2.0])

    out: list[SectionSpec] = []
    parent, parent_x = soma_index, 0.5
    for piece in SYNTHETIC_AXON:
        steps = np.arange(piece.n_points, dtype=float)
        points = np.empty((piece.n_points, 4))
        points[:, 0] = start[0]
        points[:, 1] = start[1]
        points[:, 2] = start[2] - piece.spacing_um * steps
        points[:, 3] = np.linspace(piece.diam_first, piece.diam_last, piece.n_points)
        out.append(
            SectionSpec(
                name=piece.name,
                label=piece.label,
                parent=parent,
                parent_x=parent_x,
                points=points,
                nseg=piece.nseg,
            )
        )
        start = points[-1, :3]
        parent, parent_x = len(sections) + len(out) - 1, 1.0
    return tuple(out)
