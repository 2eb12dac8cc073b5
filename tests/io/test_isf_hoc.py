"""Tests of pspsweep.io.isf_hoc: ISF's line-oriented hoc reader (isf-reference 1.1-1.3, 1.7)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pspsweep.errors import InputFileError
from pspsweep.io.isf_hoc import read_hoc, relative_point_positions, section_length

GOOD_HOC = """\
/* a one-line comment with create and pt3dadd(1,2,3,4) */
// created by hand; connect and pt3dadd(1,2,3,4) are ignored here
{create soma}
{access soma}
{nseg = 1}
{pt3dclear()}
{pt3dadd(0, 0, 0, 10)}
{pt3dadd(0, 10, 0, 10)}
{pt3dadd(0, 20, 0, 10)}

{create dend_1_0}
{connect dend_1_0(0), soma(0.187)}
{access dend_1_0}
{nseg = 7}
{pt3dclear()}
{pt3dadd(0, 0, 0, 2)}
{pt3dadd(3, 4, 0, 2)}
{pt3dadd(Spine 1, 2, 3, 4)}
{pt3dadd(6, 8, 0, 1.5)}

{create apical_1_0}
{connect apical_1_0(0), dend_1_0_0(0.75)}
{pt3dadd(0, 0, 0, 2)}
{pt3dadd(0, 0, 5, 2)}

{create dend_1_0_0}
{connect dend_1_0_0(0), dend_1_0(1.000000)}
{pt3dadd(6, 8, 0, 1)}
{pt3dadd(6, 8, 1, 1)}

