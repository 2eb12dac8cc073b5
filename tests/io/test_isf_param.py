"""Tests of pspsweep.io.isf_param: .param syntax (isf-reference 2.1) and CellSpec building (2.2-2.4)."""

from __future__ import annotations

import json
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pspsweep.cellmodel import (
    CellSpec,
    DiameterScaling,
    Discretization,
    SectionSpec,
    SimSettings,
)
from pspsweep.errors import InputFileError, PspSweepError
from pspsweep.io.isf_param import (
    isf_param_text_to_json,
    param_to_cellspec,
    read_cellspec,
    read_param_file,
)

# --------------------------------------------------------------------------- syntax


def test_rewrites_in_isf_order() -> None:
    """isf_param: quotes, trailing commas, tuples, None -> strict JSON, line breaks kept."""
    text = "{'a': (1, 2),\n 'b': [None, 'x(y)'],\n 'c': {'d': 1,\n },\n}"
    out = isf_param_text_to_json(text)
    assert out.count("\n") == text.count("\n")
    assert json.loads(out) == {"a": [1, 2], "b": [None, "x[y]"], "c": {"d": 1}}


def test_read_param_file_keeps_order(tmp_path: Path) -> None:
    """isf_param: keys keep file order; JSON true/false accepted."""
    path = tmp_path / "p.param"
    path.write_text("{\n 'z': 1,\n 'a': {'y': true, 'b': (1.5, 'q'),},\n 'm': None,\n}\n")
    params = read_param_file(path)
    assert list(params) == ["z", "a", "m"]
    assert list(params["a"]) == ["y", "b"]
    assert params == {"z": 1, "a": {"y": True, "b": [1.5, "q"]}, "m": None}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('{\n "a": 1\n "b": 2\n}\n', 3, "Expecting ',' delimiter"),
        ('{\n "a": 1,\n "b": True,\n}\n', 3, "not Python True/False"),
        ('{\n "a": 1, # comment\n}\n', 2, "comments are not allowed"),
        ('{\n "a": 1,\n "b": ((1, 2), 3),\n}\n', 3, "invalid parameter file syntax"),
        ('{\n "a": 1,\n "b": 1.2.3\n}\n', 3, "invalid parameter file syntax"),
        ('{\n "a": 1,\n', 3, "invalid parameter file syntax"),
    ],
)
def test_syntax_errors_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    """isf_param: JSON errors after the rewrites are reported at the file line."""
    path = tmp_path / "bad.param"
    path.write_text(text)
    with pytest.raises(InputFileError) as info:
        read_param_file(path)
    assert f"{path}:{line}:" in str(info.value)
    assert message in str(info.value)


def test_bom_is_accepted(tmp_path: Path) -> None:
    """isf_param: a file starting with a UTF-8 BOM reads as without it (json refused it)."""
    path = tmp_path / "bom.param"
    path.write_bytes(b"\xef\xbb\xbf" + b"{'a': (1, 2),}\n")
    assert read_param_file(path) == {"a": [1, 2]}


def test_a_huge_line_is_quoted_short(tmp_path: Path) -> None:
    """isf_param: a syntax error on a megabyte-long line quotes at most ~80 of its characters."""
    path = tmp_path / "long.param"
    path.write_text("{\n 'a': [" + "1, " * 300_000 + "x],\n}\n")
    with pytest.raises(InputFileError, match="invalid parameter file syntax") as info:
        read_param_file(path)
    assert len(str(info.value)) < len(str(path)) + 250


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    """isf_param: a list at top level is rejected."""
    path = tmp_path / "list.param"
    path.write_text("[1, 2]")
    with pytest.raises(InputFileError, match="mapping"):
        read_param_file(path)


def test_missing_param_file(tmp_path: Path) -> None:
    """isf_param: a missing file names it."""
    with pytest.raises(InputFileError, match="not found"):
        read_param_file(tmp_path / "none.param")


# --------------------------------------------------------------------------- CellSpec

