"""execution.ChunkStore: what a chunk folder is keyed on, unreadable chunk files, full
disks, and two commands running the same sweep at once.

Chunks are "simulated" by a stand-in executor whose results follow from the units'
content (no NEURON), so a stale or mixed-up chunk shows in the numbers.
"""

from __future__ import annotations

import dataclasses
import errno
import multiprocessing
import os
import re
import signal
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import pspsweep
import pspsweep.execution.worker
import pspsweep.files
import pspsweep.traces
from pspsweep import execution
from pspsweep.errors import PspSweepError
from pspsweep.units import Unit

WORK = execution.SweepWork(request="the same simulation", options=None)


def units(n: int = 30, shift: float = 0.0) -> list[Unit]:
    return [Unit(i, "A", 100 + i, (i,), (i % 4,), (0.25 + shift,)) for i in range(n)]


def plan(unit_list: list[Unit]) -> list[execution.ChunkTask]:
    return execution.plan_chunks(unit_list, 1, 10)


def fake_result(chunk: execution.ChunkTask, with_baseline: bool) -> execution.ChunkResult:
    """A chunk's 'traces' and amplitudes computed from its units' positions."""
    ts = [np.linspace(0, 10, 5 + u.index % 3) for u in chunk.units]
    vs = [np.full(len(t), u.sections[0] + u.xs[0]) for t, u in zip(ts, chunk.units)]
    amps = np.array([u.sections[0] + u.xs[0] for u in chunk.units])
    return execution.ChunkResult(
        chunk.index,
        chunk.result_keys(),
        ts,
        vs,
        amps,
        amps + 110.0,
        0.01,
        "fake",
        (np.arange(3.0), np.zeros(3)) if with_baseline else None,
    )


class Fake(execution.InProcess):
    """Runs every chunk with :func:`fake_result`, ``delay`` seconds each."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def run(self, fn, tasks):
        for _work, chunk, with_baseline in tasks:
            time.sleep(self.delay)
            yield fake_result(chunk, with_baseline)


def sweep_results(store: execution.ChunkStore, chunks, out: Path) -> dict[str, np.ndarray]:
    """Features and the assembled traces.npz of a finished sweep."""
    amps, peaks = execution.collect_features(store, chunks)
    traces = dict(np.load(execution.assemble_traces(store, chunks, out)))
    return {"amplitudes": amps, "t_peaks": peaks, **traces}


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        np.testing.assert_array_equal(value, b[key], err_msg=key)


def clean_run(tmp_path: Path, chunks) -> dict[str, np.ndarray]:
    store = execution.ChunkStore(tmp_path / "clean")
    execution.run_chunks(WORK, chunks, store, Fake())
    return sweep_results(store, chunks, tmp_path / "clean.npz")


# ----------------------------------------------------------------------------- the folder key


def test_the_folder_key_covers_every_unit_in_full_the_version_and_a_salt(tmp_path, monkeypatch):
    """Against the issue: the key held only (cell type, index), so a changed embedding
    (same units, synapses moved) resumed from stale chunks."""
    base = execution.ChunkStore.for_sweep(tmp_path, WORK, plan(units())).folder
    moved = execution.ChunkStore.for_sweep(tmp_path, WORK, plan(units(shift=0.5))).folder
    other_sections = [dataclasses.replace(u, sections=(u.sections[0] + 1,)) for u in units()]
    other_cells = [dataclasses.replace(u, cell_id=u.cell_id + 1) for u in units()]
    other_synapses = [dataclasses.replace(u, synapse_ids=(u.synapse_ids[0] + 1,)) for u in units()]
    folders = {base, moved} | {
        execution.ChunkStore.for_sweep(tmp_path, WORK, plan(us)).folder
        for us in (other_sections, other_cells, other_synapses)
    }
    folders.add(execution.ChunkStore.for_sweep(tmp_path, WORK, plan(units()), salt="other inputs").folder)
    monkeypatch.setattr(pspsweep, "__version__", "999.0", raising=False)
    folders.add(execution.ChunkStore.for_sweep(tmp_path, WORK, plan(units())).folder)
    monkeypatch.undo()
    monkeypatch.setattr(pspsweep.execution.worker, "CHUNK_FORMAT_VERSION", 999)
    folders.add(execution.ChunkStore.for_sweep(tmp_path, WORK, plan(units())).folder)
    monkeypatch.undo()
    assert len(folders) == 8, "each change gives another folder"
    assert execution.ChunkStore.for_sweep(tmp_path, WORK, plan(units())).folder == base, "and the key is stable"


def test_resume_never_reuses_chunks_of_another_embedding(tmp_path):
    """The issue's resume: 10 chunks done, then the embedding changes; the resumed sweep
    must simulate everything again and match a clean run of the new embedding."""
    old, new = plan(units()), plan(units(shift=0.5))
    interrupted = execution.ChunkStore.for_sweep(tmp_path, WORK, old)
    execution.run_chunks(WORK, old[:2], interrupted, Fake())
    resumed = execution.ChunkStore.for_sweep(tmp_path, WORK, new)
    report = execution.run_chunks(WORK, new, resumed, Fake())
    assert report.chunks_reused == 0
    assert_same(sweep_results(resumed, new, tmp_path / "t.npz"), clean_run(tmp_path, new))


# ----------------------------------------------------------------------------- unreadable chunk files


def test_unreadable_chunk_files_are_simulated_again(tmp_path):
    """Against the issue's 'internal error (BadZipFile)' on every rerun: a truncated chunk
    file (here the one with the baseline), one missing a member and one with other units
    are deleted with a warning naming them, simulated again, and the results equal a
    clean run's."""
    chunks = plan(units())
    store = execution.ChunkStore(tmp_path / "interrupted")
    execution.run_chunks(WORK, chunks[:3], store, Fake())
    truncated = store.path(0)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    with np.load(store.path(1)) as d:
        np.savez(store.path(1), **{k: d[k] for k in d if k != "amplitudes"})
    with np.load(store.path(2)) as d:
        np.savez(store.path(2), **{**{k: d[k] for k in d}, "units": d["units"] + 1})
    with pytest.warns(RuntimeWarning) as caught:
        report = execution.run_chunks(WORK, chunks, store, Fake())
    warned = "\n".join(str(w.message) for w in caught)
    assert all(str(store.path(i)) in warned for i in range(3)), warned
    assert report.chunks_reused == 0 and report.units_simulated == 30
    assert_same(sweep_results(store, chunks, tmp_path / "t.npz"), clean_run(tmp_path, chunks))


