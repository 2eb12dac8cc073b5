"""pspsweep.simulation.swc: SWC -> SectionSpec through NEURON's Import3d.

The synthetic cell (um; radius in the file, diameter in the specs):

    id type  x     y    z    r     parent   section (expected)
    1  1     0     0   -10   5     -1       soma      points 1-3, L 20, diam 10
    2  1     0     0    0    5     1
    3  1     0     0    10   5     2
    4  3    -5     0    0    1     2        dend_0    soma(0.5), L 100 (4-5)
    5  3    -105   0    0    1     4
    6  3     5     0    0    0.75  2        dend_1    soma(0.5), L 60 (6-7)
    7  3     65    0    0    0.75  6
    8  4     0     5    0    1.5   2        apical_0  soma(0.5), L 200 (8-9)
    9  4     0     205  0    1.5   8
    10 4     30    245  0    0.5   9        apical_1  apical_0(1), L 100 (9-10-11)
    11 4     60    285  0    0.5   10
    12 4    -30    245  0    0.5   9        apical_2  apical_0(1), L 50 (9-12)

Dendrites that start inside a multi-point soma are connected "by wire" by Import3d: the
soma point is not part of the dendrite, so the lengths above exclude it.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from pspsweep.cellmodel import CellSpec, LabelBiophysics, MechanismSpec
from pspsweep.errors import InputFileError
from pspsweep.io.isf_hoc import read_hoc, section_length
from pspsweep.simulation.swc import label_of_swc_type, read_swc, validate_swc

SYNTHETIC = """\
# synthetic test cell: soma, two basal dendrites, an apical trunk that branches
1 1 0 0 -10 5 -1
2 1 0 0 0 5 1
3 1 0 0 10 5 2
4 3 -5 0 0 1 2
5 3 -105 0 0 1 4
6 3 5 0 0 0.75 2
7 3 65 0 0 0.75 6
8 4 0 5 0 1.5 2
9 4 0 205 0 1.5 8
10 4 30 245 0 0.5 9   # trailing comment
11 4 60 285 0 0.5 10

