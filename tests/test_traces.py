"""traces: the npz layout round-trips."""

from __future__ import annotations

import numpy as np

from pspsweep.traces import TraceSet, load_traces, save_traces


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    ts = [np.sort(rng.uniform(0, 150, n)) for n in (5, 1, 9)]
    vs = [rng.normal(-70, 1, len(t)) for t in ts]
    traces = TraceSet(np.linspace(0, 150, 7), np.full(7, -70.0), ts, vs, np.array([4, 7, 9]))
    back = load_traces(save_traces(traces, tmp_path / "traces.npz"))
    assert len(back) == 3 and list(back.units) == [4, 7, 9]
    for a, b in zip(ts, back.ts):
        np.testing.assert_array_equal(a, b)  # times are kept exactly
    for a, b in zip(vs, back.vs):
        np.testing.assert_allclose(a, b, atol=1e-5)  # voltages as float32
    with np.load(tmp_path / "traces.npz") as data:
        assert list(data["offsets"]) == [0, 5, 6, 15]
        assert data["v"].dtype == np.float32 and data["t"].dtype == np.float64