# ----------------------------------------------------------------------------- full disks


def enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_while_writing_a_chunk_is_one_error_and_leaves_no_partial_file(tmp_path, monkeypatch):
    """Against the issue's chained tracebacks and leftover partial chunk file."""

    def half_written(file, **_arrays):
        Path(file).write_bytes(b"PK partial")
        enospc()

    chunks = plan(units())
    store = execution.ChunkStore(tmp_path / "chunks")
    execution.run_chunks(WORK, chunks[:1], store, Fake())
    monkeypatch.setattr(np, "savez", half_written)
    with pytest.raises(
        PspSweepError, match=re.escape(f"{store.folder}: no space left on device: free space or set executor.work_dir")
    ) as caught:
        execution.run_chunks(WORK, chunks, store, Fake())
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert [p.name for p in store.folder.iterdir()] == ["chunk-000000.npz"]
    monkeypatch.undo()
    report = execution.run_chunks(WORK, chunks, store, Fake())  # space freed: the resume is complete
    assert report.chunks_reused == 1
    assert_same(sweep_results(store, chunks, tmp_path / "t.npz"), clean_run(tmp_path, chunks))


def test_a_full_disk_while_assembling_traces_leaves_no_temporary_file(tmp_path, monkeypatch):
    chunks = plan(units())
    store = execution.ChunkStore(tmp_path / "chunks")
    execution.run_chunks(WORK, chunks, store, Fake())
    out = tmp_path / "out"
    out.mkdir()
    real = pspsweep.traces._write_npy_member

    def full_at_v(zf, name, *args):
        if name == "v":
            enospc()
        real(zf, name, *args)

    monkeypatch.setattr(pspsweep.traces, "_write_npy_member", full_at_v)
    with pytest.raises(PspSweepError, match=re.escape(f"traces.npz in {out}: no space left on device")):
        execution.assemble_traces(store, chunks, out / "traces.npz")
    assert list(out.iterdir()) == []


# ----------------------------------------------------------------------------- two commands at once


