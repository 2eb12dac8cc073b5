"""Tests of pspsweep.io.isf_embedding: .syn/.con reading, classification, receptors, snapping."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import pspsweep_env

from pspsweep.cellmodel import SectionSpec
from pspsweep.celltypes import (
    ISF_HEAD_EXCITATORY,
    ISF_HEAD_INHIBITORY,
    ISF_LEGACY_EXCITATORY,
    ISF_LEGACY_INHIBITORY,
    classify_celltype,
)
from pspsweep.embedding import SYNAPSE_COLUMNS, Embedding, ReceptorSpec
from pspsweep.errors import InputFileError, PspSweepError
from pspsweep.io.isf_embedding import (
    isf_receptor,
    read_con,
    read_embedding,
    read_syn,
    snap_to_points,
)
from pspsweep.io.isf_hoc import read_hoc

SYN_NAME = "example_embedding_86_C2_center.syn"
CON_NAME = "example_embedding_86_C2_center.con"


SYN = """\
# Synapse distribution file
# Type - section - section.x

VPM_C2\t3\t0.5
L5tt_C2\t1\t0.25
VPM_C2\t0\t1.0
  L5tt_C2\t2\t0.0
INH_C2\t1\t0.75
VPM_C2\t1\t0.125
"""

CON = """\
# Anatomical connectivity realization file; only valid with synapse realization:
# cell.syn
# Type - cell ID - synapse ID

L5tt_C2\t0\t1
VPM_C2\t0\t0
L5tt_C2\t1\t0
VPM_C2\t1\t2
VPM_C2\t0\t1
INH_C2\t0\t0
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_syn_counts_ids_per_type(tmp_path: Path) -> None:
    """isf_embedding: ids count per type in appearance order; comments and blanks skipped."""
    syn = read_syn(write(tmp_path, "c.syn", SYN))
    assert list(syn.columns) == ["celltype", "synapse_id", "section", "x"]
    assert list(syn["celltype"]) == ["VPM_C2", "L5tt_C2", "VPM_C2", "L5tt_C2", "INH_C2", "VPM_C2"]
    assert list(syn["synapse_id"]) == [0, 0, 1, 1, 0, 2]
    assert list(syn["section"]) == [3, 1, 0, 2, 1, 1]
    assert list(syn["x"]) == [0.5, 0.25, 1.0, 0.0, 0.75, 0.125]
    assert syn["synapse_id"].dtype == np.int64 and syn["section"].dtype == np.int64


def test_read_con(tmp_path: Path) -> None:
    """isf_embedding: .con rows in file order."""
    con = read_con(write(tmp_path, "c.con", CON))
    assert list(con.columns) == ["celltype", "cell_id", "synapse_id"]
    assert list(con["celltype"]) == ["L5tt_C2", "VPM_C2", "L5tt_C2", "VPM_C2", "VPM_C2", "INH_C2"]
    assert list(con["cell_id"]) == [0, 0, 1, 1, 0, 0]
    assert list(con["synapse_id"]) == [1, 0, 0, 2, 1, 0]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("# h\nVPM_C2 3 0.5\n", 2, "expected 3 TAB-separated fields"),
        ("VPM_C2\t3\t0.5\tpruned\n", 1, "got 4"),
        ("VPM_C2\t3\n", 1, "got 2"),
        ("VPM_C2\t3\t0.5\n\tA\t0.5\n", 2, "got 2"),
        ("VPM_C2\t\t0.5\n", 1, "malformed section index ''"),
        ("VPM_C2\t3\t0.5\nVPM_C2\tthree\t0.5\n", 2, "malformed section index 'three'"),
        ("VPM_C2\t3.0\t0.5\n", 1, "malformed section index"),
        ("VPM_C2\t-1\t0.5\n", 1, "negative section index"),
        # int() reads these as section 62 (issue 14, item 23)
        ("VPM_C2\t6_2\t0.5\n", 1, "malformed section index '6_2'"),
        ("VPM_C2\t+62\t0.5\n", 1, "malformed section index '+62'"),
        ("VPM_C2\t\u0666\u0662\t0.5\n", 1, "malformed section index"),
        ("VPM_C2\t3\t0_5\n", 1, "malformed position '0_5'"),
        ("VPM_C2\t3\thalf\n", 1, "malformed position 'half'"),
        ("VPM_C2\t3\t1.5\n", 1, "outside [0, 1]"),
        ("VPM_C2\t3\t-0.01\n", 1, "outside [0, 1]"),
        ("VPM_C2\t3\tnan\n", 1, "outside [0, 1]"),
    ],
)
def test_malformed_syn_names_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    """isf_embedding: malformed .syn lines raise InputFileError naming file and line."""
    path = write(tmp_path, "bad.syn", text)
    with pytest.raises(InputFileError) as info:
        read_syn(path)
    assert f"{path}:{line}:" in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("# h\n\nVPM_C2 0 0\n", 3, "expected 3 TAB-separated fields"),
        ("VPM_C2\t0\n", 1, "got 2"),
        ("VPM_C2\tx\t0\n", 1, "malformed cell id 'x'"),
        ("VPM_C2\t0\t0.5\n", 1, "malformed synapse id '0.5'"),
        ("VPM_C2\t-2\t0\n", 1, "negative cell id"),
        ("VPM_C2\t0\t-1\n", 1, "negative synapse id"),
        ("VPM_C2\t1_0\t0\n", 1, "malformed cell id '1_0'"),
        ("VPM_C2\t0\t+1\n", 1, "malformed synapse id '+1'"),
    ],
)
def test_malformed_con_names_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    """isf_embedding: malformed .con lines raise InputFileError naming file and line."""
    path = write(tmp_path, "bad.con", text)
    with pytest.raises(InputFileError) as info:
        read_con(path)
    assert f"{path}:{line}:" in str(info.value)
    assert message in str(info.value)


