"""execution: chunk planning, chunk files, resume, and equal results on every executor."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from pspsweep import execution
from pspsweep.builders import cell_spec_from_config, conductances, embedding_from_config
from pspsweep.execution import executors
from pspsweep.features import AnalysisOptions
from pspsweep.traces import TraceSet, load_traces, save_traces
from pspsweep.units import Unit, make_units


def fake_units(n: int) -> list[Unit]:
    return [Unit(i, "A", i, (i,), (0,), (0.5,)) for i in range(n)]


@pytest.mark.parametrize(
    ("n", "workers", "size"), [(1, 2, None), (10, 2, None), (176, 2, None), (1000, 2, None), (10, 1, 3), (7, 4, 100)]
)
def test_plan_chunks_covers_every_unit_once(n, workers, size):
    chunks = execution.plan_chunks(fake_units(n), workers, size)
    flat = [u.index for c in chunks for u in c.units]
    assert sorted(flat) == list(range(n))
    assert [c.index for c in chunks] == list(range(len(chunks)))
    sizes = [len(c.units) for c in chunks]
    assert max(sizes) <= (size or 64)
    if size:
        assert all(s == size for s in sizes[:-1]), "a fixed chunk size is kept"
    elif n >= 16:
        assert len(chunks) >= 2 * workers, "enough chunks to keep every worker busy"


def test_plan_chunks_largest_work_first_and_shrinking():
    """Units with more synapses start first; guided chunks shrink, so the tail is short."""
    units = [Unit(i, "A", i, tuple(range(1 + i % 5)), (0,) * (1 + i % 5), (0.5,) * (1 + i % 5)) for i in range(400)]
    chunks = execution.plan_chunks(units, 2, keys=[1000 + i for i in range(400)], work=3, first_index=7)
    order = [u for c in chunks for u in c.units]
    costs = [execution.unit_cost(u) for u in order]
    assert costs == sorted(costs, reverse=True)
    assert [c.index for c in chunks] == list(range(7, 7 + len(chunks))) and {c.work for c in chunks} == {3}
    assert all(k == 1000 + u.index for c in chunks for u, k in zip(c.units, c.keys))
    work = [sum(execution.unit_cost(u) for u in c.units) for c in chunks]
    assert work[0] > 4 * work[-1], "chunks shrink towards the end"
    assert work[-1] <= max(costs), "the last chunk is a single unit's worth"


@pytest.fixture
def demo_work(compose):
    cfg = OmegaConf.to_object(compose("run.vardt=false"))
    cell = cell_spec_from_config(cfg.neuron)
    emb = embedding_from_config(cfg.network, cell)
    from pspsweep.simulation.runner import SweepRequest

    rec = emb.receptors["L4ss_C2"]
    w = conductances(cfg.run, rec)
    request = SweepRequest(cell, rec, (w["gAMPA"], w["gNMDA"]), False, 110.0, 150.0, cfg.run.strategy.value)
    return execution.SweepWork(request, AnalysisOptions()), make_units(emb, "L4ss_C2", "cells")


def run_all(work, units, store, executor):
    chunks = execution.plan_chunks(units, executor.workers, 3)
    try:
        report = execution.run_chunks(work, chunks, store, executor)
    finally:
        executor.close()
    return chunks, report


def test_in_process_equals_reference_loop_and_assembles(demo_work, tmp_path):
    work, units = demo_work
    store = execution.ChunkStore(tmp_path / "chunks")
    chunks, report = run_all(work, units, store, execution.InProcess())
    assert report.units_simulated == len(units) and report.chunks_reused == 0
    from helpers.sweep import simulate_sweep

    direct, _ = simulate_sweep(work.request, units)
    path = execution.assemble_traces(store, chunks, tmp_path / "traces.npz")
    assembled = load_traces(path)
    expected = load_traces(save_traces(direct, tmp_path / "direct.npz"))
    assert sorted(assembled.units) == list(range(len(units)))  # traces in the order simulated
    order = [int(u) for u in assembled.units]
    for a, b in zip(
        assembled.ts + assembled.vs + [assembled.t_baseline, assembled.v_baseline],
        [expected.ts[i] for i in order] + [expected.vs[i] for i in order] + [expected.t_baseline, expected.v_baseline],
    ):
        np.testing.assert_array_equal(a, b)
    amps, peaks = execution.collect_features(store, chunks)
    assert amps.shape == (len(units),) and np.all(amps > 0)


def test_resume_skips_stored_chunks(demo_work, tmp_path):
    work, units = demo_work
    chunks = execution.plan_chunks(units, 1, 3)
    store = execution.ChunkStore.for_sweep(tmp_path, work, chunks)
    # as if killed after two chunks: only those are on disk
    first = execution.run_chunks(work, chunks[:2], store, execution.InProcess())
    assert first.units_simulated == 6
    (store.folder / "chunk-000009.tmp123.npz").write_bytes(b"partial")  # a half-written file is ignored
    seen = []
    again = execution.run_chunks(work, chunks, store, execution.InProcess(), on_done=seen.append)
    assert again.chunks_reused == 2 and again.units_simulated == len(units) - 6
    assert sum(len(keys) for keys in seen) == len(units), "progress counts reused chunks too"
    fresh = execution.ChunkStore(tmp_path / "fresh")
    execution.run_chunks(work, chunks, fresh, execution.InProcess())
    a = execution.collect_features(store, chunks)
    b = execution.collect_features(fresh, chunks)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_store_key_depends_on_work_and_plan(demo_work, tmp_path):
    work, units = demo_work
    c3 = execution.plan_chunks(units, 1, 3)
    c4 = execution.plan_chunks(units, 1, 4)
    assert (
        execution.ChunkStore.for_sweep(tmp_path, work, c3).folder
        != execution.ChunkStore.for_sweep(tmp_path, work, c4).folder
    )
    other = execution.SweepWork(work.request, AnalysisOptions(convention="isf"))
    assert (
        execution.ChunkStore.for_sweep(tmp_path, work, c3).folder
        != execution.ChunkStore.for_sweep(tmp_path, other, c3).folder
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["local", "dask"])
def test_two_workers_give_identical_results(demo_work, tmp_path, kind):
    work, units = demo_work
    serial = execution.ChunkStore(tmp_path / "serial")
    chunks, _ = run_all(work, units, serial, execution.InProcess())
    parallel = execution.ChunkStore(tmp_path / kind)
    executor = execution.make_executor(kind, 2)
    assert executor.workers == 2
    _, report = run_all(work, units, parallel, executor)
    assert len(report.per_worker_s) == 2, "both workers got chunks"
    a = load_traces(execution.assemble_traces(serial, chunks, tmp_path / "a.npz"))
    b = load_traces(execution.assemble_traces(parallel, chunks, tmp_path / "b.npz"))
    for x, y in zip(a.ts + a.vs, b.ts + b.vs):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(
        execution.collect_features(serial, chunks)[0], execution.collect_features(parallel, chunks)[0]
    )


@pytest.mark.slow
def test_workers_that_prebuilt_the_cell_give_identical_results(demo_work, tmp_path):
    work, units = demo_work
    serial = execution.ChunkStore(tmp_path / "serial")
    chunks, _ = run_all(work, units, serial, execution.InProcess())
    executor = execution.LocalProcesses(2, start=True)
    executor.prebuild(work.request.cell)
    prebuilt = execution.ChunkStore(tmp_path / "prebuilt")
    run_all(work, units, prebuilt, executor)
    a = load_traces(execution.assemble_traces(serial, chunks, tmp_path / "a.npz"))
    b = load_traces(execution.assemble_traces(prebuilt, chunks, tmp_path / "b.npz"))
    for x, y in zip(a.ts + a.vs, b.ts + b.vs):
        np.testing.assert_array_equal(x, y)


def test_prepare_hands_over_the_cell_before_reading_the_embedding(compose, tmp_path):
    from pspsweep.errors import PspSweepError
    from pspsweep.pipeline import prepare

    cfg = OmegaConf.to_object(
        compose(
            "network=isf",
            f"network.syn_file={tmp_path / 'missing.syn'}",
            f"network.con_file={tmp_path / 'missing.con'}",
        )
    )
    cells = []
    with pytest.raises(PspSweepError, match="missing.syn"):
        prepare(cfg, on_cell=cells.append)
    assert len(cells) == 1
    assert [sec.name for sec in cells[0].sections] == [sec.name for sec in cell_spec_from_config(cfg.neuron).sections]


def test_record_dt_resamples_stored_traces(demo_work, tmp_path):
    work, units = demo_work
    coarse = execution.SweepWork(work.request, work.options, record_dt=0.5)
    store = execution.ChunkStore(tmp_path / "c")
    chunks, _ = run_all(coarse, units[:3], store, execution.InProcess())
    traces = load_traces(execution.assemble_traces(store, chunks, tmp_path / "t.npz"))
    np.testing.assert_allclose(traces.ts[0], np.arange(0, 150.25, 0.5))
    fine = execution.ChunkStore(tmp_path / "f")
    run_all(work, units[:3], fine, execution.InProcess())
    # features come from the full-resolution traces either way
    np.testing.assert_array_equal(
        execution.collect_features(store, chunks)[0], execution.collect_features(fine, chunks)[0]
    )


def test_assembled_file_matches_save_traces_layout(tmp_path):
    rng = np.random.default_rng(1)
    ts = [np.sort(rng.uniform(0, 10, n)) for n in (3, 4, 2)]
    vs = [rng.normal(size=len(t)) for t in ts]
    store = execution.ChunkStore(tmp_path / "s")
    units = fake_units(3)
    chunks = [execution.ChunkTask(0, tuple(units[:2])), execution.ChunkTask(1, tuple(units[2:]))]
    for c, sl in zip(chunks, (slice(0, 2), slice(2, 3))):
        store.write(
            execution.ChunkResult(
                c.index,
                np.array([u.index for u in c.units]),
                ts[sl],
                vs[sl],
                np.zeros(len(c.units)),
                np.zeros(len(c.units)),
                0.1,
                "w",
                (np.arange(3.0), np.ones(3)) if c.index == 0 else None,
            )
        )
    got = dict(np.load(execution.assemble_traces(store, chunks, tmp_path / "a.npz")))
    want = dict(np.load(save_traces(TraceSet(np.arange(3.0), np.ones(3), ts, vs, np.arange(3)), tmp_path / "b.npz")))
    assert got.keys() == want.keys()
    for k in got:
        np.testing.assert_array_equal(got[k], want[k])
        assert got[k].dtype == want[k].dtype, k


def crash_once_on_unit_4(work, chunk, with_baseline=False):
    """A chunk function whose worker dies (like a segfault) the first time it sees unit 4."""
    import os

    marker = Path(os.environ["PSPSWEEP_TEST_CRASH_MARKER"])
    if any(u.index == 4 for u in chunk.units) and not marker.exists():
        marker.write_text("crashed")
        os._exit(139)
    return execution.simulate_chunk(work, chunk, with_baseline)


def crash_always_on_unit_4(work, chunk, with_baseline=False):
    import os

    if any(u.index == 4 for u in chunk.units):
        os._exit(139)
    return execution.simulate_chunk(work, chunk, with_baseline)


@pytest.mark.slow
def test_crashed_worker_chunk_is_retried_once(demo_work, tmp_path, monkeypatch):
    work, units = demo_work
    monkeypatch.setenv("PSPSWEEP_TEST_CRASH_MARKER", str(tmp_path / "marker"))
    chunks = execution.plan_chunks(units, 2, 3)
    executor = execution.LocalProcesses(2)
    try:
        results = list(executor.run(crash_once_on_unit_4, [(work, c, False) for c in chunks]))
    finally:
        executor.close()
    assert (tmp_path / "marker").exists(), "the worker did crash"
    assert sorted(r.index for r in results) == [c.index for c in chunks], "every chunk completed once"
    executor = execution.LocalProcesses(2)
    try:
        with pytest.raises(execution.WorkerCrash, match="L4ss_C2 unit 4"):
            list(executor.run(crash_always_on_unit_4, [(work, c, False) for c in chunks]))
    finally:
        executor.close()


def test_worker_start_imports_stay_light():
    """A spawned worker imports the console script's module again (``[project.scripts]``
    points at :mod:`pspsweep.entry`) and then the simulation modules: none of that may pull
    in Hydra, OmegaConf, MLflow, pandas or matplotlib, which would cost every worker seconds."""
    import subprocess
    import sys
    import tomllib

    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts and all(target.startswith("pspsweep.entry:") for target in scripts.values())
    heavy = ("hydra", "omegaconf", "mlflow", "pandas", "matplotlib")
    code = (
        "import sys, pspsweep.entry, pspsweep.execution, pspsweep.simulation.cell, pspsweep.simulation.runner; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"a worker imports {out.stdout.strip()}"


def test_garbage_collection_is_turned_on_again_after_start_up():
    """``pspsweep`` starts with the cyclic collector off (start-up speed); a finished job
    or a starting multirun turns it on again, without a full collection."""
    import gc

    from pspsweep.entry import collect_garbage_again

    was_enabled = gc.isenabled()
    try:
        gc.disable()
        collect_garbage_again()
        assert gc.isenabled() and gc.get_freeze_count() > 0
        collect_garbage_again()  # already on: nothing changes
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        if not was_enabled:
            gc.disable()


def test_manager_thread_race_of_python_3_11_is_not_printed():
    """Only CPython's known InvalidStateError in a breaking pool's manager thread is
    dropped (it printed a traceback after the one-line error); everything else is passed on."""
    import threading
    from concurrent.futures import InvalidStateError
    from types import SimpleNamespace

    class _ExecutorManagerThread:  # the type name is what the hook recognises
        pass

    seen: list = []
    hook = executors._ignore_manager_race(seen.append)
    hook(SimpleNamespace(exc_type=InvalidStateError, thread=_ExecutorManagerThread()))
    assert seen == []
    others = [
        SimpleNamespace(exc_type=ValueError, thread=_ExecutorManagerThread()),
        SimpleNamespace(exc_type=InvalidStateError, thread=threading.Thread()),
    ]
    for args in others:
        hook(args)
    assert seen == others


def test_execution_is_a_package_of_small_modules():
    """Issue 15: ``execution.py`` (964 lines: plan, worker, store, executors and a second
    traces.npz writer in one module) is a package with one module per job, none over 500
    lines and no function over 60; the one traces.npz writer lives in :mod:`pspsweep.traces`."""
    import ast

    import pspsweep.traces

    package = Path(execution.__file__).parent
    assert package.name == "execution"
    assert {"plan", "worker", "store", "executors", "run"} <= {p.stem for p in package.glob("*.py")}
    for path in [*package.glob("*.py"), Path(pspsweep.traces.__file__)]:
        text = path.read_text()
        assert len(text.splitlines()) <= 500, path.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno - node.lineno + 1 <= 60, f"{path.name}: {node.name}"
    assert execution.assemble_traces is pspsweep.traces.assemble_traces


def test_dask_logging_is_quiet_unless_asked(monkeypatch):
    """Dask's own setting (DASK_LOGGING__DISTRIBUTED) keeps its INFO lines out; a user's
    value of it is kept."""
    import logging

    logger = logging.getLogger("distributed")
    monkeypatch.setattr(logger, "level", logger.level)  # restored after the test
    monkeypatch.delenv("DASK_LOGGING__DISTRIBUTED", raising=False)
    executors.quiet_dask_logging()
    assert os.environ["DASK_LOGGING__DISTRIBUTED"] == "warning"  # inherited by the cluster's workers
    assert not logger.isEnabledFor(logging.INFO)
    monkeypatch.setenv("DASK_LOGGING__DISTRIBUTED", "info")
    executors.quiet_dask_logging()
    assert logger.isEnabledFor(logging.INFO)
