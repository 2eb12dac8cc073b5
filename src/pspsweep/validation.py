"""Every check of a job's values, done once, before any run is recorded.

:func:`validate` checks the config alone (known keys, finite, in range, names MLflow
accepts) and reads the measured table it names;
the checks below it need the inputs read (the cell's sim settings, the analysis
windows, the total amount of work) and are called by :func:`pspsweep.pipeline.prepare`.
Each raises :class:`~pspsweep.errors.PspSweepError` naming the config key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import posixpath
import re
from collections.abc import Iterable, Iterator
from typing import Any

from pspsweep.cellmodel import CellSpec
from pspsweep.config import (
    Engine,
    ExecutorConfig,
    FitConfig,
    MorphologyView,
    NetworkConfig,
    NeuronConfig,
    ProtocolConfig,
    PspSweepConfig,
    RunConfig,
)
from pspsweep.errors import PspSweepError
from pspsweep.features import AnalysisOptions

#: most trials per unit accepted (protocol.trials)
MAX_TRIALS = 1_000_000

#: largest conductance accepted (nS): 10 uS is three orders above any unitary synapse
#: (0.1-10 nS) and already clamps a dendrite; larger values are typos that break CVODE
MAX_CONDUCTANCE_NS = 1e4

#: characters MLflow accepts in a metric name (mlflow.utils.validation, POSIX rules)
METRIC_NAME_CHARACTERS = re.compile(r"[/\w.\- :]*")

#: what a Dask scheduler address looks like: [scheme://]host:port
DASK_ADDRESS = re.compile(r"((tcp|tls|ucx|ws|wss)://)?(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9._-]+):[0-9]{1,5}")


def check_metric_name(name: str, what: str) -> None:
    """Refuse a name that becomes part of MLflow metric or param keys (``amp_mean.<name>``).

    Args:
        name: a cell type or group name.
        what: how the message calls it (``cell type``, ``fit.groups key``, ...).

    Raises:
        PspSweepError: naming ``name`` and the rule it breaks.
    """
    if not name or not METRIC_NAME_CHARACTERS.fullmatch(name):
        raise PspSweepError(
            f"{what} {name!r} cannot be part of an MLflow metric name: use only letters, digits and _ - . : / or spaces"
        )
    key = f"amp_mean.{name}"
    # MLflow treats metric names as paths and refuses any that normalises to another
    if posixpath.normpath(key) != key:
        raise PspSweepError(
            f"{what} {name!r} cannot be part of an MLflow metric name: it may not contain "
            "'.' or '..' path segments, '//' or end in '/'"
        )


def non_finite_values(value: Any, key: str = "") -> Iterator[tuple[str, float]]:
    """Dotted key and value of every NaN or infinite float in a config (dataclasses, dicts, lists)."""
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            yield from non_finite_values(getattr(value, f.name), f"{key}.{f.name}" if key else f.name)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from non_finite_values(v, f"{key}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from non_finite_values(v, f"{key}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        yield key, value


def unknown_key_error(key: str, known: Iterable[str]) -> PspSweepError:
    """``unknown key run.gampa (did you mean run.gAMPA?)``: the closest of ``known`` (dotted
    keys), compared without case, as the hint."""
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.6)
    return PspSweepError(f"unknown key {key}" + (f" (did you mean {by_lower[close[0]]}?)" if close else ""))


def unknown_keys(value: Any, key: str = "") -> Iterator[tuple[str, list[str]]]:
    """Every key a config holds beyond its schema, with the dotted keys the schema has there.

    Hydra adds ``+run.gampa=1`` to the typed config and ``OmegaConf.to_object`` keeps it as
    an attribute beside the dataclass fields: that is how such a key shows.
    """
    if dataclasses.is_dataclass(value):
        names = [f.name for f in dataclasses.fields(value)]
        prefix = f"{key}." if key else ""
        for extra in sorted(set(vars(value)) - set(names)):
            yield prefix + extra, [prefix + n for n in names]
        for name in names:
            yield from unknown_keys(getattr(value, name), prefix + name)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from unknown_keys(v, f"{key}.{k}")


def validate(cfg: PspSweepConfig) -> None:
    """Reject unknown keys, impossible values and an unreadable ``fit.measured`` table with
    one message naming the config key.

    Raises:
        PspSweepError: on the first problem found.
    """
    for key, known in unknown_keys(cfg):
        raise unknown_key_error(key, known)
    for key, value in non_finite_values(cfg):
        raise PspSweepError(f"{key}={value} must be a finite number")
    _validate_run(cfg.run)
    _validate_protocol(cfg.protocol, cfg.run)
    _validate_neuron(cfg.neuron)
    _validate_network(cfg.network)
    _validate_sonata(cfg)
    _validate_fit(cfg.fit)
    check_measured(cfg.fit, clamp=cfg.protocol.clamp.value)
    # the analysis values are checked by the analysis itself (pspsweep.features.AnalysisOptions)
    from pspsweep.features import AnalysisOptions

    a = cfg.analysis
    AnalysisOptions(a.convention.value, a.baseline.value, a.threshold_mV, a.resample_dt, threshold_nA=a.threshold_nA)
    _validate_executor(cfg.executor)
    if cfg.output.morphology_view not in set(MorphologyView):
        views = ", ".join(v.value for v in MorphologyView)
        raise PspSweepError(f"output.morphology_view={cfg.output.morphology_view!r} must be one of {views}")
    if not cfg.tracking.experiment.strip():
        raise PspSweepError(
            f"tracking.experiment={cfg.tracking.experiment!r} must name an experiment (default: pspsweep)"
        )


def _validate_protocol(protocol: ProtocolConfig, run: RunConfig) -> None:
    if not protocol.name.strip():
        raise PspSweepError("protocol.name is empty: it names the protocol in the outputs")
    if protocol.hold_V is not None and protocol.hold_I is not None:
        raise PspSweepError(
            f"protocol.hold_V={protocol.hold_V:g} and protocol.hold_I={protocol.hold_I:g}: give one of them "
            "(hold_V finds the current that holds the soma there)"
        )
    if protocol.clamp == "voltage":
        if protocol.hold_V is None:
            raise PspSweepError("protocol.clamp=voltage needs protocol.hold_V=MV, the potential the soma is clamped at")
        if not protocol.series_resistance > 0:
            raise PspSweepError(f"protocol.series_resistance={protocol.series_resistance:g} must be > 0 (MOhm)")
    if not 1 <= protocol.trials <= MAX_TRIALS:
        raise PspSweepError(f"protocol.trials={protocol.trials} must be between 1 and {MAX_TRIALS}")
    if not 0 <= protocol.seed < 2**32:
        raise PspSweepError(f"protocol.seed={protocol.seed} must be between 0 and 2**32 - 1 (a Random123 key)")
    spikes = list(protocol.spikes)
    if not spikes:
        raise PspSweepError("protocol.spikes is empty: give the presynaptic spike times, ms after run.tStim (e.g. [0])")
    if spikes[0] < 0 or any(b <= a for a, b in zip(spikes, spikes[1:])):
        raise PspSweepError(f"protocol.spikes={spikes} must be increasing times >= 0 (ms after run.tStim)")
    if run.tStim + spikes[-1] >= run.tEnd:
        raise PspSweepError(
            f"protocol.spikes={spikes}: the last spike at tStim + {spikes[-1]:g} ms is not before "
            f"run.tEnd={run.tEnd:g}; raise run.tEnd"
        )


def _validate_run(run: RunConfig) -> None:
    names = [run.celltype] if isinstance(run.celltype, str) else run.celltype
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) and n for n in names):
        raise PspSweepError(
            f"run.celltype={run.celltype!r} must be a cell type, a pattern, excitatory, "
            "inhibitory, or a non-empty list of those"
        )
    if not run.tStim >= 0:
        raise PspSweepError(f"run.tStim={run.tStim} must be >= 0 ms")
    if not run.tEnd > run.tStim:
        raise PspSweepError(f"run.tEnd={run.tEnd} must be greater than run.tStim={run.tStim} (ms)")
    for name in ("g", "gAMPA", "gNMDA", "gGABA", "AMPA_component", "NMDA_component"):
        value = getattr(run, name)
        if value is not None and value < 0:
            raise PspSweepError(f"run.{name}={value} must be a non-negative conductance (nS)")
    for name in ("g", "gAMPA", "gNMDA", "gGABA"):
        check_conductance(f"run.{name}", getattr(run, name))
    if run.units is not None and not run.units:
        raise PspSweepError("run.units=[] selects no unit; give unit indices or null for all units")
    if run.units is not None and any(u < 0 for u in run.units):
        raise PspSweepError(f"run.units={list(run.units)} must hold non-negative unit indices")
    if run.record_dt is not None and not run.record_dt > 0:
        raise PspSweepError(f"run.record_dt={run.record_dt} must be positive (ms) or null")
    if not run.max_steps > 0:
        raise PspSweepError(f"run.max_steps={run.max_steps} must be positive")
    if run.engine == Engine.coreneuron and run.vardt:
        raise PspSweepError("run.engine=coreneuron integrates with a fixed step only: set run.vardt=false")
    if run.gpu:
        from pspsweep.simulation.coreneuron import check_request

        # engine and GPU support of the installed NEURON (imported only when asked for)
        check_request(run.engine.value, run.vardt, run.gpu)


def check_conductance(key: str, value: float | None) -> None:
    """Refuse a conductance (nS) above :data:`MAX_CONDUCTANCE_NS`, naming ``key``."""
    if value is not None and value > MAX_CONDUCTANCE_NS:
        raise PspSweepError(
            f"{key}={value:g} nS is above {MAX_CONDUCTANCE_NS:g} nS (10 uS), far beyond any "
            "synapse; give the conductance in nS"
        )


def _validate_neuron(neuron: NeuronConfig) -> None:
    sim = neuron.sim
    if sim.dt is not None and not sim.dt > 0:
        raise PspSweepError(f"neuron.sim.dt={sim.dt} must be positive (ms)")
    demo = neuron.morphology.demo
    for f in dataclasses.fields(demo):
        value = getattr(demo, f.name)
        if f.name.endswith(("_length", "_diam", "_start", "_end")) and not value > 0:
            raise PspSweepError(f"neuron.morphology.demo.{f.name}={value} must be positive (um)")
        if f.name.startswith("n_") and value < 0:
            raise PspSweepError(f"neuron.morphology.demo.{f.name}={value} must be >= 0")
    if demo.points_per_section < 2:
        raise PspSweepError(f"neuron.morphology.demo.points_per_section={demo.points_per_section} must be >= 2")
    d = neuron.discretization
    if d.nseg < 1:
        raise PspSweepError(f"neuron.discretization.nseg={d.nseg} must be >= 1")
    if not d.f > 0:
        raise PspSweepError(f"neuron.discretization.f={d.f} must be a positive frequency (Hz)")
    if d.max_seg_length is not None and not d.max_seg_length > 0:
        raise PspSweepError(f"neuron.discretization.max_seg_length={d.max_seg_length} must be positive (um) or null")
    for i, scaling in enumerate(neuron.diameter_scaling):
        if not scaling.factor > 0:
            raise PspSweepError(f"neuron.diameter_scaling[{i}].factor={scaling.factor} must be positive")


def _validate_network(network: NetworkConfig) -> None:
    if network.seed < 0:
        raise PspSweepError(f"network.seed={network.seed} must be >= 0")
    for name in network.celltypes:
        check_metric_name(name, "network.celltypes key")


def _validate_sonata(cfg: PspSweepConfig) -> None:
    """A SONATA embedding names sections of the SONATA cell of the same target, and back."""
    network_sonata = cfg.network.kind == "sonata"
    if network_sonata != (cfg.neuron.morphology.kind == "sonata"):
        raise PspSweepError(
            "network=sonata and neuron=sonata go together (the edges name sections of the target's own cell): "
            "give both, with network.circuit_config=PATH network.target=POPULATION:NODE_ID"
        )
    for key in ("circuit_config", "simulation_config", "target") if network_sonata else ():
        if getattr(cfg.neuron.sonata, key) != getattr(cfg.network, key):
            raise PspSweepError(
                f"neuron.sonata.{key}={getattr(cfg.neuron.sonata, key)!r} differs from network.{key}="
                f"{getattr(cfg.network, key)!r}: the cell and its synapses come from the same target"
            )
    if network_sonata and cfg.network.celltypes:
        raise PspSweepError(
            f"network.celltypes ({', '.join(cfg.network.celltypes)}) does not apply to network=sonata: "
            "the synapse model of every edge comes from its edge type"
        )
    if cfg.neuron.sonata.dL is not None and not cfg.neuron.sonata.dL > 0:
        raise PspSweepError(f"neuron.sonata.dL={cfg.neuron.sonata.dL} must be positive (um)")


def _validate_fit(fit: FitConfig) -> None:
    from pspsweep.fit.lines import checked_weights

    checked_weights(fit.weights)  # the fit's own rule
    if fit.bootstrap < 0:
        raise PspSweepError(f"fit.bootstrap={fit.bootstrap} must be >= 0")
    if not 0 < fit.ci < 1:
        raise PspSweepError(f"fit.ci={fit.ci} must lie between 0 and 1")
    if fit.seed < 0:
        raise PspSweepError(f"fit.seed={fit.seed} must be >= 0")
    for group in fit.groups or {}:
        check_metric_name(group, "fit.groups key")


def _validate_executor(executor: ExecutorConfig) -> None:
    if executor.workers < 0:
        raise PspSweepError(f"executor.workers={executor.workers} must be >= 0 (0: all cores)")
    if executor.chunk_size is not None and executor.chunk_size < 1:
        raise PspSweepError(f"executor.chunk_size={executor.chunk_size} must be >= 1")
    if executor.address is not None and not DASK_ADDRESS.fullmatch(executor.address):
        raise PspSweepError(
            f"executor.address={executor.address!r} is not a Dask scheduler address: "
            "give tcp://HOST:PORT (or tls://, ws://, wss://, ucx://)"
        )


def check_measured(fit: FitConfig, clamp: str = "current") -> None:
    """``fit.measured``, when given, is a readable table of measured EPSPs (EPSCs under
    ``protocol.clamp=voltage``): read now, so that a single run refuses a bad table as a
    multirun does, before anything runs.

    Raises:
        PspSweepError: naming ``fit.measured`` and the file (and line) at fault.
    """
    if fit.measured:
        from pspsweep.builders import resolve_path
        from pspsweep.io.measured import MEASURED_PSC_COLUMNS, read_measured_epsp

        path = resolve_path(fit.measured, "fit.measured")
        has_pscs = MEASURED_PSC_COLUMNS[0] in read_measured_epsp(path).columns
        if has_pscs != (clamp == "voltage"):
            wanted = "EPSC_*_measured (nA)" if clamp == "voltage" else "EPSP_*_measured (mV)"
            raise PspSweepError(f"fit.measured={path}: protocol.clamp={clamp} fits against {wanted} columns")


#: ISF's fixed step (ms): the yardstick of work under CVODE, whose own steps are unknown ahead
REFERENCE_STEP_MS = 0.025

#: fewest fixed steps in the response window: a PSP rises within about 1 ms of a 40 ms window
MIN_RESPONSE_STEPS = 100


def check_windows(cfg: PspSweepConfig, options: AnalysisOptions) -> None:
    """The analysis grid has samples before tStim (the pre-stimulus level) and after it.

    Raises:
        PspSweepError: naming run.tStim, run.tEnd and analysis.resample_dt.
    """
    # the analysis' own rule (private there), so that this check cannot drift from it
    from pspsweep.features import _windows

    run = cfg.run
    try:
        _windows(run.tStim, run.tEnd, options)
    except PspSweepError as exc:
        raise PspSweepError(
            f"run.tStim={run.tStim:g}, run.tEnd={run.tEnd:g}, analysis.resample_dt={options.resample_dt:g}: {exc}"
        ) from None


def check_sim_settings(cfg: PspSweepConfig, cell: CellSpec) -> None:
    """Finite sim settings (also from a .param), and a fixed step that resolves the PSP.

    Raises:
        PspSweepError: naming the neuron.sim key.
    """
    sim, run = cell.sim, cfg.run
    for key in ("v_init", "dt", "celsius"):
        value = getattr(sim, key)
        if not math.isfinite(value):
            raise PspSweepError(f"neuron.sim.{key}={value} must be a finite number")
    if not sim.dt > 0:
        raise PspSweepError(f"neuron.sim.dt={sim.dt} must be positive (ms)")
    window = run.tEnd - run.tStim
    if not run.vardt and window / sim.dt < MIN_RESPONSE_STEPS:
        raise PspSweepError(
            f"neuron.sim.dt={sim.dt:g} ms leaves fewer than {MIN_RESPONSE_STEPS} fixed steps in the response "
            f"window run.tEnd - run.tStim = {window:g} ms, too few to resolve a PSP; give neuron.sim.dt <= "
            f"{window / MIN_RESPONSE_STEPS:g}"
        )


def check_work(run: RunConfig, dt: float, n_units: int) -> None:
    """Refuse a sweep of more than ``run.max_steps`` time steps before it runs for days.

    Steps are counted in ``neuron.sim.dt`` under fixed step and in ISF's 0.025 ms under
    CVODE: ``restore`` settles to tStim once and simulates tStim..tEnd per unit,
    ``reference`` simulates 0..tEnd per unit.

    Raises:
        PspSweepError: naming the keys, the figure and how to allow it.
    """
    step = REFERENCE_STEP_MS if run.vardt else dt
    if run.strategy.value == "restore":
        steps = (run.tStim + n_units * (run.tEnd - run.tStim)) / step
    else:
        steps = n_units * run.tEnd / step
    if steps > run.max_steps:
        # the suggested limit, rounded up to two digits so that it lets this sweep through
        unit = 10.0 ** (math.floor(math.log10(steps)) - 1)
        enough = math.ceil(steps / unit) * unit
        raise PspSweepError(
            f"the sweep would take {steps:.3g} time steps of {step:g} ms ({n_units} unit runs, "
            f"run.tStim={run.tStim:g}, run.tEnd={run.tEnd:g}, neuron.sim.dt={dt:g}, "
            f"run.strategy={run.strategy.value}), more than "
            f"run.max_steps={run.max_steps:.3g}; set run.max_steps={enough:.2g} if you mean it"
        )