def test_missing_files(tmp_path: Path) -> None:
    """isf_embedding: missing files name the path."""
    with pytest.raises(InputFileError, match="not found"):
        read_syn(tmp_path / "x.syn")
    with pytest.raises(InputFileError, match="not found"):
        read_con(tmp_path / "x.con")


def test_read_embedding_joins_in_con_order(tmp_path: Path) -> None:
    """isf_embedding: each synapse gets its cell; types by first .con appearance, rows in .con order."""
    emb = read_embedding(write(tmp_path, "c.syn", SYN), write(tmp_path, "c.con", CON))
    assert isinstance(emb, Embedding)
    df = emb.synapses
    assert list(df.columns) == list(SYNAPSE_COLUMNS)
    assert emb.celltypes == ["L5tt_C2", "VPM_C2", "INH_C2"]
    rows = list(df.itertuples(index=False, name=None))
    assert rows == [
        ("L5tt_C2", 1, 2, 0.0, 0),
        ("L5tt_C2", 0, 1, 0.25, 1),
        ("VPM_C2", 0, 3, 0.5, 0),
        ("VPM_C2", 2, 1, 0.125, 1),
        ("VPM_C2", 1, 0, 1.0, 0),
        ("INH_C2", 0, 1, 0.75, 0),
    ]
    # default receptors: ISF HEAD lists (INH is inhibitory, L5tt and VPM excitatory)
    assert emb.receptors == {
        "L5tt_C2": isf_receptor(True),
        "VPM_C2": isf_receptor(True),
        "INH_C2": isf_receptor(False),
    }


def test_read_embedding_receptors_given_and_unclassified(tmp_path: Path) -> None:
    """isf_embedding: given receptors are used; unclassified types get none by default."""
    syn = write(tmp_path, "c.syn", "L23Trans_C2\t1\t0.5\nVPM_C2\t1\t0.5\n")
    con = write(tmp_path, "c.con", "L23Trans_C2\t0\t0\nVPM_C2\t0\t0\n")
    assert read_embedding(syn, con).receptors == {"VPM_C2": isf_receptor(True)}
    mine = {"L23Trans_C2": ReceptorSpec("gaba_syn", False, {"e": -75.0})}
    assert read_embedding(syn, con, receptors=mine).receptors == mine


@pytest.mark.parametrize(
    ("con", "where", "line", "message"),
    [
        ("VPM_C2\t0\t0\nL4_C2\t0\t0\n", "con", 2, "cell type 'L4_C2' has no synapses"),
        # the message lists the cell types the .syn has (issue 14, item 23)
        ("VPM_C2\t0\t0\nL4_C2\t0\t0\n", "con", 2, "(its cell types: VPM_C2)"),
        ("VPM_C2\t0\t0\nVPM_C2\t0\t2\n", "con", 2, "synapse 2 of 'VPM_C2' not in"),
        ("VPM_C2\t0\t0\nVPM_C2\t1\t1\n\nVPM_C2\t1\t0\n", "con", 4, "assigned more than once (lines 1, 4)"),
        ("# c\nVPM_C2\t0\t1\n", "syn", 1, "1 synapse(s) not assigned"),
    ],
)
def test_read_embedding_consistency(tmp_path: Path, con: str, where: str, line: int, message: str) -> None:
    """isf_embedding: .con ids must exist in the .syn, be unique, and cover every synapse."""
    syn_path = write(tmp_path, "c.syn", "VPM_C2\t1\t0.5\nVPM_C2\t2\t0.5\n")
    con_path = write(tmp_path, "c.con", con)
    with pytest.raises(InputFileError) as info:
        read_embedding(syn_path, con_path)
    path = con_path if where == "con" else syn_path
    assert f"{path}:{line}:" in str(info.value)
    assert message in str(info.value)


