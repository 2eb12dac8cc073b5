"""Per-unit PSP simulations: build the cell once, then run the baseline and every unit.

:class:`UnitSimulator` owns one NEURON cell for the life of a process. It takes only
plain data (a :class:`SweepRequest` and :class:`~pspsweep.units.Unit` objects) and
returns numpy arrays, so nothing from NEURON leaves this package.

Recording and stepping (both strategies; isf-reference 6.3): t and the soma(0.5)
voltage are recorded with ``Vector.record``, and runs advance with single
``fadvance()`` calls while ``t < tEnd``. Fixed step: ``finitialize`` records t = 0 and
every step records its end, so a trace covers 0 .. >= tEnd; t is accumulated step by
step (after 4400 steps of 0.025 ms t is 110 + 1.6e-11, after 20000 steps
500 - 3.2e-10). CVODE: every ``fadvance`` records the state at its start, so the step
that crosses tEnd is not recorded; the integrator stops exactly at an event time, and
the sample at tStim appears twice (the start of the step that delivers the events and
the start of the step after it).

Under CVODE every section in the process is integrated together: another cell alive
in the same process changes the step sizes, and a warning says so.

Engine (``SweepRequest.engine``, fixed step only): ``coreneuron`` replaces the
``fadvance`` loop after an initialisation or restore with CoreNEURON's ``psolve``
(same steps, same samples; :mod:`pspsweep.simulation.coreneuron`). Everything else,
the settle run included, stays NEURON's.

Strategies (``run.strategy``):

* ``reference``: ISF's protocol. For every unit the unit's synapses are created, the
  model is initialised afresh with ``finitialize(v_init)`` and advanced while
  ``t < tEnd``, with the unit's NetCon events queued at tStim; then the synapses are
  dropped. The baseline is the same run without synapses.

* ``restore``: the part before the activation is simulated once and saved.

  A *pool* of synapse point processes with NetCons (receptor parameters and weights as
  in ``reference``) is created on soma(0.5), the *park* segment. The *settle* run
  initialises exactly as ``reference`` does and advances to the step at which the
  reference delivers the unit's events; its samples are kept and the state is saved with
  ``SaveState``. Per unit: restore the state (this also overwrites NetCon weights and
  clears the event queue), move the first n pooled synapses to the unit's segments
  (``loc``; the rest stay parked), set the weights (0 on the parked ones), queue the n
  events at tStim, under CVODE ``re_init`` (after the moves: a structure change
  otherwise restarts the integrator from t = 0), ``frecord_init``, advance while
  ``t < tEnd``, then park the moved synapses again (a state restores only onto the
  structure it was saved with). The trace is the settle's samples joined with the
  restored run's samples:

  - fixed step: NEURON delivers an event at the start of the first step with
    ``t + dt/2 >= tdeliver``; the settle advances while ``t + dt/2 < tStim`` (and
    ``t < tEnd``), with the same t accumulation as the reference. ``frecord_init``
    records the saved state again, so the settle's last sample is dropped. A parked
    synapse without events has zero conductance and adds exactly 0 to its node, so one
    pool covers all units: ``SweepRequest.pool_size`` (:func:`simulate_sweep` uses the
    largest unit), grown with a new settle if a larger unit comes. The baseline is the
    settle continued to tEnd without events (no run from t = 0; the continuation is run
    once per process, or read from the state cache).
  - CVODE: the reference integrator shortens the step before tStim to end exactly
    there. The settle queues a bare ``CVode.event(tStim)``, which does the same, and
    saves at tStim before anything is delivered; the reference re-initialises the
    integrator at tStim after delivering the events, so no step history is lost. The
    settle's samples end with the start of its last step; the restored run records the
    saved state twice (``frecord_init`` and the start of the delivery step), one of
    which is dropped. CVODE's error norm is an RMS over all states, so silent synapse
    instances change the step sizes (a 3-synapse pool moved 1-synapse demo units by up
    to 0.04 mV): the pool holds exactly the unit's synapse count, one settle run and
    saved state per count (kept, and restored onto a fresh pool of that count). The
    baseline is the ``reference`` baseline run (no pool, no event at tStim).

  Both are bit-identical (every t and v sample) to ``reference``, tested on the demo
  cell and on ISF's 86_C2_center cell.

  ``SaveState`` covers every cell of the process and restores only onto the structure it
  was saved with. Each saved state keeps a fingerprint (all sections with nseg, point
  processes per type, NetCons); when another cell, point process or NetCon has come or
  gone, the saved states are dropped and the settle runs again (restoring would raise,
  or crash NEURON). A cell deleted since the save lingers in NEURON until the next
  initialisation; the restore then fails cleanly (NEURON prints "SaveState: Stored
  state inconsistent") and is retried after a new settle.

  Settled-state cache (``SweepRequest.state_dir``; None: off). The settle does not
  depend on the weights (parked synapses get no event), so every worker process and
  every job of a multirun over conductances would repeat the same run. A settle is
  written to ``<state_dir>/<key>.state`` (``SaveState.fwrite``) with a companion
  ``<key>.npz`` (the settle's t and v samples, the saved t and soma v, the structure
  fingerprint without section names, the state file's SHA-256; fixed step also the
  baseline's continuation to the settling process's tEnd, used by processes with the
  same tEnd and ignored by older readers). The settling process adds that continuation
  after it has released the lock, so the waiting processes start their units at once
  and read it when they first need the baseline (after their first units). The key is a SHA-256
  over the cell spec (canonically encoded), the mechanism sources and the mechanism
  types loaded, NEURON's version and build, the platform, the integrator (CVODE
  tolerances), the engine, dt, celsius, v_init, tStim (tEnd only if it ends the settle
  early), the pool (size, receptor mechanism and parameters) and ``STATE_FORMAT_VERSION``; see
  :meth:`UnitSimulator.state_key`. An exclusive ``fcntl`` lock on ``<key>.lock`` is
  held while looking the key up and settling, so processes that start together settle
  once: the others wait and then load. Files are written under temporary names and
  renamed. Loading builds the pool, initialises with ``finitialize`` (NEURON reads a
  state only into an initialised model), checks the fingerprint and checksum, reads
  the state with ``SaveState.fread``, restores it once and compares t and the soma
  voltage with the saved ones; anything unusable (missing, corrupt, another structure,
  an unwritable folder) gives a warning and a settle in this process, which replaces
  the files. The cache is used only when the process holds what a fresh worker holds
  (this cell alone, the pool's NetCons numbered from 0, which ``SaveState`` checks);
  otherwise the settle stays in memory. Restored from a file or settled in the
  process, the traces are the same to the last bit (tested across processes, fixed
  step and CVODE). Files are never removed (86 cell, tStim 2000 ms: 110 kB of state,
  1.3 MB of samples). Bit identity across machines needs the same CPU family as well
  (libm may pick other code paths); the key holds the architecture and the C library
  version only.
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import json
import logging
import os
import pickle
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

import pspsweep
from pspsweep.cellmodel import CellSpec
from pspsweep.embedding import ReceptorSpec
from pspsweep.errors import PspSweepError
from pspsweep.simulation import coreneuron
from pspsweep.traces import TraceSet
from pspsweep.units import Unit

STRATEGIES = ("reference", "restore")

#: Version of the settled-state cache files; part of their key (bump on any change of
#: what a state file or its companion holds, or of how the settle run is done).
STATE_FORMAT_VERSION = 1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepRequest:
    """Everything a process needs to simulate units of one cell type at one conductance.

    Attributes:
        cell: the cell model.
        receptor: the receptor of the cell type.
        weights: NetCon weights in nS: (gAMPA, gNMDA) for ``glutamate_syn``, (gGABA,) for ``gaba_syn``.
        vardt: CVODE (True) or fixed step ``cell.sim.dt`` (False).
        t_stim: activation time of the unit's synapses (ms).
        t_end: end of every simulation (ms).
        strategy: one of ``STRATEGIES``.
        pool_size: ``restore`` under fixed step: number of pooled synapse objects, at
            least the largest unit's synapse count. None: :func:`simulate_sweep` takes the
            largest unit it is given; :class:`UnitSimulator` grows the pool (with a new
            settle run) when a larger unit comes. Ignored otherwise.
        state_dir: ``restore``: folder of the settled-state cache shared by processes
            (created if missing); None: every process settles itself.
        engine: ``neuron`` or ``coreneuron`` (fixed step only; the runs after the
            initialisation or restore go through CoreNEURON's ``psolve``, see
            :mod:`pspsweep.simulation.coreneuron`).
        gpu: ``coreneuron``: offload to a GPU (needs a GPU build of NEURON).
    """

    cell: CellSpec
    receptor: ReceptorSpec
    weights: tuple[float, ...]
    vardt: bool
    t_stim: float
    t_end: float
    strategy: str = "reference"
    pool_size: int | None = None
    state_dir: str | None = None
    engine: str = "neuron"
    gpu: bool = False


@dataclass
class _Settled:
    """The saved state at the activation step and the samples recorded up to it."""

    state: Any  # h.SaveState
    structure: tuple  # UnitSimulator._structure() when saved
    t_saved: float
    t: np.ndarray
    v: np.ndarray
    v_saved: float  # soma(0.5) voltage of the saved state
    #: fixed step: the baseline's samples after the settle, per tEnd (the restored run to
    #: tEnd without events); computed once, also kept in the state cache's companion
    tails: dict[float, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    #: the state cache's folder and key when the state was written there or read from it
    cached_as: tuple[Path, str] | None = None


class UnitSimulator:
    """One NEURON cell with soma recording, reused for the baseline and every unit."""

    def __init__(self, request: SweepRequest) -> None:
        if request.strategy not in STRATEGIES:
            raise PspSweepError(f"unknown strategy {request.strategy!r}; valid: {', '.join(STRATEGIES)}")
        if request.pool_size is not None and request.pool_size < 0:
            raise PspSweepError(f"pool_size={request.pool_size} must be >= 0")
        coreneuron.check_request(request.engine, request.vardt, request.gpu)
        from neuron import h

        self._h = h
        self.request = request
        self._coreneuron = request.engine == "coreneuron"
        prebuilt = _take_prebuilt(request.cell, request.engine)
        self.cell = prebuilt if prebuilt is not None else _build(request.cell, request.engine)
        self.cell.apply_sim_settings(request.cell.sim)
        if not hasattr(h, request.receptor.mechanism):
            raise PspSweepError(f"receptor mechanism {request.receptor.mechanism!r} is not loaded")
        self._cvode = h.CVode()
        self._t = h.Vector()
        self._v = h.Vector()
        # Vector.record of a global (t) belongs to a section, by default the first one
        # created in the process: tie it to this cell, or deleting an older cell would
        # silently stop this recording
        self._t.record(h._ref_t, sec=self.cell.soma)
        self._v.record(self.cell.soma(0.5)._ref_v)
        # restore strategy: pooled (point process, NetCon) pairs and the saved state
        self._park = self.cell.soma(0.5)
        self._pool: list[tuple[Any, Any]] = []
        self._states: dict[int, _Settled] = {}  # pool size -> its settle run
        self._warned_foreign = False
        #: settled states obtained: (``"settled"`` or ``"loaded"``, pool size, seconds)
        self.state_log: list[tuple[str, int, float]] = []

    # ------------------------------------------------------------------ common

    def _configure(self) -> None:
        # re-assert the integrator settings before every run: they are NEURON globals
        h, sim = self._h, self.request.cell.sim
        if self.request.vardt and not self._warned_foreign:
            n_all = sum(1 for _ in h.allsec())
            if n_all != len(self.cell.sections):
                self._warned_foreign = True
                warnings.warn(
                    f"{n_all - len(self.cell.sections)} sections of other cells exist in this "
                    "process; CVODE integrates them together with this cell, so its steps "
                    "and traces differ from a process holding this cell alone",
                    RuntimeWarning,
                    stacklevel=3,
                )
        self._cvode.active(1 if self.request.vardt else 0)
        h.dt = sim.dt
        h.celsius = sim.celsius
        h.tstop = self.request.t_end
        if self._coreneuron:
            coreneuron.prepare(h)

    def _advance_to_end(self) -> tuple[np.ndarray, np.ndarray]:
        h, t_end = self._h, self.request.t_end
        if self._coreneuron:
            # the same steps as the loop below, integrated by CoreNEURON
            coreneuron.psolve(h, t_end, self.request.gpu)
            return self._t.as_numpy().copy(), self._v.as_numpy().copy()
        # classic run semantics: single steps while t < tEnd (isf-reference 6.3, step 7)
        while h.t < t_end:
            h.fadvance()
        return self._t.as_numpy().copy(), self._v.as_numpy().copy()

    def _new_synapse(self, seg: Any) -> tuple[Any, Any]:
        h, rec = self._h, self.request.receptor
        syn = getattr(h, rec.mechanism)(seg)
        for name, value in rec.parameters.items():
            setattr(syn, name, value)
        nc = h.NetCon(None, syn)
        # NetCon.event(tStim) ignores the delay; CoreNEURON refuses delays below dt
        nc.delay = coreneuron.NETCON_DELAY if self._coreneuron else 0.0
        nc.threshold = 0.0
        for i, w in enumerate(self.request.weights):
            nc.weight[i] = w
        return syn, nc

    def _segment(self, section: int, x: float) -> Any:
        return self.cell.sections[section](self.cell.clamped_x(section, x))

    def _synapses(self, unit: Unit) -> list[tuple[Any, Any]]:
        return [self._new_synapse(self._segment(s, x)) for s, x in zip(unit.sections, unit.xs)]

    @property
    def _restore(self) -> bool:
        return self.request.strategy == "restore"

    # ------------------------------------------------------------------ public

    def baseline(self) -> tuple[np.ndarray, np.ndarray]:
        """Simulate the synapse-free cell from t = 0 to tEnd; returns (t ms, v mV).

        ``restore``, fixed step: no run from t = 0. The settle's samples (0 .. tStim,
        kept with the saved state and in the state cache) are joined with a run from the
        restored state to tEnd without events (parked synapses add exactly 0): the same
        samples as the fresh run, to the last bit. That continuation is run once per
        process and tEnd, or read from the state cache's companion. CVODE: a fresh run
        without the pool, as in ``reference``: a settle stops the integrator at tStim, and
        every later step would differ from the fresh run's (0.7 uV on the demo cell).
        """
        if self._restore and not self.request.vardt:
            settled = self._restore_settled(self._pool_size_for(0))
            tail = settled.tails.get(self.request.t_end)
            if tail is None:
                # the process that settled may have written it since this one loaded the state
                tail = self._cached_tail(settled)
            if tail is None:
                self._h.frecord_init()
                tail = self._advance_to_end()
            settled.tails[self.request.t_end] = tail
            return self._join(settled, *tail)
        if self._restore:
            # CVODE: the pool would change the step sizes; the baseline has no synapse
            self._set_pool(0)
        self._configure()
        self._h.finitialize(self.request.cell.sim.v_init)
        return self._advance_to_end()

    @property
    def baseline_first(self) -> bool:
        """Whether :meth:`baseline` must run before the units: under CVODE, ``restore``
        runs it without the synapse pool, and a pool rebuilt between units would need a
        new settle. Otherwise it may run at any time."""
        return self._restore and self.request.vardt

    def unit(self, unit: Unit) -> tuple[np.ndarray, np.ndarray]:
        """Simulate one unit activated at tStim; returns (t ms, v mV)."""
        if self._restore:
            return self._unit_restored(unit)
        pairs = self._synapses(unit)
        self._configure()
        self._h.finitialize(self.request.cell.sim.v_init)
        for _, nc in pairs:
            nc.event(self.request.t_stim)
        try:
            return self._advance_to_end()
        finally:
            # point processes go when the last reference to them goes
            del pairs

    # ------------------------------------------------------------------ restore

    def _pool_size_for(self, n: int) -> int:
        if self.request.vardt:
            return n
        return max(n, self.request.pool_size or 0, len(self._pool))

    def _set_pool(self, size: int) -> None:
        """Make the pool exactly ``size`` parked synapses (new objects if the size changes)."""
        if len(self._pool) == size:
            return
        # NetCons go first (with the pairs), then the point processes they target
        syns = [syn for syn, _ in self._pool]
        self._pool = []
        del syns
        self._pool = [self._new_synapse(self._park) for _ in range(size)]

    def _mechanism_names(self, kind: int) -> list[str]:
        """Names of NEURON's density (``kind`` 0) or point-process (1) mechanism types."""
        h = self._h
        mt = h.MechanismType(kind)
        names = []
        for i in range(int(mt.count())):
            mt.select(i)
            name = h.ref("")
            mt.selected(name)
            names.append(name[0])
        return names

    def _structure(self) -> tuple:
        """What a SaveState must find again: all sections (name, nseg), point processes
        per type, NetCons (by hoc index, which SaveState checks); of every cell in the
        process (SaveState is global)."""
        h = self._h
        return (
            tuple((sec.name(), int(sec.nseg)) for sec in h.allsec()),
            tuple(int(h.List(n).count()) for n in self._mechanism_names(1)),
            tuple(_hoc_index(nc) for nc in h.List("NetCon")),
        )

    def _settled_for(self, size: int) -> _Settled:
        """The saved state of a settle run with ``size`` pooled synapses; sets the pool."""
        self._set_pool(size)
        settled = self._states.get(size)
        if settled is not None and settled.structure != self._structure():
            # another cell, point process or NetCon came or went since the save: every
            # saved state is unusable (restoring would fail, or crash NEURON)
            self._states.clear()
            settled = None
        if settled is None:
            settled = self._states[size] = self._settle_cached(size)
        # a state saved with another pool of this size restores onto this one: same
        # number of point processes on the same node, NetCons with the same hoc indices
        return settled

    def _restore_settled(self, size: int) -> _Settled:
        """Set the pool to ``size`` parked synapses and restore its saved state."""
        settled = self._settled_for(size)
        self._configure()
        try:
            settled.state.restore()
        except RuntimeError:
            # SaveState also counts sections that were deleted but not yet freed by
            # NEURON (another cell dropped since the save); a new settle frees them
            self._states.clear()
            settled = self._settled_for(size)
            self._configure()
            settled.state.restore()
        return settled

    def _settle(self) -> _Settled:
        """Initialise as the reference does and advance to the activation step; save there."""
        h, req = self._h, self.request
        self._configure()
        h.finitialize(req.cell.sim.v_init)
        if req.vardt:
            # stop the integrator exactly at tStim, as the unit's events do in the reference
            self._cvode.event(req.t_stim)
            while h.t < req.t_stim and h.t < req.t_end:
                h.fadvance()
        else:
            # the reference delivers the events at the start of the first step with
            # t + dt/2 >= tStim (NEURON's fixed-step rule); stop before that step
            while h.t + 0.5 * h.dt < req.t_stim and h.t < req.t_end:
                h.fadvance()
        state = h.SaveState()
        state.save()
        return _Settled(
            state,
            self._structure(),
            float(h.t),
            self._t.as_numpy().copy(),
            self._v.as_numpy().copy(),
            float(self.cell.soma(0.5).v),
        )

    # ------------------------------------------------------------------ state cache

    def _settle_cached(self, size: int) -> _Settled:
        """The settle run of the current pool (``size`` synapses): from the state cache
        when ``request.state_dir`` holds it, else simulated (and then written there)."""
        started = time.perf_counter()

        def settle() -> _Settled:
            settled = self._settle()
            self.state_log.append(("settled", size, time.perf_counter() - started))
            return settled

        structure = self._structure()
        folder = self.request.state_dir
        if folder is None:
            return settle()
        if not self._cacheable(structure):
            log.debug("other cells, point processes or NetCons in this process: settling without the cache")
            return settle()
        try:
            key = self.state_key(size)
            path = Path(folder)
            path.mkdir(parents=True, exist_ok=True)
            lock = open(path / f"{key}.lock", "a")  # noqa: SIM115 (closed below)
        except (OSError, PspSweepError) as exc:
            warnings.warn(f"settled-state cache {folder} not usable ({exc}); settling in this process",
                          RuntimeWarning, stacklevel=2)
            return settle()
        with lock:
            try:
                # one settle per key across processes: the others wait here, then load it
                fcntl.flock(lock, fcntl.LOCK_EX)
            except OSError as exc:  # e.g. a file system without locks
                warnings.warn(f"settled-state cache {folder} not usable (lock: {exc}); settling in "
                              "this process", RuntimeWarning, stacklevel=2)
                return settle()
            try:
                settled = self._load_state(path, key, structure)
                if settled is not None:
                    elapsed = time.perf_counter() - started
                    self.state_log.append(("loaded", size, elapsed))
                    log.info("settled state %s (pool %d) loaded in %.2f s", key[:12], size, elapsed)
                    return settled
                settled = settle()
                if self._write_state(path, key, settled):
                    settled.cached_as = (path, key)
                log.info("settled state %s (pool %d) simulated and saved in %.2f s", key[:12], size,
                         time.perf_counter() - started)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
            if not self.request.vardt and settled.cached_as is not None:
                # The baseline's continuation (this tEnd), once the waiting processes have the
                # state and simulate their units: they need it only for their first chunk's
                # features, and read it then from the companion (see baseline).
                self._configure()
                settled.state.restore()
                self._h.frecord_init()
                settled.tails[self.request.t_end] = self._advance_to_end()
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    self._write_state(path, key, settled, state_file=False)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
            return settled

    def _cacheable(self, structure: tuple) -> bool:
        """True when the process holds exactly what a fresh worker holds: this cell alone,
        the pool's point processes and NetCons only, the NetCons numbered 0 .. n-1 (a
        state file restores only onto that structure)."""
        sections, point_processes, netcons = structure
        n = len(self._pool)
        return (
            len(sections) == len(self.cell.sections)
            and sum(point_processes) == n
            and netcons == tuple(range(n))
        )

    @staticmethod
    def _portable(structure: tuple) -> list:
        """The structure without section names (they carry a per-process cell number)."""
        sections, point_processes, netcons = structure
        return [[nseg for _, nseg in sections], list(point_processes), list(netcons)]

    def state_key(self, size: int) -> str:
        """The cache key of the settle run with a pool of ``size`` synapses.

        A SHA-256 over everything that determines the saved state and the samples
        recorded up to it: the cell (every field but the mechanism folders' paths), the
        mechanism sources (content hash) and the mechanism types loaded in this process,
        NEURON's version and build, the platform, the integrator (CVODE or fixed step,
        dt, tolerances), the engine (the pool's NetCon delays and the mechanism build
        follow it), celsius, v_init, tStim (tEnd only when it ends the settle
        early), the pool (size, receptor mechanism and parameters, park segment),
        ``STATE_FORMAT_VERSION`` and the pspsweep version. Not the NetCon weights: they are set after every restore.
        """
        from pspsweep.provenance import neuron_version
        from pspsweep.simulation.mechanisms import source_hash

        h, req = self._h, self.request
        cell = req.cell
        items = (
            "pspsweep settled state",
            STATE_FORMAT_VERSION,
            pspsweep.__version__,
            replace(cell, mechanism_dirs=()),
            source_hash(cell.mechanism_dirs) if cell.mechanism_dirs else None,
            tuple(self._mechanism_names(0)),
            tuple(self._mechanism_names(1)),
            neuron_version(),
            str(h.nrnversion()),
            (platform.machine(), sys.byteorder, platform.libc_ver()),
            ("cvode", float(self._cvode.atol()), float(self._cvode.rtol())) if req.vardt else ("fixed",),
            ("engine", req.engine, req.gpu),
            int(h.secondorder),
            (cell.sim.dt, cell.sim.celsius, cell.sim.v_init),
            req.t_stim,
            req.t_end if req.t_end < req.t_stim else None,
            ("pool", size, req.receptor.mechanism, req.receptor.parameters, "soma", 0.5),
        )
        digest = hashlib.sha256()
        _feed(digest, items)
        return digest.hexdigest()

    def _load_state(self, folder: Path, key: str, structure: tuple) -> _Settled | None:
        """The cached settle run of ``key``, restored once to check it; None when absent
        or unusable (then a warning says why)."""
        h, req = self._h, self.request
        state_path, meta_path = folder / f"{key}.state", folder / f"{key}.npz"
        if not (state_path.is_file() and meta_path.is_file()):
            return None
        try:
            with np.load(meta_path, allow_pickle=False) as meta:
                info = json.loads(str(meta["info"]))
                t, v = meta["t"].copy(), meta["v"].copy()
                # the baseline's continuation, if written for this tEnd (fixed step)
                tail = None
                if "tail_t" in meta and info.get("tail_t_end") == req.t_end and not req.vardt:
                    tail = meta["tail_t"].copy(), meta["tail_v"].copy()
            if info.get("format") != STATE_FORMAT_VERSION or info.get("key") != key:
                raise PspSweepError("written for another key or format")
            if info.get("structure") != self._portable(structure):
                raise PspSweepError("saved with another model structure")
            if _file_sha256(state_path) != info.get("state_sha256"):
                raise PspSweepError("state file does not match its checksum")
            # NEURON reads a state only into an initialised model of the same structure
            self._configure()
            h.finitialize(req.cell.sim.v_init)
            state = h.SaveState()
            _read_state_file(h, state, state_path)
            state.restore()  # checks the structure; raises when it differs
            t_saved, v_saved = float(info["t_saved"]), float(info["v_saved"])
            if h.t != t_saved or self.cell.soma(0.5).v != v_saved:
                raise PspSweepError("restored state differs from the saved one")
            if tail is not None and not (len(tail[0]) == len(tail[1]) > 0 and tail[0][0] == t_saved):
                raise PspSweepError("baseline continuation does not start at the saved state")
        except Exception as exc:  # noqa: BLE001 (any unreadable state: settle again)
            warnings.warn(f"cached settled state {state_path} not used ({type(exc).__name__}: {exc}); "
                          "settling again and replacing it", RuntimeWarning, stacklevel=3)
            return None
        settled = _Settled(state, self._structure(), t_saved, t, v, v_saved, cached_as=(folder, key))
        if tail is not None:
            settled.tails[req.t_end] = tail
        return settled

    def _cached_tail(self, settled: _Settled) -> tuple[np.ndarray, np.ndarray] | None:
        """The baseline's continuation to this tEnd from the companion of a cached state,
        if the process that settled has added it (None otherwise, or when unreadable)."""
        if settled.cached_as is None or self.request.vardt:
            return None
        folder, key = settled.cached_as
        try:
            with np.load(folder / f"{key}.npz", allow_pickle=False) as meta:
                info = json.loads(str(meta["info"]))
                if "tail_t" not in meta or info.get("tail_t_end") != self.request.t_end:
                    return None
                if info.get("key") != key or info.get("t_saved") != settled.t_saved:
                    return None
                t, v = meta["tail_t"].copy(), meta["tail_v"].copy()
        except Exception:  # noqa: BLE001 (missing or being replaced: simulate it instead)
            return None
        if not (len(t) == len(v) > 0 and t[0] == settled.t_saved and v[0] == settled.v_saved):
            return None
        return t, v

    def _write_state(self, folder: Path, key: str, settled: _Settled, state_file: bool = True) -> bool:
        """Write the state and its companion atomically (temporary names, then renames);
        ``state_file=False`` rewrites the companion only (to add the baseline's
        continuation). A failure only warns (the state in memory is used either way) and
        returns False. Hold the key's lock."""
        h = self._h
        for stale in folder.glob(f".{key}.*.tmp"):
            # we hold the key's lock: temporary files of this key are leftovers of a crash
            stale.unlink(missing_ok=True)
        temps: list[str] = []
        try:
            if state_file:
                fd, tmp_state = tempfile.mkstemp(prefix=f".{key}.", suffix=".state.tmp", dir=folder)
                os.close(fd)
                temps.append(tmp_state)
                _write_state_file(h, settled.state, Path(tmp_state))
                state_path = Path(tmp_state)
            else:
                state_path = folder / f"{key}.state"
            info = {
                "format": STATE_FORMAT_VERSION,
                "key": key,
                "structure": self._portable(settled.structure),
                "state_sha256": _file_sha256(state_path),
                "t_saved": settled.t_saved,
                "v_saved": settled.v_saved,
            }
            arrays = {"t": settled.t, "v": settled.v}
            tail = settled.tails.get(self.request.t_end)
            if tail is not None:
                # optional (older readers ignore it): the baseline's continuation to this tEnd
                info["tail_t_end"] = self.request.t_end
                arrays.update(tail_t=tail[0], tail_v=tail[1])
            fd, tmp_meta = tempfile.mkstemp(prefix=f".{key}.", suffix=".npz.tmp", dir=folder)
            temps.append(tmp_meta)
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays, info=np.array(json.dumps(info)))
            for tmp in temps:
                os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the files from other users
            if state_file:
                os.replace(tmp_state, folder / f"{key}.state")
            os.replace(tmp_meta, folder / f"{key}.npz")
        except Exception as exc:  # noqa: BLE001 (a cache that cannot be written is no error)
            warnings.warn(f"settled state not written to {folder} ({type(exc).__name__}: {exc})",
                          RuntimeWarning, stacklevel=3)
            for tmp in temps:
                Path(tmp).unlink(missing_ok=True)
            return False
        return True

    def _join(self, settled: _Settled, t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Settle samples + restored samples, as one continuous run records them."""
        t_saved = settled.t_saved
        if self.request.vardt:
            # CVODE records the state at the start of every step: the settle ends with the
            # start of its last step (which ended at the saved tStim). The restored run
            # holds the saved state twice (frecord_init's sample and the start of the
            # event-delivery step) before the start of the first step after delivery.
            if (
                len(t) < 2
                or not t[0] == t[1] == t_saved
                or v[0] != v[1]
                or (len(settled.t) and settled.t[-1] >= t_saved)
            ):
                raise PspSweepError("restored CVODE run does not continue the settle run")
            return np.concatenate([settled.t, t[1:]]), np.concatenate([settled.v, v[1:]])
        # fixed step records after every step: the settle's last sample is the saved
        # state, which frecord_init records again as the restored run's first sample
        if len(t) == 0 or t[0] != t_saved or settled.t[-1] != t_saved or v[0] != settled.v[-1]:
            raise PspSweepError("restored run does not start at the saved state")
        return np.concatenate([settled.t[:-1], t]), np.concatenate([settled.v[:-1], v])

    def _unit_restored(self, unit: Unit) -> tuple[np.ndarray, np.ndarray]:
        h, req = self._h, self.request
        n = unit.n_synapses
        settled = self._restore_settled(self._pool_size_for(n))
        placed = self._pool[:n]
        try:
            for (syn, _), section, x in zip(placed, unit.sections, unit.xs):
                syn.loc(self._segment(section, x))
            # restore() overwrote the weights and cleared the event queue
            for i, (_, nc) in enumerate(self._pool):
                for k, w in enumerate(req.weights):
                    nc.weight[k] = w if i < n else 0.0
            for _, nc in placed:
                nc.event(req.t_stim)
            if req.vardt:
                # after the moves: a structure change re-creates the integrator, which
                # would otherwise restart from t = 0
                self._cvode.re_init()
            h.frecord_init()
            t, v = self._advance_to_end()
        finally:
            # the saved structure has every pooled synapse on the park segment
            for syn, _ in placed:
                syn.loc(self._park)
        return self._join(settled, t, v)


def _build(spec: CellSpec, engine: str) -> Any:
    """Load the mechanisms for ``engine`` and build the NEURON cell of ``spec``."""
    from pspsweep.simulation.cell import build_cell

    dirs = spec.mechanism_dirs
    if engine == "coreneuron":
        coreneuron.load_mechanisms(dirs)
    # a process holds one build of a mechanism set; CoreNEURON's also serves NEURON
    return build_cell(spec, load=not (engine == "coreneuron" or coreneuron.loaded(dirs)))


def _cell_key(spec: CellSpec, engine: str) -> str:
    digest = hashlib.sha256()
    _feed(digest, (spec, engine))
    return digest.hexdigest()


#: a cell built ahead of its request by :func:`prebuild_cell`: [(key, cell)] or []
_PREBUILT: list[tuple[str, Any]] = []


def prebuild_cell(spec: CellSpec, engine: str = "neuron") -> None:
    """Build the cell of ``spec`` now, for the next :class:`UnitSimulator` of this process.

    Why: a local worker is idle while the launching process still reads the synapse
    embedding; building the cell then (0.1-0.2 s for ISF's L5PT cell) takes that step
    off the path to the first settle. The simulator takes the cell only if its request
    names the same cell and engine; otherwise the prebuilt cell is dropped first (every
    cell in a process is simulated along).
    """
    key = _cell_key(spec, engine)
    if _PREBUILT and _PREBUILT[0][0] == key:
        return
    _PREBUILT.clear()
    _PREBUILT.append((key, _build(spec, engine)))


def _take_prebuilt(spec: CellSpec, engine: str) -> Any | None:
    """The prebuilt cell if it is the one ``spec`` and ``engine`` describe, else None
    (and a prebuilt cell of another spec is dropped)."""
    if not _PREBUILT:
        return None
    key, cell = _PREBUILT.pop()
    return cell if key == _cell_key(spec, engine) else None


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


def _hoc_index(obj: Any) -> int:
    """The index of a hoc object (``NetCon[3]`` -> 3)."""
    name = obj.hname()
    return int(name[name.rindex("[") + 1 : -1])


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _feed(digest: Any, obj: Any) -> None:
    """Feed a canonical encoding of plain data (dataclasses, containers, numbers, strings,
    arrays) to ``digest``: equal content gives equal bytes in every process, unlike a
    pickle, whose bytes also depend on which equal objects happen to be shared."""
    if obj is None or isinstance(obj, (bool, int, str)):
        digest.update(f"{type(obj).__name__}:{obj!r};".encode())
    elif isinstance(obj, float):
        digest.update(f"float:{float(obj).hex()};".encode())
    elif isinstance(obj, (np.ndarray, np.generic)):
        arr = np.asarray(obj)
        if arr.dtype.hasobject:
            _feed(digest, ("object-array", arr.shape, arr.ravel().tolist()))
            return
        arr = np.ascontiguousarray(arr)
        digest.update(f"ndarray:{arr.dtype.str}:{arr.shape};".encode())
        digest.update(arr.tobytes())
    elif is_dataclass(obj) and not isinstance(obj, type):
        digest.update(f"{type(obj).__module__}.{type(obj).__qualname__}{{".encode())
        for f in fields(obj):
            digest.update(f"{f.name}=".encode())
            _feed(digest, getattr(obj, f.name))
        digest.update(b"}")
    elif isinstance(obj, enum.Enum):
        digest.update(f"{type(obj).__module__}.{type(obj).__qualname__}.".encode())
        _feed(digest, obj.value)
    elif isinstance(obj, (list, tuple)):
        digest.update(f"{type(obj).__name__}[{len(obj)}](".encode())
        for item in obj:
            _feed(digest, item)
        digest.update(b")")
    elif isinstance(obj, dict):
        digest.update(f"dict[{len(obj)}]{{".encode())
        for k, v in obj.items():
            _feed(digest, k)
            _feed(digest, v)
        digest.update(b"}")
    elif isinstance(obj, os.PathLike):
        _feed(digest, os.fspath(obj))
    else:
        digest.update(f"pickle:{type(obj).__qualname__}:".encode())
        digest.update(pickle.dumps(obj, protocol=5))


@dataclass
class SweepTiming:
    """Wall time (s) of the whole simulation stage and of the unit runs alone."""

    wall_s: float
    units_s: float

    def units_per_second(self, n_units: int) -> float:
        """Unit throughput of the unit runs."""
        return n_units / self.units_s if self.units_s > 0 else float("nan")


def simulate_sweep(
    request: SweepRequest,
    units: list[Unit],
    progress: Callable[[Iterable[Unit], int], Iterable[Unit]] | None = None,
) -> tuple[TraceSet, SweepTiming]:
    """Run the baseline and every unit in this process.

    Args:
        request: cell, receptor, weights and protocol.
        units: the units to simulate, in order.
        progress: optional wrapper around the unit iterator (e.g. a progress bar).

    Returns:
        The traces and the timing.
    """
    start = time.perf_counter()
    if request.strategy == "restore" and request.pool_size is None:
        request = replace(request, pool_size=max((u.n_synapses for u in units), default=0))
    sim = UnitSimulator(request)
    t_b, v_b = sim.baseline()
    ts, vs = [], []
    iterator: Iterable[Unit] = progress(units, len(units)) if progress else units
    units_start = time.perf_counter()
    for u in iterator:
        t, v = sim.unit(u)
        ts.append(t)
        vs.append(v)
    end = time.perf_counter()
    traces = TraceSet(t_b, v_b, ts, vs, np.array([u.index for u in units], dtype=np.int64))
    return traces, SweepTiming(wall_s=end - start, units_s=end - units_start)
