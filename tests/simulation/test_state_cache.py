"""pspsweep.simulation.state_cache: the settled-state cache (``SweepRequest.state_dir``).

A settle run written to the cache by one process and read by another gives the same
traces, to the last bit (``np.array_equal`` on every t and v sample), as settling in the
process and as the ``reference`` strategy: fixed step and CVODE, on the demo cell
(mechanism set ``synapses``) and on ISF's 86_C2_center cell.

Runs that must show behaviour across processes run this file as a script in fresh
interpreters (see the bottom); so do the CVODE runs (CVODE integrates every cell of a
process together, and other test modules may keep cells alive) and the 86 cell (it needs
the ``l5pt`` + ``synapses`` mechanism set while this process loads ``synapses`` only).
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("neuron")

from demo_model import demo
from helpers import isolated
from helpers.sweep import simulate_sweep

from pspsweep.simulation.runner import SweepRequest, UnitSimulator
from pspsweep.simulation.saved import portable
from pspsweep.simulation.saved import structure as saved_structure
from pspsweep.simulation.strategies import Strategy
from pspsweep.units import make_units

HERE = Path(__file__).resolve()


def _request(
    celltype: str = "L4ss_C2",
    vardt: bool = False,
    *,
    t_stim: float = 110.0,
    t_end: float = 150.0,
    weights: tuple[float, ...] | None = None,
    state_dir: str | Path | None = None,
    pool_size: int | None = None,
) -> SweepRequest:
    cell, emb = demo()
    receptor = emb.receptors[celltype]
    if weights is None:
        weights = (1.5, 1.5) if receptor.excitatory else (2.0,)
    return SweepRequest(
        cell,
        receptor,
        weights,
        vardt,
        t_stim,
        t_end,
        "restore",
        pool_size,
        None if state_dir is None else str(state_dir),
    )


def _units(celltype: str = "L4ss_C2", n: int | None = None):
    units = make_units(demo()[1], celltype, "cells")
    return units if n is None else units[:n]


def _run(request: SweepRequest, units) -> tuple[list[np.ndarray], list[tuple[str, int, float]]]:
    """Baseline and units with one UnitSimulator; returns the arrays and its state log.

    The simulator is gone when this returns (the next one is then alone in the process).
    """
    gc.collect()
    sim = UnitSimulator(request)
    arrays = list(sim.baseline())
    for u in units:
        arrays.extend(sim.unit(u))
    log = list(sim.state_log)
    del sim
    gc.collect()
    return arrays, log


def _reference(request: SweepRequest, units) -> list[np.ndarray]:
    gc.collect()
    traces, _ = simulate_sweep(replace(request, strategy="reference", state_dir=None), units)
    gc.collect()
    out = [traces.t_baseline, traces.v_baseline]
    for t, v in zip(traces.ts, traces.vs):
        out.extend([t, v])
    return out


def _identical(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """State and companion files -> (inode, mtime_ns): a rewrite changes both."""
    return {
        p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
        if p.suffix in (".state", ".npz")
    }


def _script(*args: str) -> dict:
    """One check of :func:`_dispatch` in a fresh process (a clean NEURON)."""
    return isolated.call(HERE, "_dispatch", *args)


# ---------------------------------------------------------------------- the key


def _key_of(sim: UnitSimulator, request: SweepRequest, size: int = 5) -> str:
    base = sim.request
    sim.request = request
    try:
        return sim.state_key(size)
    finally:
        sim.request = base


def test_state_key_depends_on_what_the_settle_depends_on():
    gc.collect()
    base = _request(t_end=150.0)
    sim = UnitSimulator(base)
    try:
        key = sim.state_key(5)
        assert len(key) == 64 and key == sim.state_key(5)

        cell = base.cell
        # not part of the settled state: the weights, a later tEnd, the folder itself
        assert _key_of(sim, replace(base, weights=(0.3, 0.7))) == key
        assert _key_of(sim, replace(base, t_end=400.0)) == key
        assert _key_of(sim, replace(base, state_dir="/elsewhere")) == key
        # part of it
        changed = [
            _key_of(sim, base, 6),
            _key_of(sim, replace(base, t_stim=100.0)),
            _key_of(sim, replace(base, t_end=90.0)),  # ends the settle before tStim
            _key_of(sim, replace(base, vardt=True)),
            _key_of(sim, replace(base, cell=replace(cell, sim=replace(cell.sim, dt=0.05)))),
            _key_of(sim, replace(base, cell=replace(cell, sim=replace(cell.sim, celsius=cell.sim.celsius + 1)))),
            _key_of(sim, replace(base, cell=replace(cell, sim=replace(cell.sim, v_init=cell.sim.v_init - 1)))),
            _key_of(sim, replace(base, cell=replace(cell, sections=cell.sections[:-1]))),
            _key_of(
                sim,
                replace(
                    base,
                    receptor=replace(
                        base.receptor,
                        parameters={
                            **base.receptor.parameters,
                            "tau1": 1.0 + float(base.receptor.parameters.get("tau1", 0.0)),
                        },
                    ),
                ),
            ),
            _key_of(sim, replace(base, receptor=demo()[1].receptors["INH_C2"])),
        ]
        assert len(set(changed)) == len(changed) and key not in changed
    finally:
        del sim
        gc.collect()


def test_state_key_follows_mechanism_contents_not_their_folder(tmp_path):
    gc.collect()
    base = _request()
    sim = UnitSimulator(base)
    try:
        key = sim.state_key(5)
        (folder,) = base.cell.mechanism_dirs
        same = shutil.copytree(folder, tmp_path / "same")
        edited = shutil.copytree(folder, tmp_path / "edited")
        mod = min(edited.glob("*.mod"))
        mod.write_text(mod.read_text() + "\n: edited\n")
        assert _key_of(sim, replace(base, cell=replace(base.cell, mechanism_dirs=(str(same),)))) == key
        assert _key_of(sim, replace(base, cell=replace(base.cell, mechanism_dirs=(str(edited),)))) != key
    finally:
        del sim
        gc.collect()


def test_state_key_is_the_same_in_another_process():
    """Two fresh processes with the same mechanisms loaded agree (this process may hold
    more mechanism types, loaded by other tests: they are part of the key)."""
    first, second = _script("key", "4"), _script("key", "4")
    assert first["key"] == second["key"] and len(first["key"]) == 64


# ---------------------------------------------------------------------- fixed step, in this process


def test_fixed_step_settles_once_then_loads(tmp_path):
    """Cold run settles and writes; a later simulator (other weights and tEnd) only loads."""
    units = _units(n=4)
    size = max(u.n_synapses for u in units)
    cold_req = _request(state_dir=tmp_path, pool_size=size)
    cold, log = _run(cold_req, units)
    assert [entry[:2] for entry in log] == [("settled", size)]
    written = _files(tmp_path)
    assert len(written) == 2
    assert _identical(cold, _reference(cold_req, units))

    again, log = _run(cold_req, units)
    assert [entry[:2] for entry in log] == [("loaded", size)]
    assert _identical(again, cold)

    other = replace(cold_req, weights=(0.7, 0.4), t_end=145.0)
    warm, log = _run(other, units)
    assert [entry[:2] for entry in log] == [("loaded", size)]
    assert _identical(warm, _reference(other, units))
    assert _files(tmp_path) == written, "a loaded state is not written again"


def test_cache_in_a_non_ascii_folder_is_written_and_loaded(tmp_path):
    """A cache folder named with non-ASCII characters (hoc's File takes ASCII paths only)
    holds the state after a cold run, and the next run loads it, giving the cold run's
    traces to the last bit."""
    folder = tmp_path / "zellé ü" / "states"
    units = _units(n=2)
    request = _request(state_dir=folder, pool_size=max(u.n_synapses for u in units))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "settled state not written" is a warning
        cold, log = _run(request, units)
        assert [kind for kind, _, _ in log] == ["settled"]
        assert len(_files(folder)) == 2
        again, log = _run(request, units)
    assert [kind for kind, _, _ in log] == ["loaded"]
    assert _identical(again, cold)


@pytest.mark.slow
def test_command_in_a_non_ascii_launch_folder_writes_the_cache(tmp_path):
    """The demo sweep started in a folder named ``zellé ü`` prints no NEURON error (it printed
    22 lines, one per failed hoc File) and leaves the settled states in ``.pspsweep/states``."""
    from conftest import pspsweep_env  # here: this file also runs as a script, without tests/ on the path

    folder = tmp_path / "zellé ü"
    folder.mkdir()
    exe = Path(sys.executable).parent / "pspsweep"
    res = subprocess.run(
        [str(exe), "run.units=[0,1]", "executor.workers=1"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        env=pspsweep_env(),
        check=False,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "NEURON" not in res.stderr and "not written" not in res.stderr, res.stderr[-3000:]
    assert list((folder / ".pspsweep" / "states").glob("*.state"))


def test_waiting_process_reads_the_baseline_end_added_after_the_state(tmp_path, monkeypatch):
    """The settling process writes the state, releases the lock, and only then runs the
    baseline's continuation to tEnd and adds it to the companion. A process that loaded
    the state before that reads the continuation when it needs the baseline (after its
    units) instead of simulating it; without it there, it simulates it. Same samples."""
    units = _units(n=2)
    size = max(u.n_synapses for u in units)
    request = _request(state_dir=tmp_path, pool_size=size)
    cold, _ = _run(request, units)
    (meta_path,) = tmp_path.glob("*.npz")
    with np.load(meta_path) as meta:
        full = dict(meta)
    assert "tail_t" in full, "the settling process adds the continuation"
    info = json.loads(str(full["info"]))
    without = {k: v for k, v in full.items() if not k.startswith("tail_")}
    without["info"] = np.array(json.dumps({k: v for k, v in info.items() if k != "tail_t_end"}))
    runs: list[int] = []
    original = Strategy._advance_to_end

    def counted(self):
        runs.append(1)
        return original(self)

    monkeypatch.setattr(Strategy, "_advance_to_end", counted)
    for added_meanwhile in (True, False):
        np.savez(meta_path, **without)  # as the waiting process found it
        gc.collect()
        sim = UnitSimulator(request)
        arrays = list(sim.unit(units[0])) + list(sim.unit(units[1]))
        assert [entry[0] for entry in sim.state_log] == ["loaded"]
        if added_meanwhile:
            np.savez(meta_path, **full)
        runs.clear()
        baseline = list(sim.baseline())
        assert len(runs) == (0 if added_meanwhile else 1)
        assert _identical(baseline + arrays, cold)
        del sim  # the next simulator must be alone in the process (cacheable)
        gc.collect()


def test_growing_pool_keeps_one_state_per_size(tmp_path):
    units = sorted(_units("L5tt_C2"), key=lambda u: u.n_synapses)[:6]
    request = _request("L5tt_C2", state_dir=tmp_path)
    cold, log = _run(request, units)
    sizes = [size for _, size, _ in log]
    assert all(kind == "settled" for kind, _, _ in log) and sizes == sorted(set(sizes)) and len(sizes) > 1
    warm, log = _run(request, units)
    assert [(kind, size) for kind, size, _ in log] == [("loaded", s) for s in sizes]
    assert _identical(cold, warm)
    assert _identical(warm, _reference(request, units))


def test_no_cache_when_other_cells_are_in_the_process(tmp_path):
    units = _units(n=2)
    request = _request(state_dir=tmp_path, pool_size=5)
    gc.collect()
    other = UnitSimulator(_request(t_end=1.0))
    try:
        arrays, log = _run(request, units)
    finally:
        del other
        gc.collect()
    assert [kind for kind, _, _ in log] == ["settled"]
    assert not any(tmp_path.iterdir()), "nothing is written by a process a worker would not be"
    assert _identical(arrays, _reference(request, units))


def _corrupt_state(folder: Path) -> None:
    (path,) = folder.glob("*.state")
    path.write_bytes(b"SaveState binary file version 6.0\n" + os.urandom(200))


def _truncate_companion(folder: Path) -> None:
    (path,) = folder.glob("*.npz")
    path.write_bytes(path.read_bytes()[:100])


def _empty_state(folder: Path) -> None:
    (path,) = folder.glob("*.state")
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [_corrupt_state, _truncate_companion, _empty_state])
def test_unusable_files_are_replaced_by_a_new_settle(tmp_path, damage):
    units = _units(n=2)
    request = _request(state_dir=tmp_path, pool_size=6)
    cold, _ = _run(request, units)
    damage(tmp_path)
    with pytest.warns(RuntimeWarning, match="not used"):
        again, log = _run(request, units)
    assert [kind for kind, _, _ in log] == ["settled"]
    assert _identical(again, cold)
    repaired, log = _run(request, units)  # the files were written again
    assert [kind for kind, _, _ in log] == ["loaded"]
    assert _identical(repaired, cold)


def test_unusable_folder_warns_and_settles(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    units = _units(n=2)
    request = _request(state_dir=blocker / "states", pool_size=6)
    with pytest.warns(RuntimeWarning, match="not usable"):
        arrays, log = _run(request, units)
    assert [kind for kind, _, _ in log] == ["settled"]
    assert _identical(arrays, _reference(request, units))


# ---------------------------------------------------------------------- across processes


@pytest.mark.parametrize("vardt", [False, True], ids=["fixed", "cvode"])
def test_state_written_by_one_process_is_read_by_another(tmp_path, vardt):
    """Process 1 settles and writes; process 2 (same weights) and process 3 (other
    weights, other tEnd) only load; every one equals the reference of its own request,
    computed in its own process; 1 and 2 give equal arrays."""
    states = tmp_path / "states"
    args = ["demo", "1" if vardt else "0", str(states)]
    cold = _script(*args, str(tmp_path / "cold.npz"), "1.5,1.5", "150")
    assert cold["identical_to_reference"], cold
    kinds = {kind for kind, _, _ in cold["state_log"]}
    assert kinds == {"settled"}
    if vardt:
        assert len(cold["state_log"]) > 1, "CVODE: one settle per synapse count"
    written = _files(states)
    assert len(written) == 2 * len(cold["state_log"])

    warm = _script(*args, str(tmp_path / "warm.npz"), "1.5,1.5", "150")
    assert warm["identical_to_reference"], warm
    assert [(k, s) for k, s, _ in warm["state_log"]] == [("loaded", s) for _, s, _ in cold["state_log"]]
    with np.load(tmp_path / "cold.npz") as a, np.load(tmp_path / "warm.npz") as b:
        assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)

    other = _script(*args, str(tmp_path / "other.npz"), "0.6,0.9", "145")
    assert other["identical_to_reference"], other
    assert {kind for kind, _, _ in other["state_log"]} == {"loaded"}
    assert _files(states) == written


def test_processes_starting_together_settle_once(tmp_path):
    """Two processes with an empty cache: one settles (the lock), the other loads."""
    procs = [
        isolated.start(HERE, "_dispatch", "demo-long", str(tmp_path / "states"), str(tmp_path / f"{i}.npz"))
        for i in range(2)
    ]
    results = [isolated.result(proc) for proc in procs]
    kinds = sorted(kind for r in results for kind, _, _ in r["state_log"])
    assert kinds == ["loaded", "settled"]
    with np.load(tmp_path / "0.npz") as a, np.load(tmp_path / "1.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


def test_state_of_another_structure_under_the_key_is_rejected(tmp_path):
    """A state file of another pool size, with a companion forged to pass every check
    before NEURON reads it: the restore's own structure check rejects it (no crash)."""
    result = _script("forged", str(tmp_path))
    assert result["warned"] and result["log"] == ["settled"], result
    assert result["identical_to_reference"], result


# ---------------------------------------------------------------------- ISF 86 cell


@pytest.mark.realdata
@pytest.mark.slow
def test_state_cache_on_isf86_vpm(isf86, tmp_path):
    """86_C2_center, VPM_C2, 3 units, fixed step, tStim 110: cold run (settles, writes),
    warm run in another process (loads that file) and the reference: equal arrays."""
    states = tmp_path / "states"
    cold = _script("isf86", str(isf86), str(states), "cached", str(tmp_path / "cold.npz"))
    warm = _script("isf86", str(isf86), str(states), "cached", str(tmp_path / "warm.npz"))
    _script("isf86", str(isf86), str(states), "reference", str(tmp_path / "ref.npz"))
    assert [k for k, _, _ in cold["state_log"]] == ["settled"]
    assert [k for k, _, _ in warm["state_log"]] == ["loaded"]
    with np.load(tmp_path / "cold.npz") as a, np.load(tmp_path / "warm.npz") as b, np.load(tmp_path / "ref.npz") as c:
        assert a.files == b.files == c.files and len(a.files) == 2 + 2 * 3
        for k in a.files:
            assert np.array_equal(a[k], c[k]), f"cold {k} differs from the reference"
            assert np.array_equal(b[k], c[k]), f"warm {k} differs from the reference"


# ---------------------------------------------------------------------- script side


def _save(path: str, arrays: list[np.ndarray]) -> None:
    np.savez(path, **{f"a{i:03d}": a for i, a in enumerate(arrays)})


def _demo_case(vardt: bool, folder: str, out: str, weights: str, t_end: str) -> dict:
    celltype = "L5tt_C2" if vardt else "L4ss_C2"
    units = _units(celltype, 5)
    w = tuple(float(x) for x in weights.split(","))
    request = _request(
        celltype,
        vardt,
        t_end=float(t_end),
        weights=w,
        state_dir=folder,
        pool_size=None if vardt else max(u.n_synapses for u in units),
    )
    with warnings.catch_warnings():
        # a warning here (another cell, an unusable file) would spoil the check
        warnings.simplefilter("error", RuntimeWarning)
        arrays, log = _run(request, units)
        ref = _reference(request, units)
    _save(out, arrays)
    return {"state_log": log, "identical_to_reference": _identical(arrays, ref)}


def _demo_long(folder: str, out: str) -> dict:
    units = _units(n=2)
    request = _request(t_stim=1000.0, t_end=1010.0, state_dir=folder, pool_size=5)
    arrays, log = _run(request, units)
    _save(out, arrays)
    return {"state_log": log}


def _forged(folder: str) -> dict:
    units = _units(n=2)
    small, large = _request(state_dir=folder, pool_size=3), _request(state_dir=folder, pool_size=6)
    _run(small, units)  # writes the state of pool 3
    gc.collect()
    sim = UnitSimulator(large)
    sim.strategy.pool.resize(6)
    key_small, key_large = sim.state_key(3), sim.state_key(6)
    structure = portable(saved_structure(sim._h))
    del sim
    gc.collect()
    root = Path(folder)
    shutil.copy(root / f"{key_small}.state", root / f"{key_large}.state")
    with np.load(root / f"{key_small}.npz") as meta:
        info = json.loads(str(meta["info"]))
        t, v = meta["t"], meta["v"]
    info.update(key=key_large, structure=structure)
    np.savez(root / f"{key_large}.npz", t=t, v=v, info=np.array(json.dumps(info)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arrays, log = _run(large, units)
    return {
        "warned": any("not used" in str(w.message) for w in caught),
        "log": [kind for kind, _, _ in log],
        "identical_to_reference": _identical(arrays, _reference(large, units)),
    }


def _isf86(folder: Path, states: str, what: str, out: str) -> dict:
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
    units = make_units(emb, "VPM_C2", "cells")[:3]
    request = SweepRequest(
        cell,
        emb.receptors["VPM_C2"],
        (1.0, 1.0),
        False,
        110.0,
        150.0,
        "restore",
        max(u.n_synapses for u in units),
        states,
    )
    if what == "reference":
        _save(out, _reference(request, units))
        return {}
    arrays, log = _run(request, units)
    _save(out, arrays)
    return {"state_log": log}


def _dispatch(what: str, *args: str) -> dict:
    """The checks run in a fresh process (:func:`_script`); each returns a JSON-able dict:
    key SIZE | demo VARDT FOLDER OUT WEIGHTS TEND | demo-long FOLDER OUT | forged FOLDER
    | isf86 DATA_FOLDER STATE_FOLDER (cached|reference) OUT"""
    if what == "key":
        return {"key": UnitSimulator(_request()).state_key(int(args[0]))}
    if what == "demo":
        return _demo_case(bool(int(args[0])), *args[1:])
    if what == "demo-long":
        return _demo_long(*args)
    if what == "forged":
        return _forged(*args)
    if what == "isf86":
        return _isf86(Path(args[0]), *args[1:])
    raise ValueError(f"unknown check {what!r}")