HOC = """\
{create soma}
{pt3dadd(0, 0, 0, 10)}
{pt3dadd(0, 10, 0, 10)}
{pt3dadd(0, 20, 0, 10)}
{create dend_1}
{connect dend_1(0), soma(0.2)}
{pt3dadd(0, 0, 0, 2)}
{pt3dadd(10, 0, 0, 2)}
{create apical_1}
{connect apical_1(0), soma(1)}
{pt3dadd(0, 20, 0, 3)}
{pt3dadd(0, 120, 0, 2)}
"""


def base_params(filename: str) -> dict[str, Any]:
    return {
        "info": {"name": "t"},
        "neuron": {
            "filename": filename,
            "cell_modify_functions": {"scale_apical_morph_86": {}},
            "Soma": {
                "properties": {"Ra": 100.0, "cm": 1.0, "ions": {"ek": -85.0, "ena": 50}},
                "mechanisms": {"global": {}, "range": {"pas": {"spatial": "uniform", "g": 3e-5, "e": -90}}},
            },
            "ApicalDendrite": {
                "properties": {"Ra": 80, "cm": 2.0},
                "mechanisms": {
                    "range": {
                        "Ih": {
                            "spatial": "exponential",
                            "distance": "relative",
                            "gIhbar": 2e-4,
                            "offset": -0.8696,
                            "linScale": 2.087,
                            "_lambda": 3.6161,
                            "xOffset": 0.0,
                        },
                        "Ca_HVA": {
                            "spatial": "uniform_range",
                            "gCa_HVAbar": 1e-3,
                            "begin": 9,
                            "end": 11,
                            "outsidescale": 0.1,
                        },
                    }
                },
            },
        },
        "sim": {"Vinit": -70.0, "tStop": 10, "dt": 0.05, "T": 30},
    }


@pytest.fixture
def morph(tmp_path: Path) -> Path:
    path = tmp_path / "cell.hoc"
    path.write_text(HOC)
    return path


def test_param_to_cellspec(tmp_path: Path, morph: Path) -> None:
    """isf_param: morphology, biophysics per label in file order, scaling, sim settings."""
    spec = param_to_cellspec(base_params(str(morph)), tmp_path / "cell.param")
    assert isinstance(spec, CellSpec)
    assert spec.name == "cell"
    assert [s.name for s in spec.sections] == ["soma", "dend_1", "apical_1"]
    assert [b.label for b in spec.biophysics] == ["Soma", "ApicalDendrite"]
    soma, apical = spec.biophysics
    assert (soma.Ra, soma.cm, soma.ions) == (100.0, 1.0, {"ek": -85.0, "ena": 50.0})
    assert soma.mechanisms[0].name == "pas" and soma.mechanisms[0].params == {"g": 3e-5, "e": -90.0}
    assert soma.mechanisms[0].spatial == "uniform" and soma.mechanisms[0].distribution == {}
    ih, ca = apical.mechanisms
    assert ih.params == {"gIhbar": 2e-4}
    assert ih.distribution == {
        "distance": "relative",
        "offset": -0.8696,
        "linScale": 2.087,
        "_lambda": 3.6161,
        "xOffset": 0.0,
    }
    assert ca.spatial == "uniform_range" and ca.params == {"gCa_HVAbar": 1e-3}
    assert ca.distribution == {"begin": 9, "end": 11, "outsidescale": 0.1}
    assert (apical.Ra, apical.cm, apical.ions) == (80.0, 2.0, {})
    assert spec.diameter_scalings == (
        DiameterScaling(factor=2.5, labels=("ApicalDendrite",), max_distance_um=1000, max_sections=33),
    )
    assert spec.sim == SimSettings(v_init=-70.0, dt=0.05, celsius=30.0)
    assert spec.discretization == Discretization()
    assert spec.mechanism_dirs == ()


