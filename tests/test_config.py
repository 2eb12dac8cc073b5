"""config: typed schemas, composition and validation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import pspsweep_env
from helpers.isf86 import copy_isf86
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from pspsweep.config import Mode, PspSweepConfig
from pspsweep.errors import PspSweepError
from pspsweep.pipeline import prepare
from pspsweep.validation import check_metric_name, validate


def test_default_config_composes_to_typed_schema(compose):
    cfg = compose()
    typed = OmegaConf.to_object(cfg)
    assert isinstance(typed, PspSweepConfig)
    assert typed.run.mode is Mode.cells
    assert typed.run.tStim == 110.0 and typed.run.tEnd == 150.0
    assert set(typed.network.celltypes) == {"L4ss_C2", "L5tt_C2", "INH_C2"}
    assert typed.neuron.biophysics["Soma"].mechanisms["hh"]["gnabar"] == 0.05
    validate(typed)


def test_override_is_typed(compose):
    cfg = compose("run.g=1", "run.mode=synapses", "run.units=[0,2]")
    assert isinstance(cfg.run.g, float) and cfg.run.g == 1.0
    assert cfg.run.mode == Mode.synapses
    assert list(cfg.run.units) == [0, 2]


@pytest.mark.parametrize(
    "override", ["run.tStim=abc", "run.mode=neither", "run.strategy=magic", "run.vardt=maybe", "executor.workers=two"]
)
def test_wrongly_typed_override_fails_at_composition(compose, override):
    with pytest.raises(Exception) as info:
        compose(override)
    cause = info.value.__cause__ or info.value
    assert isinstance(cause, ValidationError) or "override" in str(info.value).lower()


def test_unknown_key_fails(compose):
    with pytest.raises(Exception, match="run.nope"):
        compose("run.nope=1")


@pytest.mark.parametrize(
    ("overrides", "culprit"),
    [
        (["run.tStim=150", "run.tEnd=150"], "run.tEnd"),
        (["run.tStim=-1"], "run.tStim"),
        (["run.g=-0.5"], "run.g"),
        (["run.gGABA=-1"], "run.gGABA"),
        (["neuron.sim.dt=0"], "neuron.sim.dt"),
        (["executor.workers=-1"], "executor.workers"),
        (["executor.chunk_size=0"], "executor.chunk_size"),
        (["run.record_dt=0"], "run.record_dt"),
        (["analysis.resample_dt=0"], "analysis.resample_dt"),
    ],
)
def test_impossible_values_name_the_key(compose, overrides, culprit):
    typed = OmegaConf.to_object(compose(*overrides))
    with pytest.raises(PspSweepError, match=culprit.replace(".", r"\.")):
        validate(typed)


# --------------------------------------------------------------------------- issue 14: values checked before any run


@pytest.mark.parametrize(
    ("overrides", "culprit"),
    [
        (["run.tEnd=inf"], "run.tEnd=inf"),
        (["neuron.sim.dt=inf"], "neuron.sim.dt=inf"),
        (["neuron.sim.celsius=nan"], "neuron.sim.celsius=nan"),
        (["neuron.sim.v_init=nan"], "neuron.sim.v_init=nan"),
        (["run.g=nan"], "run.g=nan"),
        (["run.g=inf"], "run.g=inf"),
        (["run.g=1e30"], "run.g=1e+30"),
        (["run.gAMPA=2e4"], "run.gAMPA"),
        (["run.AMPA_component=inf"], "run.AMPA_component=inf"),
        (["run.record_dt=inf"], "run.record_dt=inf"),
        (["neuron.biophysics.Soma.mechanisms.pas.g=nan"], "neuron.biophysics.Soma.mechanisms.pas.g=nan"),
        (["network.celltypes.L4ss_C2.parameters.tau1=inf"], "network.celltypes.L4ss_C2.parameters.tau1=inf"),
        (["neuron.morphology.demo.tuft_length=0"], "neuron.morphology.demo.tuft_length"),
        (["neuron.morphology.demo.soma_diam=-1"], "neuron.morphology.demo.soma_diam"),
        (["network.seed=-1"], "network.seed"),
        (["fit.seed=-1"], "fit.seed"),
        (["neuron.discretization.nseg=0"], "neuron.discretization.nseg"),
        (["tracking.experiment=''"], "tracking.experiment"),
        (["tracking.experiment='  '"], "tracking.experiment"),
        (["executor.kind=dask", "executor.address=notaurl"], "executor.address='notaurl'"),
        (["executor.address=tcp://host"], "executor.address"),
        (["run.units=[]"], r"run.units=[] selects no unit"),
        (["fit.groups={VPM_../../evil: [VPM*]}"], "fit.groups key 'VPM_../../evil'"),
        (["run.max_steps=0"], "run.max_steps"),
    ],
)
def test_values_that_would_fail_inside_the_run_name_the_key(compose, overrides, culprit):
    """Issue 14 items 11, 12, 16, 19: each of these failed with 'internal error' (or a
    hang, or 'chunk folder has no baseline') after the run was created; validate names
    the key instead."""
    typed = OmegaConf.to_object(compose(*overrides))
    with pytest.raises(PspSweepError, match=re.escape(culprit)):
        validate(typed)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "tls://scheduler.example:8786", "host:8786"])
def test_dask_addresses_are_accepted(compose, address):
    validate(OmegaConf.to_object(compose("executor.kind=dask", f"executor.address={address}")))


@pytest.mark.parametrize("name", ["VPM_C2?x", "VPM_a,b", "VPM_../../evil", "VPM//C2", "VPM/", ""])
def test_names_mlflow_refuses_are_refused(name):
    """Issue 14 item 14: MLflow's rules for metric names (mlflow.utils.validation:
    alphanumerics, _ - . space : /, and no name that normalises to another path)."""
    with pytest.raises(PspSweepError, match="MLflow metric name"):
        check_metric_name(name, "cell type")


@pytest.mark.parametrize("name", ["L5tt_C2", "VPM_C2", "L6ccinv_C2", "group one", "a:b", "a/b", "x.y-z"])
def test_names_mlflow_accepts_pass(name):
    check_metric_name(name, "cell type")


def test_network_celltype_key_mlflow_refuses(compose):
    """A demo cell type named 'VPM_a,b' becomes the param key network.celltypes.VPM_a,b.* and
    the metric amp_mean.VPM_a,b, both refused by MLflow after the simulation."""
    typed = OmegaConf.to_object(compose())
    typed.network.celltypes["VPM_a,b"] = typed.network.celltypes["L4ss_C2"]
    with pytest.raises(PspSweepError, match=re.escape("network.celltypes key 'VPM_a,b'")):
        validate(typed)


@pytest.mark.parametrize(
    "override",
    ["fit.groups={L2: [L2_*], L4: [L4py_*, L4sp_*, L4ss_*]}", "fit.groups.L4=[L4py_*, L4sp_*, L4ss_*]"],
)
def test_fit_groups_override_spellings_compose(compose, override):
    """Issue 14 item 13: the README's fit.groups={...} failed with AttributeError (OmegaConf
    merging into the None default) and fit.groups.L4=[...] with AssertionError."""
    typed = OmegaConf.to_object(compose(override))
    assert typed.fit.groups["L4"] == ["L4py_*", "L4sp_*", "L4ss_*"]
    validate(typed)


def test_fit_groups_default_is_isf_merging(compose):
    """The empty default means ISF's merging, as null does; null still composes."""
    assert OmegaConf.to_object(compose()).fit.groups == {}
    assert OmegaConf.to_object(compose("fit.groups=null")).fit.groups is None


