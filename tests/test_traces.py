"""traces: the npz layout round-trips."""

from __future__ import annotations

import errno
import os
import re
import zipfile

import numpy as np
import pytest

from pspsweep.errors import PspSweepError
from pspsweep.traces import TraceSet, load_traces, save_traces, write_traces


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


def test_write_traces_streams_pieces_that_need_not_match_the_traces(tmp_path):
    """The one writer takes the samples as a stream of pieces (the chunk files' order and
    cut, not one piece per trace) and gives the layout :func:`load_traces` reads."""
    ts = [np.arange(n, dtype=float) for n in (4, 2, 5)]
    vs = [t * 0.5 - 70.0 for t in ts]
    t_all, v_all = np.concatenate(ts), np.concatenate(vs)
    pieces = (t_all[:3], t_all[3:9], t_all[9:])
    path = write_traces(
        tmp_path / "traces.npz",
        (np.arange(3.0), np.full(3, -70.0)),
        np.array([2, 0, 1]),
        np.array([4, 2, 5]),
        iter(pieces),
        iter([v_all]),
    )
    back = load_traces(path)
    assert list(back.units) == [2, 0, 1]
    for a, b in zip(ts + vs, back.ts + back.vs):
        np.testing.assert_array_equal(a, b)
    assert back.v_baseline.dtype == np.float32 and back.t_baseline.dtype == np.float64


def test_save_traces_on_a_full_disk_is_one_error_and_leaves_no_file(tmp_path, monkeypatch):
    """Against the second writer of traces.npz (issue 15): ``save_traces`` wrote with
    ``np.savez_compressed``, so a full disk raised a bare OSError and left a partial file.
    It now goes through the one writer: one PspSweepError naming the folder, no file."""
    real_open = zipfile.ZipFile.open

    def full_at_v(self, name, mode="r", *args, **kwargs):
        if mode == "w" and str(name).startswith("v."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", full_at_v)
    traces = TraceSet(np.arange(3.0), np.full(3, -70.0), [np.arange(4.0)], [np.full(4, -69.0)], np.array([0]))
    with pytest.raises(PspSweepError, match=re.escape(f"cannot write traces.npz in {tmp_path}: no space left")):
        save_traces(traces, tmp_path / "traces.npz")
    assert list(tmp_path.iterdir()) == []


def test_voltages_can_be_kept_exactly(tmp_path):
    """run.record_dtype=float64 keeps the simulated samples unrounded (float32 by default)."""
    from pspsweep.traces import load_traces, write_traces

    v = np.array([-75.123456789012345, -74.98765432101234])
    t = np.array([0.0, 0.025])
    for dtype, exact in (("float32", False), ("float64", True)):
        path = write_traces(tmp_path / f"{dtype}.npz", (t, v), np.array([0]), np.array([2]), [t], [v], dtype)
        loaded = load_traces(path)
        assert loaded.vs[0].dtype == np.dtype(dtype) and loaded.v_baseline.dtype == np.dtype(dtype)
        assert np.array_equal(loaded.vs[0], v) is exact
