"""pspsweep.io.native: ISF .param -> native neuron config (YAML), and pspsweep-convert-param."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import pspsweep_env
from omegaconf import OmegaConf

from pspsweep.builders import cell_spec_from_config
from pspsweep.cellmodel import CellSpec
from pspsweep.config import NeuronConfig
from pspsweep.errors import InputFileError, PspSweepError
from pspsweep.io.isf_param import read_param_file
from pspsweep.io.native import (
    neuron_yaml_text,
    param_to_neuron_config,
    write_neuron_yaml,
)

HOC = """\
{create soma}
{pt3dadd(0, 0, -10, 10)}
{pt3dadd(0, 0, 10, 10)}
{create dend_1_0}
{connect dend_1_0(0), soma(0.3)}
{pt3dadd(5, 0, 0, 1)}
{pt3dadd(105, 0, 0, 1)}
{create apical_1_0}
{connect apical_1_0(0), soma(1)}
{pt3dadd(0, 5, 0, 2)}
{pt3dadd(0, 305, 0, 2)}
{create apical_1_0_0}
{connect apical_1_0_0(0), apical_1_0(1)}
{pt3dadd(0, 305, 0, 1)}
{pt3dadd(0, 505, 0, 1)}
"""

PARAM = """\
{
 'info': {'name': 'toy'},
 'NMODL_mechanisms': {'channels': '/'},
 'neuron': {
  'filename': '/somewhere/else/toy.hoc',
  'cell_modify_functions': {'scale_apical_morph_86': {}},
  'discretization': {'f': 200.0, 'max_seg_length': 30},
  'Soma': {'properties': {'Ra': 100.0, 'cm': 1.0, 'ions': {'ek': -85.0, 'ena': 50.0}},
           'mechanisms': {'global': {}, 'range': {
              'pas': {'spatial': 'uniform', 'g': 3.26e-5, 'e': -90},
              'hh': {'spatial': 'uniform', 'gnabar': 0.12, 'gkbar': 0.036, 'gl': 0.0}}}},
  'Dendrite': {'properties': {'Ra': 150.0, 'cm': 2.0},
               'mechanisms': {'range': {
                  'pas': {'spatial': 'linear', 'distance': 'absolute', 'slope': 0.002, 'offset': 1.0,
                          'g': 6.31e-5}}}},
  'ApicalDendrite': {'properties': {'Ra': 100.0, 'cm': 2.0},
                     'mechanisms': {'range': {
                        'pas': {'spatial': 'exponential', 'distance': 'relative', 'g': 8.82e-5,
                                'offset': -0.8696, 'linScale': 2.087, '_lambda': 3.6161, 'xOffset': 0.0},
                        'hh': {'spatial': 'uniform_range', 'gnabar': 0.1, 'begin': 100.0, 'end': 300,
                               'outsidescale': 0.1, 'outsidescale_sections': [3]}}}},
  'AIS': {'properties': {'Ra': 100.0, 'cm': 1.0},
          'mechanisms': {'range': {'pas': {'spatial': 'uniform', 'g': 2.56e-5, 'e': -90}}}},
  'Myelin': {'properties': {'Ra': 100.0, 'cm': 0.02},
             'mechanisms': {'range': {'pas': {'spatial': 'uniform', 'g': 4e-5, 'e': -90.0}}}},
 },
 'sim': {'Vinit': -75.0, 'tStart': 0.0, 'tStop': 250.0, 'dt': 0.025, 'T': 34.0},
}
"""


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    (tmp_path / "toy.hoc").write_text(HOC)
    path = tmp_path / "toy.param"
    path.write_text(PARAM)
    return path


def convert(param: Path) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the morphology is found next to the .param
        return param_to_neuron_config(read_param_file(param), param)


def load_neuron_config(path: Path) -> NeuronConfig:
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(NeuronConfig), OmegaConf.load(path)))


def spec_from_param(param: Path) -> CellSpec:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cell_spec_from_config(NeuronConfig(param_file=str(param), mechanism_dirs=["l5pt"]))


def assert_same_cell(a: CellSpec, b: CellSpec) -> None:
    """Field by field (SectionSpec holds arrays, so == on whole specs is not defined)."""
    assert a.name == b.name
    assert len(a.sections) == len(b.sections)
    for sa, sb in zip(a.sections, b.sections):
        assert (sa.name, sa.label, sa.parent, sa.parent_x, sa.nseg) == (
            sb.name,
            sb.label,
            sb.parent,
            sb.parent_x,
            sb.nseg,
        )
        np.testing.assert_array_equal(sa.points, sb.points)
    assert a.biophysics == b.biophysics
    assert a.discretization == b.discretization
    assert a.diameter_scalings == b.diameter_scalings
    assert a.sim == b.sim
    assert a.mechanism_dirs == b.mechanism_dirs


# --------------------------------------------------------------------------- unit


def test_convert_toy_param(toy: Path) -> None:
    """native: every part of the .param lands in the NeuronConfig fields."""
    with pytest.warns(UserWarning, match="next to the parameter file"):
        cfg = param_to_neuron_config(read_param_file(toy), toy)
    assert cfg["name"] == "toy"
    assert cfg["morphology"] == {"kind": "hoc", "path": str((toy.parent / "toy.hoc").resolve()), "synthetic_axon": True}
    assert list(cfg["biophysics"]) == ["Soma", "Dendrite", "ApicalDendrite", "AIS", "Myelin"]
    soma = cfg["biophysics"]["Soma"]
    assert soma["Ra"] == 100.0 and soma["cm"] == 1.0 and soma["ions"] == {"ek": -85.0, "ena": 50.0}
    assert soma["mechanisms"] == {
        "pas": {"spatial": "uniform", "g": 3.26e-5, "e": -90.0},
        "hh": {"spatial": "uniform", "gnabar": 0.12, "gkbar": 0.036, "gl": 0.0},
    }
    assert "ions" not in cfg["biophysics"]["Dendrite"]
    assert cfg["biophysics"]["Dendrite"]["mechanisms"]["pas"] == {
        "spatial": "linear",
        "g": 6.31e-5,
        "distance": "absolute",
        "slope": 0.002,
        "offset": 1.0,
    }
    apical = cfg["biophysics"]["ApicalDendrite"]["mechanisms"]
    assert apical["hh"] == {
        "spatial": "uniform_range",
        "gnabar": 0.1,
        "begin": 100.0,
        "end": 300,
        "outsidescale": 0.1,
        "outsidescale_sections": [3],
    }
    assert apical["pas"]["_lambda"] == 3.6161
    assert cfg["discretization"] == {"rule": "isf_dlambda", "f": 200.0, "max_seg_length": 30.0}
    assert cfg["diameter_scaling"] == [
        {"factor": 2.5, "labels": ["ApicalDendrite"], "max_distance_um": 1000.0, "max_sections": 33}
    ]
    assert cfg["sim"] == {"v_init": -75.0, "dt": 0.025, "celsius": 34.0}
    assert cfg["mechanism_dirs"] == ["l5pt"]


def test_yaml_round_trip_builds_the_same_cell(toy: Path, tmp_path: Path) -> None:
    """native: YAML -> NeuronConfig schema -> CellSpec equals the CellSpec of the .param."""
    out = write_neuron_yaml(convert(toy), tmp_path / "conf" / "neuron" / "toy.yaml", source=toy)
    text = out.read_text()
    assert text.startswith("# pspsweep neuron config converted from the ISF parameter file ")
    assert str(toy.resolve()) in text.splitlines()[0]
    assert yaml.safe_load(text) == convert(toy)
    assert_same_cell(cell_spec_from_config(load_neuron_config(out)), spec_from_param(toy))


def test_yaml_text_is_plain(toy: Path) -> None:
    text = neuron_yaml_text(convert(toy))
    assert "!!" not in text  # no Python-specific tags
    assert text.startswith("# pspsweep neuron config converted from an ISF parameter file\n")


def test_errors_are_those_of_the_param_reader(tmp_path: Path, toy: Path) -> None:
    """native: a bad .param fails with the isf_param error naming the file."""
    bad = tmp_path / "bad.param"
    bad.write_text(PARAM.replace("'filename': '/somewhere/else/toy.hoc'", "'filename': 'missing.hoc'"))
    with pytest.raises(InputFileError, match=r"bad.param: neuron.filename: morphology 'missing.hoc' not found"):
        convert(bad)
    bad.write_text(PARAM.replace("'spatial': 'linear'", "'spatial': 'curvy'"))
    with pytest.raises(InputFileError, match="unknown spatial distribution 'curvy'"):
        convert(bad)
    bad.write_text(PARAM.replace("'scale_apical_morph_86'", "'scale_something'"))
    with pytest.raises(PspSweepError, match="unsupported function 'scale_something'"):
        convert(bad)


def test_write_errors_are_pspsweep_errors(toy: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PspSweepError, match="cannot write the neuron config"):
        write_neuron_yaml(convert(toy), blocker / "x.yaml")


def test_hydra_config_group_option(toy: Path, tmp_path: Path, compose) -> None:
    """native: DIR/neuron/NAME.yaml + hydra.searchpath=[file://DIR] + neuron=NAME composes."""
    conf = tmp_path / "conf"
    write_neuron_yaml(convert(toy), conf / "neuron" / "mytoy.yaml", source=toy)
    cfg = compose(f"hydra.searchpath=[file://{conf}]", "neuron=mytoy")
    typed = OmegaConf.to_object(cfg)
    assert typed.neuron.name == "toy" and typed.neuron.param_file is None
    assert_same_cell(cell_spec_from_config(typed.neuron), spec_from_param(toy))


# --------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_param_yaml_builds_the_same_cell(isf86: Path, tmp_path: Path) -> None:
    """native, 86_C2_center: the converted YAML gives the CellSpec of the .param, field by field."""
    param = isf86 / "86_C2_center.param"
    cfg = convert(param)
    assert cfg["morphology"] == {
        "kind": "hoc",
        "path": str((isf86 / "86_C2_center.hoc").resolve()),
        "synthetic_axon": True,
    }
    assert list(cfg["biophysics"]) == ["Soma", "Dendrite", "ApicalDendrite", "AIS", "Myelin"]
    out = write_neuron_yaml(cfg, tmp_path / "86.yaml", source=param)
    from_yaml = cell_spec_from_config(load_neuron_config(out))
    from_param = spec_from_param(param)
    assert_same_cell(from_yaml, from_param)
    assert len(from_yaml.sections) == 170
    assert from_yaml.diameter_scalings[0].max_sections == 33


def run_command(cwd: Path, exe: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / exe), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env=pspsweep_env(),
    )


