"""pspsweep.simulation.coreneuron: ``engine=coreneuron`` gives NEURON's fixed-step traces.

Each engine runs in a fresh process (this file run as a script, see the bottom): a process
holds one build of a mechanism set (``nrnivmodl`` or ``nrnivmodl -coreneuron``), and the
``neuron`` process loads the plain build every other test uses. The processes write their
traces to an ``.npz``; the tests compare every t sample (equal) and v sample
(max |dV| <= 1e-9 mV), for the ``reference`` and ``restore`` strategies: on the demo cell
and on ISF's 86_C2_center cell (VPM_C2).
"""

from __future__ import annotations

import gc
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("neuron")

from demo_model import demo
from helpers import isolated
from helpers.coreneuron import compile_or_skip
from helpers.sweep import simulate_sweep
from omegaconf import OmegaConf

from pspsweep.errors import PspSweepError
from pspsweep.execution import SweepWork
from pspsweep.features import AnalysisOptions
from pspsweep.simulation.coreneuron import gpu_available
from pspsweep.simulation.runner import SweepRequest, UnitSimulator
from pspsweep.units import make_units
from pspsweep.validation import validate

HERE = Path(__file__).resolve()
MAX_DV = 1e-9  # mV, issue #7

#: demo cases: celltype, mode, tStim, tEnd, number of units
DEMO_CASES = [
    ("L4ss_C2", "cells", 110.0, 150.0, 4),
    ("INH_C2", "synapses", 110.0, 150.0, 3),
    ("L5tt_C2", "cells", 500.0, 540.0, 2),  # t accumulated over 21600 steps
]


def _run_script(*args: str) -> dict:
    """One engine's run of :func:`_dispatch` in a fresh process (CoreNEURON and the
    mechanism set load once per process)."""
    return isolated.call(HERE, "_dispatch", *args, timeout=3600)


def _compare(a: dict, b: dict) -> float:
    """Max |dV| over traces with equal names; asserts both hold the same traces and t samples."""
    assert set(a) == set(b) and a
    worst = 0.0
    for name in sorted(a):
        if name.endswith("/t"):
            assert np.array_equal(a[name], b[name]), f"{name}: t samples differ"
        else:
            assert a[name].shape == b[name].shape, name
            worst = max(worst, float(np.max(np.abs(a[name] - b[name]))))
    return worst


# ---------------------------------------------------------------------- demo cell


@pytest.fixture(scope="module")
def demo_engines(tmp_path_factory) -> dict:
    """Both engines on the demo cases, each in its own process."""
    compile_or_skip(list(demo()[0].mechanism_dirs))
    folder = tmp_path_factory.mktemp("engines")
    out = {}
    for engine in ("neuron", "coreneuron"):
        info = _run_script("demo", engine, str(folder / f"{engine}.npz"))
        with np.load(folder / f"{engine}.npz") as data:
            out[engine] = ({k: data[k] for k in data.files}, info)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["reference", "restore"])
def test_coreneuron_equals_neuron_fixed_step_on_demo(demo_engines, strategy):
    (a, _), (b, _) = demo_engines["neuron"], demo_engines["coreneuron"]
    pick = {k: v for k, v in a.items() if k.startswith(strategy + "/")}
    got = {k: v for k, v in b.items() if k.startswith(strategy + "/")}
    assert len(pick) == 2 * sum(n + 1 for *_, n in DEMO_CASES)  # baselines and units, t and v
    assert _compare(pick, got) <= MAX_DV
    # the units did respond
    assert all(
        not np.array_equal(v, a[k.rsplit("/", 2)[0] + "/baseline/v"])
        for k, v in pick.items()
        if k.endswith("/v") and "/baseline/" not in k
    )


@pytest.mark.slow
def test_coreneuron_build_serves_the_neuron_engine_and_keys_differ(demo_engines):
    """The CoreNEURON process also ran ``engine=neuron`` from its build: the same traces;
    and the settled-state key depends on the engine."""
    _, info = demo_engines["coreneuron"]
    assert info["neuron_from_coreneuron_build_max_dv"] == 0.0
    assert info["state_key_neuron"] != info["state_key_coreneuron"]
    assert info["units_s"] > 0


