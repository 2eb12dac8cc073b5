"""CoreNEURON as the engine of fixed-step runs (``run.engine=coreneuron``).

NEURON 9's wheel contains CoreNEURON (CPU only). It runs in this process: NEURON still
builds the model, initialises it and restores saved states; ``ParallelContext.psolve``
then copies the model, the queued events and the recording requests to CoreNEURON,
integrates there and copies the state and the recorded samples back. So everything
around the run (``finitialize``, ``SaveState``, ``NetCon.event``, ``Vector.record``,
``frecord_init``) stays NEURON's, and only the stepping differs
(``Strategy._advance_to_end`` in :mod:`pspsweep.simulation.strategies`).

What CoreNEURON needs, and what this module does for it:

* every mechanism compiled with ``nrnivmodl -coreneuron`` (all shipped ones are), loaded
  as one library, with ``CORENEURONLIB`` naming its ``libcorenrnmech``
  (:func:`load_mechanisms`); one process loads one flavour, so a process that loaded the
  CoreNEURON build also serves ``engine=neuron`` requests from it (:func:`loaded`);
* fixed step only (``vardt`` false), ``cvode.cache_efficient(1)`` (:func:`prepare`);
* NetCon delays of at least dt: the minimum delay is CoreNEURON's exchange interval, and
  0 is refused. The unit NetCons have no source and get their events from
  ``NetCon.event(tStim)``, which ignores the delay, so :data:`NETCON_DELAY` changes no
  trace;
* model structures up to date before ``psolve``: moving a pooled synapse after a restore
  marks them stale and ``psolve`` refuses to run. ``fcurrent()`` rebuilds them without
  touching a state (it recomputes currents and conductances from the states, which the
  next step does again anyway).

Measured on the demo cell and on ISF's 86_C2_center cell (VPM_C2 units), both
strategies: every t sample equal and max |dV| = 0 against NEURON's fixed step.

A GPU build of NEURON (``CORENRN_ENABLE_GPU``) runs the same code with ``run.gpu=true``
(``coreneuron.gpu``, which also selects a GPU-friendly node permutation); its traces are
not expected to be bit-identical to the CPU's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pspsweep.config import Engine
from pspsweep.errors import PspSweepError

#: The simulation engines of :class:`~pspsweep.simulation.runner.SweepRequest`.
ENGINES = tuple(e.value for e in Engine)

#: ``ParallelContext.set_maxstep`` argument (ms): the longest interval CoreNEURON
#: integrates between event exchanges (the minimum NetCon delay caps it).
MAXSTEP = 10.0

#: Delay (ms) of the unit NetCons under CoreNEURON (any value >= dt would do, see above).
NETCON_DELAY = MAXSTEP

# source hashes of the mechanism sets this process loaded as the CoreNEURON build
_LOADED_SETS: set[str] = set()


def gpu_available() -> bool:
    """True when the installed NEURON has CoreNEURON with GPU support."""
    import neuron.config

    return bool(neuron.config.arguments.get("CORENRN_ENABLE_GPU", False))


def check_request(engine: str, vardt: bool, gpu: bool) -> None:
    """Reject an engine setting that cannot run, naming the ``run.*`` keys.

    Raises:
        PspSweepError: for an unknown engine, CoreNEURON with CVODE, ``gpu`` without
            CoreNEURON, or ``gpu`` on a NEURON without GPU support.
    """
    if engine not in ENGINES:
        raise PspSweepError(f"run.engine={engine!r} is not one of: {', '.join(ENGINES)}")
    if engine == "coreneuron" and vardt:
        raise PspSweepError("run.engine=coreneuron integrates with a fixed step only: set run.vardt=false")
    if gpu and engine != "coreneuron":
        raise PspSweepError("run.gpu=true offloads CoreNEURON to a GPU: set run.engine=coreneuron as well")
    if gpu and not gpu_available():
        from pspsweep.provenance import neuron_version

        raise PspSweepError(
            f"run.gpu=true needs NEURON built with CoreNEURON GPU support, but the installed "
            f"NEURON {neuron_version()} has none (CORENRN_ENABLE_GPU is off; the pip wheel is "
            "CPU only): set run.gpu=false or install a GPU build of NEURON"
        )


def loaded(dirs: Sequence[str | os.PathLike[str]]) -> bool:
    """True when this process loaded ``dirs`` as the CoreNEURON build."""
    if not dirs:
        return False
    from pspsweep.simulation.mechanisms import source_hash

    return source_hash([Path(d) for d in dirs]) in _LOADED_SETS


def load_mechanisms(dirs: Sequence[str | os.PathLike[str]]) -> None:
    """Compile (cached) and load ``dirs`` as the ``nrnivmodl -coreneuron`` build and point
    ``CORENEURONLIB`` at its ``libcorenrnmech`` (read by ``psolve``).

    Raises:
        PspSweepError: when compiling fails, the plain build of these mechanisms is
            already loaded in this process, or there is no mechanism library at all.
    """
    from pspsweep.simulation import mechanisms

    if not dirs:
        # mechanisms loaded by the caller: CoreNEURON still needs their library
        if not os.environ.get("CORENEURONLIB"):
            raise PspSweepError(
                "run.engine=coreneuron needs the cell's mechanisms built with nrnivmodl -coreneuron, "
                "but the cell names no mechanism folders and CORENEURONLIB is not set"
            )
        return
    folders = [Path(d) for d in dirs]
    try:
        mechanisms.load_mechanisms(folders, coreneuron=True)
    except PspSweepError as exc:
        raise PspSweepError(
            f"run.engine=coreneuron: {exc} (a process that simulated with run.engine=neuron "
            "cannot switch to CoreNEURON; start a new process)"
        ) from exc
    _LOADED_SETS.add(mechanisms.source_hash(folders))
    build = mechanisms.compile_mechanisms(folders, coreneuron=True)  # cached: no compile
    # load_mechanisms sets it only when it loads a library; assert it every time
    os.environ["CORENEURONLIB"] = str(mechanisms.library_path(build, coreneuron=True))


def prepare(h: Any) -> None:
    """Per-run NEURON setting CoreNEURON needs (idempotent; before ``finitialize``)."""
    h.CVode().cache_efficient(1)


def psolve(h: Any, t_end: float, gpu: bool = False) -> None:
    """Advance from the current state while ``t < t_end``, as NEURON's ``fadvance``
    loop does, on CoreNEURON.

    Events queued in NEURON and ``Vector.record`` requests go to CoreNEURON and the
    state and samples come back. ``psolve`` takes the number of steps from
    ``(t_end - t) / dt``, while the loop it replaces stops on the accumulated t, which
    may end a hair below ``t_end`` (1.6e-11 ms per 4400 steps): single-step runs then add
    the steps the loop would take.

    Raises:
        PspSweepError: when CoreNEURON does not advance.
    """
    from neuron import coreneuron

    pc = h.ParallelContext()
    # after restoring a state and moving synapses: rebuild the stale model structures
    # that psolve refuses (fcurrent changes no state)
    h.fcurrent()
    pc.set_maxstep(MAXSTEP)
    # quiet: CoreNEURON otherwise prints its options and statistics on every run
    with coreneuron(enable=True, gpu=gpu, verbose=0):
        target = t_end
        while h.t < t_end:
            t_before = float(h.t)
            pc.psolve(target)
            if not h.t > t_before:
                raise PspSweepError(f"CoreNEURON did not advance from t = {t_before} ms to {t_end} ms")
            target = float(h.t) + float(h.dt)
