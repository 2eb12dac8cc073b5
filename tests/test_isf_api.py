"""isf: ``pspsweep.isf.run_ex_synapses``, the drop-in for ISF's function (isf-reference 6.2).

Checked against the command's ``psps.csv`` of the same sweep (shared 86 cell, VPM_C2,
gAMPA = gNMDA = 1 nS, CVODE, ISF analysis), against the reference's return shape and
unit order, and against itself given the parsed ``.param`` instead of its path.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import pspsweep_env

from pspsweep.errors import PspSweepError
from pspsweep.features import AnalysisOptions, psp_features_many
from pspsweep.io.isf_param import read_param_file
from pspsweep.isf import run_ex_synapses


def network_param(data: Path, celltype: str = "VPM_C2") -> dict:
    """ISF's network parameters of one cell type, as split for its PSP tasks (isf-reference 3.5)."""
    con = str(data / "example_embedding_86_C2_center.con")
    receptor = {
        "delay": 0.0,
        "threshold": 0.0,
        "weight": [0.0, 1.0],
        "parameter": {
            "tau1": 26.0,
            "tau2": 2.0,
            "tau3": 2.0,
            "tau4": 0.1,
            "decaynmda": 1.0,
            "facilampa": 0.0,
            "facilnmda": 0.0,
        },
    }
    return {
        "network": {
            celltype: {
                "cellNr": 176,
                "activeFrac": 1.0,
                "celltype": "pointcell",
                "spikeNr": 1,
                "spikeT": 10,
                "spikeWidth": 1.0,
                "synapses": {
                    "connectionFile": con,
                    "distributionFile": con[:-3] + "syn",
                    "receptors": {"glutamate_syn": receptor},
                },
            }
        }
    }


def command_psps(cwd: Path, data: Path) -> pd.DataFrame:
    """psps.csv of the command's VPM_C2 g=1 sweep with ISF's analysis."""
    exe = Path(sys.executable).parent / "pspsweep"
    args = [
        str(exe),
        "neuron=isf",
        "network=isf",
        f"neuron.param_file={data / '86_C2_center.param'}",
        f"network.syn_file={data / 'example_embedding_86_C2_center.syn'}",
        f"network.con_file={data / 'example_embedding_86_C2_center.con'}",
        "run.celltype=VPM_C2",
        "run.g=1",
        "analysis.convention=isf",
        "tracking.enabled=false",
        "executor.progress=false",
    ]
    res = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, env=pspsweep_env())
    assert res.returncode == 0, res.stderr[-3000:]
    out = Path(next(line.split("results: ")[1] for line in res.stdout.splitlines() if "results: " in line))
    return pd.read_csv(out / "psps.csv")


@pytest.mark.slow
@pytest.mark.realdata
def test_run_ex_synapses_gives_the_commands_amplitudes(isf86, launch_dir):
    """The whole VPM_C2 type: the returned traces, analysed as ISF does, give the
    command's amplitudes and peak times; the tuple is the reference's (t_baseline,
    v_baseline, [t], [v]) of 1-D arrays, one per unit in unit order; a parsed .param
    gives the same traces as its path."""
    table = command_psps(launch_dir, isf86)
    param = isf86 / "86_C2_center.param"
    result = run_ex_synapses(
        str(param),
        network_param(isf86),
        "VPM_C2",
        gAMPA=1.0,
        gNMDA=1.0,
        vardt=True,
        tStim=110.0,
        tEnd=150.0,
        mode="cells",
        workers=2,
    )
    assert isinstance(result, tuple) and len(result) == 4
    t_base, v_base, t_vecs, v_vecs = result
    for a in (t_base, v_base):
        assert isinstance(a, np.ndarray) and a.ndim == 1 and a.dtype == np.float64
    assert len(t_base) == len(v_base) == 79  # isf-reference 10.3: the CVODE baseline has 79 samples
    assert t_base[0] == 0 and v_base[0] == -75.0
    assert isinstance(t_vecs, list) and isinstance(v_vecs, list) and len(t_vecs) == len(v_vecs) == len(table) == 176
    for t, v in zip(t_vecs, v_vecs):
        assert isinstance(t, np.ndarray) and t.ndim == 1 and t.shape == v.shape and t[0] == 0
    amplitudes, t_peaks = psp_features_many(t_vecs, v_vecs, t_base, v_base, 110.0, 150.0, AnalysisOptions("isf"))
    assert table["unit"].tolist() == list(range(176))
    # the traces are the simulated samples themselves (float64), so the amplitudes are exact
    np.testing.assert_array_equal(amplitudes, table["amplitude_mV"])
    np.testing.assert_array_equal(t_peaks, table["t_peak_abs_ms"])

    units = [0, 1, 2, 175]
    parsed = read_param_file(param)
    parsed["neuron"]["filename"] = str(isf86 / "86_C2_center.hoc")  # as ISF users do (isf-reference 2.2)
    from_dict = run_ex_synapses(parsed, network_param(isf86), "VPM_C2", gAMPA=1.0, gNMDA=1.0, units=units, workers=2)
    np.testing.assert_array_equal(from_dict[1], v_base)
    for i, (t, v) in enumerate(zip(from_dict[2], from_dict[3])):
        np.testing.assert_array_equal(t, t_vecs[units[i]])
        np.testing.assert_array_equal(v, v_vecs[units[i]])


@pytest.mark.realdata
@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda net: net["network"].pop("VPM_C2"), "no entry network.VPM_C2"),
        (lambda net: net["network"]["VPM_C2"]["synapses"].pop("connectionFile"), "synapses.connectionFile"),
    ],
)
def test_bad_network_param_names_the_entry(isf86, launch_dir, change, expected):
    net = network_param(isf86)
    change(net)
    with pytest.raises(PspSweepError, match=expected):
        run_ex_synapses(isf86 / "86_C2_center.param", net, "VPM_C2", gAMPA=1.0, gNMDA=1.0)


@pytest.mark.realdata
def test_conductances_are_the_explicit_arguments(isf86, launch_dir):
    """As in ISF, an excitatory type needs gAMPA and gNMDA (pspsweep's run.g is not used)."""
    with pytest.raises(PspSweepError, match="gAMPA"):
        run_ex_synapses(isf86 / "86_C2_center.param", network_param(isf86), "VPM_C2", gNMDA=1.0)
