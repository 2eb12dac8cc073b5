"""Presynaptic cell types: excitatory or inhibitory, and merged into groups.

A cell-type name is ``<type>_<column>`` (``L5tt_C2``); its prefix, the text before the
first ``_``, decides whether it is excitatory (isf-reference 8). ISF changed its lists in
January 2025; both versions are kept so that old and new results can be reproduced.

Statistics and the fit are computed per merged group: ISF's merging of the excitatory
types by detection string (isf-reference 7.4), or the groups of ``fit.groups``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from pspsweep.errors import PspSweepError
from pspsweep.features import AnalysisOptions
from pspsweep.statistics import CONDUCTANCE_COLUMNS, require_columns, summary_statistics

if TYPE_CHECKING:
    from pspsweep.config import PspSweepConfig

#: Excitatory type prefixes of ISF HEAD (``config/cell_types.py``, since January 2025).
ISF_HEAD_EXCITATORY: tuple[str, ...] = (
    "L1",
    "L2",
    "L34",
    "L4py",
    "L4sp",
    "L4ss",
    "L5st",
    "L5tt",
    "L6cc",
    "L6ccinv",
    "L6ct",
    "VPM",
)
#: Inhibitory type prefixes of ISF HEAD.
ISF_HEAD_INHIBITORY: tuple[str, ...] = ("INH",)
#: Excitatory type prefixes of ISF's legacy ``barrel_cortex`` module (until January 2025).
ISF_LEGACY_EXCITATORY: tuple[str, ...] = (
    "L6cc",
    "L2",
    "VPM",
    "L4py",
    "L4ss",
    "L4sp",
    "L5st",
    "L6ct",
    "L34",
    "L6ccinv",
    "L5tt",
    "Generic",
)
#: Inhibitory type prefixes of ISF's legacy ``barrel_cortex`` module (L1 is inhibitory here).
ISF_LEGACY_INHIBITORY: tuple[str, ...] = (
    "SymLocal1",
    "SymLocal2",
    "SymLocal3",
    "SymLocal4",
    "SymLocal5",
    "SymLocal6",
    "L45Sym",
    "L1",
    "L45Peak",
    "L56Trans",
    "L23Trans",
    "GenericINH",
    "INH",
)

#: ``network.classification`` -> (excitatory prefixes, inhibitory prefixes)
CLASSIFICATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "isf_head": (ISF_HEAD_EXCITATORY, ISF_HEAD_INHIBITORY),
    "isf_legacy": (ISF_LEGACY_EXCITATORY, ISF_LEGACY_INHIBITORY),
}

ISF_DETECTION_STRINGS = ("L2", "L34", "L4", "L5st", "L5tt", "L6cc", "L6ct", "VPM_C2")
"""ISF's default merge groups (isf-reference 7.4), matched as substrings."""


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