{create axon_0}
{connect axon_0(0), soma(1.0)}
{pt3dadd(0,0,0,1)}
{pt3dadd(0,0,-1,1)}
"""


def write(tmp_path: Path, text: str, name: str = "cell.hoc") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_sections_in_create_order(tmp_path: Path) -> None:
    """isf_hoc: indices follow create order, labels come from substrings, soma children at 0.5."""
    sections = read_hoc(write(tmp_path, GOOD_HOC))
    assert [s.name for s in sections] == ["soma", "dend_1_0", "apical_1_0", "dend_1_0_0", "axon_0"]
    assert [s.label for s in sections] == ["Soma", "Dendrite", "ApicalDendrite", "Dendrite", "Axon"]
    # parent looked up by name, even when the parent is created later in the file
    assert [s.parent for s in sections] == [None, 0, 3, 1, 0]
    # soma children: 0.5 whatever the file says; others: the file's p
    assert [s.parent_x for s in sections[1:]] == [0.5, 0.75, 1.0, 0.5]
    assert all(s.nseg is None for s in sections)
    # the Spine line is skipped
    np.testing.assert_array_equal(sections[1].points, [[0, 0, 0, 2], [3, 4, 0, 2], [6, 8, 0, 1.5]])
    assert sections[1].points.dtype == float
    assert sections[4].points.shape == (2, 4)


def test_relative_point_positions_and_length() -> None:
    """isf_hoc: relPts is cumulative Euclidean distance over total length (isf-reference 1.6)."""
    pts = np.array([[0, 0, 0, 1], [3, 4, 0, 1], [3, 4, 0, 1], [3, 4, 15, 9]], dtype=float)
    np.testing.assert_allclose(relative_point_positions(pts), [0, 0.25, 0.25, 1])
    assert section_length(pts) == pytest.approx(20.0)
    with pytest.raises(ValueError):
        relative_point_positions(np.zeros((1, 4)))


def test_connect_child_name_mismatch_warns(tmp_path: Path) -> None:
    """isf_hoc: connect goes to the most recently created section, with a warning if names differ."""
    text = "create soma\npt3dadd(0,0,0,1)\ncreate dend_a\nconnect dend_b(0), soma(1)\npt3dadd(0,0,0,1)\n"
    with pytest.warns(UserWarning, match="dend_b"):
        sections = read_hoc(write(tmp_path, text))
    assert sections[1].name == "dend_a" and sections[1].parent == 0


SOMA = "{create soma}\n{pt3dadd(0, 0, 0, 10)}\n{pt3dadd(0, 10, 0, 10)}\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (SOMA + "{create basket_1}\n", 4, "matches no label rule"),
        (SOMA + "{create apical_dendrite_1}\n", 4, "several label rules"),
        (SOMA + "{create}\n", 4, "without a section name"),
        (SOMA + "{create dend_1, dend_2}\n", 4, "exactly one section"),
        (SOMA + "{create soma}\n{pt3dadd(0,0,0,1)}\n", 4, "created twice"),
        ("{create soma}\n{pt3dadd(0, 0, x, 10)}\n", 2, "malformed number 'x'"),
        ("{create soma}\n{pt3dadd(0, 0, 10)}\n", 2, "4 numbers"),
        ("{create soma}\n{pt3dadd(0, 0, 0, 10\n", 2, "malformed pt3dadd"),
        ("{create soma}\n{pt3dadd(0, 0, 0, -1)}\n", 2, "negative diameter"),
        ("{create soma}\n{pt3dadd(0, 0, nan, 1)}\n", 2, "non-finite"),
        # float() reads 1_0 as 10 (issue 14, item 23)
        ("{create soma}\n{pt3dadd(0, 0, 1_0, 1)}\n", 2, "malformed number '1_0'"),
        ("{pt3dadd(0, 0, 0, 10)}\n" + SOMA, 1, "before any 'create'"),
        (SOMA + "{access soma}\n{pt3dadd(0, 20, 0, 10)}\n", 5, "point block"),
        ("{connect dend_1(0), soma(0.5)}\n" + SOMA, 1, "before any 'create'"),
        (
            SOMA + "{create dend_1}\n{connect dend_1(0), somma(0.5)}\n{pt3dadd(0,0,0,1)}\n",
            5,
            "unknown parent section 'somma'",
        ),
        (SOMA + "{create dend_1}\n{connect dend_1(0) soma(0.5)}\n{pt3dadd(0,0,0,1)}\n", 5, "malformed connect"),
        (SOMA + "{create dend_1}\n{connect dend_1(0), soma}\n{pt3dadd(0,0,0,1)}\n", 5, "malformed connect"),
        (SOMA + "{create dend_1}\n{connect dend_1(0), soma(0.x)}\n{pt3dadd(0,0,0,1)}\n", 5, "malformed number '0.x'"),
        (SOMA + "{create dend_1}\n{connect dend_1(0), soma(1.5)}\n{pt3dadd(0,0,0,1)}\n", 5, "outside [0, 1]"),
        (
            SOMA + "{create dend_1}\n{connect dend_1(0), soma(1)}\n{connect dend_1(0), soma(1)}\n{pt3dadd(0,0,0,1)}\n",
            6,
            "second 'connect'",
        ),
        (SOMA + "{create dend_1}\n{connect dend_1(0), dend_1(1)}\n{pt3dadd(0,0,0,1)}\n", 5, "connected to itself"),
        (
            SOMA + "{create dend_1}\n{create dend_2}\n{connect dend_2(0), soma(1)}\n{pt3dadd(0,0,0,1)}\n",
            4,
            "no pt3dadd points",
        ),
        (SOMA + "{create dend_1}\n{connect dend_1(0), soma(1)}\n", 4, "no pt3dadd points"),
        (SOMA + "{create dend_1}\n{pt3dadd(0,0,0,1)}\n", 4, "no 'connect' statement"),
        ("{create soma}\n{connect soma(0), soma_x(1)}\n{pt3dadd(0,0,0,1)}\n", 2, "must not have a parent"),
        (
            SOMA + "{create dend_1}\n{connect dend_1(0), dend_2(1)}\n{pt3dadd(0,0,0,1)}\n"
            "{create dend_2}\n{connect dend_2(0), dend_1(1)}\n{pt3dadd(0,0,0,1)}\n",
            5,
            "cycle",
        ),
    ],
)
def test_malformed_hoc_names_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    """isf_hoc: every malformed statement raises InputFileError naming file and line."""
    path = write(tmp_path, text)
    with pytest.raises(InputFileError) as info:
        read_hoc(path)
    assert f"{path}:{line}:" in str(info.value)
    assert message in str(info.value)
    assert info.value.line == line


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no 'create' statement"),
        ("{create dend_1}\n{pt3dadd(0,0,0,1)}\n", "exactly one soma section, found 0"),
        (SOMA + "{create soma_2}\n{connect soma_2(0), soma(1)}\n{pt3dadd(0,0,0,1)}\n", "found 2"),
    ],
)
def test_structural_errors_name_file(tmp_path: Path, text: str, message: str) -> None:
    """isf_hoc: whole-file problems name the file."""
    path = write(tmp_path, text)
    with pytest.raises(InputFileError, match=message) as info:
        read_hoc(path)
    assert str(path) in str(info.value)


def test_a_huge_line_is_quoted_short(tmp_path: Path) -> None:
    """isf_hoc: a message quotes at most ~80 characters of a megabyte-long line."""
    path = write(tmp_path, "{create soma}\n{pt3dadd(0, 0, " + "1" * 1_000_000 + ")}\n")
    with pytest.raises(InputFileError, match="4 numbers") as info:
        read_hoc(path)
    assert len(str(info.value)) < len(str(path)) + 250


def test_bom_is_accepted(tmp_path: Path) -> None:
    """isf_hoc: a file starting with a UTF-8 BOM reads as without it (as every reader does)."""
    path = tmp_path / "bom.hoc"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD_HOC.encode())
    got, want = read_hoc(path), read_hoc(write(tmp_path, GOOD_HOC))
    assert [(s.name, s.label, s.parent) for s in got] == [(s.name, s.label, s.parent) for s in want]


def test_missing_file(tmp_path: Path) -> None:
    """isf_hoc: a missing file is an InputFileError naming it."""
    with pytest.raises(InputFileError, match="not found") as info:
        read_hoc(tmp_path / "nope.hoc")
    assert "nope.hoc" in str(info.value)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def sections_86(isf86: Path):
    return read_hoc(isf86 / "86_C2_center.hoc")


@pytest.mark.realdata
def test_86_sections_and_labels(sections_86) -> None:
    """isf_hoc: 86_C2_center has 167 sections with the label counts and index ranges of 1.7."""
    labels = [s.label for s in sections_86]
    assert len(sections_86) == 167
    assert Counter(labels) == {"Soma": 1, "Dendrite": 87, "ApicalDendrite": 79}
    assert labels[0] == "Soma" and sections_86[0].name == "soma"
    assert set(labels[1:6]) == {"Dendrite"}
    assert set(labels[6:85]) == {"ApicalDendrite"}
    assert set(labels[85:167]) == {"Dendrite"}
    assert sections_86[6].name == "apical_1_0"
    assert all(s.name.startswith("dend_1") for s in sections_86[1:6])
    assert [s.name.split("_")[1] for s in sections_86[85:]] == sorted(s.name.split("_")[1] for s in sections_86[85:])


@pytest.mark.realdata
def test_86_topology(sections_86) -> None:
    """isf_hoc: 8 soma children at 0.5; all other connections at 1.0; parents precede children."""
    children = [s for s in sections_86 if s.parent == 0]
    assert [s.name for s in children] == ["dend_1_0", "apical_1_0"] + [f"dend_{k}_0" for k in range(2, 8)]
    assert all(s.parent_x == 0.5 for s in children)
    others = [s for s in sections_86[1:] if s.parent != 0]
    assert len(others) == 158 and all(s.parent_x == 1.0 for s in others)
    assert sections_86[0].parent is None
    assert all(s.parent < i for i, s in enumerate(sections_86) if i > 0)
    assert all(s.nseg is None for s in sections_86)


@pytest.mark.realdata
def test_86_points_and_lengths(sections_86) -> None:
    """isf_hoc: 13,962 points; soma geometry; total lengths per label (isf-reference 1.7)."""
    assert sum(len(s.points) for s in sections_86) == 13962
    soma = sections_86[0]
    assert len(soma.points) == 44
    assert section_length(soma.points) == pytest.approx(22.1619, abs=1e-4)
    assert soma.points[22, 3] == pytest.approx(15.0778, abs=1e-4)
    for label, expected in (("Dendrite", 6425.99), ("ApicalDendrite", 8842.24)):
        total = sum(section_length(s.points) for s in sections_86 if s.label == label)
        assert total == pytest.approx(expected, abs=0.01), f"{label}: {total} vs {expected} +- 0.01"
    zero_steps = sum(int(np.sum(np.all(np.diff(s.points[:, :3], axis=0) == 0, axis=1))) for s in sections_86)
    assert zero_steps == 7
    np.testing.assert_allclose(soma.points[0], [-122.693855, 394.814056, -379.372986, 5.084810])
