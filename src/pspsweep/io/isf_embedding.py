"""Read ISF synapse embeddings (``.syn`` + ``.con``) into an :class:`~pspsweep.embedding.Embedding`.

isf-reference 3.1-3.5 and 8: ``.syn`` lists synapse locations (cell type, section,
x), numbered per cell type in order of appearance; ``.con`` assigns each synapse of a
type to a presynaptic cell of that type. Cell types are classified as excitatory or
inhibitory by the prefix before the first ``_``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from pspsweep.cellmodel import SectionSpec
from pspsweep.celltypes import (
    ISF_HEAD_EXCITATORY,
    ISF_HEAD_INHIBITORY,
    classify_celltype,
)
from pspsweep.embedding import SYNAPSE_COLUMNS, Embedding, ReceptorSpec
from pspsweep.errors import InputFileError, PspSweepError
from pspsweep.io.isf_hoc import relative_point_positions, section_length
from pspsweep.io.text import parse_float, parse_int, quote, read_lines

#: Synapse-model parameters of ISF's PSP-fitting templates (isf-reference 3.5).
GLUTAMATE_SYN_PARAMETERS: dict[str, float] = {
    "tau1": 26.0,
    "tau2": 2.0,
    "tau3": 2.0,
    "tau4": 0.1,
    "decaynmda": 1.0,
    "facilampa": 0.0,
    "facilnmda": 0.0,
}
GABA_SYN_PARAMETERS: dict[str, float] = {
    "risetime": 1.0,
    "decaytime": 20.0,
    "e": -80.0,
    "decaygaba": 1.0,
    "facilgaba": 0.0,
}


def _data_lines(path: os.PathLike | str, what: str) -> Iterator[tuple[int, str]]:
    """Yield (line number, stripped text) of non-blank, non-comment lines."""
    for lineno, line in enumerate(read_lines(path, what), start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            yield lineno, text


def _split(path: os.PathLike | str, lineno: int, text: str, fields: str) -> list[str]:
    parts = [p.strip() for p in text.split("\t")]
    n = fields.count(",") + 1
    if len(parts) != n:
        raise InputFileError(
            path,
            f"expected {n} TAB-separated fields ({fields}), got {len(parts)}: {quote(text)}",
            lineno,
        )
    if not parts[0]:
        raise InputFileError(path, f"empty cell-type name: {quote(text)}", lineno)
    return parts


def _int(path: os.PathLike | str, lineno: int, token: str, what: str) -> int:
    try:
        value = parse_int(token, negative=True)
    except ValueError:
        raise InputFileError(path, f"malformed {what} {quote(token)} (expected an integer)", lineno) from None
    if value < 0:
        raise InputFileError(path, f"negative {what} {value}", lineno)
    return value


def _read_syn(path: os.PathLike | str) -> tuple[pd.DataFrame, np.ndarray]:
    """read_syn plus the file line of every row."""
    types: list[str] = []
    ids: list[int] = []
    secs: list[int] = []
    xs: list[float] = []
    linenos: list[int] = []
    counters: dict[str, int] = {}
    for lineno, text in _data_lines(path, "synapse (.syn)"):
        parts = _split(path, lineno, text, "cell type, section index, x")
        celltype = parts[0]
        section = _int(path, lineno, parts[1], "section index")
        try:
            x = parse_float(parts[2])
        except ValueError:
            raise InputFileError(path, f"malformed position {quote(parts[2])} (expected a number)", lineno) from None
        if not (math.isfinite(x) and 0.0 <= x <= 1.0):
            raise InputFileError(path, f"position x = {quote(parts[2])} outside [0, 1]", lineno)
        syn_id = counters.get(celltype, 0)
        counters[celltype] = syn_id + 1
        types.append(celltype)
        ids.append(syn_id)
        secs.append(section)
        xs.append(x)
        linenos.append(lineno)
    df = pd.DataFrame(
        {
            "celltype": pd.Series(types, dtype="str"),
            "synapse_id": np.asarray(ids, dtype=np.int64),
            "section": np.asarray(secs, dtype=np.int64),
            "x": np.asarray(xs, dtype=float),
        }
    )
    return df, np.asarray(linenos, dtype=np.int64)


def read_syn(path: os.PathLike | str) -> pd.DataFrame:
    """Read an ISF ``.syn`` synapse-location file (isf-reference 3.1).

    Lines are stripped; blank lines and lines starting with ``#`` are skipped. Data lines
    have three TAB-separated fields: cell type, section index, x in [0, 1]. Synapse ids
    count per cell type from 0 in order of appearance.

    Args:
        path: the ``.syn`` file.

    Returns:
        One row per synapse in file order with columns ``celltype`` (str),
        ``synapse_id`` (int), ``section`` (int), ``x`` (float).

    Raises:
        InputFileError: missing file, or a malformed line (wrong field count, e.g. the
            4-column pruned variant; non-integer or negative section; non-numeric x or
            x outside [0, 1]); the message names the file and line.
    """
    return _read_syn(path)[0]


def _read_con(path: os.PathLike | str) -> tuple[pd.DataFrame, np.ndarray]:
    """read_con plus the file line of every row."""
    types: list[str] = []
    cells: list[int] = []
    ids: list[int] = []
    linenos: list[int] = []
    for lineno, text in _data_lines(path, "connection (.con)"):
        parts = _split(path, lineno, text, "cell type, cell id, synapse id")
        types.append(parts[0])
        cells.append(_int(path, lineno, parts[1], "cell id"))
        ids.append(_int(path, lineno, parts[2], "synapse id"))
        linenos.append(lineno)
    df = pd.DataFrame(
        {
            "celltype": pd.Series(types, dtype="str"),
            "cell_id": np.asarray(cells, dtype=np.int64),
            "synapse_id": np.asarray(ids, dtype=np.int64),
        }
    )
    return df, np.asarray(linenos, dtype=np.int64)


def read_con(path: os.PathLike | str) -> pd.DataFrame:
    """Read an ISF ``.con`` connectivity file (isf-reference 3.2).

    Blank lines and ``#`` comment lines are skipped (the anatomical-realization name in
    the header comment is not checked). Data lines have three TAB-separated fields:
    cell type, presynaptic cell id, synapse id (the per-type ``.syn`` index).

    Args:
        path: the ``.con`` file.

    Returns:
        One row per line in file order with columns ``celltype`` (str), ``cell_id``
        (int), ``synapse_id`` (int).

    Raises:
        InputFileError: missing file or a malformed line (names the file and line).
    """
    return _read_con(path)[0]


def isf_receptor(excitatory: bool) -> ReceptorSpec:
    """ISF's PSP-fitting receptor template (isf-reference 3.5).

    Args:
        excitatory: True for ``glutamate_syn`` (AMPA + NMDA), False for ``gaba_syn``.

    Returns:
        The receptor with its RANGE parameters (times in ms, ``e`` in mV). NetCon delay
        and threshold are 0 in ISF's templates and are not part of the spec.
    """
    if excitatory:
        return ReceptorSpec("glutamate_syn", True, dict(GLUTAMATE_SYN_PARAMETERS))
    return ReceptorSpec("gaba_syn", False, dict(GABA_SYN_PARAMETERS))


def read_embedding(
    syn_path: os.PathLike | str,
    con_path: os.PathLike | str,
    receptors: Mapping[str, ReceptorSpec] | None = None,
    sections: Sequence[SectionSpec] | None = None,
) -> Embedding:
    """Read a ``.syn``/``.con`` pair into an Embedding.

    Every synapse gets the presynaptic cell its ``.con`` line assigns. Cell types are
    ordered by first appearance in the ``.con``; within a type, rows follow ``.con`` line
    order, which defines "synapse j of cell c" (isf-reference 3.2).

    Args:
        syn_path: the ``.syn`` file.
        con_path: the ``.con`` file.
        receptors: receptor per cell type. None: ISF's templates by the HEAD prefix lists
            (:func:`isf_receptor`); types in neither list get no receptor.
        sections: the cell's sections, if known: every synapse must then sit on one of
            them, and not on one of zero length (see :func:`check_synapse_sections`).

    Returns:
        The embedding (columns ``celltype, synapse_id, section, x, cell_id``).

    Raises:
        InputFileError: malformed or empty files; a ``.con`` line whose (cell type,
            synapse id) is not in the ``.syn`` or repeats an earlier line (names the
            ``.con`` line); ``.syn`` synapses that no ``.con`` line assigns, or that sit
            on a section the cell lacks or of zero length (names the ``.syn`` line).
    """
    syn, syn_lines = _read_syn(syn_path)
    con, con_lines = _read_con(con_path)
    for path, table, what in ((syn_path, syn, "synapse"), (con_path, con, "connection")):
        if table.empty:
            raise InputFileError(path, f"no {what} lines (only blanks or comments): the embedding would be empty")
    if sections is not None:
        check_synapse_sections(syn, syn_lines, syn_path, sections)

    syn_count = syn.groupby("celltype", sort=False)["synapse_id"].size().to_dict()
    for i, (celltype, syn_id) in enumerate(zip(con["celltype"], con["synapse_id"])):
        n = syn_count.get(celltype)
        if n is None:
            raise InputFileError(
                con_path,
                f"cell type {quote(celltype)} has no synapses in {syn_path} (its cell types: {', '.join(syn_count)})",
                int(con_lines[i]),
            )
        if syn_id >= n:
            raise InputFileError(
                con_path,
                f"synapse {syn_id} of {quote(celltype)} not in {syn_path} (which has ids 0..{n - 1})",
                int(con_lines[i]),
            )
    dup = con.duplicated(["celltype", "synapse_id"], keep=False).to_numpy()
    if dup.any():
        first = int(np.flatnonzero(dup)[0])
        key = (con["celltype"].iat[first], int(con["synapse_id"].iat[first]))
        lines = [
            int(con_lines[j])
            for j in np.flatnonzero(dup)
            if (con["celltype"].iat[j], int(con["synapse_id"].iat[j])) == key
        ]
        raise InputFileError(
            con_path,
            f"synapse {key[1]} of {quote(key[0])} assigned more than once (lines {', '.join(map(str, lines))})",
            lines[1],
        )
    if len(con) != len(syn):
        merged = syn.merge(con[["celltype", "synapse_id"]], how="left", indicator=True)
        missing = np.flatnonzero((merged["_merge"] == "left_only").to_numpy())
        shown = "; ".join(
            f"{syn['celltype'].iat[j]} synapse {int(syn['synapse_id'].iat[j])} (line {int(syn_lines[j])})"
            for j in missing[:5]
        )
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise InputFileError(
            syn_path,
            f"{len(missing)} synapse(s) not assigned to a presynaptic cell in {con_path}: {shown}{more}",
            int(syn_lines[missing[0]]),
        )

    type_order = {t: k for k, t in enumerate(dict.fromkeys(con["celltype"]))}
    con = con.assign(_type_rank=con["celltype"].map(type_order), _line=np.arange(len(con)))
    con = con.sort_values(["_type_rank", "_line"], kind="stable")
    table = con.merge(syn, on=["celltype", "synapse_id"], how="left", sort=False, validate="one_to_one")
    table = table[list(SYNAPSE_COLUMNS)].reset_index(drop=True)

    if receptors is None:
        receptor_map: dict[str, ReceptorSpec] = {}
        for celltype in type_order:
            kind = classify_celltype(celltype, ISF_HEAD_EXCITATORY, ISF_HEAD_INHIBITORY)
            if kind is not None:
                receptor_map[celltype] = isf_receptor(kind)
    else:
        receptor_map = dict(receptors)
    return Embedding(synapses=table, receptors=receptor_map)


def check_synapse_sections(
    syn: pd.DataFrame, syn_lines: np.ndarray, syn_path: os.PathLike | str, sections: Sequence[SectionSpec]
) -> None:
    """Refuse a ``.syn`` synapse on a section the cell lacks or on one of zero length.

    NEURON gives a zero-length section a length of 1e-9 um: a synapse there drives a
    membrane of ~1e-14 um2, which CVODE never gets past and a fixed step integrates to
    a wrong PSP.

    Raises:
        InputFileError: naming the ``.syn`` file and line, the section and a remedy.
    """
    sec = syn["section"].to_numpy(dtype=np.int64)
    outside = np.flatnonzero(sec >= len(sections))
    if outside.size:
        j = int(outside[0])
        raise InputFileError(
            syn_path,
            f"section index {int(sec[j])} outside the morphology, which has sections 0..{len(sections) - 1} "
            "(is this .syn made for another morphology?)",
            int(syn_lines[j]),
        )
    for s in np.unique(sec):
        if section_length(sections[int(s)].points) > 0.0:
            continue
        j = int(np.flatnonzero(sec == s)[0])
        raise InputFileError(
            syn_path,
            f"synapse on section {int(s)} ({sections[int(s)].name}), which has zero length (all its 3-D "
            "points coincide), so NEURON cannot simulate it; move the synapse to another section or "
            "give the section distinct points in the morphology",
            int(syn_lines[j]),
        )


def snap_to_points(synapses: pd.DataFrame, sections: tuple[SectionSpec, ...]) -> pd.DataFrame:
    """Snap every synapse to its nearest 3-D point position (isf-reference 3.4, step 1).

    For the synapse's section, ``relPts`` is the cumulative Euclidean distance over the
    section's (original) points divided by the section length; the synapse's x becomes
    ``relPts[k*]`` with ``k* = argmin |x - relPts|`` (the first index wins ties).

    Args:
        synapses: a table with at least ``celltype``, ``synapse_id``, ``section``, ``x``.
        sections: the cell's sections; ``section`` indexes this tuple.

    Returns:
        A copy of ``synapses`` with ``x`` replaced.

    Raises:
        PspSweepError: a section index is out of range, or a synapse sits on a section of
            zero length (the message names the cell type and synapse id).
    """
    out = synapses.copy()
    sec = out["section"].to_numpy(dtype=np.int64)
    x = out["x"].to_numpy(dtype=float)
    new_x = x.copy()

    def culprit(j: int) -> str:
        return f"synapse {int(out['synapse_id'].iat[j])} of cell type {quote(out['celltype'].iat[j])}"

    bad = np.flatnonzero((sec < 0) | (sec >= len(sections)))
    if bad.size:
        j = int(bad[0])
        raise PspSweepError(
            f"{culprit(j)}: section index {int(sec[j])} out of range (the cell has {len(sections)} sections)"
        )
    for s in np.unique(sec):
        rows = np.flatnonzero(sec == s)
        try:
            rel = relative_point_positions(sections[int(s)].points)
        except ValueError:
            raise PspSweepError(
                f"{culprit(int(rows[0]))}: section {int(s)} ({sections[int(s)].name}) has zero length"
            ) from None
        k = np.argmin(np.abs(x[rows, None] - rel[None, :]), axis=1)
        new_x[rows] = rel[k]
    out["x"] = new_x
    return out
