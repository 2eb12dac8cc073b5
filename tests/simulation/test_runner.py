"""pspsweep.simulation.runner: the ``restore`` strategy reproduces ``reference`` exactly.

Every comparison is between whole traces (t and v, every sample, ``np.array_equal``)
of the same units run with ``strategy=reference`` and ``strategy=restore``: fixed step
and CVODE, modes ``cells`` and ``synapses``, excitatory (``glutamate_syn``) and
inhibitory (``gaba_syn``) types, tStim 110 ms and 500 ms, on the demo cell (mechanism
set ``synapses``, loaded in this process).

Two kinds of checks run in a fresh process (``helpers.isolated``):
the CVODE ones, because CVODE integrates every cell of a process together and other
test modules may keep cells alive (fixed-step results do not depend on other cells);
and the one on ISF's 86_C2_center cell, which needs the ``l5pt`` + ``synapses``
mechanism set while this process loads ``synapses`` only.
"""

from __future__ import annotations

import gc
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("neuron")

from demo_model import demo
from helpers import isolated
from helpers.sweep import simulate_sweep

from pspsweep.errors import PspSweepError
from pspsweep.features import AnalysisOptions, psp_features_many
from pspsweep.simulation.runner import SweepRequest, UnitSimulator
from pspsweep.traces import TraceSet
from pspsweep.units import make_units


def _request(
    celltype: str, vardt: bool, t_stim: float = 110.0, t_end: float = 150.0, strategy: str = "reference"
) -> SweepRequest:
    cell, emb = demo()
    receptor = emb.receptors[celltype]
    weights = (1.5, 1.5) if receptor.excitatory else (2.0,)
    return SweepRequest(cell, receptor, weights, vardt, t_stim, t_end, strategy)


def _sweep(request: SweepRequest, units) -> TraceSet:
    gc.collect()  # free the cells of earlier tests: CVODE would integrate them too
    traces, _ = simulate_sweep(request, units)
    return traces


def _assert_identical(a: TraceSet, b: TraceSet) -> None:
    assert np.array_equal(a.t_baseline, b.t_baseline)
    assert np.array_equal(a.v_baseline, b.v_baseline)
    assert np.array_equal(a.units, b.units)
    assert len(a.ts) == len(b.ts)
    for i, (t1, v1, t2, v2) in enumerate(zip(a.ts, a.vs, b.ts, b.vs)):
        assert np.array_equal(t1, t2), f"unit {i}: t differs"
        assert np.array_equal(v1, v2), f"unit {i}: v differs"


CASES = [
    # celltype, mode, tStim, tEnd
    ("L4ss_C2", "cells", 110.0, 150.0),
    ("L4ss_C2", "synapses", 110.0, 150.0),
    ("INH_C2", "cells", 110.0, 150.0),
    ("INH_C2", "synapses", 110.0, 150.0),
    ("L5tt_C2", "cells", 500.0, 540.0),
]


@pytest.mark.parametrize("celltype, mode, t_stim, t_end", CASES)
def test_restore_is_bit_identical_to_reference_fixed_step(celltype, mode, t_stim, t_end):
    units = make_units(demo()[1], celltype, mode)
    if t_stim > 200:
        units = units[:4]
    assert len({u.n_synapses for u in units}) > 1 or mode == "synapses"
    request = _request(celltype, False, t_stim, t_end)
    ref = _sweep(request, units)
    res = _sweep(replace(request, strategy="restore"), units)
    _assert_identical(ref, res)
    # every run covers 0..tEnd in fixed steps and the units did respond
    n_steps = len(ref.t_baseline)
    assert ref.t_baseline[0] == 0.0 and ref.t_baseline[-1] >= t_end
    assert all(len(t) == n_steps for t in res.ts)
    assert all(not np.array_equal(v, ref.v_baseline) for v in res.vs)


def _check_cvode_case(celltype: str, mode: str, t_stim: float, t_end: float) -> None:
    units = make_units(demo()[1], celltype, mode)
    request = _request(celltype, True, t_stim, t_end)
    ref = _sweep(request, units)
    res = _sweep(replace(request, strategy="restore"), units)
    _assert_identical(ref, res)
    # and so are the amplitudes
    a1, _ = psp_features_many(ref.ts, ref.vs, ref.t_baseline, ref.v_baseline, t_stim, t_end, AnalysisOptions())
    a2, _ = psp_features_many(res.ts, res.vs, res.t_baseline, res.v_baseline, t_stim, t_end, AnalysisOptions())
    assert np.array_equal(a1, a2)
    assert np.all(np.abs(a1) > 0)
    # CVODE stops exactly at tStim: the sample there appears twice (before and after
    # the events are delivered), as in the reference
    for t in res.ts:
        assert np.count_nonzero(t == t_stim) == 2