12 4 -30 245 0 0.5 9
"""


def write(tmp_path: Path, text: str, name: str = "cell.swc") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    return write(tmp_path, SYNTHETIC)


def pas_cell(sections, labels=None) -> CellSpec:
    labels = labels or sorted({s.label for s in sections})
    bio = tuple(
        LabelBiophysics(label, Ra=100.0, cm=1.0, mechanisms=(MechanismSpec("pas", {"g": 3e-5, "e": -70.0}),))
        for label in labels
    )
    return CellSpec(name="swc", sections=tuple(sections), biophysics=bio)


def n_neuron_sections() -> int:
    from neuron import h

    return sum(1 for _ in h.allsec())


# --------------------------------------------------------------------------- synthetic


def test_synthetic_labels_topology_lengths(synthetic: Path) -> None:
    """swc: labels from types, ISF-like names, parents first, soma children at 0.5, lengths."""
    secs = read_swc(synthetic)
    assert [s.name for s in secs] == ["soma", "dend_0", "dend_1", "apical_0", "apical_1", "apical_2"]
    assert [s.label for s in secs] == [
        "Soma",
        "Dendrite",
        "Dendrite",
        "ApicalDendrite",
        "ApicalDendrite",
        "ApicalDendrite",
    ]
    assert [s.parent for s in secs] == [None, 0, 0, 0, 3, 3]
    assert [s.parent_x for s in secs] == [0.0, 0.5, 0.5, 0.5, 1.0, 1.0]
    assert all(s.nseg is None for s in secs)
    lengths = [section_length(s.points) for s in secs]
    np.testing.assert_allclose(lengths, [20, 100, 60, 200, 100, 50], rtol=1e-6)
    for s in secs:
        assert s.points.dtype == np.float64 and s.points.shape[1] == 4
    # diameters = 2 x radius; a child of a non-soma section starts with its parent's point
    np.testing.assert_array_equal(secs[0].points, [[0, 0, -10, 10], [0, 0, 0, 10], [0, 0, 10, 10]])
    np.testing.assert_array_equal(secs[1].points, [[-5, 0, 0, 2], [-105, 0, 0, 2]])
    np.testing.assert_array_equal(secs[2].points[:, 3], [1.5, 1.5])
    np.testing.assert_array_equal(secs[4].points, [[0, 205, 0, 3], [30, 245, 0, 1], [60, 285, 0, 1]])
    np.testing.assert_array_equal(secs[5].points, [[0, 205, 0, 3], [-30, 245, 0, 1]])


def test_parents_precede_children(synthetic: Path) -> None:
    secs = read_swc(synthetic)
    assert all(s.parent is None or s.parent < i for i, s in enumerate(secs))


def test_synthetic_builds_in_neuron_without_leaking_sections(synthetic: Path) -> None:
    """swc: reading creates no NEURON section; the cell builds with the Import3d geometry."""
    from pspsweep.simulation.cell import build_cell

    before = n_neuron_sections()
    secs = read_swc(synthetic)
    assert n_neuron_sections() == before
    cell = build_cell(pas_cell(secs), load=False)
    assert [round(sec.L, 4) for sec in cell.sections] == [20, 100, 60, 200, 100, 50]
    assert cell.sections[1].parentseg().sec == cell.sections[0]
    assert cell.sections[1].parentseg().x == 0.5
    assert cell.sections[4].parentseg().x == 1.0
    del cell


def test_one_point_soma_becomes_cylinder(tmp_path: Path) -> None:
    """swc: a one-point soma is a 3-point cylinder along x with L = diam (Import3d)."""
    path = write(
        tmp_path, "1 1 10 20 30 6 -1\n2 3 10 30 30 1 1\n3 3 10 80 30 1 2\n4 2 10 10 30 0.5 1\n5 2 10 -40 30 0.5 4\n"
    )
    secs = read_swc(path)
    assert [s.name for s in secs] == ["soma", "dend_0", "axon_0"]
    assert [s.label for s in secs] == ["Soma", "Dendrite", "Axon"]
    np.testing.assert_allclose(secs[0].points, [[4, 20, 30, 12], [10, 20, 30, 12], [16, 20, 30, 12]])
    assert [s.parent_x for s in secs] == [0.0, 0.5, 0.5]
    # connected by wire: the dendrites start at their own first sample
    np.testing.assert_allclose(section_length(secs[1].points), 50.0)
    np.testing.assert_allclose(section_length(secs[2].points), 50.0)


def test_custom_types_and_zero_length_sections(tmp_path: Path) -> None:
    """swc: other types are Custom<k>; a zero-length 2-point section is dropped (chk_valid)."""
    path = write(
        tmp_path,
        "\n".join(
            [
                "1 1 0 0 -5 5 -1",
                "2 1 0 0 0 5 1",
                "3 1 0 0 5 5 2",
                "4 7 0 10 0 1 2",
                "5 7 0 50 0 1 4",
                "6 7 0 50 0 1 5",  # zero-length branch point: 5 -> 6
                "7 7 20 50 0 1 6",
                "8 7 -20 50 0 1 6",  # its two children
                "9 7 0 90 0 1 5",
            ]
        )
        + "\n",
    )
    secs = read_swc(path)
    assert label_of_swc_type(7) == "Custom7"
    assert [s.name for s in secs] == ["soma", "custom7_0", "custom7_1", "custom7_2", "custom7_3"]
    by_end = {tuple(s.points[-1, :3]): s for s in secs}
    # 7 and 8 hang directly at the end of the section 4-5 after the zero-length 5-6 is dropped
    for end in ((20, 50, 0), (-20, 50, 0)):
        child = by_end[end]
        assert secs[child.parent].name == "custom7_0" and child.parent_x == 1.0
        assert section_length(child.points) == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1 1 0 0 0 5 -1\n2 3 0 0 10 1\n", 2, "expected 7 columns"),
        ("# c\n1 1 0 0 0 5 -1\n2 3 0 x 10 1 1\n", 3, "non-numeric"),
        ("1 1 0 0 0 5 -1\n2 3 0 0 10 1 1\n2 3 0 0 20 1 2\n", 3, "duplicate id 2 (first at line 2)"),
        ("1 1 0 0 0 5 -1\n2 3 0 0 10 1 7\n", 2, "parent id 7 of id 2 is not defined"),
        ("1 1 0 0 0 5 -1\n3 3 0 0 10 1 1\n2 3 0 0 20 1 3\n", 3, "ids must increase"),
        ("1 1 0 0 0 5 -1\n2 3 0 0 10 -1 1\n", 2, "negative radius"),
        ("1 1 0 0 0 5 -1\n2 3 0 0 10 1 1\n3 3 5 5 5 1 -1\n", 3, "not at the position of any earlier"),
        ("1 1 0 0 0 5 -1\n2.5 3 0 0 10 1 1\n", 2, "id must be an integer"),
        ("1 1 0 0 0 5 -1\n2 3 0 0 nan 1 1\n", 2, "non-finite"),
        ("1 1 0 0 0 5 -2\n", 1, "a root has parent -1"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text, "bad.swc")
    with pytest.raises(InputFileError) as info:
        read_swc(path)
    assert f"{path}:{line}: " in str(info.value)
    assert message in str(info.value)
    assert info.value.line == line


@pytest.mark.parametrize(("column", "token"), [(0, "6_2"), (0, "+62"), (1, "+3"), (6, "1_0"), (6, "٣")])
def test_integer_columns_take_digits_only(tmp_path: Path, column: int, token: str) -> None:
    """swc: id, type and parent are ASCII digits (parent may be -1); Python's int() and
    float() would read ``6_2`` and ``+62`` as 62."""
    fields = ["10", "3", "0", "0", "10", "1", "1"]
    fields[column] = token
    path = write(tmp_path, "1 1 0 0 0 5 -1\n" + " ".join(fields) + "\n", "bad.swc")
    with pytest.raises(InputFileError, match="must be an integer") as info:
        read_swc(path)
    assert info.value.line == 2


def test_digit_separators_in_numbers_are_refused(tmp_path: Path) -> None:
    """swc: ``1_0`` is no coordinate (float() reads it as 10)."""
    path = write(tmp_path, "1 1 0 0 0 5 -1\n2 3 0 0 1_0 1 1\n", "bad.swc")
    with pytest.raises(InputFileError, match="non-numeric") as info:
        read_swc(path)
    assert info.value.line == 2


def test_a_huge_line_is_quoted_short(tmp_path: Path) -> None:
    """swc: a message quotes at most ~80 characters of an offending line, not the whole line."""
    path = write(tmp_path, "1 1 0 0 0 5 -1\n2 3 0 0 10 1 1 " + "9" * 1_000_000 + "\n", "bad.swc")
    with pytest.raises(InputFileError, match="expected 7 columns") as info:
        read_swc(path)
    assert len(str(info.value)) < len(str(path)) + 250


def test_bom_is_accepted(tmp_path: Path, synthetic: Path) -> None:
    """swc: a UTF-8 BOM (as Windows editors write it) reads as the same cell."""
    bom = tmp_path / "bom.swc"
    bom.write_bytes(b"\xef\xbb\xbf" + synthetic.read_bytes())
    assert [s.name for s in read_swc(bom)] == [s.name for s in read_swc(synthetic)]


def test_non_ascii_file_name_and_folder(tmp_path: Path, synthetic: Path) -> None:
    """swc: a file named with non-ASCII characters, in such a folder, reads as the same cell
    (Import3d reads through hoc, which opens ASCII paths only)."""
    folder = tmp_path / "zellé ü"
    folder.mkdir()
    path = folder / "zellé.swc"
    path.write_bytes(synthetic.read_bytes())
    got, want = read_swc(path), read_swc(synthetic)
    assert [s.name for s in got] == [s.name for s in want]
    assert all(np.array_equal(a.points, b.points) for a, b in zip(got, want))


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="morphology file not found") as info:
        read_swc(tmp_path / "nope.swc")
    assert str(tmp_path / "nope.swc") in str(info.value)
    empty = write(tmp_path, "# only a comment\n\n", "empty.swc")
    with pytest.raises(InputFileError, match="at least 2 samples"):
        read_swc(empty)


def test_second_root_at_an_existing_sample_is_joined(tmp_path: Path) -> None:
    """swc: a root duplicating an earlier sample (an exporter's split) is joined, with a warning."""
    text = SYNTHETIC + "13 3 0 0 0 1 -1\n14 3 0 -10 0 1 13\n15 3 0 -60 0 1 14\n"
    path = write(tmp_path, text)
    with pytest.warns(UserWarning, match=r"cell.swc:15: second root id 13 lies exactly at sample id 2"):
        points = validate_swc(path)
    assert [p.parent for p in points][-3:] == [2, 13, 14] and points[-3].rejoined
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        secs = read_swc(path)
    new = secs[-1]
    assert new.label == "Dendrite" and new.parent == 0 and new.parent_x == 0.5
    assert section_length(new.points) == pytest.approx(60.0)


def test_read_morphology_dispatches_swc(synthetic: Path) -> None:
    from pspsweep.io.isf_param import read_morphology

    assert [s.name for s in read_morphology(synthetic)] == [s.name for s in read_swc(synthetic)]


# --------------------------------------------------------------------------- Import3d cross-check


def instantiate_with_import3d(path: Path):
    """Sections as Import3d_GUI.instantiate creates them (inside a Python object)."""
    from neuron import h

    from pspsweep.simulation import swc

    swc._load_import3d()
    reader = h.Import3d_SWC_read()
    reader.quiet = 1

    class Holder:
        pass

    holder = Holder()
    with contextlib.redirect_stdout(io.StringIO()):  # Import3d's notes on blank lines, dropped sections
        reader.input(str(path))
        gui = h.Import3d_GUI(reader, False)
        gui.instantiate(holder)  # runs chk_valid: reader.sections now lists the kept sections
    name = h.ref("")
    out = []
    for i in range(int(reader.sections.count())):
        gui.name(reader.sections.o(i), name)
        array, _, index = name[0].rstrip("]").partition("[")
        sec = getattr(holder, array)[int(index or 0)]
        pts = np.array([[sec.x3d(k), sec.y3d(k), sec.z3d(k), sec.diam3d(k)] for k in range(sec.n3d())])
        parent = sec.parentseg()
        out.append((sec, pts, parent))
    return holder, out


def assert_same_as_import3d(path: Path) -> None:
    secs = read_swc(path)
    holder, ref = instantiate_with_import3d(path)
    assert len(secs) == len(ref)
    index = {sec: i for i, (sec, _, _) in enumerate(ref)}
    for spec, (_, pts, parent) in zip(secs, ref):
        np.testing.assert_allclose(spec.points, pts, rtol=0, atol=1e-4)
        if parent is None:
            assert spec.parent is None
            continue
        assert spec.parent == index[parent.sec]
        soma_child = secs[spec.parent].label == "Soma" and spec.label != "Soma"
        assert spec.parent_x == (0.5 if soma_child else parent.x)
    del holder, ref


def test_same_sections_as_import3d_instantiate(synthetic: Path, tmp_path: Path) -> None:
    """swc: points and topology equal those of Import3d_GUI.instantiate (no global sections)."""
    before = n_neuron_sections()
    assert_same_as_import3d(synthetic)
    assert_same_as_import3d(write(tmp_path, "1 1 10 20 30 6 -1\n2 3 10 30 30 1 1\n3 3 10 80 30 1 2\n", "sphere.swc"))
    assert n_neuron_sections() == before


# --------------------------------------------------------------------------- real data

#: SWC type for each hoc label (to re-type the real SWC, whose samples are all type 1)
HOC_LABEL_TYPES = {"Soma": 1, "Dendrite": 3, "ApicalDendrite": 4}


def lengths_by_label(sections) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for s in sections:
        out[s.label] += section_length(s.points)
    return dict(out)


def read_real_swc(path: Path):
    with pytest.warns(UserWarning, match="second root id 11359 lies exactly at sample id 9957"):
        return read_swc(path)


@pytest.mark.realdata
def test_real_swc_as_is(isf86: Path) -> None:
    """swc, 86_C2_center.swc as shipped: every sample has type 1 and radius 1 um.

    So every section is ``Soma`` with diameter 2 um: the file keeps the hoc's geometry,
    not its labels or diameters. The second root (id 11359, a copy of id 9957) is joined.
    Total length vs the hoc: +74.53 um (+0.49 %): the connections from the soma points to
    the first samples of the 8 soma children, which the hoc leaves out (with every sample
    of type 1, Import3d connects none of them "by wire").
    """
    secs = read_real_swc(isf86 / "86_C2_center.swc")
    hoc = read_hoc(isf86 / "86_C2_center.hoc")
    assert {s.label for s in secs} == {"Soma"}
    assert all(np.all(s.points[:, 3] == 2.0) for s in secs)
    assert sum(len(s.points) for s in secs) > 13_900
    swc_total = sum(lengths_by_label(secs).values())
    hoc_total = sum(lengths_by_label(hoc).values())
    print(
        f"\ntotal length swc {swc_total:.2f} um, hoc {hoc_total:.2f} um, "
        f"diff {swc_total - hoc_total:+.2f} um ({(swc_total / hoc_total - 1) * 100:+.3f} %)"
    )
    assert swc_total == pytest.approx(hoc_total, rel=0.01)


@pytest.fixture(scope="module")
def typed_real_swc(isf86: Path, tmp_path_factory) -> Path:
    """86_C2_center.swc with each sample typed by the hoc label at its position (soma otherwise)."""
    hoc = read_hoc(isf86 / "86_C2_center.hoc")
    label_at: dict[tuple, set[str]] = defaultdict(set)
    for s in hoc:
        for p in s.points:
            label_at[tuple(np.round(p[:3], 3))].add(s.label)
    lines = []
    for text in (isf86 / "86_C2_center.swc").read_text().splitlines():
        tokens = text.split()
        labels = label_at.get(tuple(np.round(np.array(tokens[2:5], dtype=float), 3)), {"Soma"})
        assert len(labels) == 1, text
        tokens[1] = str(HOC_LABEL_TYPES[next(iter(labels))])
        lines.append(" ".join(tokens))
    path = tmp_path_factory.mktemp("swc") / "86_C2_center_typed.swc"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.realdata
def test_real_swc_lengths_per_label_match_hoc(isf86: Path, typed_real_swc: Path) -> None:
    """swc vs hoc, per label (SWC re-typed from the hoc labels): within 1 %.

    Measured: Dendrite +60.07 um (+0.93 %), ApicalDendrite +6.82 um (+0.08 %): the
    connections from the soma to the first samples of 5 basal trees and the apical trunk
    that Import3d keeps (it drops them only for dendrites starting inside a soma section).
    Soma +2.00 um: the one-point SWC root becomes a 2 um cylinder (Import3d's sphere rule).
    Section counts per label equal the hoc's (87 Dendrite, 79 ApicalDendrite).
    """
    with pytest.warns(UserWarning, match="second root"):
        secs = read_swc(typed_real_swc)
    hoc = read_hoc(isf86 / "86_C2_center.hoc")
    swc_len, hoc_len = lengths_by_label(secs), lengths_by_label(hoc)
    print()
    for label in ("Soma", "Dendrite", "ApicalDendrite"):
        d = swc_len[label] - hoc_len[label]
        print(
            f"{label:15s} swc {swc_len[label]:10.2f} um  hoc {hoc_len[label]:10.2f} um  "
            f"diff {d:+8.2f} um ({d / hoc_len[label] * 100:+.3f} %)"
        )
    for label in ("Dendrite", "ApicalDendrite"):
        assert swc_len[label] == pytest.approx(hoc_len[label], rel=0.01)
        assert sum(s.label == label for s in secs) == sum(s.label == label for s in hoc)
    assert swc_len["Soma"] - hoc_len["Soma"] == pytest.approx(2.0, abs=1e-3)
    # every non-soma child of a soma section hangs at soma(0.5), as in ISF
    assert all(
        s.parent_x == 0.5 for s in secs if s.parent is not None and secs[s.parent].label == "Soma" and s.label != "Soma"
    )


@pytest.mark.realdata
def test_real_swc_builds_in_neuron(isf86: Path, typed_real_swc: Path) -> None:
    """swc: cells from the real SWC (as is, and re-typed) build in NEURON with pas only."""
    from pspsweep.simulation.cell import build_cell

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the joined second root
        cells = (read_swc(isf86 / "86_C2_center.swc"), read_swc(typed_real_swc))
    before = n_neuron_sections()
    for secs in cells:
        cell = build_cell(pas_cell(secs), load=False)
        assert len(cell.sections) == len(secs)
        total_l = sum(sec.L for sec in cell.sections)
        assert total_l == pytest.approx(sum(lengths_by_label(secs).values()), rel=1e-6)
        assert all(sec.nseg >= 1 and math.isfinite(sec(0.5).g_pas) for sec in cell.sections)
        del cell
    assert n_neuron_sections() == before


@pytest.mark.realdata
def test_real_swc_same_as_import3d_instantiate(isf86: Path, tmp_path: Path) -> None:
    """swc: on the real file (second root joined) the sections equal Import3d's instantiate."""
    text = (
        (isf86 / "86_C2_center.swc")
        .read_text()
        .replace(
            " 11359 1 -107.486572 380.291046 -378.470032 1.000000 -1",
            " 11359 1 -107.486572 380.291046 -378.470032 1.000000 9957",
        )
    )
    assert text != (isf86 / "86_C2_center.swc").read_text()
    assert_same_as_import3d(write(tmp_path, text, "joined.swc"))
