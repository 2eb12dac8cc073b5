"""A settle run's saved state, the model structure it restores onto, and how a restored
run's samples continue the settle's.

``SaveState`` covers every cell of the process and restores only onto the structure it
was saved with, so each saved state keeps a fingerprint (:func:`structure`: all sections
with nseg, point processes per type, NetCons).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pspsweep.errors import PspSweepError


@dataclass
class Settled:
    """The saved state at the activation step and the samples recorded up to it."""

    state: Any  # h.SaveState
    structure: tuple  # structure(h) when saved
    t_saved: float
    t: np.ndarray
    v: np.ndarray
    v_saved: float  # soma(0.5) voltage of the saved state
    #: fixed step: the baseline's samples after the settle, per tEnd (the restored run to
    #: tEnd without events); computed once, also kept in the state cache's companion
    tails: dict[float, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    #: the state cache's folder and key when the state was written there or read from it
    cached_as: tuple[Path, str] | None = None
    #: the protocol's recorded quantity at the save when it is not the soma voltage (a
    #: clamp current, which SaveState does not hold)
    signal_saved: float | None = None

    @property
    def signal(self) -> float:
        """The recorded quantity at the save."""
        return self.v_saved if self.signal_saved is None else self.signal_saved


def mechanism_names(h: Any, kind: int) -> list[str]:
    """Names of NEURON's density (``kind`` 0) or point-process (1) mechanism types."""
    mt = h.MechanismType(kind)
    names = []
    for i in range(int(mt.count())):
        mt.select(i)
        name = h.ref("")
        mt.selected(name)
        names.append(name[0])
    return names


def structure(h: Any) -> tuple:
    """What a SaveState must find again: all sections (name, nseg), point processes
    per type, NetCons (by hoc index, which SaveState checks); of every cell in the
    process (SaveState is global)."""
    return (
        tuple((sec.name(), int(sec.nseg)) for sec in h.allsec()),
        tuple(int(h.List(n).count()) for n in mechanism_names(h, 1)),
        tuple(_hoc_index(nc) for nc in h.List("NetCon")),
    )


def portable(fingerprint: tuple) -> list:
    """A structure without section names (they carry a per-process cell number)."""
    sections, point_processes, netcons = fingerprint
    return [[nseg for _, nseg in sections], list(point_processes), list(netcons)]


def _hoc_index(obj: Any) -> int:
    """The index of a hoc object (``NetCon[3]`` -> 3)."""
    name = obj.hname()
    return int(name[name.rindex("[") + 1 : -1])


def join(settled: Settled, t: np.ndarray, v: np.ndarray, vardt: bool) -> tuple[np.ndarray, np.ndarray]:
    """Settle samples + restored samples, as one continuous run records them."""
    t_saved = settled.t_saved
    if vardt:
        # CVODE records the state at the start of every step: the settle ends with the
        # start of its last step (which ended at the saved tStim). The restored run
        # holds the saved state twice (frecord_init's sample and the start of the
        # event-delivery step) before the start of the first step after delivery.
        if len(t) < 2 or not t[0] == t[1] == t_saved or v[0] != v[1] or (len(settled.t) and settled.t[-1] >= t_saved):
            raise PspSweepError("restored CVODE run does not continue the settle run")
        return np.concatenate([settled.t, t[1:]]), np.concatenate([settled.v, v[1:]])
    # fixed step records after every step: the settle's last sample is the saved
    # state, which frecord_init records again as the restored run's first sample
    if len(t) == 0 or t[0] != t_saved or settled.t[-1] != t_saved or v[0] != settled.v[-1]:
        raise PspSweepError("restored run does not start at the saved state")
    return np.concatenate([settled.t[:-1], t]), np.concatenate([settled.v[:-1], v])