def test_relative_morphology_path(tmp_path: Path, morph: Path) -> None:
    """isf_param: a relative neuron.filename is found next to the parameter file without warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = param_to_cellspec(base_params("cell.hoc"), tmp_path / "cell.param")
    assert len(spec.sections) == 3


@pytest.mark.parametrize("filename", ["/no/such/dir/cell.hoc", "mdb://abc/cell.hoc"])
def test_morphology_fallback_next_to_param(tmp_path: Path, morph: Path, filename: str) -> None:
    """isf_param: a missing neuron.filename falls back to the same basename next to the param file."""
    with pytest.warns(UserWarning, match="next to the parameter file"):
        spec = param_to_cellspec(base_params(filename), tmp_path / "cell.param")
    assert len(spec.sections) == 3


def test_morphology_fallback_warning_is_short(tmp_path: Path, morph: Path) -> None:
    """isf_param: an author's long cluster path is shown with its middle elided."""
    far = (
        "/gpfs/soma_fs/scratch/someone/project_src/in_silico_framework/getting_started/anatomical_constraints/cell.hoc"
    )
    with pytest.warns(UserWarning) as caught:
        param_to_cellspec(base_params(far), tmp_path / "cell.param")
    (message,) = [str(w.message) for w in caught]
    assert len(message) < 200 and "..." in message and message.endswith("using cell.hoc next to the parameter file")


def test_morphology_not_found(tmp_path: Path) -> None:
    """isf_param: neither the path nor the basename next to the param file exists."""
    with pytest.raises(InputFileError, match="not found") as info:
        param_to_cellspec(base_params("/no/such/dir/other.hoc"), tmp_path / "cell.param")
    assert "cell.param" in str(info.value)


def test_synthetic_axon_added_with_ais(tmp_path: Path, morph: Path) -> None:
    """isf_param: an AIS key appends hillock, AIS and myelin after the hoc sections."""
    params = base_params(str(morph))
    params["neuron"]["AIS"] = {"properties": {"Ra": 100, "cm": 1}, "mechanisms": {"range": {}}}
    params["neuron"]["Myelin"] = {"properties": {"Ra": 100, "cm": 0.02}}
    spec = param_to_cellspec(params, tmp_path / "cell.param")
    assert [s.label for s in spec.sections[3:]] == ["AIS", "AIS", "Myelin"]
    assert [s.parent for s in spec.sections[3:]] == [0, 3, 4]
    assert [b.label for b in spec.biophysics] == ["Soma", "ApicalDendrite", "AIS", "Myelin"]


def test_discretization_block(tmp_path: Path, morph: Path) -> None:
    """isf_param: neuron.discretization sets f and max_seg_length."""
    params = base_params(str(morph))
    params["neuron"]["discretization"] = {"f": 200, "max_seg_length": 20}
    spec = param_to_cellspec(params, tmp_path / "cell.param")
    assert spec.discretization == Discretization(rule="isf_dlambda", f=200.0, max_seg_length=20.0)


