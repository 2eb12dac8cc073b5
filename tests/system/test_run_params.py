"""What a run of the shared 86 cell records as params and description.

Checked against the ``.param`` file itself (read here with Python's literal parser, not
pspsweep's reader) and against the config schema: no key of an option not taken, no enum
spelled as its Python name, no "from the file" (None) where a value was simulated.
"""

from __future__ import annotations

import ast

import pytest
from helpers.command import run_command
from helpers.isf86 import copy_isf86

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def test_param_cell_run_logs_the_config_it_used_and_the_values_simulated(isf86, tmp_path):
    from mlflow.tracking import MlflowClient

    param = copy_isf86(isf86, tmp_path)
    res = run_command(
        tmp_path,
        "neuron=isf",
        "network=isf",
        f"neuron.param_file={param}",
        f"network.syn_file={isf86 / 'example_embedding_86_C2_center.syn'}",
        f"network.con_file={isf86 / 'example_embedding_86_C2_center.con'}",
        "run.celltype=VPM_C2",
        "run.units=[0,1]",
        "executor.progress=false",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 't.db'}")
    [run] = client.search_runs([client.get_experiment_by_name("pspsweep").experiment_id])
    params = run.data.params

    assert not [k for k in params if k.startswith("neuron.morphology.")], "a .param cell has no demo morphology"
    assert not [k for k in params if k.startswith(("neuron.biophysics.", "neuron.discretization."))]
    assert "network.seed" not in params and not [k for k in params if k.endswith(".n_cells")], "ISF files, no demo"
    assert not [v for v in params.values() if v.startswith(("Mode.", "Strategy.", "Engine.", "Convention."))]
    assert params["run.mode"] == "cells" and params["run.strategy"] == "restore"
    assert params["run.units"] == "[0, 1]" and not any(k.startswith("run.units.") for k in params)

    sim = ast.literal_eval(param.read_text())["sim"]
    simulated = {"neuron.sim.dt": sim["dt"], "neuron.sim.celsius": sim["T"], "neuron.sim.v_init": sim["Vinit"]}
    for key, value in simulated.items():
        assert params[key] != "None" and float(params[key]) == value, (key, params[key], value)
    # VPM_C2 is excitatory: AMPA and NMDA at run.g = 1 nS, no GABA conductance
    assert float(params["run.gAMPA"]) == float(params["run.gNMDA"]) == 1.0 and "run.gGABA" not in params

    note = run.data.tags["mlflow.note.content"]
    assert f"| `amp_mean` | {run.data.metrics['amp_mean']:.4g} | mV |" in note
    assert "| `n_synapses` |" in note and "| `t_mean` |" in note
