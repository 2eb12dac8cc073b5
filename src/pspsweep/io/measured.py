"""Read measured unitary EPSP statistics per presynaptic group (isf-reference 7.6), or
the EPSC statistics of a voltage clamp (nA, inward negative)."""

from __future__ import annotations

import csv
import math
import os

import pandas as pd

from pspsweep.errors import InputFileError
from pspsweep.io.text import read_lines

#: Columns of the measured table, as ISF's ``get_optimal_g`` reads them (mV).
MEASURED_COLUMNS: tuple[str, ...] = ("EPSP_mean_measured", "EPSP_med_measured", "EPSP_max_measured")

#: Columns of a measured PSC table (nA, inward negative as in ``psps.csv``'s ``psc_nA``).
MEASURED_PSC_COLUMNS: tuple[str, ...] = ("EPSC_mean_measured", "EPSC_med_measured", "EPSC_max_measured")

#: Accepted alternative spellings -> canonical column name.
COLUMN_ALIASES: dict[str, str] = {
    "EPSP_median_measured": "EPSP_med_measured",
    "EPSC_median_measured": "EPSC_med_measured",
}

#: Accepted names of the first (group) column.
GROUP_COLUMN_NAMES: tuple[str, ...] = ("celltype", "group")


def read_measured_epsp(path: os.PathLike | str) -> pd.DataFrame:
    """Read a measured-EPSP table (comma- or TAB-separated, one row per group).

    The first column holds the group name (header ``celltype`` or ``group``); the other
    columns must include ``EPSP_mean_measured``, ``EPSP_med_measured`` (or its alias
    ``EPSP_median_measured``) and ``EPSP_max_measured``. Further columns are ignored.
    Blank lines are skipped. A table of EPSCs (for ``protocol.clamp=voltage``) has
    ``EPSC_mean_measured, EPSC_med_measured, EPSC_max_measured`` instead, in nA and
    inward negative (so every value is negative; "max" is the largest in size).

    Args:
        path: the CSV file.

    Returns:
        A float table indexed by group name (index name ``celltype``) with exactly the
        columns ``EPSP_mean_measured``, ``EPSP_med_measured``, ``EPSP_max_measured`` (mV),
        in file row order (or the three ``EPSC_*`` columns, nA, of an EPSC table).

    Raises:
        InputFileError: missing file, a wrong first-column header, a missing (or doubly
            given) column, a short row, a non-numeric, non-finite or non-positive value, an empty or repeated group
            name; the message names the file, and the line where there is one.
    """
    lines = read_lines(path, "measured-EPSP")
    numbered = [(i, line) for i, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        raise InputFileError(path, "empty measured-EPSP file")
    header_line, header_text = numbered[0]
    delimiter = "\t" if "\t" in header_text else ","
    rows = list(csv.reader([text for _, text in numbered], delimiter=delimiter))
    header = [h.strip() for h in rows[0]]
    if header[0] not in GROUP_COLUMN_NAMES:
        raise InputFileError(path, f"first column must be named 'celltype' or 'group', got {header[0]!r}", header_line)
    canonical_names = [COLUMN_ALIASES.get(name, name) for name in header[1:]]
    wanted = MEASURED_PSC_COLUMNS if MEASURED_PSC_COLUMNS[0] in canonical_names else MEASURED_COLUMNS
    columns: dict[str, int] = {}
    for j, (name, canonical) in enumerate(zip(header[1:], canonical_names), start=1):
        if canonical in wanted:
            if canonical in columns:
                raise InputFileError(path, f"column {canonical!r} given twice (also as {name!r})", header_line)
            columns[canonical] = j
    for name in wanted:
        if name not in columns:
            raise InputFileError(path, f"missing column {name!r}", header_line)
    return _measured_rows(path, header, numbered, rows, {name: columns[name] for name in wanted})


def _measured_rows(path: os.PathLike | str, header: list[str], numbered: list, rows: list, columns: dict[str, int]):
    """The table of :func:`read_measured_epsp` from its rows (``columns``: name -> field)."""
    inward = next(iter(columns)).startswith("EPSC")

    groups: list[str] = []
    data: dict[str, list[float]] = {name: [] for name in columns}
    seen: dict[str, int] = {}
    for (lineno, _), row in zip(numbered[1:], rows[1:]):
        cells = [c.strip() for c in row]
        if len(cells) < len(header):
            raise InputFileError(path, f"expected {len(header)} fields, got {len(cells)}", lineno)
        group = cells[0]
        if not group:
            raise InputFileError(path, "empty group name", lineno)
        if group in seen:
            raise InputFileError(path, f"group {group!r} repeated (first at line {seen[group]})", lineno)
        seen[group] = lineno
        groups.append(group)
        for name, j in columns.items():
            try:
                value = float(cells[j])
            except ValueError:
                raise InputFileError(path, f"{name}: malformed number {cells[j]!r}", lineno) from None
            if not math.isfinite(value):
                raise InputFileError(path, f"{name}: non-finite value {cells[j]!r}", lineno)
            if inward and value >= 0:
                raise InputFileError(
                    path, f"{name} (column {j + 1}): measured EPSC {cells[j]} nA must be negative (inward)", lineno
                )
            if not inward and value <= 0:
                # a line fitted to positive EPSPs meets a value <= 0 only at a g <= 0
                raise InputFileError(
                    path, f"{name} (column {j + 1}): measured EPSP {cells[j]} mV must be positive", lineno
                )
            data[name].append(value)
    table = pd.DataFrame(data, index=pd.Index(groups, name="celltype"), columns=list(columns))
    return table.astype(float)
