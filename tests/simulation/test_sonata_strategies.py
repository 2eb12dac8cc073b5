"""On SONATA input (per-synapse weights and delays), restore and identical-unit reuse
change nothing: the reference strategy without reuse gives the same psps.csv features
and the same float64 traces, to the last bit."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.bmtk_reference import CIRCUIT_300

from pspsweep import api

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def sweep(folder, *extra: str):
    return api.run(
        [
            "neuron=sonata",
            "network=sonata",
            f"network.circuit_config={CIRCUIT_300.parent / 'config.simulation.json'}",
            "network.target=internal:0",
            "run.celltype=[Scnn1a,Rorb,Nr5a1,PV1]",
            "run.vardt=false",
            "run.tStim=500",
            "run.tEnd=600",
            "neuron.sim.dt=0.025",
            "run.record_dtype=float64",
            "tracking.enabled=false",
            "executor.progress=false",
            *extra,
        ],
        out_dir=folder,
    )


def test_restore_and_reuse_equal_the_reference(tmp_path):
    if not CIRCUIT_300.is_file():
        pytest.skip(f"the shared bmtk circuit is not at {CIRCUIT_300}")
    fast = sweep(tmp_path / "restore")
    slow = sweep(tmp_path / "reference", "run.strategy=reference", "run.reuse_identical=false")
    assert fast.metrics["n_simulated"] < fast.metrics["n_units"]  # some units share their segments and weights
    columns = ["celltype", "cell_id", "amplitude_mV", "t_peak_ms"]
    assert fast.table[columns].equals(slow.table[columns])
    a, b = fast.traces(), slow.traces()
    index_a = {int(u): k for k, u in enumerate(a.units)}
    index_b = {int(u): k for k, u in enumerate(b.units)}
    for i, j in zip(fast.table["simulation"], slow.table["simulation"]):
        ka, kb = index_a[int(i)], index_b[int(j)]
        assert np.array_equal(a.vs[ka], b.vs[kb]) and np.array_equal(a.ts[ka], b.ts[kb])
    assert np.array_equal(a.v_baseline, b.v_baseline)
