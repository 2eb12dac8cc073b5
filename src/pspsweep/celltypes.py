"""Excitatory and inhibitory presynaptic cell types by name prefix (isf-reference 8).

A cell-type name is ``<type>_<column>`` (``L5tt_C2``); its prefix, the text before the
first ``_``, decides whether it is excitatory. ISF changed its lists in January 2025;
both versions are kept so that old and new results can be reproduced.
"""

from __future__ import annotations

from collections.abc import Iterable

from pspsweep.errors import PspSweepError

#: Excitatory type prefixes of ISF HEAD (``config/cell_types.py``, since January 2025).
ISF_HEAD_EXCITATORY: tuple[str, ...] = (
    "L1", "L2", "L34", "L4py", "L4sp", "L4ss", "L5st", "L5tt", "L6cc", "L6ccinv", "L6ct", "VPM",
)
#: Inhibitory type prefixes of ISF HEAD.
ISF_HEAD_INHIBITORY: tuple[str, ...] = ("INH",)
#: Excitatory type prefixes of ISF's legacy ``barrel_cortex`` module (until January 2025).
ISF_LEGACY_EXCITATORY: tuple[str, ...] = (
    "L6cc", "L2", "VPM", "L4py", "L4ss", "L4sp", "L5st", "L6ct", "L34", "L6ccinv", "L5tt", "Generic",
)
#: Inhibitory type prefixes of ISF's legacy ``barrel_cortex`` module (L1 is inhibitory here).
ISF_LEGACY_INHIBITORY: tuple[str, ...] = (
    "SymLocal1", "SymLocal2", "SymLocal3", "SymLocal4", "SymLocal5", "SymLocal6",
    "L45Sym", "L1", "L45Peak", "L56Trans", "L23Trans", "GenericINH", "INH",
)

#: ``network.classification`` -> (excitatory prefixes, inhibitory prefixes)
CLASSIFICATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "isf_head": (ISF_HEAD_EXCITATORY, ISF_HEAD_INHIBITORY),
    "isf_legacy": (ISF_LEGACY_EXCITATORY, ISF_LEGACY_INHIBITORY),
}


def classify_celltype(
    name: str,
    excitatory_prefixes: Iterable[str] = ISF_HEAD_EXCITATORY,
    inhibitory_prefixes: Iterable[str] = ISF_HEAD_INHIBITORY,
) -> bool | None:
    """Classify a cell type by its prefix, the text before the first ``_`` (isf-reference 8).

    Args:
        name: cell-type name such as ``L5tt_C2``.
        excitatory_prefixes: prefixes counted as excitatory (default: ISF HEAD).
        inhibitory_prefixes: prefixes counted as inhibitory (default: ISF HEAD).

    Returns:
        True if excitatory, False if inhibitory, None if the prefix is in neither list.

    Raises:
        PspSweepError: the prefix is in both lists.
    """
    prefix = name.split("_", 1)[0]
    exc = prefix in tuple(excitatory_prefixes)
    inh = prefix in tuple(inhibitory_prefixes)
    if exc and inh:
        raise PspSweepError(f"cell type {name!r}: prefix {prefix!r} is listed as both excitatory and inhibitory")
    if exc:
        return True
    if inh:
        return False
    return None