def _check_any_order(vardt: bool) -> None:
    """Growing the fixed-step pool and switching the CVODE pool size re-settle correctly."""
    _, emb = demo()
    units = make_units(emb, "L5tt_C2", "cells")
    by_size = sorted(units, key=lambda u: u.n_synapses)  # fixed step: the pool grows
    mixed = by_size[::2] + by_size[1::2][::-1]  # CVODE: the pool size changes often
    order = mixed if vardt else by_size
    ref = _sweep(_request("L5tt_C2", vardt), order)
    gc.collect()
    sim = UnitSimulator(_request("L5tt_C2", vardt, strategy="restore"))
    got = [sim.unit(u) for u in order]
    t_b, v_b = sim.baseline()
    again = sim.unit(order[0])
    del sim
    assert np.array_equal(t_b, ref.t_baseline) and np.array_equal(v_b, ref.v_baseline)
    for (t, v), t1, v1 in zip(got, ref.ts, ref.vs):
        assert np.array_equal(t, t1) and np.array_equal(v, v1)
    assert np.array_equal(again[0], ref.ts[0]) and np.array_equal(again[1], ref.vs[0])


def _check_explicit_pool_size(vardt: bool) -> None:
    _, emb = demo()
    units = make_units(emb, "L4ss_C2", "cells", [5, 0, 3])
    request = _request("L4ss_C2", vardt, strategy="restore")
    res = _sweep(replace(request, pool_size=7), units)
    assert list(res.units) == [5, 0, 3]
    _assert_identical(_sweep(_request("L4ss_C2", vardt), units), res)


def _check_derived_baseline(vardt: bool) -> None:
    """``restore``'s baseline equals the fresh synapse-free run of ``reference`` to the last
    bit: fixed step, the settle's samples (0 .. tStim) joined with the restored run to tEnd
    without events, also when the state comes from the cache or after units; CVODE, a
    fresh run (a settle stops the integrator at tStim, which changes the later steps)."""
    import tempfile

    gc.collect()
    ref = UnitSimulator(_request("L4ss_C2", vardt))
    t_ref, v_ref = ref.baseline()
    del ref
    units = make_units(demo()[1], "L4ss_C2", "cells")[:2]
    with tempfile.TemporaryDirectory() as folder:
        for expected in ("settled", "loaded"):
            gc.collect()
            request = replace(
                _request("L4ss_C2", vardt, strategy="restore"),
                state_dir=folder,
                pool_size=max(u.n_synapses for u in units),
            )
            sim = UnitSimulator(request)
            t, v = sim.baseline()
            assert np.array_equal(t, t_ref) and np.array_equal(v, v_ref), f"{expected}: baseline differs"
            if not vardt:
                # derived from the settle (no second run from t = 0), and the same after units
                assert [kind for kind, _, _ in sim.state_log] == [expected]
                for u in units:
                    sim.unit(u)
                t, v = sim.baseline()
                assert np.array_equal(t, t_ref) and np.array_equal(v, v_ref), "baseline after units differs"
                assert len(sim.state_log) == 1
            del sim


#: CVODE checks run in a fresh process: CVODE integrates every cell of the process
#: together, and other test modules may keep cells alive (fixed step is immune)
CVODE_CHECKS = {
    **{f"cvode-{c}-{m}-{ts:g}": (_check_cvode_case, (c, m, ts, te)) for c, m, ts, te in CASES},
    "cvode-any-order": (_check_any_order, (True,)),
    "cvode-pool-size": (_check_explicit_pool_size, (True,)),
    "cvode-derived-baseline": (_check_derived_baseline, (True,)),
}


@pytest.fixture(scope="module")
def cvode_results() -> dict:
    return isolated.call(__file__, "_run_cvode_checks")


@pytest.mark.parametrize("name", list(CVODE_CHECKS))
def test_restore_is_bit_identical_to_reference_cvode(cvode_results, name):
    """Demo cell under CVODE (see CASES), in a fresh process; None means passed."""
    assert cvode_results[name] is None, cvode_results[name]


