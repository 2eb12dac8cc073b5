"""Typed configuration schemas (plain dataclasses, no Hydra import).

``pspsweep.cli`` registers these in Hydra's ConfigStore so that a wrongly typed or
unknown override fails before anything runs. Field names of ``RunConfig`` follow the
reference function ``run_ex_synapses`` (``celltype, mode, gAMPA, gNMDA, gGABA, vardt,
tStim, tEnd``). Units: ms, mV, nS, um, degC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Dict, List, Optional


class Mode(StrEnum):
    """What one unit is: one presynaptic cell with all its synapses, or one synapse."""

    cells = "cells"
    synapses = "synapses"


class Strategy(StrEnum):
    """How each unit is simulated (``pspsweep.simulation.runner`` describes both exactly).

    ``reference``: initialise afresh and simulate from t = 0 for every unit (ISF's protocol).
    ``restore``: simulate up to the activation once per process (with a pool of silent
    synapses), save the state there and, per unit, restore it, place the synapses and
    simulate only tStim..tEnd. Traces are bit-identical to ``reference`` under fixed
    step and CVODE.
    """

    reference = "reference"
    restore = "restore"


class Engine(StrEnum):
    """What integrates the fixed-step runs: ``neuron``, or ``coreneuron`` (in process,
    ``ParallelContext.psolve``; mechanisms built with ``nrnivmodl -coreneuron``; fixed
    step only; equal traces, see ``pspsweep.simulation.coreneuron``)."""

    neuron = "neuron"
    coreneuron = "coreneuron"


class Convention(StrEnum):
    """Analysis conventions: pspsweep's own, or ISF's exact ones (isf-reference section 7)."""

    pspsweep = "pspsweep"
    isf = "isf"


class BaselineMethod(StrEnum):
    """``dynamic``: subtract the synapse-free baseline run; ``constant``: a pre-stimulus level."""

    dynamic = "dynamic"
    constant = "constant"


class VoltageDtype(StrEnum):
    """How stored voltages are kept in ``traces.npz``: float32 (about 1e-5 mV, half the
    size) or float64 (the simulated values exactly)."""

    float32 = "float32"
    float64 = "float64"


class MorphologyKind(StrEnum):
    """Where the morphology comes from: generated (``demo``), an ISF ``.hoc`` or an ``.swc``
    file, or the target node of a SONATA circuit (``sonata``: the whole cell as bmtk builds it)."""

    demo = "demo"
    hoc = "hoc"
    swc = "swc"
    sonata = "sonata"


class NsegRule(StrEnum):
    """How many segments a section gets: ISF's d-lambda rule, or a fixed number."""

    isf_dlambda = "isf_dlambda"
    fixed = "fixed"


class NetworkKind(StrEnum):
    """Where the embedding comes from: generated (``demo``), ISF's ``.syn`` + ``.con``, or
    the afferent edges of a SONATA node (``sonata``)."""

    demo = "demo"
    isf = "isf"
    sonata = "sonata"


class Classification(StrEnum):
    """ISF's prefix lists of excitatory and inhibitory types (``pspsweep.celltypes``)."""

    isf_head = "isf_head"
    isf_legacy = "isf_legacy"


class MorphologyView(StrEnum):
    """How the morphology map shows the cell: ``principal`` (the plane of its two longest
    principal axes, the longest vertical: a side view whatever the file's axes), or the
    plain ``xy``, ``xz``, ``yz`` projections (first axis horizontal)."""

    principal = "principal"
    xy = "xy"
    xz = "xz"
    yz = "yz"


class Clamp(StrEnum):
    """What the protocol controls at the soma: its current (``current``: the voltage is
    recorded) or its voltage (``voltage``: an SEClamp at ``hold_V``, its current recorded)."""

    current = "current"
    voltage = "voltage"


class ExecutorKind(StrEnum):
    """Where units run: local processes, or a Dask cluster."""

    local = "local"
    dask = "dask"


@dataclass
class DemoMorphologyConfig:
    """Parameters of the built-in demo morphology (lengths and diameters in um)."""

    soma_length: float = 20.0
    soma_diam: float = 20.0
    n_basal: int = 4
    basal_length: float = 120.0
    basal_diam: float = 1.2
    basal_child_length: float = 80.0
    basal_child_diam: float = 0.8
    trunk_length: float = 400.0
    trunk_diam_start: float = 3.0
    trunk_diam_end: float = 1.8
    n_oblique: int = 2
    oblique_length: float = 100.0
    oblique_diam: float = 0.8
    n_tuft: int = 3
    tuft_length: float = 250.0
    tuft_diam: float = 1.0
    points_per_section: int = 11


@dataclass
class MorphologyConfig:
    """Where the morphology comes from: ``demo`` (generated), ``hoc`` (ISF) or ``swc``."""

    kind: MorphologyKind = MorphologyKind.demo
    path: Optional[str] = None
    demo: DemoMorphologyConfig = field(default_factory=DemoMorphologyConfig)
    synthetic_axon: bool = False


@dataclass
class LabelConfig:
    """Biophysics of one section label.

    ``mechanisms`` maps a NEURON suffix to its parameters, e.g.
    ``{pas: {spatial: uniform, g: 3.0e-5, e: -70.0}}``; ``spatial`` names a distribution
    (isf-reference 2.4) whose control keys sit beside the parameters.
    """

    Ra: Optional[float] = None
    cm: Optional[float] = None
    ions: Dict[str, float] = field(default_factory=dict)
    mechanisms: Dict[str, Dict[str, Any]] = field(default_factory=dict)


@dataclass
class DiscretizationConfig:
    """nseg rule: ``isf_dlambda`` (frequency ``f`` Hz, optional ``max_seg_length`` um) or ``fixed``."""

    rule: NsegRule = NsegRule.isf_dlambda
    f: float = 100.0
    max_seg_length: Optional[float] = None
    nseg: int = 1


@dataclass
class DiameterScalingConfig:
    """Scale diameters of chosen sections (labels, far end within max_distance_um of soma(0))."""

    factor: float = 1.0
    labels: List[str] = field(default_factory=list)
    max_distance_um: Optional[float] = None
    max_sections: Optional[int] = None


@dataclass
class SimConfig:
    """Initial voltage (mV), fixed step (ms), temperature (degC); None: from the param file."""

    v_init: Optional[float] = None
    dt: Optional[float] = None
    celsius: Optional[float] = None


@dataclass
class SonataCellConfig:
    """``neuron=sonata``: the target node of a circuit (the network group's keys by
    default) and the dL rule (um; None: the simulation config's, else 20 as in bmtk)."""

    circuit_config: Optional[str] = None
    simulation_config: Optional[str] = None
    target: Optional[str] = None
    dL: Optional[float] = None


@dataclass
class NeuronConfig:
    """The cell model.

    With ``param_file`` set (ISF ``.param``), morphology, biophysics and sim settings come
    from that file and the fields here other than ``mechanism_dirs``, ``sim`` overrides and
    ``diameter_scaling`` additions are ignored.
    """

    name: str = "demo"
    param_file: Optional[str] = None
    morphology: MorphologyConfig = field(default_factory=MorphologyConfig)
    biophysics: Dict[str, LabelConfig] = field(default_factory=dict)
    discretization: DiscretizationConfig = field(default_factory=DiscretizationConfig)
    diameter_scaling: List[DiameterScalingConfig] = field(default_factory=list)
    sim: SimConfig = field(default_factory=SimConfig)
    #: shipped mechanism folders by name (``synapses``, ``l5pt``) or paths to .mod folders
    mechanism_dirs: List[str] = field(default_factory=lambda: ["synapses"])
    sonata: SonataCellConfig = field(default_factory=SonataCellConfig)


@dataclass
class CellTypeConfig:
    """A presynaptic cell type: its receptor and, for the demo, how its synapses are generated."""

    receptor: str = "glutamate_syn"
    parameters: Dict[str, Any] = field(default_factory=dict)
    n_cells: int = 10
    min_synapses_per_cell: int = 1
    max_synapses_per_cell: int = 3
    labels: List[str] = field(default_factory=lambda: ["Dendrite"])


@dataclass
class NetworkConfig:
    """Presynaptic cell types and the synapse embedding (``demo`` generated, or ``isf`` files)."""

    name: str = "demo"
    kind: NetworkKind = NetworkKind.demo
    seed: int = 1
    celltypes: Dict[str, CellTypeConfig] = field(default_factory=dict)
    syn_file: Optional[str] = None
    con_file: Optional[str] = None
    #: ISF prefix lists deciding excitatory vs inhibitory types (isf-reference 8):
    #: ``isf_head`` (ISF since 2025) or ``isf_legacy`` (barrel-cortex lists, L1 inhibitory)
    classification: Classification = Classification.isf_head
    snap_to_points: bool = True
    #: short-term plasticity: cell type (a name or fnmatch pattern) -> Tsodyks-Markram
    #: parameters ``{U: 0.5, D: 800, F: 0}`` (D, F in ms; F = 0: depressing only); the
    #: matching types get the TM receptor (docs/protocols.md); none: no plasticity model
    stp: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    #: stochastic release: cell type (name or pattern) -> ``{p: 0.3, quantal_cv: 0.5,
    #: sites: 1}`` (release probability per synapse and spike, CV of the gamma-distributed
    #: quantal size, release sites of the stochastic TM model); docs/trials.md
    release: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    #: ``sonata``: the circuit (or simulation) config, an optional simulation config for
    #: the conditions, and the target node as ``POPULATION:NODE_ID``
    circuit_config: Optional[str] = None
    simulation_config: Optional[str] = None
    target: Optional[str] = None


@dataclass
class RunConfig:
    """One per-unit sweep, named like the reference's ``run_ex_synapses`` arguments.

    ``g`` sets gAMPA = g * AMPA_component and gNMDA = g * NMDA_component for an
    excitatory cell type (ISF's ``PSPs`` components, 1 by default), or gGABA = g for an
    inhibitory one, unless those are given explicitly. ``celltype`` may select several
    cell types; each gets its own receptor and conductances. ``units`` restricts the
    sweep to these unit indices (0-based, in unit order; with several cell types, of
    each type). A finished run of the same sweep in the store is reused instead of
    simulated again unless ``force`` is true. Units whose
    synapses sit on the same segments share one simulation (``reuse_identical``).
    """

    # a name, an fnmatch pattern, ``excitatory``/``inhibitory``, or a list of those
    # (Any: OmegaConf has no str-or-list type; validate() checks it)
    celltype: Any = "L4ss_C2"
    mode: Mode = Mode.cells
    g: Optional[float] = 1.0
    gAMPA: Optional[float] = None
    gNMDA: Optional[float] = None
    gGABA: Optional[float] = None
    AMPA_component: float = 1.0
    NMDA_component: float = 1.0
    vardt: bool = True
    tStim: float = 110.0
    tEnd: float = 150.0
    units: Optional[List[int]] = None
    strategy: Strategy = Strategy.restore
    engine: Engine = Engine.neuron
    #: CoreNEURON GPU offload; needs a GPU build of NEURON (the pip wheel is CPU only)
    gpu: bool = False
    record_dt: Optional[float] = None
    record_dtype: VoltageDtype = VoltageDtype.float32
    force: bool = False
    reuse_identical: bool = True
    #: refuse a sweep of more time steps than this (see validation.check_work)
    max_steps: float = 1e9


@dataclass
class ProtocolConfig:
    """What one unit run is (docs/protocols.md); ``isf``: ISF's free-running cell and one
    presynaptic spike at tStim.

    ``hold_V`` (mV): the soma is held there, by the constant current that puts it at
    hold_V at tStim (current clamp), or by an SEClamp with ``series_resistance`` (MOhm)
    (``clamp=voltage``). ``hold_I`` (nA): a constant current instead. ``spikes``: the
    presynaptic spike times, ms after tStim, each delivered to every synapse of the unit.
    ``trials``: runs of every unit, in which stochastic synapses (``network.release``)
    draw anew from Random123 streams keyed by ``seed``, cell type, synapse and trial.
    """

    name: str = "isf"
    hold_V: Optional[float] = None
    hold_I: Optional[float] = None
    clamp: Clamp = Clamp.current
    series_resistance: float = 10.0
    spikes: List[float] = field(default_factory=lambda: [0.0])
    trials: int = 1
    seed: int = 0


@dataclass
class AnalysisConfig:
    """PSP analysis: convention, baseline method, response threshold (mV; ``threshold_nA``
    for the PSCs of a voltage clamp), resampling step (ms)."""

    convention: Convention = Convention.pspsweep
    baseline: BaselineMethod = BaselineMethod.dynamic
    threshold_mV: float = 0.1
    resample_dt: float = 0.025
    threshold_nA: float = 0.002


@dataclass
class FitConfig:
    """Conductance fit at the end of a multirun over ``run.g`` (isf-reference 7.4-7.6).

    ``measured``: CSV of measured unitary EPSPs (a ``celltype`` or ``group`` column and
    ``EPSP_mean_measured, EPSP_med_measured, EPSP_max_measured`` in mV); no fit when null.
    ``groups``: group name -> fnmatch patterns of cell types; empty or null: ISF's merging
    (``L2, L34, L4, L5st, L5tt, L6cc, L6ct, VPM_C2`` as substrings of excitatory types).
    ``weights``: of g_mean, g_median, g_max in the optimal g (ISF: 2, 2, 1).
    ``bootstrap``: resamples of units for the confidence interval (0: none).
    ``min_r2``: a statistic's line with a lower R^2 is flagged as a poor fit.
    """

    measured: Optional[str] = None
    # empty, not None, by default: OmegaConf cannot merge an override into a None node
    groups: Optional[Dict[str, List[str]]] = field(default_factory=dict)
    weights: List[float] = field(default_factory=lambda: [2.0, 2.0, 1.0])
    bootstrap: int = 1000
    ci: float = 0.95
    seed: int = 0
    min_r2: float = 0.9


@dataclass
class TrackingConfig:
    """MLflow tracking. ``uri`` None: ``sqlite:///<launch dir>/mlflow.db``."""

    enabled: bool = True
    uri: Optional[str] = None
    experiment: str = "pspsweep"


@dataclass
class ExecutorConfig:
    """How units are run.

    ``kind=local``: ``workers`` local processes (0: all cores; 1: one, which runs in the
    command's own process when tracking is off).
    ``kind=dask``: a Dask cluster at ``address`` (``tcp://HOST:PORT``), or a LocalCluster
    of ``workers`` processes when no address is given. Finished chunks of ``chunk_size``
    units (None: automatic) are written to ``chunks`` in ``work_dir`` (None: ``.pspsweep``
    in the launch directory) as they complete. ``state_dir`` holds the settled states of
    ``run.strategy=restore``, shared by the workers and by every job that settles the same
    cell (None: ``states`` beside the chunks).
    """

    kind: ExecutorKind = ExecutorKind.local
    workers: int = 0
    chunk_size: Optional[int] = None
    address: Optional[str] = None
    work_dir: Optional[str] = None
    state_dir: Optional[str] = None
    progress: bool = True


@dataclass
class OutputConfig:
    """How the plots show the results, and result files beyond the default set: ``nwb``
    also writes ``traces.nwb`` (the traces as NWB intracellular data, :mod:`pspsweep.nwb`)."""

    morphology_view: MorphologyView = MorphologyView.principal
    nwb: bool = False


@dataclass
class PspSweepConfig:
    """The composed configuration of one job."""

    neuron: NeuronConfig = field(default_factory=NeuronConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    run: RunConfig = field(default_factory=RunConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    output: OutputConfig = field(default_factory=OutputConfig)


def schema_node() -> Any:
    """The schema for Hydra's ConfigStore, with ``fit.groups`` open to new group names.

    Hydra locks the composed config (struct), so ``fit.groups.L4=[...]`` and
    ``fit.groups={L4: [...]}`` would be refused as new keys; and OmegaConf cannot merge
    a dict into a None node, hence the empty default. Values stay typed (lists of str).
    """
    from omegaconf import OmegaConf

    node = OmegaConf.structured(PspSweepConfig)
    OmegaConf.set_struct(node.fit.groups, False)
    OmegaConf.set_struct(node.network.stp, False)
    OmegaConf.set_struct(node.network.release, False)
    return node