@pytest.mark.slow
@pytest.mark.realdata
def test_convert_command_end_to_end(isf86: Path, tmp_path: Path) -> None:
    """pspsweep-convert-param writes the YAML; pspsweep runs it as neuron=converted (same PSP as neuron=isf)."""
    conf = tmp_path / "conf"
    res = run_command(
        tmp_path, "pspsweep-convert-param", str(isf86 / "86_C2_center.param"), "conf/neuron/converted.yaml"
    )
    assert res.returncode == 0, res.stderr
    assert (conf / "neuron" / "converted.yaml").is_file()
    assert "warning: " in res.stderr and "next to the parameter file" in res.stderr
    stdout = run_command(tmp_path, "pspsweep-convert-param", str(isf86 / "86_C2_center.param"))
    assert stdout.returncode == 0 and stdout.stdout == (conf / "neuron" / "converted.yaml").read_text()

    common = [
        f"network.syn_file={isf86 / 'example_embedding_86_C2_center.syn'}",
        f"network.con_file={isf86 / 'example_embedding_86_C2_center.con'}",
        "network=isf",
        "run.celltype=VPM_C2",
        "run.units=[2]",
        "tracking.enabled=false",
        "executor.progress=false",
    ]
    amplitudes = {}
    for name, extra in (
        ("converted", [f"hydra.searchpath=[file://{conf}]", "neuron=converted"]),
        ("isf", ["neuron=isf", f"neuron.param_file={isf86 / '86_C2_center.param'}"]),
    ):
        res = run_command(tmp_path, "pspsweep", *extra, *common, f"hydra.run.dir={tmp_path / name}")
        assert res.returncode == 0, res.stderr
        amplitudes[name] = pd.read_csv(tmp_path / name / "psps.csv")["amplitude_mV"].tolist()
    assert len(amplitudes["converted"]) == 1
    assert amplitudes["converted"] == amplitudes["isf"]


