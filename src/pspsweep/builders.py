"""Config -> plain data: the cell model, the embedding and the conductances of a run.

This is the first stage of the pipeline. It reads files through ``pspsweep.io`` and the
demo generator and returns :class:`~pspsweep.cellmodel.CellSpec` and
:class:`~pspsweep.embedding.Embedding`; it never touches NEURON.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from pspsweep.cellmodel import (
    DISTRIBUTION_CONTROL_KEYS,
    CellSpec,
    DiameterScaling,
    Discretization,
    LabelBiophysics,
    MechanismSpec,
    SimSettings,
    control_value_problem,
)
from pspsweep.celltypes import CLASSIFICATIONS, classify_celltype
from pspsweep.config import NetworkConfig, NeuronConfig, RunConfig
from pspsweep.demo import demo_sections, demo_synapses
from pspsweep.embedding import Embedding, ReceptorSpec
from pspsweep.errors import PspSweepError
from pspsweep.launch import launch_dir
from pspsweep.receptors import with_release, with_stp
from pspsweep.simulation.mechanisms import SHIPPED_FOLDERS
from pspsweep.validation import check_conductance

#: receptor mechanisms whose weights come per synapse from the input (SONATA edges);
#: run.g scales them, and the sweep's weights hold that factor under ``WEIGHT_SCALE``
WEIGHTED_RECEPTORS = ("Exp2Syn",)
WEIGHT_SCALE = "g_scale"

#: receptor mechanisms pspsweep ships, and whether they are excitatory
RECEPTOR_MECHANISMS = {"glutamate_syn": True, "gaba_syn": False}


def resolve_path(path: str, what: str) -> Path:
    """An existing input file, relative paths taken from the launch directory.

    Raises:
        PspSweepError: when the file does not exist, naming the config key ``what``.
    """
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = launch_dir() / p
    if p.is_dir():
        raise PspSweepError(f"{what}: {p} is a directory, not a file")
    if not p.is_file():
        raise PspSweepError(f"{what}: file not found: {p}")
    try:
        with open(p, "rb"):
            pass
    except OSError as exc:
        raise PspSweepError(f"{what}: cannot read {p}: {exc.strerror}") from None
    return p


def mechanism_dirs(names: list[str]) -> tuple[str, ...]:
    """Absolute folders for shipped mechanism names (``synapses``, ``l5pt``) or paths."""
    shipped = Path(__file__).parent / "simulation" / "mod"
    out = []
    for name in names:
        if name in SHIPPED_FOLDERS:
            out.append(str(shipped / name))
            continue
        p = Path(name).expanduser()
        p = p if p.is_absolute() else launch_dir() / p
        if not p.is_dir():
            raise PspSweepError(
                f"neuron.mechanism_dirs: {name!r} is neither a shipped set ({', '.join(SHIPPED_FOLDERS)}) nor a folder"
            )
        out.append(str(p))
    return tuple(dict.fromkeys(out))


def mechanism_spec(label: str, name: str, entry: dict[str, Any]) -> MechanismSpec:
    """One mechanism entry of the neuron config -> MechanismSpec (controls split off)."""
    entry = dict(entry)
    spatial = str(entry.pop("spatial", "uniform"))
    if spatial not in DISTRIBUTION_CONTROL_KEYS:
        raise PspSweepError(
            f"neuron.biophysics.{label}.mechanisms.{name}: unknown spatial distribution {spatial!r}; "
            f"valid: {', '.join(DISTRIBUTION_CONTROL_KEYS)}"
        )
    controls = set(DISTRIBUTION_CONTROL_KEYS[spatial])
    distribution = {k: v for k, v in entry.items() if k in controls}
    for k, v in distribution.items():
        problem = control_value_problem(k, v)
        if problem is not None:
            raise PspSweepError(f"neuron.biophysics.{label}.mechanisms.{name}.{k}={v!r}: {problem}")
    params = {k: v for k, v in entry.items() if k not in controls}
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise PspSweepError(f"neuron.biophysics.{label}.mechanisms.{name}.{k}={v!r} must be a number")
    return MechanismSpec(name=name, params=params, spatial=spatial, distribution=distribution)


def _native_cell_spec(cfg: NeuronConfig) -> CellSpec:
    morph = cfg.morphology
    if morph.kind == "demo":
        sections = demo_sections(morph.demo)
    elif morph.kind == "hoc":
        from pspsweep.io.isf_hoc import read_hoc

        sections = read_hoc(resolve_path(morph.path or "", "neuron.morphology.path"))
    else:
        from pspsweep.simulation.swc import read_swc

        sections = read_swc(resolve_path(morph.path or "", "neuron.morphology.path"))
    if morph.synthetic_axon:
        from pspsweep.io.isf_axon import synthetic_axon

        sections = sections + synthetic_axon(sections)
    labels = {s.label for s in sections}
    biophysics = []
    for label, lc in cfg.biophysics.items():
        if label not in labels:
            raise PspSweepError(f"neuron.biophysics.{label}: no section has this label; labels are {sorted(labels)}")
        mechs = tuple(mechanism_spec(label, n, dict(e or {})) for n, e in lc.mechanisms.items())
        biophysics.append(LabelBiophysics(label, lc.Ra, lc.cm, dict(lc.ions), mechs))
    d = cfg.discretization
    return CellSpec(
        name=cfg.name,
        sections=sections,
        biophysics=tuple(biophysics),
        discretization=Discretization(str(d.rule), d.f, d.max_seg_length, d.nseg),
    )


def cell_spec_from_config(cfg: NeuronConfig) -> CellSpec:
    """Build the cell description named by the ``neuron`` config group.

    Raises:
        PspSweepError: on missing files, unknown labels or mechanisms settings.
    """
    if cfg.morphology.kind == "sonata":
        from pspsweep.sonata import sonata_cell_spec

        spec = sonata_cell_spec(cfg)
        source = f"neuron=sonata {spec.name}: "
    elif cfg.param_file:
        from pspsweep.io.isf_param import param_to_cellspec, read_param_file

        path = resolve_path(cfg.param_file, "neuron.param_file")
        spec = param_to_cellspec(read_param_file(path), path)
        source = f"neuron.param_file {path}: "
    else:
        spec = _native_cell_spec(cfg)
        source = "neuron."
    if cfg.discretization.rule not in ("isf_dlambda", "fixed"):
        raise PspSweepError(f"neuron.discretization.rule={cfg.discretization.rule!r} is not one of: isf_dlambda, fixed")
    sim = spec.sim
    sim = SimSettings(
        v_init=sim.v_init if cfg.sim.v_init is None else cfg.sim.v_init,
        dt=sim.dt if cfg.sim.dt is None else cfg.sim.dt,
        celsius=sim.celsius if cfg.sim.celsius is None else cfg.sim.celsius,
    )
    scalings = spec.diameter_scalings + tuple(
        DiameterScaling(s.factor, tuple(s.labels), s.max_distance_um, s.max_sections) for s in cfg.diameter_scaling
    )
    dirs = tuple(dict.fromkeys(spec.mechanism_dirs + mechanism_dirs(list(cfg.mechanism_dirs) + ["synapses"])))
    spec = replace(spec, sim=sim, diameter_scalings=scalings, mechanism_dirs=dirs)
    check_cell_values(spec, source)
    return spec


#: density mechanisms built into NEURON 9 (``h.MechanismType(0)``), beside the .mod folders
NEURON_DENSITY_MECHANISMS = frozenset({"morphology", "capacitance", "pas", "extracellular", "fastpas", "hh"})


def check_cell_values(spec: CellSpec, source: str) -> None:
    """Refuse values NEURON would fail on only inside the simulation.

    Non-finite passive, ion or mechanism values (a CVODE error otherwise), diameters
    <= 0 (diameter scaling factors are positive, so scaling keeps the sign) and
    mechanisms that neither NEURON nor a .mod file of ``spec.mechanism_dirs`` defines.
    ``source`` starts each message: ``neuron.`` or ``neuron.param_file PATH: ``.

    Raises:
        PspSweepError: naming the label and key, or the section.
    """
    for bio in spec.biophysics:
        where = f"{source}biophysics.{bio.label}"
        for key, value in (("Ra", bio.Ra), ("cm", bio.cm)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise PspSweepError(f"{where}.{key}={value} must be a positive finite number")
        for ion, value in bio.ions.items():
            if not math.isfinite(value):
                raise PspSweepError(f"{where}.ions.{ion}={value} must be a finite number")
        for mech in bio.mechanisms:
            for key, value in {**mech.params, **mech.distribution}.items():
                if isinstance(value, float) and not math.isfinite(value):
                    raise PspSweepError(f"{where}.mechanisms.{mech.name}.{key}={value} must be a finite number")
    for section in spec.sections:
        diams = section.points[:, 3]
        if diams.size and not (diams > 0).all():
            raise PspSweepError(
                f"{source}morphology: section {section.name} has a point of diameter "
                f"{diams.min():g} um; every diameter must be positive"
            )
    check_mechanisms_known(spec, source)


def check_mechanisms_known(spec: CellSpec, source: str) -> None:
    """Every mechanism of the biophysics is built into NEURON or in a .mod file of the cell's folders.

    Reads the SUFFIX names from the .mod sources (no NEURON import, no compiling).
    """
    from pspsweep.simulation.mechanisms import mechanism_names

    known = set(NEURON_DENSITY_MECHANISMS)
    for folder in spec.mechanism_dirs:
        for mod in Path(folder).glob("*.mod"):
            known.update(mechanism_names(mod))
    for bio in spec.biophysics:
        for mech in bio.mechanisms:
            if mech.name not in known:
                raise PspSweepError(
                    f"{source}biophysics.{bio.label}.mechanisms.{mech.name}: no mechanism {mech.name!r} in "
                    f"NEURON or in the .mod files of neuron.mechanism_dirs ({', '.join(spec.mechanism_dirs)}); "
                    "add the folder with its .mod file"
                )


def receptor_from_config(name: str, receptor: str, parameters: dict[str, Any]) -> ReceptorSpec:
    """ReceptorSpec of one cell type; the mechanism decides excitatory vs inhibitory."""
    if receptor not in RECEPTOR_MECHANISMS:
        raise PspSweepError(f"network.celltypes.{name}.receptor={receptor!r}; valid: {', '.join(RECEPTOR_MECHANISMS)}")
    return ReceptorSpec(receptor, RECEPTOR_MECHANISMS[receptor], dict(parameters))


def embedding_from_config(cfg: NetworkConfig, cell: CellSpec) -> Embedding:
    """Build the synapse embedding named by the ``network`` config group.

    Raises:
        PspSweepError: on missing files, malformed lines or synapses on missing sections.
    """
    if cfg.kind == "demo":
        if not cfg.celltypes:
            raise PspSweepError("network.celltypes is empty: the demo network needs at least one cell type")
        table = demo_synapses(cell.sections, dict(cfg.celltypes), cfg.seed)
        demo = {n: receptor_from_config(n, c.receptor, dict(c.parameters)) for n, c in cfg.celltypes.items()}
        return Embedding(table, with_release(with_stp(demo, cfg.stp), cfg.release))
    if cfg.kind == "sonata":
        from pspsweep.sonata import sonata_network

        if cfg.stp or cfg.release:
            key = "network.stp" if cfg.stp else "network.release"
            raise PspSweepError(
                f"{key} is for glutamate_syn and gaba_syn receptors; a SONATA circuit's Exp2Syn edges "
                "have no plastic or stochastic form: drop it"
            )

        return sonata_network(cfg, cell)
    from pspsweep.io import isf_embedding as isf

    if not cfg.syn_file or not cfg.con_file:
        raise PspSweepError("network=isf needs network.syn_file=PATH and network.con_file=PATH")
    exc, inh = CLASSIFICATIONS[cfg.classification]
    emb = isf.read_embedding(
        resolve_path(cfg.syn_file, "network.syn_file"),
        resolve_path(cfg.con_file, "network.con_file"),
        receptors={},
        sections=cell.sections,
    )
    receptors: dict[str, ReceptorSpec] = {}
    for name in emb.celltypes:
        excitatory = classify_celltype(name, exc, inh)
        if excitatory is not None:
            receptors[name] = isf.isf_receptor(excitatory)
    # explicit per-type settings in the config override the ISF templates
    for name, c in cfg.celltypes.items():
        receptors[name] = receptor_from_config(name, c.receptor, dict(c.parameters))
    synapses = isf.snap_to_points(emb.synapses, cell.sections) if cfg.snap_to_points else emb.synapses
    return Embedding(synapses, with_release(with_stp(receptors, cfg.stp), cfg.release))


def receptor_of(embedding: Embedding, celltype: str, classification: str) -> ReceptorSpec:
    """The receptor of a cell type, or an error saying how to give one."""
    try:
        return embedding.receptors[celltype]
    except KeyError:
        raise PspSweepError(
            f"cell type {celltype!r} is neither excitatory nor inhibitory under "
            f"network.classification={classification}; choose another classification or set "
            f"network.celltypes.{celltype}.receptor=glutamate_syn|gaba_syn"
        ) from None


def conductances(run: RunConfig, receptor: ReceptorSpec) -> dict[str, float]:
    """The conductances (nS) of one run: gAMPA/gNMDA for excitatory, gGABA for inhibitory;
    for receptors with per-synapse weights (``WEIGHTED_RECEPTORS``) only ``g_scale``, the
    factor run.g on them. In this order they are the NetCon weights of the request.

    ``run.g`` fills any of them that is not given explicitly (times ``AMPA_component``
    or ``NMDA_component`` for the excitatory ones).

    Raises:
        PspSweepError: when a needed conductance is neither given nor implied by ``g``.
    """
    if receptor.mechanism in WEIGHTED_RECEPTORS:
        # the circuit's own weights, scaled by run.g
        given = [n for n in ("gAMPA", "gNMDA", "gGABA") if getattr(run, n) is not None]
        if given or run.g is None:
            raise PspSweepError(
                f"{receptor.mechanism} synapses carry their own weights: run.g scales them "
                f"(run.{'/'.join(given) or 'g'} {'does not apply' if given else 'is null'})"
            )
        check_conductance("run.g", run.g)
        return {WEIGHT_SCALE: float(run.g)}
    scale = {"gAMPA": run.AMPA_component, "gNMDA": run.NMDA_component, "gGABA": 1.0}
    names = ("gAMPA", "gNMDA") if receptor.excitatory else ("gGABA",)
    out = {}
    for name in names:
        value, key = getattr(run, name), f"run.{name}"
        if value is None and run.g is not None:
            value = run.g * scale[name]
            key = "run.g" if name == "gGABA" else f"run.g x run.{name[1:]}_component"
        if value is None:
            raise PspSweepError(f"run.{name} is not set and run.g is null: give one of them")
        check_conductance(key, value)
        out[name] = float(value)
    return out
