"""run_record: which config keys a run records, and the units of its metrics.

Checked against the composed config (what the command would run) and against the
metric names the pipeline and the fit log: every one of them has a unit and a meaning.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from pspsweep.run_record import (
    FIT_METRICS,
    SWEEP_METRICS,
    applicable_config,
    fit_description,
    metric_unit,
    sweep_description,
)
from pspsweep.tracking import flatten

DOCS = Path(__file__).resolve().parents[1] / "docs" / "outputs.md"


def params(compose, *overrides: str) -> dict[str, str]:
    config = OmegaConf.to_container(compose(*overrides), resolve=False)
    assert isinstance(config, dict)
    config.pop("hydra", None)
    return flatten(applicable_config(config))


def test_param_cell_keeps_only_what_the_param_file_does_not_give(compose):
    p = params(compose, "neuron=isf", "network=isf")
    assert not [k for k in p if k.startswith(("neuron.morphology", "neuron.biophysics", "neuron.discretization"))]
    assert not [k for k in p if k.startswith("neuron.sim.")], "None means from the file: the job logs the values"
    assert {"neuron.param_file", "neuron.mechanism_dirs", "network.syn_file", "network.con_file"} <= set(p)
    assert "network.seed" not in p and "executor.address" not in p


def test_demo_and_file_morphologies_drop_each_others_keys(compose):
    demo = params(compose)
    assert "neuron.morphology.demo.n_basal" in demo and "neuron.morphology.path" not in demo
    assert not {"network.syn_file", "network.con_file", "network.snap_to_points"} & set(demo)
    swc = params(compose, "neuron.morphology.kind=swc", "neuron.morphology.path=cell.swc")
    assert swc["neuron.morphology.path"] == "cell.swc" and not [k for k in swc if ".demo." in k]


def test_fit_keys_only_with_measured_epsps(compose):
    assert [k for k in params(compose) if k.startswith("fit.")] == ["fit.measured"]
    fitted = params(compose, "fit.measured=m.csv")
    assert fitted["fit.weights"] == "[2.0, 2.0, 1.0]" and fitted["fit.bootstrap"] == "1000"


def test_every_logged_metric_has_a_unit_and_is_documented():
    docs = DOCS.read_text()
    for name, unit in {**SWEEP_METRICS, **FIT_METRICS}.items():
        assert f"| `{name}` | {unit} |" in docs, f"docs/outputs.md lists {name} in {unit}"
    assert metric_unit("amp_mean.L4ss_C2") == "mV" and metric_unit("t_median.group.L4") == "ms"
    assert metric_unit("optimal_g.VPM") == "nS" and metric_unit("n_synapses") == "count"


def test_descriptions_are_markdown_tables_with_units():
    metrics = {"amp_mean": 1.23456, "n_units": 3.0, "n_responding": 2.0, "t_mean": float("nan")}
    text = sweep_description("L4 (cells), g=1 nS", metrics)
    assert text.startswith("**L4 (cells), g=1 nS**: amp_mean 1.235 mV, t_mean - ms; 2 of 3 units respond\n")
    assert "| `amp_mean` | 1.235 | mV |" in text and "| `t_mean` | - | ms |" in text
    assert all(line.count("|") == 4 for line in text.splitlines() if line.startswith("| "))
    fit = fit_description({"optimal_g.VPM": 1.5, "ci_low.VPM": 1.2, "ci_high.VPM": 1.9})
    assert "| VPM | 1.5 | 1.2 | 1.9 |" in fit
    assert "fit.measured not given" in fit_description({}, measured=False)