def test_a_huge_line_is_quoted_short(tmp_path: Path) -> None:
    """isf_embedding: a 20 MB line is quoted with at most ~80 of its characters, not echoed whole."""
    path = write(tmp_path, "bad.syn", "VPM_C2\t3\t" + "5" * 20_000_000 + "\tx\n")
    with pytest.raises(InputFileError, match="expected 3 TAB-separated fields") as info:
        read_syn(path)
    assert len(str(info.value)) < len(str(path)) + 250
    assert "(20000011 characters)" in str(info.value)


def test_bom_is_accepted(tmp_path: Path) -> None:
    """isf_embedding: .syn and .con files starting with a UTF-8 BOM read as without it."""
    syn, con = tmp_path / "bom.syn", tmp_path / "bom.con"
    # both start with a comment line, which the BOM would turn into a malformed data line
    syn.write_bytes(b"\xef\xbb\xbf" + SYN.encode())
    con.write_bytes(b"\xef\xbb\xbf" + CON.encode())
    plain = read_embedding(write(tmp_path, "c.syn", SYN), write(tmp_path, "c.con", CON))
    pd.testing.assert_frame_equal(read_embedding(syn, con).synapses, plain.synapses)


@pytest.mark.parametrize("empty", ["syn", "con"])
def test_empty_files_are_refused(tmp_path: Path, empty: str) -> None:
    """isf_embedding: a .syn or .con with only comments would give an embedding without cell types."""
    syn = write(tmp_path, "c.syn", "# nothing\n" if empty == "syn" else "VPM_C2\t1\t0.5\n")
    con = write(tmp_path, "c.con", "# nothing\n\n" if empty == "con" else "VPM_C2\t0\t0\n")
    with pytest.raises(InputFileError, match="the embedding would be empty") as info:
        read_embedding(syn, con)
    assert str(syn if empty == "syn" else con) in str(info.value)


HOC_WITH_ZERO_LENGTH = """\
create soma
soma {
pt3dadd(0, 0, 0, 10)
pt3dadd(0, 10, 0, 10)
}
create dend_1
connect dend_1(0), soma(1)
dend_1 {
pt3dadd(0, 10, 0, 2)
pt3dadd(0, 110, 0, 2)
}
create dend_2
connect dend_2(0), dend_1(1)
dend_2 {
pt3dadd(0, 110, 0, 2)
pt3dadd(0, 110, 0, 2)
}
"""


def test_synapse_outside_the_morphology_names_the_syn_line(tmp_path: Path) -> None:
    """isf_embedding: given the cell's sections, a section index past the last one names the
    .syn file and line (the pipeline's later check knew neither)."""
    sections = read_hoc(write(tmp_path, "cell.hoc", HOC_WITH_ZERO_LENGTH))
    syn = write(tmp_path, "c.syn", "# h\nVPM_C2\t1\t0.5\nVPM_C2\t3\t0.5\n")
    con = write(tmp_path, "c.con", "VPM_C2\t0\t0\nVPM_C2\t0\t1\n")
    with pytest.raises(InputFileError, match=r"section index 3 outside the morphology.*sections 0\.\.2") as info:
        read_embedding(syn, con, sections=sections)
    assert str(info.value).startswith(f"{syn}:3: ")