@pytest.mark.slow
def test_fit_groups_in_a_multirun(tmp_path):
    """Issue 14 item 13, end to end: a multirun with the README's fit.groups spelling runs
    and its group statistics use those groups (before: 'internal error (AttributeError)')."""
    exe = Path(sys.executable).parent / "pspsweep"
    res = subprocess.run(
        [
            str(exe),
            "-m",
            "run.g=0.5,1",
            "run.celltype=[L4ss_C2,L5tt_C2]",
            "run.units=[0,1]",
            "fit.groups={L4: [L4*], L5: [L5*]}",
            f"tracking.uri=sqlite:///{tmp_path / 't.db'}",
            "executor.workers=1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=pspsweep_env(),
        check=False,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    tables = sorted(tmp_path.glob("multirun/*/*/*/group_statistics.csv"))
    assert len(tables) == 2
    for table in tables:
        assert list(pd.read_csv(table)["group"]) == ["L4", "L5"]


# --------------------------------------------------------------------------- prepare: checks that need the inputs


def prepared(compose, *overrides: str):
    return prepare(OmegaConf.to_object(compose(*overrides)))


@pytest.mark.parametrize(
    ("overrides", "culprit"),
    [
        (["run.tStim=0"], "run.tStim=0"),
        (["analysis.resample_dt=1000"], "analysis.resample_dt=1000"),
        (["analysis.convention=isf", "run.tStim=20", "run.tEnd=60"], "run.tStim=20"),
        (["neuron.sim.dt=100", "run.vardt=false"], "neuron.sim.dt=100"),
        (["neuron.sim.dt=0.5", "run.vardt=false"], "give neuron.sim.dt <= 0.4"),
        (["run.tEnd=1e7"], "run.max_steps=1e+09"),
        (["neuron.sim.dt=1e-9", "run.vardt=false"], "run.max_steps=1e+09"),
        (["run.strategy=reference", "run.tEnd=3e6"], "run.strategy=reference"),
        (["run.AMPA_component=1e6"], "run.g x run.AMPA_component"),
        (["+neuron.biophysics.Soma.mechanisms.nosuch.g=1"], "neuron.biophysics.Soma.mechanisms.nosuch"),
    ],
)
def test_prepare_refuses_before_any_run(launch_dir, compose, overrides, culprit):
    """Issue 14 items 11, 15, 20: tStim=0 and resample_dt=1000 failed in the analysis
    after the run was created, dt=100 finished with 0 responding and NaN statistics,
    tEnd=1e7 and dt=1e-9 ran for ever, an unknown mechanism failed in NEURON."""
    with pytest.raises(PspSweepError, match=re.escape(culprit)):
        prepared(compose, *overrides)


def test_work_limit_can_be_raised(launch_dir, compose):
    """The message's remedy works: run.max_steps above the figure lets the sweep through."""
    # (110 + 12 units x 40 ms) / 0.025 ms = 23,600 steps
    with pytest.raises(PspSweepError, match="2.36e") as info:
        prepared(compose, "run.max_steps=1e4")
    suggested = re.search(r"set (run\.max_steps=\S+) if you mean it", str(info.value)).group(1)
    assert len(prepared(compose, "run.max_steps=1e4", suggested).units) == 12


def test_builtin_and_mod_mechanisms_are_known(launch_dir, compose):
    """NEURON's built-in pas/hh/extracellular and the shipped l5pt .mod files pass."""
    prep = prepared(
        compose,
        "+neuron.biophysics.Dendrite.mechanisms.extracellular.e=0",
        "neuron.mechanism_dirs=[synapses,l5pt]",
        "+neuron.biophysics.Soma.mechanisms.Ih.gIhbar=1e-4",
    )
    names = {m.name for b in prep.cell.biophysics for m in b.mechanisms}
    assert {"pas", "hh", "extracellular", "Ih"} <= names


def isf_like_embedding(folder: Path, celltype: str) -> list[str]:
    """A two-synapse ISF embedding on the demo cell's sections 1 and 2, of one cell type."""
    (folder / "x.syn").write_text(f"{celltype}\t1\t0.5\n{celltype}\t2\t0.5\n")
    (folder / "x.con").write_text(f"{celltype}\t0\t0\n{celltype}\t0\t1\n")
    return ["network=isf", "network.syn_file=x.syn", "network.con_file=x.con", "network.snap_to_points=false"]


@pytest.mark.parametrize("celltype", ["VPM_C2?x", "VPM_a,b", "VPM_../../evil"])
def test_celltype_names_mlflow_refuses(launch_dir, compose, celltype):
    """Issue 14 item 14: such cell types of a .syn/.con ran the whole sweep and then failed
    at metric logging; prepare names the cell type before anything runs."""
    typed = OmegaConf.to_object(compose(*isf_like_embedding(launch_dir, celltype)))
    typed.run.celltype = celltype
    with pytest.raises(PspSweepError, match=re.escape(f"cell type {celltype!r}")):
        prepare(typed)


def test_empty_embedding_is_refused(launch_dir, compose):
    """Issue 14 item 16: an empty embedding said 'unknown cell type ...; valid cell types: '."""
    (launch_dir / "x.syn").write_text("# no synapse\n")
    (launch_dir / "x.con").write_text("# no synapse\n")
    with pytest.raises(PspSweepError, match="x.syn: no synapse lines .*the embedding would be empty"):
        prepared(compose, "network=isf", "network.syn_file=x.syn", "network.con_file=x.con")


def test_zero_diameter_is_refused_naming_the_section(isf86, launch_dir):
    """Issue 14 item 20: a point of diameter 0 failed inside NEURON after the run was created."""
    from pspsweep.builders import cell_spec_from_config
    from pspsweep.config import NeuronConfig

    param = copy_isf86(isf86, launch_dir)
    hoc = launch_dir / "86_C2_center.hoc"
    hoc.write_text(
        hoc.read_text().replace(
            "{pt3dadd(-122.432358,394.376068,-379.303009,5.603310)}",
            "{pt3dadd(-122.432358,394.376068,-379.303009,0)}",
            1,
        )
    )
    cfg = NeuronConfig(param_file=str(param), mechanism_dirs=["l5pt", "synapses"])
    with pytest.raises(PspSweepError, match=r"86_C2_center.param.*section \S+ has a point of diameter 0"):
        cell_spec_from_config(cfg)


def test_non_finite_param_value_is_refused_by_key(isf86, launch_dir):
    """Issue 14 item 12: a NaN mechanism parameter from a .param failed in CVODE; whichever
    layer reads it (the .param reader or the cell check), it is refused naming the key."""
    from pspsweep.builders import cell_spec_from_config
    from pspsweep.config import NeuronConfig

    param = copy_isf86(isf86, launch_dir)
    param.write_text(param.read_text().replace('"gNaTa_tbar": 2.43', '"gNaTa_tbar": NaN', 1))
    cfg = NeuronConfig(param_file=str(param), mechanism_dirs=["l5pt", "synapses"])
    with pytest.raises(PspSweepError, match="gNaTa_tbar"):
        cell_spec_from_config(cfg)


@pytest.mark.parametrize("slope", ["far", float("nan"), float("inf")])
def test_spatial_rule_controls_are_checked_in_the_native_config(slope):
    """A bad control value of a spatial rule gave "internal error (ValueError)" or an
    integrator error; the same rule as the .param reader's now names the key."""
    from pspsweep.builders import mechanism_spec

    entry = {"spatial": "linear", "distance": "relative", "slope": slope, "offset": 0.0, "g": 1e-4}
    with pytest.raises(PspSweepError, match=r"neuron\.biophysics\.Soma\.mechanisms\.pas\.slope="):
        mechanism_spec("Soma", "pas", entry)


def test_every_closed_choice_is_one_enum(compose):
    """The lists that code checks against are derived from the schema's enums, and a
    value outside an enum is refused when the config is composed."""
    from omegaconf.errors import ValidationError

    from pspsweep.celltypes import CLASSIFICATIONS
    from pspsweep.config import Classification, Convention, Engine, Mode
    from pspsweep.features import CONVENTIONS
    from pspsweep.simulation.coreneuron import ENGINES
    from pspsweep.units import MODES

    assert set(CLASSIFICATIONS) == {c.value for c in Classification}
    assert tuple(Convention) == CONVENTIONS and tuple(Engine) == ENGINES and tuple(Mode) == MODES
    for key in (
        "executor.kind",
        "network.kind",
        "network.classification",
        "neuron.morphology.kind",
        "neuron.discretization.rule",
    ):
        with pytest.raises(Exception) as info:
            compose(f"{key}=bogus")
        assert isinstance(info.value.__cause__, ValidationError), info.value
        assert "bogus" in str(info.value.__cause__)


@pytest.mark.parametrize(
    "task",
    [
        ["run.g=0.5,1,2", "run.celltype=A,B", "x=1"],
        ["+a.b=1,2", "~c", "fit.groups={L2: [L2_*], L4: [L4py_*, L4sp_*]}"],
        ["run.units=[0,1]", "run.g=1,2", "run.g=3"],
    ],
)
def test_job_overrides_expand_as_hydras_basic_sweeper(task):
    """check_sweep prepares every job before a multirun starts; its expansion of the
    sweep is checked against Hydra's own basic sweeper (which it no longer imports)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from pspsweep.hydra_callbacks import job_overrides

    expected = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(task), None)[0]
    assert job_overrides(task) == expected
