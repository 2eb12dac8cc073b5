"""The on-disk settled-state cache shared by processes (``executor.state_dir``).

The settle does not depend on the weights (parked synapses get no event), so every
worker process and every job of a multirun over conductances would repeat the same run.
A settle is written to ``<folder>/<key>.state`` (``SaveState.fwrite``) with a companion
``<key>.npz`` (the settle's samples, the saved t and soma v, the portable structure, the
state file's SHA-256; fixed step also the baseline's continuation, the *tail*). An
exclusive ``fcntl`` lock on ``<key>.lock`` makes processes that start together settle
once. Anything unusable gives a warning and a settle in the process, which replaces the
files. See docs/simulation.md for the whole story.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

import pspsweep
from pspsweep.errors import PspSweepError
from pspsweep.hashing import content_hash, file_sha256
from pspsweep.simulation import settings
from pspsweep.simulation.saved import Settled, mechanism_names, portable, structure

#: Version of the settled-state cache files; part of their key (bump on any change of
#: what a state file or its companion holds, or of how the settle run is done).
STATE_FORMAT_VERSION = 1

log = logging.getLogger(__name__)


def state_key(h: Any, request: Any, size: int, protocol_identity: tuple = ()) -> str:
    """The cache key of the settle run of ``request`` with a pool of ``size`` synapses.

    A SHA-256 (:func:`pspsweep.hashing.content_hash`) over everything that determines the
    saved state and the samples recorded up to it: the cell (every field but the
    mechanism folders' paths), the mechanism sources (content hash) and the mechanism
    types loaded in this process, NEURON's version and build, the platform, the
    integrator (CVODE or fixed step, dt, tolerances, secondorder), the engine (the pool's
    NetCon delays and the mechanism build follow it), celsius, v_init, tStim (tEnd only
    when it ends the settle early), the pool (size, receptor mechanism and parameters,
    park segment), what the protocol changes before tStim, ``STATE_FORMAT_VERSION`` and
    the pspsweep version. Not the NetCon weights: they are set after every restore.
    """
    from pspsweep.provenance import neuron_version
    from pspsweep.simulation.mechanisms import source_hash

    cell = request.cell
    items = (
        "pspsweep settled state",
        STATE_FORMAT_VERSION,
        pspsweep.__version__,
        replace(cell, mechanism_dirs=()),
        source_hash(cell.mechanism_dirs) if cell.mechanism_dirs else None,
        tuple(mechanism_names(h, 0)),
        tuple(mechanism_names(h, 1)),
        neuron_version(),
        str(h.nrnversion()),
        (platform.machine(), sys.byteorder, platform.libc_ver()),
        settings.integrator(h, request.vardt),
        ("engine", request.engine, request.gpu),
        settings.second_order(h),
        (cell.sim.dt, cell.sim.celsius, cell.sim.v_init),
        request.t_stim,
        request.t_end if request.t_end < request.t_stim else None,
        ("pool", size, request.receptor.mechanism, request.receptor.parameters, "soma", 0.5),
    )
    # a free-running settle adds nothing: its keys stay those written before protocols
    return content_hash(*items, protocol_identity) if protocol_identity else content_hash(*items)


class StateCache:
    """Settled states of one folder, found by key.

    ``owner`` (the ``restore`` strategy) provides what loading and settling need:
    ``h``, ``cell``, ``request``, ``key(size)``, ``configure()``, ``settle()`` and
    ``continue_to_end(settled)`` (the restored run to tEnd without events).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def obtain(self, owner: Any, size: int) -> tuple[Settled, str]:
        """The settle run of the owner's pool (``size`` synapses) and how it was
        obtained (``"loaded"`` or ``"settled"``); settled and written when absent."""
        started = time.perf_counter()
        try:
            key = owner.key(size)
            self.folder.mkdir(parents=True, exist_ok=True)
            lock = open(self.folder / f"{key}.lock", "a")  # noqa: SIM115 (closed below)
        except (OSError, PspSweepError) as exc:
            self._unusable(str(exc))
            return owner.settle(), "settled"
        with lock:
            try:
                # one settle per key across processes: the others wait here, then load it
                fcntl.flock(lock, fcntl.LOCK_EX)
            except OSError as exc:  # e.g. a file system without locks
                self._unusable(f"lock: {exc}")
                return owner.settle(), "settled"
            try:
                settled, how = self._load_or_settle(owner, key, size, started)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
            if how == "settled" and not owner.request.vardt and settled.cached_as is not None:
                self._add_tail(owner, key, settled, lock)
        return settled, how

    def _unusable(self, why: str) -> None:
        warnings.warn(
            f"settled-state cache {self.folder} not usable ({why}); settling in this process",
            RuntimeWarning,
            stacklevel=4,
        )

    def _load_or_settle(self, owner: Any, key: str, size: int, started: float) -> tuple[Settled, str]:
        """Under the key's lock: the cached state, or a settle written to the cache."""
        settled = self.load(owner, key)
        if settled is not None:
            log.info("settled state %s (pool %d) loaded in %.2f s", key[:12], size, time.perf_counter() - started)
            return settled, "loaded"
        settled = owner.settle()
        if self.write(key, settled, owner.request.t_end, owner.h):
            settled.cached_as = (self.folder, key)
        log.info(
            "settled state %s (pool %d) simulated and saved in %.2f s", key[:12], size, time.perf_counter() - started
        )
        return settled, "settled"

    def _add_tail(self, owner: Any, key: str, settled: Settled, lock: Any) -> None:
        """Add the baseline's continuation (this tEnd) to the companion, after the lock
        was released: the waiting processes have the state and simulate their units, and
        read the tail when they first need the baseline (after their first chunk)."""
        settled.tails[owner.request.t_end] = owner.continue_to_end(settled)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            self.write(key, settled, owner.request.t_end, owner.h, state_file=False)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    def load(self, owner: Any, key: str) -> Settled | None:
        """The cached settle run of ``key``, restored once to check it; None when absent
        or unusable (then a warning says why)."""
        state_path, meta_path = self.folder / f"{key}.state", self.folder / f"{key}.npz"
        if not (state_path.is_file() and meta_path.is_file()):
            return None
        try:
            settled = self._read(owner, key, state_path, meta_path)
        except Exception as exc:  # noqa: BLE001 (any unreadable state: settle again)
            warnings.warn(
                f"cached settled state {state_path} not used ({type(exc).__name__}: {exc}); "
                "settling again and replacing it",
                RuntimeWarning,
                stacklevel=4,
            )
            return None
        return settled

    def _read(self, owner: Any, key: str, state_path: Path, meta_path: Path) -> Settled:
        """Read and check the files of ``key``; raises on anything unusable."""
        h, req = owner.h, owner.request
        with np.load(meta_path, allow_pickle=False) as meta:
            info = json.loads(str(meta["info"]))
            t, v = meta["t"].copy(), meta["v"].copy()
            # the baseline's continuation, if written for this tEnd (fixed step)
            tail = None
            if "tail_t" in meta and info.get("tail_t_end") == req.t_end and not req.vardt:
                tail = meta["tail_t"].copy(), meta["tail_v"].copy()
        if info.get("format") != STATE_FORMAT_VERSION or info.get("key") != key:
            raise PspSweepError("written for another key or format")
        fingerprint = structure(h)
        if info.get("structure") != portable(fingerprint):
            raise PspSweepError("saved with another model structure")
        if file_sha256(state_path) != info.get("state_sha256"):
            raise PspSweepError("state file does not match its checksum")
        # NEURON reads a state only into an initialised model of the same structure
        owner.configure()
        h.finitialize(req.cell.sim.v_init)
        state = h.SaveState()
        _read_state_file(h, state, state_path)
        state.restore()  # checks the structure; raises when it differs
        t_saved, v_saved = float(info["t_saved"]), float(info["v_saved"])
        if h.t != t_saved or owner.cell.soma(0.5).v != v_saved:
            raise PspSweepError("restored state differs from the saved one")
        if tail is not None and not (len(tail[0]) == len(tail[1]) > 0 and tail[0][0] == t_saved):
            raise PspSweepError("baseline continuation does not start at the saved state")
        signal = info.get("signal_saved")
        settled = Settled(
            state, structure(h), t_saved, t, v, v_saved, cached_as=(self.folder, key), signal_saved=signal
        )
        if tail is not None:
            settled.tails[req.t_end] = tail
        return settled

    def write(self, key: str, settled: Settled, t_end: float, h: Any, state_file: bool = True) -> bool:
        """Write the state and its companion atomically (temporary names, then renames);
        ``state_file=False`` rewrites the companion only (to add the tail). A failure
        only warns (the state in memory is used either way) and returns False. Hold the
        key's lock."""
        for stale in self.folder.glob(f".{key}.*.tmp"):
            # we hold the key's lock: temporary files of this key are leftovers of a crash
            stale.unlink(missing_ok=True)
        temps: list[str] = []
        try:
            state_path = self.folder / f"{key}.state"
            if state_file:
                state_path = Path(self._temporary(key, ".state.tmp", temps))
                _write_state_file(h, settled.state, state_path)
            arrays, info = _companion(key, settled, t_end, file_sha256(state_path))
            meta_path = self._temporary(key, ".npz.tmp", temps)
            with open(meta_path, "wb") as fh:
                np.savez(fh, **arrays, info=np.array(json.dumps(info)))
            for tmp in temps:
                os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the files from other users
            if state_file:
                os.replace(state_path, self.folder / f"{key}.state")
            os.replace(meta_path, self.folder / f"{key}.npz")
        except Exception as exc:  # noqa: BLE001 (a cache that cannot be written is no error)
            warnings.warn(
                f"settled state not written to {self.folder} ({type(exc).__name__}: {exc})",
                RuntimeWarning,
                stacklevel=4,
            )
            for tmp in temps:
                Path(tmp).unlink(missing_ok=True)
            return False
        return True

    def _temporary(self, key: str, suffix: str, temps: list[str]) -> str:
        """A new empty temporary file of ``key`` in the folder (listed in ``temps``)."""
        fd, path = tempfile.mkstemp(prefix=f".{key}.", suffix=suffix, dir=self.folder)
        os.close(fd)
        temps.append(path)
        return path

    def cached_tail(self, settled: Settled, t_end: float) -> tuple[np.ndarray, np.ndarray] | None:
        """The baseline's continuation to ``t_end`` from the companion of a cached state,
        if the process that settled has added it (None otherwise, or when unreadable)."""
        if settled.cached_as is None:
            return None
        folder, key = settled.cached_as
        try:
            with np.load(folder / f"{key}.npz", allow_pickle=False) as meta:
                info = json.loads(str(meta["info"]))
                if "tail_t" not in meta or info.get("tail_t_end") != t_end:
                    return None
                if info.get("key") != key or info.get("t_saved") != settled.t_saved:
                    return None
                t, v = meta["tail_t"].copy(), meta["tail_v"].copy()
        except Exception:  # noqa: BLE001 (missing or being replaced: simulate it instead)
            return None
        if not (len(t) == len(v) > 0 and t[0] == settled.t_saved and v[0] == settled.signal):
            return None
        return t, v


def _companion(key: str, settled: Settled, t_end: float, state_sha256: str) -> tuple[dict, dict]:
    """The companion's arrays and info of ``settled`` (with the tail of ``t_end`` if run)."""
    info: dict[str, Any] = {
        "format": STATE_FORMAT_VERSION,
        "key": key,
        "structure": portable(settled.structure),
        "state_sha256": state_sha256,
        "t_saved": settled.t_saved,
        "v_saved": settled.v_saved,
    }
    if settled.signal_saved is not None:
        info["signal_saved"] = settled.signal_saved
    arrays = {"t": settled.t, "v": settled.v}
    tail = settled.tails.get(t_end)
    if tail is not None:
        # optional (older readers ignore it): the baseline's continuation to this tEnd
        info["tail_t_end"] = t_end
        arrays.update(tail_t=tail[0], tail_v=tail[1])
    return arrays, info


def _write_state_file(h: Any, state: Any, path: Path) -> None:
    """``SaveState.fwrite`` to ``path``; through an ASCII temporary file when ``path`` is
    not ASCII, which hoc's ``File`` cannot open."""
    if str(path).isascii():
        state.fwrite(h.File(str(path)))
        return
    with tempfile.TemporaryDirectory(prefix="pspsweep-state-") as tmp:
        ascii_path = Path(tmp) / "settled.state"
        state.fwrite(h.File(str(ascii_path)))
        path.write_bytes(ascii_path.read_bytes())


def _read_state_file(h: Any, state: Any, path: Path) -> None:
    """``SaveState.fread`` from ``path`` (via an ASCII copy when ``path`` is not ASCII)."""
    if str(path).isascii():
        state.fread(h.File(str(path)))
        return
    with tempfile.TemporaryDirectory(prefix="pspsweep-state-") as tmp:
        ascii_path = Path(tmp) / "settled.state"
        ascii_path.write_bytes(path.read_bytes())
        state.fread(h.File(str(ascii_path)))