def claim_run_assemble(root: str, out: str, ready, delay: float) -> None:
    """One command's sweep: claim, run, assemble, remove (in a process of its own)."""
    chunks = plan(units())
    store = execution.ChunkStore.for_sweep(Path(root), WORK, chunks).claim()
    ready.wait(timeout=60)  # both have claimed before either runs
    execution.run_chunks(WORK, chunks, store, Fake(delay))
    execution.assemble_traces(store, chunks, Path(out))
    store.remove()


def test_two_identical_sweeps_at_once_both_finish_and_keep_apart(tmp_path):
    """Against the issue's FileNotFoundError: two commands run the same sweep over an
    existing (interrupted) chunk folder at the same time; whichever finishes first must
    not delete what the other uses. Both finish with a clean run's traces, and nothing
    is left in the work folder afterwards."""
    root = tmp_path / "chunks"
    chunks = plan(units())
    execution.run_chunks(WORK, chunks[:1], execution.ChunkStore.for_sweep(root, WORK, chunks), Fake())
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Barrier(2)
    procs = [
        ctx.Process(target=claim_run_assemble, args=(str(root), str(tmp_path / f"{i}.npz"), ready, d))
        for i, d in enumerate((0.05, 0.1))
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    want = {k: v for k, v in clean_run(tmp_path, chunks).items() if k not in ("amplitudes", "t_peaks")}
    for i in range(2):
        assert_same(dict(np.load(tmp_path / f"{i}.npz")), want)
    assert list(root.iterdir()) == []


def claim_and_get_killed(root: str) -> None:
    chunks = plan(units())
    store = execution.ChunkStore.for_sweep(Path(root), WORK, chunks).claim()
    execution.run_chunks(WORK, chunks[:2], store, Fake())
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_sweep_leaves_its_folder_to_the_resume(tmp_path):
    """The claim of a killed command ends with it: the next command resumes in the same
    folder, from its chunks."""
    root = tmp_path / "chunks"
    p = multiprocessing.get_context("spawn").Process(target=claim_and_get_killed, args=(str(root),))
    p.start()
    p.join(timeout=60)
    assert p.exitcode == -signal.SIGKILL
    chunks = plan(units())
    store = execution.ChunkStore.for_sweep(root, WORK, chunks)
    main_folder = store.folder
    assert store.claim().folder == main_folder
    assert execution.run_chunks(WORK, chunks, store, Fake()).chunks_reused == 2
    store.remove()
    assert list(root.iterdir()) == []


def test_a_second_claim_gets_a_private_folder_that_goes_on_release(tmp_path):
    chunks = plan(units())
    first = execution.ChunkStore.for_sweep(tmp_path, WORK, chunks).claim()
    second = execution.ChunkStore.for_sweep(tmp_path, WORK, chunks).claim()
    assert second.folder != first.folder and second.folder.name.startswith(first.folder.name + ".")
    execution.run_chunks(WORK, chunks[:1], first, Fake())
    execution.run_chunks(WORK, chunks[:1], second, Fake())
    second.release()
    first.release()
    assert not second.folder.exists(), "a private folder cannot be resumed: it goes"
    assert first.done() == {0}, "the shared one stays for a resume"
    again = execution.ChunkStore.for_sweep(tmp_path, WORK, chunks).claim()
    assert again.folder == first.folder, "released: the next command gets the shared folder"
    again.remove()


def test_assembled_traces_use_a_temporary_name_of_their_own(tmp_path, monkeypatch):
    """Two writers of one traces.npz (or a leftover of a killed one) never share a
    temporary file: each name carries the pid and a random part."""
    names = {pspsweep.files.unique_tmp(tmp_path / "traces.npz").name for _ in range(20)}
    assert len(names) == 20 and all(n.startswith("traces.tmp") and n.endswith(".npz") for n in names)
    chunks = plan(units())
    store = execution.ChunkStore(tmp_path / "chunks")
    execution.run_chunks(WORK, chunks, store, Fake())
    leftover = tmp_path / "traces.tmp.npz"
    leftover.write_bytes(b"")  # what the killed command left
    execution.assemble_traces(store, chunks, tmp_path / "traces.npz")
    assert zipfile.is_zipfile(tmp_path / "traces.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunks", "traces.npz", "traces.tmp.npz"]