def test_synapse_on_a_zero_length_section_names_the_syn_line(tmp_path: Path) -> None:
    """isf_embedding: a synapse on a section whose points coincide (NEURON makes it 1e-9 um long;
    CVODE never finishes such a run) is refused with the .syn line, the section and a remedy,
    whatever network.snap_to_points says; the same embedding on a real section reads."""
    sections = read_hoc(write(tmp_path, "cell.hoc", HOC_WITH_ZERO_LENGTH))
    con = write(tmp_path, "c.con", "VPM_C2\t0\t0\nVPM_C2\t0\t1\n")
    good = write(tmp_path, "good.syn", "VPM_C2\t1\t0.5\nVPM_C2\t0\t0.5\n")
    assert len(read_embedding(good, con, sections=sections).synapses) == 2
    bad = write(tmp_path, "bad.syn", "VPM_C2\t1\t0.5\nVPM_C2\t2\t0.5\n")
    with pytest.raises(InputFileError, match=r"section 2 \(dend_2\), which has zero length.*move the synapse") as info:
        read_embedding(bad, con, sections=sections)
    assert str(info.value).startswith(f"{bad}:2: ")


@pytest.mark.slow
def test_command_refuses_a_synapse_on_a_zero_length_section(tmp_path: Path) -> None:
    """The command with this .hoc, network.snap_to_points=false and CVODE (the setting that ran
    for 500 s and more) ends at once with one error line naming the .syn line, exit code 2
    and no MLflow store."""
    hoc = write(tmp_path, "cell.hoc", HOC_WITH_ZERO_LENGTH)
    syn = write(tmp_path, "c.syn", "L4ss_C2\t2\t0.5\n")
    con = write(tmp_path, "c.con", "L4ss_C2\t0\t0\n")
    exe = Path(sys.executable).parent / "pspsweep"
    res = subprocess.run(
        [
            str(exe),
            "neuron.morphology.kind=hoc",
            f"neuron.morphology.path={hoc}",
            "~neuron.biophysics.ApicalDendrite",
            "network=isf",
            f"network.syn_file={syn}",
            f"network.con_file={con}",
            "network.snap_to_points=false",
            "run.celltype=L4ss_C2",
            "run.vardt=true",
            f"tracking.uri=sqlite:///{tmp_path / 't.db'}",
            "executor.workers=1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=pspsweep_env(),
        check=False,
    )
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2, res.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith(f"pspsweep: error: {syn}:1: "), res.stderr[-3000:]
    assert "zero length" in lines[0]
    assert not (tmp_path / "t.db").exists()


def test_classify_celltype() -> None:
    """isf_embedding: prefix before the first '_' decides; L1 differs between HEAD and legacy."""
    assert classify_celltype("L5tt_C2", ISF_HEAD_EXCITATORY, ISF_HEAD_INHIBITORY) is True
    assert classify_celltype("L6ccinv_A1", ISF_HEAD_EXCITATORY, ISF_HEAD_INHIBITORY) is True
    assert classify_celltype("INH_C2", ISF_HEAD_EXCITATORY, ISF_HEAD_INHIBITORY) is False
    assert classify_celltype("L45Peak_C2", ISF_HEAD_EXCITATORY, ISF_HEAD_INHIBITORY) is None
    assert classify_celltype("L1_C2", ISF_HEAD_EXCITATORY, ISF_HEAD_INHIBITORY) is True
    assert classify_celltype("L1_C2", ISF_LEGACY_EXCITATORY, ISF_LEGACY_INHIBITORY) is False
    assert classify_celltype("SymLocal4_C2", ISF_LEGACY_EXCITATORY, ISF_LEGACY_INHIBITORY) is False
    assert classify_celltype("VPM", ISF_HEAD_EXCITATORY, ISF_HEAD_INHIBITORY) is True
    assert classify_celltype("VPMx_C2", ISF_HEAD_EXCITATORY, ISF_HEAD_INHIBITORY) is None
    assert classify_celltype("L5tt_C2") is True  # HEAD lists by default
    with pytest.raises(PspSweepError, match="both"):
        classify_celltype("X_C2", ("X",), ("X",))


def test_prefix_lists() -> None:
    """isf_embedding: the four lists of isf-reference 8."""
    assert set(ISF_HEAD_EXCITATORY) == {
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
    }
    assert ISF_HEAD_INHIBITORY == ("INH",)
    assert set(ISF_LEGACY_EXCITATORY) == set(ISF_HEAD_EXCITATORY) - {"L1"} | {"Generic"}
    assert set(ISF_LEGACY_INHIBITORY) == {f"SymLocal{k}" for k in range(1, 7)} | {
        "L45Sym",
        "L1",
        "L45Peak",
        "L56Trans",
        "L23Trans",
        "GenericINH",
        "INH",
    }


def test_isf_receptor_templates() -> None:
    """isf_embedding: receptor templates of isf-reference 3.5."""
    exc = isf_receptor(True)
    assert (exc.mechanism, exc.excitatory) == ("glutamate_syn", True)
    assert exc.parameters == {
        "tau1": 26.0,
        "tau2": 2.0,
        "tau3": 2.0,
        "tau4": 0.1,
        "decaynmda": 1.0,
        "facilampa": 0.0,
        "facilnmda": 0.0,
    }
    inh = isf_receptor(False)
    assert (inh.mechanism, inh.excitatory) == ("gaba_syn", False)
    assert inh.parameters == {"risetime": 1.0, "decaytime": 20.0, "e": -80.0, "decaygaba": 1.0, "facilgaba": 0.0}
    exc.parameters["tau1"] = 1.0  # each call returns fresh parameters
    assert isf_receptor(True).parameters["tau1"] == 26.0


def sec(points: list[list[float]]) -> SectionSpec:
    return SectionSpec("s", "Dendrite", None, 0.0, np.array([[*p, 1.0] for p in points], dtype=float))


def test_snap_to_points() -> None:
    """isf_embedding: x -> relPts[argmin |x - relPts|], first index wins ties, original kept."""
    sections = (
        sec([[0, 0, 0], [1, 0, 0], [4, 0, 0]]),  # relPts 0, 0.25, 1
        sec([[0, 0, 0], [0, 2, 0], [0, 2, 0], [0, 4, 0]]),  # relPts 0, 0.5, 0.5, 1 (duplicate point)
    )
    syn = pd.DataFrame(
        {
            "celltype": ["A", "A", "B", "B", "B", "A"],
            "synapse_id": [0, 1, 0, 1, 2, 2],
            "section": [0, 0, 0, 1, 1, 1],
            "x": [0.1, 0.125, 0.7, 0.3, 0.75, 0.74],
            "cell_id": [0, 0, 1, 1, 2, 2],
        }
    )
    out = snap_to_points(syn, sections)
    np.testing.assert_allclose(out["x"], [0.0, 0.0, 1.0, 0.5, 0.5, 0.5])
    assert syn["x"].tolist() == [0.1, 0.125, 0.7, 0.3, 0.75, 0.74]
    assert out.drop(columns="x").equals(syn.drop(columns="x"))


@pytest.mark.parametrize("section", [2, -1])
def test_snap_out_of_range(section: int) -> None:
    """isf_embedding: an unknown section names the cell type and synapse id."""
    syn = pd.DataFrame({"celltype": ["A", "L5tt_C2"], "synapse_id": [0, 7], "section": [0, section], "x": [0.5, 0.5]})
    with pytest.raises(PspSweepError, match=r"synapse 7 of cell type 'L5tt_C2'.*section index"):
        snap_to_points(syn, (sec([[0, 0, 0], [1, 0, 0]]), sec([[0, 0, 0], [1, 0, 0]])))


def test_snap_zero_length_section() -> None:
    """isf_embedding: a synapse on a zero-length section cannot be snapped."""
    syn = pd.DataFrame({"celltype": ["A"], "synapse_id": [3], "section": [0], "x": [0.5]})
    with pytest.raises(PspSweepError, match="synapse 3 of cell type 'A'.*zero length"):
        snap_to_points(syn, (sec([[0, 0, 0], [0, 0, 0]]),))


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def embedding_86(isf86: Path) -> Embedding:
    return read_embedding(isf86 / SYN_NAME, isf86 / CON_NAME)


@pytest.mark.realdata
def test_86_syn(isf86: Path) -> None:
    """isf_embedding: 24,780 synapses of 278 types; per-label counts and index range (3.1)."""
    syn = read_syn(isf86 / SYN_NAME)
    assert len(syn) == 24780
    assert syn["celltype"].nunique() == 278
    assert (syn["section"].min(), syn["section"].max()) == (0, 166)
    assert (syn["x"].min(), syn["x"].max()) == (0.0, 1.0)
    labels = [s.label for s in read_hoc(isf86 / "86_C2_center.hoc")]
    per_label = Counter(labels[i] for i in syn["section"])
    assert per_label == {"Soma": 98, "Dendrite": 10242, "ApicalDendrite": 14440}
    assert syn.iloc[0].tolist() == ["VPM_E1", 0, 112, 0.138046479525]


@pytest.mark.realdata
def test_86_con(isf86: Path) -> None:
    """isf_embedding: 24,780 lines; per type synapse ids 0..n-1 in order, cell ids contiguous (3.2)."""
    con = read_con(isf86 / CON_NAME)
    assert len(con) == 24780
    assert len(con[["celltype", "cell_id"]].drop_duplicates()) == 19704
    for _, group in con.groupby("celltype", sort=False):
        assert group["synapse_id"].tolist() == list(range(len(group)))
        cells = group["cell_id"].to_numpy()
        assert np.all(np.diff(cells) >= 0)
        assert set(cells) == set(range(cells[-1] + 1))


@pytest.mark.realdata
def test_86_embedding(embedding_86: Embedding) -> None:
    """isf_embedding: the join; VPM_C2 has 176 cells, 280 synapses, 1-6 per cell (6.4)."""
    df = embedding_86.synapses
    assert len(df) == 24780
    assert len(embedding_86.celltypes) == 278
    assert len(df[["celltype", "cell_id"]].drop_duplicates()) == 19704
    vpm = df[df["celltype"] == "VPM_C2"]
    assert len(vpm) == 280
    per_cell = vpm.groupby("cell_id").size()
    assert len(per_cell) == 176
    assert dict(Counter(per_cell.tolist())) == {1: 106, 2: 46, 3: 17, 4: 5, 5: 1, 6: 1}
    # rows of a type are contiguous and in .con order (synapse ids 0..n-1 in the example)
    for _, group in df.groupby("celltype", sort=False):
        assert group.index.to_numpy().tolist() == list(range(group.index[0], group.index[0] + len(group)))
        assert group["synapse_id"].tolist() == list(range(len(group)))


@pytest.mark.realdata
def test_86_classification(embedding_86: Embedding) -> None:
    """isf_embedding: 194 excitatory types with HEAD lists, none inhibitory; legacy 183/95 (8)."""
    types = embedding_86.celltypes
    head = Counter(classify_celltype(t, ISF_HEAD_EXCITATORY, ISF_HEAD_INHIBITORY) for t in types)
    legacy = Counter(classify_celltype(t, ISF_LEGACY_EXCITATORY, ISF_LEGACY_INHIBITORY) for t in types)
    assert head == {True: 194, None: 84}
    assert legacy == {True: 183, False: 95}
    assert len(embedding_86.receptors) == 194
    assert all(r == isf_receptor(True) for r in embedding_86.receptors.values())


@pytest.mark.realdata
def test_86_prefix_table(embedding_86: Embedding) -> None:
    """isf_embedding: cell types, presynaptic cells and synapses per prefix (isf-reference 8 table)."""
    df = embedding_86.synapses.assign(prefix=embedding_86.synapses["celltype"].str.split("_").str[0])
    table = {
        "L1": (11, 139, 319),
        "L2": (17, 3034, 3937),
        "L23Trans": (8, 88, 109),
        "L34": (22, 5024, 6339),
        "L45Peak": (13, 239, 340),
        "L45Sym": (10, 195, 253),
        "L4py": (17, 816, 967),
        "L4sp": (12, 894, 1014),
        "L4ss": (11, 1269, 1793),
        "L56Trans": (16, 351, 433),
        "L5st": (19, 2705, 3509),
        "L5tt": (14, 700, 807),
        "L6cc": (24, 1662, 1868),
        "L6ccinv": (23, 936, 1032),
        "L6ct": (14, 810, 927),
        "VPM": (10, 251, 357),
        "SymLocal1": (5, 96, 120),
        "SymLocal2": (4, 28, 32),
        "SymLocal3": (7, 196, 266),
        "SymLocal4": (16, 263, 350),
        "SymLocal5": (4, 7, 7),
        "SymLocal6": (1, 1, 1),
    }
    got = {
        p: (g["celltype"].nunique(), len(g[["celltype", "cell_id"]].drop_duplicates()), len(g))
        for p, g in df.groupby("prefix")
    }
    assert got == table


@pytest.mark.realdata
def test_86_snapping_changes_nothing(isf86: Path, embedding_86: Embedding) -> None:
    """isf_embedding: every example x already sits on a 3-D point (max |dx| <= 3e-6, 3.4)."""
    sections = read_hoc(isf86 / "86_C2_center.hoc")
    snapped = snap_to_points(embedding_86.synapses, sections)
    dx = np.abs(snapped["x"].to_numpy() - embedding_86.synapses["x"].to_numpy())
    assert dx.max() <= 3e-6, f"max |dx| = {dx.max():.3g} > 3e-6"
    soma = snapped[snapped["section"] == 0]
    assert len(soma) == 98