def test_fixed_step_activation_sample():
    """The reference passes tStim on an accumulated t that is not exactly tStim.

    t after k steps of 0.025 is not k*0.025: the sample nearest 110 is 110 + 1.6e-11.
    NEURON delivers the events at the start of the step with t + dt/2 >= tStim, so the
    unit's trace equals the baseline through that sample and one more (the event only
    enters the conductance in the following step).
    """
    _, emb = demo()
    units = make_units(emb, "L4ss_C2", "cells")[:1]
    request = _request("L4ss_C2", False, strategy="restore")
    res = _sweep(request, units)
    t, v = res.ts[0], res.vs[0]
    k = int(np.argmin(np.abs(t - 110.0)))
    assert k == 4400 and t[k] != 110.0 and abs(t[k] - 110.0) < 1e-9
    assert np.array_equal(t, res.t_baseline)
    first = int(np.argmax(v != res.v_baseline))
    assert first == k + 2


def test_unit_simulator_directly_in_any_order_fixed_step():
    _check_any_order(False)


def test_restore_baseline_is_derived_from_the_settle_fixed_step():
    _check_derived_baseline(False)


def test_explicit_pool_size_fixed_step():
    _check_explicit_pool_size(False)


def test_two_restore_simulators_in_one_process_fixed_step():
    """A state saved before another cell came (or went) is not restored: a new settle."""
    _, emb = demo()
    units = make_units(emb, "L4ss_C2", "cells")[:3]
    ref = _sweep(_request("L4ss_C2", False), units)
    request = _request("L4ss_C2", False, strategy="restore")
    first = UnitSimulator(request)
    a = first.unit(units[0])
    second = UnitSimulator(request)  # one more cell: first's state no longer fits
    b = second.unit(units[1])
    c = first.unit(units[1])
    del second  # one cell less: second's sections linger in NEURON until a settle
    gc.collect()
    d = first.unit(units[2])
    for (t, v), i in ((a, 0), (b, 1), (c, 1), (d, 2)):
        assert np.array_equal(t, ref.ts[i]) and np.array_equal(v, ref.vs[i])


def test_deleting_an_older_simulator_keeps_recording():
    """t is recorded on this cell's soma: freeing another cell must not stop it."""
    gc.collect()
    first = UnitSimulator(_request("L4ss_C2", False, t_end=5.0))
    second = UnitSimulator(_request("L4ss_C2", False, t_end=5.0))
    del first
    gc.collect()
    t, v = second.baseline()
    assert len(t) == len(v) == 201


def test_cvode_warns_about_other_cells_in_the_process():
    gc.collect()
    other = UnitSimulator(_request("L4ss_C2", False, t_end=1.0))
    sim = UnitSimulator(_request("L4ss_C2", True, t_end=1.0))
    with pytest.warns(RuntimeWarning, match="other cells"):
        sim.baseline()
    del other, sim


def test_simulator_takes_the_prebuilt_cell_of_its_request():
    """A cell built ahead (by an idle worker) is used as is, with bit-identical traces."""
    from pspsweep.simulation import runner

    _, emb = demo()
    units = make_units(emb, "L4ss_C2", "cells")[:2]
    request = _request("L4ss_C2", False, strategy="restore")
    gc.collect()
    fresh = UnitSimulator(request)
    expected = [fresh.unit(u) for u in units]
    del fresh
    gc.collect()
    runner.prebuild_cell(request.cell)
    runner.prebuild_cell(request.cell)  # the same cell again: kept, not built twice
    assert len(runner._PREBUILT) == 1
    prebuilt = runner._PREBUILT[0][1]
    sim = UnitSimulator(request)
    assert sim.cell is prebuilt and not runner._PREBUILT
    for (t, v), (t_ref, v_ref) in zip((sim.unit(u) for u in units), expected):
        assert np.array_equal(t, t_ref) and np.array_equal(v, v_ref)


def test_simulator_drops_a_prebuilt_cell_of_another_spec():
    from pspsweep.simulation import runner

    request = _request("L4ss_C2", False, t_end=5.0)
    other = replace(request.cell, sim=replace(request.cell.sim, v_init=request.cell.sim.v_init - 1.0))
    from neuron import h

    gc.collect()
    before = sum(1 for _ in h.allsec())  # other tests' cells may still be alive
    runner.prebuild_cell(other)
    prebuilt = runner._PREBUILT[0][1]
    sim = UnitSimulator(request)
    assert sim.cell is not prebuilt and not runner._PREBUILT
    del prebuilt
    gc.collect()
    # the prebuilt cell is gone: only the simulator's own cell came
    assert sum(1 for _ in h.allsec()) == before + len(sim.cell.sections)