def mutate(params: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = params
    for k in keys[:-1]:
        node = node[k]
    if value is DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value


DELETE = object()
IH = "neuron.ApicalDendrite.mechanisms.range.Ih"
CA = "neuron.ApicalDendrite.mechanisms.range.Ca_HVA"


@pytest.mark.parametrize(
    ("dotted", "value", "error", "message"),
    [
        ("neuron.Myelin", {"properties": {"Ra": 1}}, InputFileError, "no section with that label"),
        ("neuron.Dendrite", DELETE, None, None),
        (f"{IH}.spatial", "gaussian", InputFileError, "unknown spatial distribution 'gaussian'"),
        (f"{IH}.spatial", DELETE, InputFileError, "missing 'spatial'"),
        (f"{IH}._lambda", DELETE, InputFileError, "'_lambda'"),
        (f"{IH}.gIhbar", "high", InputFileError, "gIhbar: expected a number"),
        ("neuron.Soma.properties.Ra", -1, InputFileError, "must be > 0"),
        ("neuron.Soma.properties.nseg", 3, InputFileError, "unsupported section property"),
        ("neuron.Soma.properties.spines", {"density": 1, "area": 1}, PspSweepError, "spine"),
        ("neuron.Soma.extra", {}, InputFileError, "unknown key"),
        ("neuron.cell_modify_functions", {"scale_apical_morph_86": {}, "other_fn": {}}, PspSweepError, "'other_fn'"),
        ("neuron.cell_modify_functions", {"scale_apical_morph_86": {"x": 1}}, InputFileError, "no arguments"),
        ("neuron.discretization", {"f": 100, "nseg": 3}, InputFileError, "unknown key"),
        ("neuron.spatialgraph_modify_functions", {"f": {}}, PspSweepError, "spatialgraph"),
        ("neuron.filename", DELETE, InputFileError, "neuron.filename"),
        ("sim.dt", DELETE, InputFileError, "sim.dt: missing"),
        ("sim", DELETE, InputFileError, "missing 'sim'"),
        ("neuron", DELETE, InputFileError, "neuron"),
        # control keys of a spatial rule are checked too (issue 14, item 12): NaN reached
        # CVODE ("variable step integrator error"), a string a bare ValueError
        (f"{CA}.outsidescale", float("nan"), InputFileError, f"{CA}.outsidescale: expected a finite number, got nan"),
        (f"{CA}.begin", "far", InputFileError, f"{CA}.begin: expected a number, got 'far'"),
        (f"{CA}.end", True, InputFileError, f"{CA}.end: expected a number, got True"),
        (f"{CA}.outsidescale_sections", [3, "x"], InputFileError, f"{CA}.outsidescale_sections: expected a list"),
        (f"{CA}.outsidescale_sections", [-1], InputFileError, f"{CA}.outsidescale_sections: expected a list"),
        (f"{IH}.xOffset", float("-inf"), InputFileError, f"{IH}.xOffset: expected a finite number"),
        (f"{IH}._lambda", None, InputFileError, f"{IH}._lambda: expected a number, got None"),
        (f"{IH}.distance", 1, InputFileError, f"{IH}.distance: expected a string"),
        pytest.param(
            f"{IH}.gIhbar", 10**400, InputFileError, f"{IH}.gIhbar: expected a finite number", id="integer-beyond-float"
        ),
        pytest.param(f"{IH}.gIhbar", "x" * 10_000, InputFileError, "... (10002 characters)", id="long-string"),
    ],
)
def test_param_errors(
    tmp_path: Path, morph: Path, dotted: str, value: Any, error: type | None, message: str | None
) -> None:
    """isf_param: semantic problems raise a clear error naming the file and the key."""
    params = base_params(str(morph))
    if dotted == "neuron.Dendrite":
        # a hoc label without parameters keeps NEURON defaults: not an error
        assert "Dendrite" not in params["neuron"]
        param_to_cellspec(params, tmp_path / "cell.param")
        return
    mutate(params, dotted, value)
    with pytest.raises(error) as info:
        param_to_cellspec(params, tmp_path / "cell.param")
    assert message in str(info.value)
    assert "cell.param" in str(info.value)


def test_swc_uses_swc_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """isf_param: .swc morphologies go to pspsweep.simulation.swc.read_swc (imported lazily)."""
    (tmp_path / "cell.swc").write_text("1 1 0 0 0 5 -1\n")
    soma = SectionSpec("soma", "Soma", None, 0.0, np.array([[0, 0, 0, 10.0], [0, 10, 0, 10.0]]))
    apical = SectionSpec("apical", "ApicalDendrite", 0, 0.5, np.array([[0, 0, 0, 1.0], [0, 0, 10, 1.0]]))
    fake = types.ModuleType("pspsweep.simulation.swc")
    fake.read_swc = lambda path: [soma, apical]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pspsweep.simulation.swc", fake)
    spec = param_to_cellspec(base_params(str(tmp_path / "cell.swc")), tmp_path / "cell.param")
    assert spec.sections == (soma, apical)


def test_swc_without_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """isf_param: without an SWC reader the error says what is needed."""
    (tmp_path / "cell.swc").write_text("1 1 0 0 0 5 -1\n")
    monkeypatch.setitem(sys.modules, "pspsweep.simulation.swc", None)
    with pytest.raises(PspSweepError, match="SWC needs"):
        param_to_cellspec(base_params(str(tmp_path / "cell.swc")), tmp_path / "cell.param")


def test_unknown_morphology_format(tmp_path: Path) -> None:
    """isf_param: only .hoc and .swc are morphologies."""
    (tmp_path / "cell.asc").write_text("")
    with pytest.raises(InputFileError, match="unsupported morphology format"):
        param_to_cellspec(base_params(str(tmp_path / "cell.asc")), tmp_path / "cell.param")


def test_malformed_hoc_error_propagates(tmp_path: Path) -> None:
    """isf_param: a malformed morphology reports the hoc file and line."""
    path = tmp_path / "cell.hoc"
    path.write_text("{create soma}\n{pt3dadd(0, 0, zz, 1)}\n")
    with pytest.raises(InputFileError, match=r"cell\.hoc:2:"):
        param_to_cellspec(base_params(str(path)), tmp_path / "cell.param")


# --------------------------------------------------------------------------- real data

UNIFORM_86 = {
    "Soma": {
        "pas": {"g": 3.26e-5, "e": -90},
        "Ca_LVAst": {"gCa_LVAstbar": 4.62e-3},
        "Ca_HVA": {"gCa_HVAbar": 6.42e-4},
        "SKv3_1": {"gSKv3_1bar": 0.983},
        "SK_E2": {"gSK_E2bar": 0.0492},
        "K_Tst": {"gK_Tstbar": 0.0471},
        "K_Pst": {"gK_Pstbar": 0.0},
        "Nap_Et2": {"gNap_Et2bar": 0.00499},
        "NaTa_t": {"gNaTa_tbar": 2.43},
        "CaDynamics_E2": {"decay": 770.0, "gamma": 6.16e-4},
        "Ih": {"gIhbar": 8e-5},
    },
    "Dendrite": {"pas": {"g": 6.31e-5, "e": -90}, "Ih": {"gIhbar": 2e-4}},
    "ApicalDendrite": {
        "pas": {"g": 8.82e-5, "e": -90},
        "SK_E2": {"gSK_E2bar": 0.0034},
        "Ca_LVAst": {"gCa_LVAstbar": 0.104},
        "Ca_HVA": {"gCa_HVAbar": 4.52e-3},
        "CaDynamics_E2": {"decay": 133.0, "gamma": 5e-4},
        "SKv3_1": {"gSKv3_1bar": 0.0112},
        "NaTa_t": {"gNaTa_tbar": 0.0252},
        "Im": {"gImbar": 1.79e-4},
        "Ih": {"gIhbar": 2e-4},
    },
    "AIS": {
        "pas": {"g": 2.56e-5, "e": -90},
        "Ca_LVAst": {"gCa_LVAstbar": 8.58e-3},
        "Ca_HVA": {"gCa_HVAbar": 6.92e-4},
        "SKv3_1": {"gSKv3_1bar": 0.958},
        "SK_E2": {"gSK_E2bar": 5.77e-5},
        "K_Tst": {"gK_Tstbar": 0.0841},
        "K_Pst": {"gK_Pstbar": 0.773},
        "Nap_Et2": {"gNap_Et2bar": 0.00146},
        "NaTa_t": {"gNaTa_tbar": 0.088},
        "CaDynamics_E2": {"decay": 507.0, "gamma": 0.0175},
        "Ih": {"gIhbar": 8e-5},
    },
    "Myelin": {"pas": {"g": 4e-5, "e": -90}},
}


@pytest.fixture(scope="module")
def spec_86(isf86: Path) -> CellSpec:
    with pytest.warns(UserWarning, match="next to the parameter file"):
        return read_cellspec(isf86 / "86_C2_center.param")


@pytest.mark.realdata
def test_86_param_file_keys(isf86: Path) -> None:
    """isf_param: the raw file parses with ISF's rewrites, keys in file order (2.2)."""
    params = read_param_file(isf86 / "86_C2_center.param")
    assert list(params) == ["info", "NMODL_mechanisms", "mech_globals", "neuron", "sim"]
    assert list(params["neuron"]) == [
        "filename",
        "cell_modify_functions",
        "Soma",
        "Dendrite",
        "ApicalDendrite",
        "AIS",
        "Myelin",
    ]
    assert params["info"]["name"] == "hay_2011_dend_test"
    assert params["sim"]["tStop"] == 250.0


@pytest.mark.realdata
def test_86_cellspec_values(spec_86: CellSpec) -> None:
    """isf_param: per-label values of 86_C2_center.param (isf-reference 2.3)."""
    assert spec_86.name == "86_C2_center"
    assert len(spec_86.sections) == 170
    assert [s.label for s in spec_86.sections[167:]] == ["AIS", "AIS", "Myelin"]
    bio = {b.label: b for b in spec_86.biophysics}
    assert list(bio) == ["Soma", "Dendrite", "ApicalDendrite", "AIS", "Myelin"]
    assert {k: (b.Ra, b.cm) for k, b in bio.items()} == {
        "Soma": (100, 1.0),
        "Dendrite": (100, 2.0),
        "ApicalDendrite": (100, 2.0),
        "AIS": (100, 1.0),
        "Myelin": (100, 0.02),
    }
    ions = {"ek": -85.0, "ena": 50.0}
    assert {k: b.ions for k, b in bio.items()} == {
        "Soma": ions,
        "Dendrite": {},
        "ApicalDendrite": ions,
        "AIS": ions,
        "Myelin": {},
    }
    for label, mechs in UNIFORM_86.items():
        got = {m.name: m.params for m in bio[label].mechanisms}
        assert got == mechs, label
    spatial = {(b.label, m.name): m.spatial for b in spec_86.biophysics for m in b.mechanisms if m.spatial != "uniform"}
    assert spatial == {
        ("ApicalDendrite", "Ca_LVAst"): "uniform_range",
        ("ApicalDendrite", "Ca_HVA"): "uniform_range",
        ("ApicalDendrite", "Ih"): "exponential",
    }
    apical = {m.name: m for m in bio["ApicalDendrite"].mechanisms}
    assert apical["Ih"].distribution == {
        "distance": "relative",
        "offset": -0.8696,
        "linScale": 2.0870,
        "_lambda": 3.6161,
        "xOffset": 0.0,
    }
    assert apical["Ca_LVAst"].distribution == {"begin": 900.0, "end": 1100.0, "outsidescale": 0.01}
    assert apical["Ca_HVA"].distribution == {"begin": 900.0, "end": 1100.0, "outsidescale": 0.1}
    assert spec_86.sim == SimSettings(v_init=-75.0, dt=0.025, celsius=34.0)
    assert spec_86.discretization == Discretization(rule="isf_dlambda", f=100.0, max_seg_length=None)
    assert spec_86.diameter_scalings == (
        DiameterScaling(factor=2.5, labels=("ApicalDendrite",), max_distance_um=1000.0, max_sections=33),
    )
    assert spec_86.mechanism_dirs == ()


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"outsidescale": 0.100000', '"outsidescale": NaN', "outsidescale: expected a finite number, got nan"),
        ('"begin": 900.0', '"begin": "far"', "begin: expected a number, got 'far'"),
    ],
)
def test_86_copy_with_a_bad_control_value(isf86: Path, tmp_path: Path, old: str, new: str, message: str) -> None:
    """isf_param: the 86 cell's file with one uniform_range value spoilt, as the issue reproduced it
    (NaN ran into CVODE, "far" gave a bare ValueError), is refused naming the file and the key path."""
    text = (isf86 / "86_C2_center.param").read_text()
    assert old in text
    param = tmp_path / "86_C2_center.param"
    param.write_text(text.replace(old, new, 1))
    (tmp_path / "86_C2_center.hoc").write_bytes((isf86 / "86_C2_center.hoc").read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # neuron.filename is found next to the copy
        with pytest.raises(InputFileError) as info:
            read_cellspec(param)
    assert str(info.value).startswith(f"{param}: neuron.ApicalDendrite.mechanisms.range.")
    assert message in str(info.value)
