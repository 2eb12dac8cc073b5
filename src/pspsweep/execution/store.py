"""The chunk store: a folder of finished chunk files for one sweep, and what is read back.

Every finished chunk is written at once to its own file, so the launching process never
holds more than a few chunks in memory and an interrupted sweep can continue from the
chunks on disk. A sweep claims its folder with a lock while it runs.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import weakref
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pspsweep.errors import PspSweepError
from pspsweep.execution.plan import ChunkTask
from pspsweep.execution.trials import Trials
from pspsweep.execution.worker import CHUNK_FORMAT_VERSION, ChunkResult, SweepWork, as_work_list
from pspsweep.files import write_atomically, write_error
from pspsweep.hashing import content_hash

#: members every chunk file has (a file without one of them is not a finished chunk)
CHUNK_MEMBERS = ("units", "offsets", "t", "v", "amplitudes", "t_peaks", "work_s", "worker")


def _lock_exclusively(lock_path: Path):
    """The open lock file at ``lock_path``, locked by this process, or None if another
    live process holds it (the kernel drops a killed process's lock)."""
    while True:
        handle = open(lock_path, "a")  # noqa: SIM115 - held for the sweep, closed on release
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        try:
            same = os.stat(lock_path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return handle
        handle.close()  # the holder removed this lock file meanwhile: lock the new one


def _give_up_claim(handle, lock_path: Path, private: Path | None) -> None:
    """Release a claimed chunk folder: delete a private one, unlock the shared one (its
    lock file goes too, while still locked, so :func:`_lock_exclusively` sees that)."""
    if private is not None:
        shutil.rmtree(private, ignore_errors=True)
    if handle is not None:
        lock_path.unlink(missing_ok=True)
        handle.close()


@dataclass
class ChunkStore:
    """A folder of finished chunk files for one sweep (keyed by the sweep's content).

    A sweep claims its folder (:meth:`claim`) for as long as it runs, so that two
    commands running the same sweep never delete each other's chunks: the second one
    then works in a private folder of its own.
    """

    folder: Path
    _claim: Any = field(default=None, init=False, repr=False, compare=False)

    def path(self, index: int) -> Path:
        """File of chunk ``index``."""
        return self.folder / f"chunk-{index:06d}.npz"

    def write(self, result: ChunkResult) -> Path:
        """Write a chunk atomically (a killed writer leaves no partial chunk file).

        Raises:
            PspSweepError: the folder is not writable (disk full, read-only, no
                permission); no partial file is left.
        """
        lengths = np.array([len(t) for t in result.ts], dtype=np.int64)
        arrays: dict[str, Any] = {
            "units": result.units,
            "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            "t": np.concatenate(result.ts) if result.ts else np.zeros(0),
            "v": np.concatenate(result.vs) if result.vs else np.zeros(0),
            "amplitudes": result.amplitudes,
            "t_peaks": result.t_peaks,
            "work_s": np.array(result.work_s),
            "worker": np.array(result.worker),
        }
        if result.baseline is not None:
            arrays["t_baseline"], arrays["v_baseline"] = result.baseline
        if result.protocol_values is not None:
            arrays["protocol_values"] = np.array(json.dumps(result.protocol_values))
        if result.trials is not None:
            arrays.update(result.trials.arrays())

        def write(tmp: Path) -> None:
            self.folder.mkdir(parents=True, exist_ok=True)
            np.savez(tmp, **arrays)

        return write_atomically(self.path(result.index), write, "a chunk file", "free space or set executor.work_dir")

    def done(self) -> set[int]:
        """Indices of the chunks already on disk."""
        if not self.folder.is_dir():
            return set()
        return {int(p.stem.split("-")[1]) for p in self.folder.glob("chunk-*.npz") if ".tmp" not in p.name}

    def problem(self, chunk: ChunkTask) -> str | None:
        """Why the stored file of ``chunk`` cannot be used (truncated, corrupt, missing
        members, other units), or None when it is a complete chunk file."""
        try:
            with zipfile.ZipFile(self.path(chunk.index)) as zf:
                bad = zf.testzip()  # reads every member and checks its CRC
                if bad is not None:
                    return f"member {bad} is corrupt"
            with np.load(self.path(chunk.index)) as d:
                missing = [m for m in CHUNK_MEMBERS if m not in d]
                if missing:
                    return f"members {', '.join(missing)} are missing"
                if not np.array_equal(d["units"], chunk.result_keys()):
                    return "it holds other units"
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def read(self, index: int) -> ChunkResult:
        """Load a chunk file."""
        with np.load(self.path(index)) as d:
            off = d["offsets"]
            t, v = d["t"], d["v"]
            baseline = (d["t_baseline"], d["v_baseline"]) if "t_baseline" in d else None
            values = json.loads(str(d["protocol_values"])) if "protocol_values" in d else None
            trials = Trials.from_arrays(d)
            return ChunkResult(
                index=index,
                units=d["units"],
                ts=[t[a:b] for a, b in zip(off[:-1], off[1:])],
                vs=[v[a:b] for a, b in zip(off[:-1], off[1:])],
                amplitudes=d["amplitudes"],
                t_peaks=d["t_peaks"],
                work_s=float(d["work_s"]),
                worker=str(d["worker"]),
                baseline=baseline,
                protocol_values=values,
                trials=trials,
            )

    def baseline(self, chunks: Sequence[ChunkTask]) -> tuple[np.ndarray, np.ndarray]:
        """The baseline trace stored with one of the chunks."""
        return self._with_baseline(chunks).baseline  # type: ignore[return-value]

    def protocol_values(self, chunks: Sequence[ChunkTask]) -> dict[str, float]:
        """What the protocol found before the runs, stored with the baseline."""
        return self._with_baseline(chunks).protocol_values or {}

    def _with_baseline(self, chunks: Sequence[ChunkTask]) -> ChunkResult:
        for c in chunks:
            result = self.read(c.index)
            if result.baseline is not None:
                return result
        raise PspSweepError(f"no chunk in {self.folder} holds the baseline trace")

    def trace_index(self, chunks: Sequence[ChunkTask]) -> tuple[np.ndarray, np.ndarray]:
        """(result key, number of samples) of every stored trace, in chunk order, without
        reading the samples."""
        keys, lengths = [], []
        for c in chunks:
            with np.load(self.path(c.index)) as d:
                keys.append(d["units"])
                lengths.append(np.diff(d["offsets"]))
        if not keys:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(keys).astype(np.int64), np.concatenate(lengths)

    def samples(self, chunks: Sequence[ChunkTask], name: str) -> Iterator[np.ndarray]:
        """The ``t`` or ``v`` samples of all traces, one chunk at a time (in chunk order)."""
        for c in chunks:
            with np.load(self.path(c.index)) as d:
                yield d[name]

    def features(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(unit indices, amplitudes, peak times, work seconds) of a chunk, without its traces."""
        with np.load(self.path(index)) as d:
            return d["units"], d["amplitudes"], d["t_peaks"], float(d["work_s"])

    @staticmethod
    def for_sweep(
        root: Path, works: SweepWork | Sequence[SweepWork], chunks: Sequence[ChunkTask], *, salt: str = ""
    ) -> ChunkStore:
        """The store of one sweep: a folder named by everything its chunk files depend on.

        That is the works, every unit in full (its synapses' sections and positions
        too), the chunk plan, the pspsweep version and chunk format, and ``salt`` (the
        caller's key for what else the results depend on, e.g. input file hashes).
        """
        import pspsweep

        plan = [(c.index, c.work, tuple(c.result_keys()), c.units) for c in chunks]
        prints = [w.fingerprint() for w in as_work_list(works)]
        return ChunkStore(root / content_hash(pspsweep.__version__, CHUNK_FORMAT_VERSION, salt, prints, plan)[:24])

    def claim(self) -> ChunkStore:
        """Lock this folder for this sweep; if another live command holds it, switch to a
        private folder beside it (removed again on :meth:`release`). Returns self."""
        if self._claim is not None:
            return self
        root = self.folder.parent
        try:
            root.mkdir(parents=True, exist_ok=True)
            lock_path = root / f"{self.folder.name}.lock"
            handle = _lock_exclusively(lock_path)
        except OSError as exc:
            raise write_error("the chunk folder", root, exc, "set executor.work_dir to a writable folder") from None
        private = None
        if handle is None:
            # the same sweep runs in another command: never touch its chunks
            private = root / f"{self.folder.name}.{os.getpid()}-{secrets.token_hex(4)}"
            self.folder = private
        # also at exit or when dropped, so that no failure path keeps the lock or a private folder
        self._claim = weakref.finalize(self, _give_up_claim, handle, lock_path, private)
        return self

    def release(self) -> None:
        """Unlock the claimed folder and keep its chunks for a resume (a private folder
        cannot be resumed and is deleted)."""
        if self._claim is not None:
            self._claim()

    def remove(self) -> None:
        """Delete the folder (after the results are assembled) and release the claim."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.release()


def collect_features(store: ChunkStore, chunks: Sequence[ChunkTask]) -> tuple[np.ndarray, np.ndarray]:
    """Amplitudes and peak times of all units, indexed by their result keys.

    With the default keys (unit indices 0..n-1) that is unit order; positions no chunk
    covers hold NaN. Per-pulse features (one column per pulse) keep their columns.
    """
    keys, amps, peaks = [], [], []
    for c in chunks:
        k, a, p, _ = store.features(c.index)
        keys.append(k)
        amps.append(a)
        peaks.append(p)
    if not keys:
        return np.zeros(0), np.zeros(0)
    k = np.concatenate(keys)
    amps_all, peaks_all = np.concatenate(amps), np.concatenate(peaks)
    amplitudes = np.full((int(k.max()) + 1, *amps_all.shape[1:]), np.nan)
    t_peaks = np.full((int(k.max()) + 1, *peaks_all.shape[1:]), np.nan)
    amplitudes[k], t_peaks[k] = amps_all, peaks_all
    return amplitudes, t_peaks


def find_baseline(store: ChunkStore, chunks: Sequence[ChunkTask]) -> tuple[np.ndarray, np.ndarray]:
    """The baseline trace stored with one of the chunks (:meth:`ChunkStore.baseline`)."""
    return store.baseline(chunks)


def read_unit_traces(
    store: ChunkStore, chunks: Sequence[ChunkTask], wanted: set[int]
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The stored traces of the units in ``wanted`` (by result key), read chunk by chunk."""
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for c in chunks:
        if not wanted.intersection(int(k) for k in c.result_keys()):
            continue
        result = store.read(c.index)
        for u, t, v in zip(result.units, result.ts, result.vs):
            if int(u) in wanted:
                out[int(u)] = (t, v)
    return out
