"""One run over several cell types: names, patterns and keywords; results equal one run per type."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, pspsweep_env
from omegaconf import OmegaConf

from pspsweep.builders import cell_spec_from_config, embedding_from_config
from pspsweep.errors import PspSweepError
from pspsweep.features import AnalysisOptions
from pspsweep.statistics import statistics_metrics
from pspsweep.units import resolve_celltypes


@pytest.fixture
def demo_embedding(compose):
    cfg = OmegaConf.to_object(compose())
    return embedding_from_config(cfg.network, cell_spec_from_config(cfg.neuron))


def test_resolve_names_patterns_and_keywords(demo_embedding):
    assert resolve_celltypes(demo_embedding, "L5tt_C2") == ["L5tt_C2"]
    assert resolve_celltypes(demo_embedding, ["L5*", "L4ss_C2"]) == ["L5tt_C2", "L4ss_C2"]
    assert set(resolve_celltypes(demo_embedding, "excitatory")) == {"L4ss_C2", "L5tt_C2"}
    assert resolve_celltypes(demo_embedding, "inhibitory") == ["INH_C2"]
    assert resolve_celltypes(demo_embedding, ["*", "INH_C2"]) == demo_embedding.celltypes  # no duplicates
    with pytest.raises(PspSweepError, match="'L9\\*'.*valid cell types: .*L4ss_C2"):
        resolve_celltypes(demo_embedding, ["L5tt_C2", "L9*"])


def test_bad_celltype_values_are_clear(compose):
    from pspsweep.validation import validate

    for bad in ([], [""], [1]):
        cfg = OmegaConf.to_object(compose())
        cfg.run.celltype = bad
        with pytest.raises(PspSweepError, match="run.celltype"):
            validate(cfg)


def test_statistics_metrics_per_celltype_and_group():
    table = pd.DataFrame(
        {
            "celltype": ["A_C2", "A_C2", "B_C2"],
            "amplitude_mV": [0.2, 0.4, 1.0],
            "t_peak_ms": [5.0, 6.0, 7.0],
            "gAMPA": 1.0,
            "gNMDA": 1.0,
            "gGABA": float("nan"),
        }
    )
    from pspsweep.statistics import summary_statistics

    options = AnalysisOptions()
    stats = summary_statistics(table, options)
    groups = summary_statistics(table.assign(group=["A", "A", "B"]), options, by=("group", "gAMPA", "gNMDA", "gGABA"))
    m = statistics_metrics(table, stats, groups, options)
    assert m["n_units"] == 3 and m["amp_max"] == pytest.approx(1.0)
    assert m["amp_mean.A_C2"] == pytest.approx(0.3) and m["amp_max.B_C2"] == pytest.approx(1.0)
    assert m["amp_median.group.A"] == pytest.approx(0.3) and m["n_responding.group.B"] == 1
    single = statistics_metrics(table.iloc[:2], stats.iloc[:1], groups.iloc[:1], options)
    assert not any("." in k for k in single), "one cell type: the flat metrics only"


def test_epsps_and_ipsps_are_summarised_apart():
    """Against numpy over each kind's rows: the per-kind metrics never pool EPSPs and
    IPSPs, and the console line states both means (issue: one mean of both)."""
    from pspsweep.cli import amplitude_summary

    table = pd.DataFrame(
        {
            "celltype": ["E_C2", "E_C2", "I_C2", "I_C2", "I_C2"],
            "amplitude_mV": [0.5, 1.5, -0.3, -0.5, 0.05],
            "t_peak_ms": [5.0, 6.0, 7.0, 8.0, 9.0],
        }
    )
    options = AnalysisOptions()
    m = statistics_metrics(table, table.iloc[:0], table.iloc[:0], options, {"E_C2": True, "I_C2": False})
    assert m["amp_mean.excitatory"] == pytest.approx(1.0) and m["n_units.excitatory"] == 2
    assert m["amp_mean.inhibitory"] == pytest.approx(-0.4) and m["n_responding.inhibitory"] == 2
    line = amplitude_summary(m)
    assert line == (
        "2 excitatory units, 2 responding, mean EPSP 1 mV; 3 inhibitory units, 2 responding, mean IPSP -0.4 mV"
    )
    isf_table = table.rename(columns={"t_peak_ms": "t_peak_abs_ms"})  # the isf convention's time column
    isf = statistics_metrics(
        isf_table, isf_table.iloc[:0], isf_table.iloc[:0], AnalysisOptions("isf"), {"E_C2": True, "I_C2": False}
    )
    assert "no mean IPSP" in amplitude_summary(isf)  # ISF counts only a >= threshold
    assert amplitude_summary({"n_units": 3, "n_responding": 2, "amp_mean": 0.25}).endswith("mean amplitude 0.25 mV")


def run(tmp_path: Path, name: str, *overrides: str) -> Path:
    exe = Path(sys.executable).parent / "pspsweep"
    out = tmp_path / name
    res = subprocess.run(
        [
            str(exe),
            *overrides,
            "tracking.enabled=false",
            "executor.progress=false",
            f"executor.work_dir={tmp_path / 'work'}",
            f"hydra.run.dir={out}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=pspsweep_env(),
        timeout=1200,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("vardt", ["false", "true"])
def test_several_celltypes_equal_one_run_per_type(tmp_path, vardt):
    """Excitatory and inhibitory types in one run (two works, shared workers) give the rows
    of three single-type runs, bit for bit; statistics come per cell type and per group."""
    common = [f"run.vardt={vardt}", "run.tEnd=140"]
    multi = run(tmp_path, "multi", *common, "run.celltype=[INH_C2,'L*']", "executor.workers=2")
    table = pd.read_csv(multi / "psps.csv")
    order = ["INH_C2", "L4ss_C2", "L5tt_C2"]  # as requested, a pattern's matches in embedding order
    assert list(dict.fromkeys(table.celltype)) == order
    singles = pd.concat(
        [pd.read_csv(run(tmp_path, c, *common, f"run.celltype={c}", "executor.workers=1") / "psps.csv") for c in order],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(table.drop(columns="simulation"), singles.drop(columns="simulation"))
    # every unit takes its result from a row of its own receptor and conductances
    src = table.loc[table.simulation]
    assert ((src.celltype == "INH_C2").to_numpy() == (table.celltype == "INH_C2").to_numpy()).all()
    stats = pd.read_csv(multi / "statistics.csv")
    assert sorted(stats.celltype) == ["INH_C2", "L4ss_C2", "L5tt_C2"]
    groups = pd.read_csv(multi / "group_statistics.csv")
    assert set(groups.group) == {"L4", "L5tt", "INH_C2"}
