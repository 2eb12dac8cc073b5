"""Reproduction of ISF's PSP sweep on the shared 86_C2_center cell (isf-reference 10).

Runs the command itself (``neuron=isf network=isf``) in a subprocess and compares with
the values the specification obtained by running ISF HEAD under NEURON 9.0.2.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, pspsweep_env
from helpers.isf86 import isf86_overrides

from pspsweep.traces import load_traces

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

#: isf-reference 10.3: baseline soma voltage (CVODE), resampled, at these times (ms)
BASELINE_CVODE = {
    0: -75.0000,
    1.75: -75.8654,
    5: -77.0603,
    10: -78.4037,
    20: -79.9611,
    50: -81.1989,
    100: -80.8356,
    109.975: -80.7521,
    110: -80.7519,
    130: -80.6301,
    149.975: -80.5636,
}
#: isf-reference 10.5: VPM_C2 at g = 1.0, mode cells, CVODE: cell id -> (tMax ms, vMax mV)
UNITS_CVODE = {0: (128.975, 0.01417), 1: (116.425, 0.21498), 2: (114.975, 0.31184)}


def run_isf(tmp_path: Path, isf86: Path, name: str, *overrides: str) -> Path:
    out = tmp_path / name
    exe = Path(sys.executable).parent / "pspsweep"
    args = [
        str(exe),
        *isf86_overrides(isf86),
        "run.celltype=VPM_C2",
        "run.g=1.0",
        "run.tStim=110",
        "run.tEnd=150",
        "analysis.convention=isf",
        "tracking.enabled=false",
        f"hydra.run.dir={out}",
        *overrides,
    ]
    res = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=1200, env=pspsweep_env())
    assert res.returncode == 0, res.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def cvode_first10(tmp_path_factory, isf86) -> Path:
    return run_isf(tmp_path_factory.mktemp("cvode"), isf86, "run", "run.vardt=true", "run.units=[0,1,2,3,4,5,6,7,8,9]")


def test_baseline_matches_isf(cvode_first10):
    traces = load_traces(cvode_first10 / "traces.npz")
    times = np.array(list(BASELINE_CVODE))
    got = np.interp(times, traces.t_baseline, traces.v_baseline.astype(float))
    want = np.array(list(BASELINE_CVODE.values()))
    assert np.max(np.abs(got - want)) <= 0.01, f"baseline differs by {np.abs(got - want).max():.4g} mV (tol 0.01)"
    assert len(traces.t_baseline) == 79, "CVODE records the same 79 baseline samples as ISF"
    assert traces.t_baseline[-1] == pytest.approx(148.4778, abs=1e-4)


def test_example_units_match_isf(cvode_first10):
    psps = pd.read_csv(cvode_first10 / "psps.csv").set_index("cell_id")
    for cell, (t_max, v_max) in UNITS_CVODE.items():
        row = psps.loc[cell]
        assert abs(row.amplitude_mV - v_max) <= 0.005, f"cell {cell}: {row.amplitude_mV} vs {v_max} mV"
        assert abs(row.t_peak_abs_ms - t_max) <= 0.1, f"cell {cell}: {row.t_peak_abs_ms} vs {t_max} ms"
    assert psps.loc[1, "sections"] == "23;79"


def test_fixed_step_differs_from_cvode_as_in_isf(tmp_path, cvode_first10, isf86):
    fixed = run_isf(tmp_path, isf86, "fixed", "run.vardt=false", "run.units=[0,1,2,3,4,5,6,7,8,9]")
    traces = load_traces(fixed / "traces.npz")
    assert len(traces.t_baseline) == 6001
    assert traces.t_baseline[-1] == pytest.approx(150.0, abs=1e-9)
    v110 = traces.v_baseline[np.argmin(np.abs(traces.t_baseline - 110.0))]
    assert v110 == pytest.approx(-80.75091, abs=1e-4)
    a = pd.read_csv(cvode_first10 / "psps.csv")
    b = pd.read_csv(fixed / "psps.csv")
    diff = a.amplitude_mV - b.amplitude_mV
    # isf-reference 10.4: CVODE - fixed = +0.0008 ... +0.0015 mV, peak times within 0.3 ms
    assert diff.between(0.0, 0.002).all(), diff.describe()
    assert (a.t_peak_abs_ms - b.t_peak_abs_ms).abs().max() <= 0.3 + 1e-9


def test_whole_vpm_sweep_completes(tmp_path, isf86):
    out = run_isf(tmp_path, isf86, "all")
    psps = pd.read_csv(out / "psps.csv")
    assert len(psps) == 176 and list(psps.cell_id) == list(range(176))
    assert psps.n_synapses.sum() == 280