def merge_groups(
    celltypes: Iterable[str],
    groups: Mapping[str, Sequence[str]] | None = None,
    excitatory_prefixes: Iterable[str] | None = None,
) -> dict[str, list[str]]:
    """Which cell types make up each merged group.

    Default (``groups is None``), ISF's ``merge_celltypes`` (isf-reference 7.4): for
    each detection string of :data:`ISF_DETECTION_STRINGS` in order, the members are the
    cell types, in ascending string order, whose prefix (text before the first ``_``)
    is allowed and which contain the string as a **substring**. Hence ``L6cc`` also
    collects ``L6ccinv_*``, ``L4`` collects ``L4py/L4sp/L4ss_*``, ``VPM_C2`` only
    ``VPM_C2`` and ``L1_*`` nothing.

    With ``groups``, each value is a list of :mod:`fnmatch` patterns matched against
    the whole name (e.g. ``{"L2": ["L2_*"]}``); members are in ascending order.

    Groups without any member are left out. A cell type may belong to several groups.
    ISF takes a merged group's baseline run from its first member; pspsweep computes
    features per cell type against that type's own baseline run, which is the same
    synapse-free simulation in every task (isf-reference 10.3).

    Args:
        celltypes: Cell-type names (duplicates ignored).
        groups: Group name -> fnmatch patterns, or None for ISF's default merging.
        excitatory_prefixes: Allowed prefixes. None means ISF HEAD's excitatory list
            (:data:`ISF_HEAD_EXCITATORY`) for the default merging and no prefix
            filter when ``groups`` is given; pass a list to filter in either case.

    Returns:
        Group name -> member cell types, groups in the order of the detection strings
        (or of ``groups``).

    Raises:
        PspSweepError: If a group's patterns are given as a plain string.
    """
    names = sorted(set(celltypes))
    if excitatory_prefixes is None and groups is None:
        excitatory_prefixes = ISF_HEAD_EXCITATORY
    if excitatory_prefixes is not None:
        allowed = set(excitatory_prefixes)
        names = [c for c in names if c.split("_", 1)[0] in allowed]
    merged: dict[str, list[str]] = {}
    if groups is None:
        for s in ISF_DETECTION_STRINGS:
            members = [c for c in names if s in c]
            if members:
                merged[s] = members
        return merged
    for group, patterns in groups.items():
        if isinstance(patterns, str):
            raise PspSweepError(f"group {group!r}: patterns must be a list of strings, got the string {patterns!r}")
        members = [c for c in names if any(fnmatch.fnmatchcase(c, p) for p in patterns)]
        if members:
            merged[group] = members
    return merged


def assign_groups(
    df: pd.DataFrame,
    groups: Mapping[str, Sequence[str]],
    celltype_column: str = "celltype",
    group_column: str = "group",
) -> pd.DataFrame:
    """Add the merged-group column to a unit table.

    Args:
        df: Unit table with ``celltype_column``.
        groups: Group -> member cell types, as returned by :func:`merge_groups`.
        celltype_column: Column holding the cell type.
        group_column: Name of the new column.

    Returns:
        A new table, rows grouped by group in the order of ``groups`` and in their
        original order inside a group, with ``group_column`` appended. Rows of cell
        types in no group are dropped; rows of a cell type in several groups appear
        once per group. The index is reset.

    Raises:
        PspSweepError: If ``celltype_column`` is missing or ``group_column`` exists.
    """
    require_columns(df, [celltype_column], "unit table")
    if group_column in df.columns:
        raise PspSweepError(f"unit table already has a {group_column!r} column")
    parts = [df[df[celltype_column].isin(members)].assign(**{group_column: group}) for group, members in groups.items()]
    if not parts:
        return df.iloc[:0].assign(**{group_column: pd.Series(dtype=object)})
    return pd.concat(parts, ignore_index=True)


def groups_for(
    celltypes: Sequence[str], patterns: Mapping[str, Sequence[str]] | None, excitatory_prefixes: Sequence[str] | None
) -> dict[str, list[str]]:
    """Group -> member cell types, as the sweep's statistics and the fit use them.

    With ``patterns`` None, ISF's merging (isf-reference 7.4); cell types that no ISF
    group takes (inhibitory types, VPM of other columns, L1) form a group of their own
    instead of being dropped as in ISF.
    """
    merged = merge_groups(celltypes, patterns, excitatory_prefixes)
    if patterns is None:
        taken = {c for members in merged.values() for c in members}
        for c in dict.fromkeys(celltypes):
            if c not in taken:
                merged[c] = [c]
    return merged


def group_statistics(cfg: PspSweepConfig, table: pd.DataFrame, options: AnalysisOptions) -> pd.DataFrame:
    """Statistics per merged group (``fit.groups``, else ISF's merging; see
    :func:`groups_for`) and conductances (``group_statistics.csv`` of a sweep)."""
    patterns = {k: list(v) for k, v in cfg.fit.groups.items()} if cfg.fit.groups else None
    excitatory, _ = CLASSIFICATIONS[cfg.network.classification]
    groups = groups_for(list(dict.fromkeys(table["celltype"])), patterns, excitatory)
    return summary_statistics(assign_groups(table, groups), options, by=("group", *CONDUCTANCE_COLUMNS))