@pytest.mark.slow
def test_convert_command_errors(tmp_path: Path) -> None:
    """pspsweep-convert-param: usage and missing files end in one line, exit 2."""
    res = run_command(tmp_path, "pspsweep-convert-param")
    assert res.returncode == 2 and res.stderr.strip() == (
        "pspsweep: error: usage: pspsweep-convert-param PARAM_FILE [OUTPUT.yaml]"
    )
    res = run_command(tmp_path, "pspsweep-convert-param", "nope.param")
    assert res.returncode == 2
    assert res.stderr.strip() == f"pspsweep: error: {tmp_path / 'nope.param'}: parameter file not found"
    res = run_command(tmp_path, "pspsweep-convert-param", "--help")
    assert res.returncode == 0 and res.stdout.startswith("usage: pspsweep-convert-param")


def test_swc_morphology_converts(tmp_path: Path) -> None:
    """native: a .param naming an SWC gives morphology.kind=swc and the same cell."""
    (tmp_path / "cell.swc").write_text(
        "1 1 0 0 -10 5 -1\n2 1 0 0 0 5 1\n3 1 0 0 10 5 2\n4 3 -5 0 0 1 2\n5 3 -105 0 0 1 4\n"
        "6 4 0 5 0 1.5 2\n7 4 0 205 0 1.5 6\n"
    )
    param = tmp_path / "swc.param"
    param.write_text("""{
 'neuron': {'filename': 'cell.swc',
  'Soma': {'properties': {'Ra': 100.0, 'cm': 1.0}, 'mechanisms': {'range': {'pas': {'spatial': 'uniform', 'g': 3e-5}}}},
  'ApicalDendrite': {'properties': {'Ra': 100.0, 'cm': 2.0},
                     'mechanisms': {'range': {'pas': {'spatial': 'uniform', 'g': 6e-5}}}}},
 'sim': {'Vinit': -70.0, 'dt': 0.025, 'T': 34.0},
}""")
    cfg = convert(param)
    assert cfg["morphology"] == {"kind": "swc", "path": str((tmp_path / "cell.swc").resolve()), "synthetic_axon": False}
    assert cfg["diameter_scaling"] == []
    out = write_neuron_yaml(cfg, tmp_path / "swc.yaml", source=param)
    spec = cell_spec_from_config(load_neuron_config(out))
    assert [s.name for s in spec.sections] == ["soma", "dend_0", "apical_0"]
    assert_same_cell(spec, spec_from_param(param))
