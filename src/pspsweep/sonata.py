"""Config -> the cell and the embedding of a SONATA circuit's target node (``neuron=sonata``,
``network=sonata``); the SONATA half of :mod:`pspsweep.builders`.

The cell follows bmtk's BioNet: ``nml:FILE`` templates (``NMLLoad``: Import3d, the axon
stub, the NeuroML2 biophysics) and ``ctdb:Biophys1`` templates with a JSON
``dynamics_params`` and ``aibs_perisomatic`` processing (Import3d, the axon stub,
``set_params_peri``). Anything else is refused by name.
"""

from __future__ import annotations

from pathlib import Path

from pspsweep.cellmodel import CellSpec, LabelBiophysics, SimSettings
from pspsweep.config import NetworkConfig, NeuronConfig
from pspsweep.embedding import Embedding
from pspsweep.errors import PspSweepError
from pspsweep.io.sonata import Circuit, NodeModel, node_model, parse_target, read_circuit
from pspsweep.launch import launch_dir

#: bmtk's defaults where the simulation config is silent (bionet's config schema)
BMTK_DEFAULTS = {"celsius": 34.0, "v_init": -80.0, "dt": 0.1, "dL": 20.0}
#: ``model_template`` values of ``ctdb`` cells (bmtk's Biophys1 template)
CTDB_TEMPLATES = ("ctdb:Biophys1", "ctdb:Biophys1.hoc")


def _input(path: str | None, key: str) -> Path | None:
    if not path or path == "None":
        return None
    p = Path(path).expanduser()
    return p if p.is_absolute() else launch_dir() / p


def load_circuit(circuit_config: str | None, simulation_config: str | None, key: str) -> Circuit:
    """The circuit named by the config keys (``key`` is the group, for messages)."""
    path = _input(circuit_config, key)
    if path is None:
        raise PspSweepError(
            f"{key} needs a SONATA circuit: network=sonata network.circuit_config=PATH "
            "network.target=POPULATION:NODE_ID"
        )
    return read_circuit(path, _input(simulation_config, key))


def _component(circuit: Circuit, name: str, node: NodeModel) -> Path:
    folder = circuit.components.get(name)
    if folder is None:
        raise PspSweepError(
            f"circuit config {circuit.path}: no components.{name} for node {node.population}:{node.node_id}"
        )
    return folder


def _biophysics(circuit: Circuit, node: NodeModel) -> tuple[tuple[LabelBiophysics, ...], str]:
    """The node's biophysics and its model processing."""
    from pspsweep.io.sonata_biophysics import json_biophysics, nml_biophysics

    template = str(node.get("model_template", ""))
    processing = str(node.get("model_processing", ""))
    models = _component(circuit, "biophysical_neuron_models_dir", node)
    where = f"node {node.population}:{node.node_id}"
    if template.startswith("nml:"):
        if node.get("dynamics_params") is not None or processing not in ("aibs_perisomatic", "", "None"):
            raise PspSweepError(
                f"{where}: an nml: template is supported with model_processing aibs_perisomatic (or none) "
                f"and no dynamics_params (got {processing!r}, {node.get('dynamics_params')!r})"
            )
        path = models / template[4:]
        if not path.is_file():
            raise PspSweepError(f"{where}: NeuroML2 cell file not found: {path}")
        # NMLLoad replaces the axon itself; aibs_perisomatic without dynamics_params does nothing
        return nml_biophysics(path), "aibs_perisomatic"
    if template in CTDB_TEMPLATES:
        params = node.get("dynamics_params")
        if params is None or processing != "aibs_perisomatic":
            raise PspSweepError(
                f"{where}: model_template {template} needs dynamics_params and model_processing "
                f"aibs_perisomatic (got {params!r}, {processing!r})"
            )
        path = models / str(params)
        if not path.is_file():
            raise PspSweepError(f"{where}: biophysics JSON not found: {path}")
        return json_biophysics(path), processing
    raise PspSweepError(
        f"{where}: model_template {template!r} is not supported (supported: nml:FILE, {', '.join(CTDB_TEMPLATES)})"
    )


def _mechanisms_dir(circuit: Circuit, node: NodeModel) -> str:
    folder = _component(circuit, "mechanisms_dir", node)
    mods = folder / "modfiles"  # bmtk's layout: mechanisms_dir/modfiles/*.mod
    return str(mods if mods.is_dir() else folder)


def sonata_cell_spec(cfg: NeuronConfig) -> CellSpec:
    """The target node's cell as bmtk builds it (conditions from the simulation config).

    Raises:
        PspSweepError: a missing config, file, population or node; a model that is not
            biophysical; unsupported templates or processing.
    """
    from pspsweep.simulation.sonata_morphology import bmtk_sections

    s = cfg.sonata
    circuit = load_circuit(s.circuit_config, s.simulation_config, "neuron=sonata")
    population, node_id = parse_target(s.target)
    node = node_model(circuit, population, node_id)
    if node.get("model_type") != "biophysical":
        raise PspSweepError(
            f"node {population}:{node_id}: model_type {node.get('model_type')!r}; pspsweep builds biophysical cells"
        )
    biophysics, processing = _biophysics(circuit, node)
    morphology = node.get("morphology")
    if morphology is None:
        raise PspSweepError(f"node {population}:{node_id}: no morphology")
    swc = Path(str(morphology))
    swc = swc if swc.is_absolute() else _component(circuit, "morphologies_dir", node) / swc
    if swc.suffix.lower() != ".swc" and not swc.is_file():
        swc = swc.with_name(swc.name + ".swc")  # bmtk adds the extension
    if swc.suffix.lower() != ".swc":
        raise PspSweepError(f"node {population}:{node_id}: morphology {swc.name}: only SWC files are supported")
    conditions = {**BMTK_DEFAULTS, **circuit.conditions}
    dL = s.dL if s.dL is not None else conditions["dL"]
    sections = bmtk_sections(swc, processing, float(dL))
    present = {sec.label for sec in sections}
    missing = present - {b.label for b in biophysics}
    if missing:
        raise PspSweepError(
            f"node {population}:{node_id}: its biophysics give no passive values for {', '.join(sorted(missing))} "
            "sections, which its morphology has"
        )
    name = str(node.get("model_name") or node.get("pop_name") or "cell")
    return CellSpec(
        name=f"{name}_{population}_{node_id}",
        sections=sections,
        biophysics=tuple(b for b in biophysics if b.label in present),
        sim=SimSettings(conditions["v_init"], conditions["dt"], conditions["celsius"]),
        mechanism_dirs=(_mechanisms_dir(circuit, node),),
    )


def sonata_network(cfg: NetworkConfig, cell: CellSpec) -> Embedding:
    """The target's afferent synapses (``validation`` has checked that the cell is
    ``neuron=sonata``, whose circuit and target are the network's by default)."""
    from pspsweep.io.sonata_edges import sonata_embedding

    circuit = load_circuit(cfg.circuit_config, cfg.simulation_config, "network=sonata")
    population, node_id = parse_target(cfg.target)
    return sonata_embedding(circuit, population, node_id, len(cell.sections))


def circuit_files(cfg: NetworkConfig) -> dict[str, Path]:
    """The circuit's configs and network files by tag key (``network.circuit.<file name>``)."""
    circuit = load_circuit(cfg.circuit_config, cfg.simulation_config, "network=sonata")
    return {f"network.circuit.{path.name}": path for path in circuit.files()}
