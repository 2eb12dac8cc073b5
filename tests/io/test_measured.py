"""Tests of pspsweep.io.measured: the measured EPSP table (isf-reference 7.6)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pspsweep.errors import InputFileError
from pspsweep.io.measured import MEASURED_COLUMNS, read_measured_epsp


def write(tmp_path: Path, text: str, name: str = "m.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_comma_table(tmp_path: Path) -> None:
    """measured: index by group, the three columns as floats, extra columns dropped."""
    path = write(
        tmp_path,
        "celltype,EPSP_max_measured,note,EPSP_mean_measured,EPSP_med_measured\nL2,1.9,x,0.49,0.35\n\nVPM_C2,1.18,y,0.571,0.463\n",
    )
    table = read_measured_epsp(path)
    assert table.index.name == "celltype"
    assert list(table.index) == ["L2", "VPM_C2"]
    assert list(table.columns) == list(MEASURED_COLUMNS)
    assert table.loc["VPM_C2"].tolist() == [0.571, 0.463, 1.18]
    assert all(dtype == "float64" for dtype in table.dtypes)


def test_tab_separated_group_header_and_alias(tmp_path: Path) -> None:
    """measured: TAB separation, 'group' as first header, EPSP_median_measured as alias."""
    path = write(tmp_path, "group\tEPSP_mean_measured\tEPSP_median_measured\tEPSP_max_measured\nL4\t0.35\t0.33\t1.0\n")
    table = read_measured_epsp(path)
    assert table.loc["L4", "EPSP_med_measured"] == 0.33


HEADER = "celltype,EPSP_mean_measured,EPSP_med_measured,EPSP_max_measured\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("name,EPSP_mean_measured,EPSP_med_measured,EPSP_max_measured\n", 1, "first column"),
        ("celltype,EPSP_mean_measured,EPSP_max_measured\nL2,1,2\n", 1, "missing column 'EPSP_med_measured'"),
        ("\ncelltype,EPSP_mean_measured,EPSP_med_measured\nL2,1,2\n", 2, "missing column 'EPSP_max_measured'"),
        ("celltype,EPSP_mean_measured,EPSP_med_measured,EPSP_median_measured,EPSP_max_measured\n", 1, "given twice"),
        (HEADER + "L2,0.49,0.35,1.9\nL34,0.49,abc,1.9\n", 3, "EPSP_med_measured: malformed number 'abc'"),
        (HEADER + "L2,0.49,0.35\n", 2, "expected 4 fields"),
        (HEADER + "L2,0.49,0.35,inf\n", 2, "non-finite"),
        (HEADER + ",0.49,0.35,1\n", 2, "empty group name"),
        (HEADER + "L2,0.49,0.35,1\nL2,0.49,0.35,1\n", 3, "repeated (first at line 2)"),
    ],
)
def test_malformed_table_names_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    """measured: every problem raises InputFileError naming file and line."""
    path = write(tmp_path, text)
    with pytest.raises(InputFileError) as info:
        read_measured_epsp(path)
    assert f"{path}:{line}:" in str(info.value)
    assert message in str(info.value)


def test_missing_or_empty_file(tmp_path: Path) -> None:
    """measured: missing and empty files are errors naming the file."""
    with pytest.raises(InputFileError, match="not found"):
        read_measured_epsp(tmp_path / "none.csv")
    with pytest.raises(InputFileError, match="empty"):
        read_measured_epsp(write(tmp_path, "\n\n"))


@pytest.mark.realdata
def test_real_measured_table(isf86: Path) -> None:
    """measured: the shipped table equals ISF's (isf-reference 7.6)."""
    table = read_measured_epsp(isf86 / "measured_epsp.csv")
    expected = pd.DataFrame(
        {
            "EPSP_mean_measured": [0.49, 0.49, 0.35, 0.47, 0.46, 0.44, 0.44, 0.571],
            "EPSP_med_measured": [0.35, 0.35, 0.33, 0.33, 0.36, 0.31, 0.31, 0.463],
            "EPSP_max_measured": [1.9, 1.9, 1.0, 1.25, 1.5, 1.8, 1.8, 1.18],
        },
        index=pd.Index(["L2", "L34", "L4", "L5st", "L5tt", "L6cc", "L6ct", "VPM_C2"], name="celltype"),
    )
    pd.testing.assert_frame_equal(table, expected)


@pytest.mark.parametrize(("value", "column"), [("0", 2), ("-0.3", 2), ("0.0", 2)])
def test_non_positive_measured_epsp_is_refused(tmp_path: Path, value: str, column: int) -> None:
    """Issue 14 item 18: a measured EPSP of zero or below was accepted and gave a negative
    optimal g with fit_ok=True; the reader names file, line and column."""
    path = write(tmp_path, HEADER + f"L2,0.49,0.35,1.9\nL4,{value},0.3,1.0\n")
    with pytest.raises(InputFileError) as info:
        read_measured_epsp(path)
    assert f"{path}:3:" in str(info.value)
    assert f"EPSP_mean_measured (column {column})" in str(info.value) and "must be positive" in str(info.value)


def test_bom_is_accepted(tmp_path: Path) -> None:
    """A table saved by a Windows editor starts with a UTF-8 BOM, as the other inputs may."""
    path = tmp_path / "m.csv"
    path.write_bytes("\ufeffcelltype,EPSP_mean_measured,EPSP_med_measured,EPSP_max_measured\nL4,1,1,2\n".encode())
    assert read_measured_epsp(path).loc["L4", "EPSP_max_measured"] == 2.0


def test_an_epsc_table_is_read_in_nA_inward_negative(tmp_path: Path) -> None:
    """A voltage clamp's table: EPSC columns (any order, the median alias too), all negative."""
    from pspsweep.io.measured import MEASURED_PSC_COLUMNS

    path = write(tmp_path, "group,EPSC_max_measured,EPSC_median_measured,EPSC_mean_measured\nL4,-0.09,-0.02,-0.03\n")
    table = read_measured_epsp(path)
    assert list(table.columns) == list(MEASURED_PSC_COLUMNS)
    assert table.loc["L4"].tolist() == [-0.03, -0.02, -0.09]
    outward = write(tmp_path, "group,EPSC_mean_measured,EPSC_med_measured,EPSC_max_measured\nL4,-0.03,0.02,-0.09\n")
    with pytest.raises(
        InputFileError,
        match=r"m.csv:2: EPSC_med_measured \(column 3\): measured EPSC 0.02 nA must be negative \(inward\)",
    ):
        read_measured_epsp(outward)


def test_the_measured_table_must_match_the_clamp(tmp_path: Path) -> None:
    from pspsweep.config import FitConfig
    from pspsweep.errors import PspSweepError
    from pspsweep.validation import check_measured

    epsps = write(tmp_path, "group,EPSP_mean_measured,EPSP_med_measured,EPSP_max_measured\nL4,0.5,0.4,1.2\n", "p.csv")
    epscs = write(tmp_path, "group,EPSC_mean_measured,EPSC_med_measured,EPSC_max_measured\nL4,-0.03,-0.02,-0.09\n")
    check_measured(FitConfig(measured=str(epsps)))
    check_measured(FitConfig(measured=str(epscs)), clamp="voltage")
    with pytest.raises(PspSweepError, match=r"protocol.clamp=voltage fits against EPSC_\*_measured \(nA\)"):
        check_measured(FitConfig(measured=str(epsps)), clamp="voltage")
    with pytest.raises(PspSweepError, match=r"protocol.clamp=current fits against EPSP_\*_measured \(mV\)"):
        check_measured(FitConfig(measured=str(epscs)))