def test_engine_and_gpu_enter_the_work_fingerprint():
    cell, emb = demo()
    request = SweepRequest(cell, emb.receptors["L4ss_C2"], (1.0, 1.0), False, 110.0, 150.0, "restore")
    prints = {
        SweepWork(r, AnalysisOptions()).fingerprint()
        for r in (request, replace(request, engine="coreneuron"), replace(request, engine="coreneuron", gpu=True))
    }
    assert len(prints) == 3


def test_state_key_depends_on_the_engine():
    gc.collect()
    cell, emb = demo()
    request = SweepRequest(cell, emb.receptors["L4ss_C2"], (1.0, 1.0), False, 110.0, 150.0, "restore")
    sim = UnitSimulator(request)  # engine=neuron: builds nothing for CoreNEURON
    try:
        key = sim.state_key(3)
        sim.request = replace(request, engine="coreneuron")
        assert sim.state_key(3) != key
    finally:
        del sim
        gc.collect()


# ---------------------------------------------------------------------- validation


def test_config_rejects_coreneuron_with_cvode(compose):
    typed = OmegaConf.to_object(compose("run.engine=coreneuron", "run.vardt=true"))
    with pytest.raises(PspSweepError, match=r"run\.engine=coreneuron.*run\.vardt=false"):
        validate(typed)
    validate(OmegaConf.to_object(compose("run.engine=coreneuron", "run.vardt=false")))


def test_config_rejects_gpu_without_coreneuron(compose):
    typed = OmegaConf.to_object(compose("run.gpu=true", "run.vardt=false"))
    with pytest.raises(PspSweepError, match=r"run\.gpu=true.*run\.engine=coreneuron"):
        validate(typed)


def test_config_rejects_gpu_without_gpu_build(compose):
    if gpu_available():
        pytest.skip("this NEURON has CoreNEURON GPU support")
    typed = OmegaConf.to_object(compose("run.engine=coreneuron", "run.gpu=true", "run.vardt=false"))
    with pytest.raises(PspSweepError, match=r"run\.gpu=true needs NEURON built with CoreNEURON GPU support"):
        validate(typed)


def test_request_rejects_what_cannot_run():
    cell, emb = demo()
    request = SweepRequest(cell, emb.receptors["L4ss_C2"], (1.0, 1.0), False, 110.0, 150.0)
    with pytest.raises(PspSweepError, match="run.vardt=false"):
        UnitSimulator(replace(request, vardt=True, engine="coreneuron"))
    with pytest.raises(PspSweepError, match="run.engine='gpu'"):
        UnitSimulator(replace(request, engine="gpu"))
    if not gpu_available():
        with pytest.raises(PspSweepError, match="run.gpu"):
            UnitSimulator(replace(request, engine="coreneuron", gpu=True))


# ---------------------------------------------------------------------- ISF 86 cell


@pytest.mark.realdata
@pytest.mark.slow
def test_coreneuron_equals_neuron_on_isf86_vpm(isf86, tmp_path):
    """VPM_C2 on 86_C2_center, tStim 110, tEnd 150, dt 0.025: ``restore`` on 10 units and
    ``reference`` on 2, per engine in its own process."""
    from pspsweep.builders import mechanism_dirs

    compile_or_skip(list(mechanism_dirs(["l5pt", "synapses"])))
    runs = {}
    for engine in ("neuron", "coreneuron"):
        info = _run_script("isf86", engine, str(tmp_path / f"{engine}.npz"), str(isf86))
        with np.load(tmp_path / f"{engine}.npz") as data:
            runs[engine] = ({k: data[k] for k in data.files}, info)
    (a, info_a), (b, info_b) = runs["neuron"], runs["coreneuron"]
    assert info_a["n_units"] == {"restore": 10, "reference": 2}
    assert info_a["dt"] == 0.025
    assert _compare(a, b) <= MAX_DV
    assert info_a["amplitudes"] == info_b["amplitudes"] or np.allclose(
        info_a["amplitudes"], info_b["amplitudes"], rtol=0, atol=MAX_DV
    )
    assert max(info_a["amplitudes"]) > 0.1  # the units did respond