def test_invalid_strategy_and_pool_size():
    with pytest.raises(PspSweepError, match="unknown strategy 'magic'.*reference, restore"):
        UnitSimulator(_request("L4ss_C2", False, strategy="magic"))
    with pytest.raises(PspSweepError, match="pool_size"):
        UnitSimulator(replace(_request("L4ss_C2", False, strategy="restore"), pool_size=-1))


# ---------------------------------------------------------------------- ISF 86 cell


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("vardt", [False, True], ids=["fixed", "cvode"])
def test_restore_on_isf86_vpm(isf86, vardt):
    """VPM_C2, first 5 units: bit-identical traces; amplitudes equal within 1e-6 mV."""
    result = isolated.call(__file__, "_isf86_check", str(isf86), vardt, 5)
    assert result["n_units"] == 5
    assert result["baseline_identical"]
    assert result["identical"] == [True] * 5, result
    assert result["max_abs_dv"] == 0.0
    assert result["max_abs_d_amplitude"] <= 1e-6


def _isf86_check(folder: str | Path, vardt: bool, n_units: int) -> dict:
    """reference vs restore on 86_C2_center, VPM_C2, the first ``n_units`` units."""
    import time

    folder = Path(folder)

    from pspsweep.builders import cell_spec_from_config, embedding_from_config
    from pspsweep.config import NetworkConfig, NeuronConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cell = cell_spec_from_config(
            NeuronConfig(param_file=str(folder / "86_C2_center.param"), mechanism_dirs=["l5pt"])
        )
    emb = embedding_from_config(
        NetworkConfig(
            kind="isf",
            syn_file=str(folder / "example_embedding_86_C2_center.syn"),
            con_file=str(folder / "example_embedding_86_C2_center.con"),
        ),
        cell,
    )
    units = make_units(emb, "VPM_C2", "cells")[:n_units]
    request = SweepRequest(cell, emb.receptors["VPM_C2"], (1.0, 1.0), vardt, 110.0, 150.0)
    out: dict = {"n_units": len(units), "n_synapses": [u.n_synapses for u in units]}
    traces = {}
    for strategy in ("reference", "restore"):
        gc.collect()
        started = time.perf_counter()
        traces[strategy], timing = simulate_sweep(replace(request, strategy=strategy), units)
        out[f"{strategy}_wall_s"] = time.perf_counter() - started
        out[f"{strategy}_units_s_per_unit"] = timing.units_s / len(units)
    a, b = traces["reference"], traces["restore"]
    out["baseline_identical"] = bool(
        np.array_equal(a.t_baseline, b.t_baseline) and np.array_equal(a.v_baseline, b.v_baseline)
    )
    out["identical"] = [
        bool(np.array_equal(t1, t2) and np.array_equal(v1, v2)) for t1, v1, t2, v2 in zip(a.ts, a.vs, b.ts, b.vs)
    ]
    grid = np.arange(0.0, 150.0, 0.025)
    out["max_abs_dv"] = float(
        max(
            np.max(np.abs(np.interp(grid, t1, v1) - np.interp(grid, t2, v2)))
            for t1, v1, t2, v2 in zip(a.ts, a.vs, b.ts, b.vs)
        )
    )
    amp_a, _ = psp_features_many(a.ts, a.vs, a.t_baseline, a.v_baseline, 110.0, 150.0)
    amp_b, _ = psp_features_many(b.ts, b.vs, b.t_baseline, b.v_baseline, 110.0, 150.0)
    out["amplitudes_mV"] = [float(x) for x in amp_a]
    out["max_abs_d_amplitude"] = float(np.max(np.abs(amp_a - amp_b)))
    return out


def _run_cvode_checks() -> dict:
    out = {}
    for name, (check, args) in CVODE_CHECKS.items():
        try:
            with warnings.catch_warnings():
                # "other cells exist in this process": every check has the process alone
                warnings.simplefilter("error", RuntimeWarning)
                check(*args)
            out[name] = None
        except AssertionError as exc:
            out[name] = f"{type(exc).__name__}: {exc}"
    return out