# ---------------------------------------------------------------------- the script


def _simulate(request: SweepRequest, units, prefix: str, out: dict) -> float:
    """Run a sweep, put its traces into ``out`` under ``prefix``; returns seconds per unit."""
    gc.collect()
    traces, timing = simulate_sweep(request, units)
    out[f"{prefix}/baseline/t"], out[f"{prefix}/baseline/v"] = traces.t_baseline, traces.v_baseline
    for i, (t, v) in enumerate(zip(traces.ts, traces.vs)):
        out[f"{prefix}/{i}/t"], out[f"{prefix}/{i}/v"] = t, v
    return timing.units_s / max(len(units), 1)


def _demo_script(engine: str, path: Path) -> dict:
    cell, emb = demo()
    out: dict = {}
    info: dict = {"units_s": 0.0}
    for strategy in ("reference", "restore"):
        for celltype, mode, t_stim, t_end, n in DEMO_CASES:
            receptor = emb.receptors[celltype]
            weights = (1.5, 1.5) if receptor.excitatory else (2.0,)
            request = SweepRequest(cell, receptor, weights, False, t_stim, t_end, strategy, engine=engine)
            units = make_units(emb, celltype, mode)[:n]
            info["units_s"] += _simulate(request, units, f"{strategy}/{celltype}-{mode}-{t_stim:g}", out)
    if engine == "coreneuron":
        # engine=neuron in this process runs from the CoreNEURON build
        celltype, mode, t_stim, t_end, n = DEMO_CASES[0]
        request = SweepRequest(cell, emb.receptors[celltype], (1.5, 1.5), False, t_stim, t_end, "restore")
        again: dict = {}
        _simulate(request, make_units(emb, celltype, mode)[:n], "x", again)
        prefix = f"restore/{celltype}-{mode}-{t_stim:g}"
        info["neuron_from_coreneuron_build_max_dv"] = max(
            float(np.max(np.abs(again[k] - out[prefix + k[1:]]))) for k in again
        )
        gc.collect()
        sim = UnitSimulator(request)
        info["state_key_neuron"] = sim.state_key(3)
        sim.request = replace(request, engine="coreneuron")
        info["state_key_coreneuron"] = sim.state_key(3)
    np.savez(path, **out)
    return info


def _isf86_script(engine: str, path: Path, folder: Path) -> dict:
    from pspsweep.builders import cell_spec_from_config, embedding_from_config
    from pspsweep.config import NetworkConfig, NeuronConfig
    from pspsweep.features import psp_features_many

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
    cell = replace(cell, sim=replace(cell.sim, dt=0.025))
    units = make_units(emb, "VPM_C2", "cells")
    out: dict = {}
    info: dict = {"n_units": {}, "s_per_unit": {}, "dt": cell.sim.dt}
    for strategy, n in (("restore", 10), ("reference", 2)):
        request = SweepRequest(cell, emb.receptors["VPM_C2"], (1.0, 1.0), False, 110.0, 150.0, strategy, engine=engine)
        started = time.perf_counter()
        info["s_per_unit"][strategy] = _simulate(request, units[:n], strategy, out)
        info["n_units"][strategy] = n
        info[f"{strategy}_wall_s"] = time.perf_counter() - started
    ts = [out[f"restore/{i}/t"] for i in range(10)]
    vs = [out[f"restore/{i}/v"] for i in range(10)]
    amps, _ = psp_features_many(ts, vs, out["restore/baseline/t"], out["restore/baseline/v"], 110.0, 150.0)
    info["amplitudes"] = [float(x) for x in amps]
    np.savez(path, **out)
    return info


def _dispatch(what: str, engine: str, target: str, folder: str = "") -> dict:
    """demo ENGINE OUT.npz | isf86 ENGINE OUT.npz DATA_FOLDER -> a JSON-able dict."""
    if what == "demo":
        return _demo_script(engine, Path(target))
    return _isf86_script(engine, Path(target), Path(folder))
