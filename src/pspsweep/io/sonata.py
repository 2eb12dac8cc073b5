"""SONATA circuits (as bmtk builds them): the target node's model and its afferent synapses.

The circuit and simulation configs are JSON with a ``manifest`` of ``$NAME`` paths; the
node and edge files are read with h5py. libsonata, the spec's reader, fails on bmtk's
files twice: its wheel's HDF5 has no deflate filter (bmtk's builder writes compressed
datasets), and its index lookup needs the spec's ``node_id_to_ranges`` while bmtk writes
``node_id_to_range``. The afferent edges are therefore found without any index, by
reading a population's target ids and keeping those equal to the target.

Everything returned is plain data; nothing here imports NEURON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pspsweep.errors import PspSweepError

#: edge model templates pspsweep builds, as bmtk's default synapse models do
SYNAPSE_TEMPLATES = ("Exp2Syn",)
#: the per-synapse columns of a SONATA embedding beside ``embedding.SYNAPSE_COLUMNS``
SONATA_COLUMNS = ("weight", "delay", "source_population", "edge_population", "edge_id")


@dataclass(frozen=True)
class Circuit:
    """A circuit config resolved to absolute paths.

    Attributes:
        path: the circuit config file.
        components: component folders (``morphologies_dir``, ``mechanisms_dir`` ...).
        nodes: (nodes file, node types file) pairs.
        edges: (edges file, edge types file) pairs.
        conditions: from the simulation config when given: ``celsius``, ``v_init``,
            ``dt``, ``dL`` (missing keys absent).
        simulation: that simulation config, or None.
    """

    path: Path
    components: dict[str, Path]
    nodes: tuple[tuple[Path, Path], ...]
    edges: tuple[tuple[Path, Path], ...]
    conditions: dict[str, float] = field(default_factory=dict)
    simulation: Path | None = None

    def files(self) -> list[Path]:
        """The configs and every network file (for the provenance hashes)."""
        out = [self.path] + ([self.simulation] if self.simulation is not None else [])
        for pair in self.nodes + self.edges:
            out += list(pair)
        return out


@dataclass(frozen=True)
class NodeModel:
    """The model of one node: its node type row joined with its own attributes."""

    population: str
    node_id: int
    properties: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        """A property, or ``default`` where it is absent (``missing_value``)."""
        value = self.properties.get(key, default)
        return default if missing_value(value) else value


def missing_value(value: Any) -> bool:
    """True for an absent value: None, NaN (an empty CSV cell) or bmtk's ``NULL``."""
    return value is None or (isinstance(value, float) and np.isnan(value)) or value == "NULL"


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PspSweepError(f"{what}: file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PspSweepError(f"{what}: cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise PspSweepError(f"{what}: {path} is not a JSON object")
    return data


def _expand(value: Any, manifest: dict[str, str]) -> Any:
    """``$NAME`` references of a manifest replaced (recursively through lists and dicts)."""
    if isinstance(value, str):
        return re.sub(r"\$\{?(\w+)\}?", lambda m: manifest.get("$" + m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_expand(v, manifest) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, manifest) for k, v in value.items()}
    return value


def _manifest(data: dict[str, Any], folder: Path) -> dict[str, str]:
    """The manifest's paths, each expanded with the ones before it; ``.`` is the config's folder."""
    out: dict[str, str] = {}
    for key, value in (data.get("manifest") or {}).items():
        expanded = _expand(str(value), out)
        p = Path(expanded)
        out[key] = str(p if p.is_absolute() else folder / p)
    return out


def _resolved(data: dict[str, Any], path: Path) -> dict[str, Any]:
    expanded = _expand({k: v for k, v in data.items() if k != "manifest"}, _manifest(data, path.parent))
    assert isinstance(expanded, dict)
    return expanded


def _abs(value: str, folder: Path) -> Path:
    p = Path(value)
    return (p if p.is_absolute() else folder / p).resolve()


def read_circuit(path: Path, simulation: Path | None = None) -> Circuit:
    """The circuit of a circuit config, or of the ``network`` a simulation config names.

    A simulation config (given as ``path`` or ``simulation``) also gives the conditions:
    ``conditions.celsius``, ``conditions.v_init``, ``run.dt``, ``run.dL``.

    Raises:
        PspSweepError: a missing or malformed config, naming the file.
    """
    data = _read_json(path, "network.circuit_config")
    conditions: dict[str, float] = {}
    if "networks" not in data and "network" in data:
        simulation, path = path, _abs(str(_resolved(data, path)["network"]), path.parent)
        data = _read_json(path, f"the network named by simulation config {simulation}")
    if simulation is not None:
        sim = _resolved(_read_json(simulation, "network.simulation_config"), simulation)
        run, cond = sim.get("run") or {}, sim.get("conditions") or {}
        for key, value in (("celsius", cond.get("celsius")), ("v_init", cond.get("v_init"))):
            if value is not None:
                conditions[key] = float(value)
        for key in ("dt", "dL"):
            if run.get(key) is not None:
                conditions[key] = float(run[key])
    full = _resolved(data, path)
    networks = full.get("networks")
    if not isinstance(networks, dict):
        raise PspSweepError(f"network.circuit_config {path}: no 'networks' section")
    folder = path.parent
    components = {k: _abs(str(v), folder) for k, v in (full.get("components") or {}).items()}

    def pairs(kind: str, elements: str, types: str) -> tuple[tuple[Path, Path], ...]:
        out = []
        for entry in networks.get(kind) or []:
            if elements not in entry or types not in entry:
                raise PspSweepError(f"network.circuit_config {path}: a '{kind}' entry lacks {elements} or {types}")
            out.append((_abs(entry[elements], folder), _abs(entry[types], folder)))
        return tuple(out)

    nodes = pairs("nodes", "nodes_file", "node_types_file")
    edges = pairs("edges", "edges_file", "edge_types_file")
    for pair in nodes + edges:
        for p in pair:
            if not p.is_file():
                raise PspSweepError(f"network.circuit_config {path}: file not found: {p}")
    return Circuit(
        path.resolve(), components, nodes, edges, conditions, None if simulation is None else simulation.resolve()
    )


def types_table(path: Path, key: str) -> pd.DataFrame:
    """A node or edge types CSV (bmtk writes them space-separated), indexed by ``key``."""
    try:
        table = pd.read_csv(path, sep=" ", skipinitialspace=True)
    except (OSError, ValueError) as exc:
        raise PspSweepError(f"cannot read types file {path}: {exc}") from None
    if key not in table.columns:
        raise PspSweepError(f"types file {path}: no column {key!r}")
    return table.set_index(key, drop=False)


def h5_ids(path: Path, group: str, population: str, name: str) -> np.ndarray:
    """One integer dataset of a population (``node_type_id``, ``edge_type_id``)."""
    import h5py

    with h5py.File(path, "r") as fh:
        return np.asarray(fh[f"{group}/{population}/{name}"][()], dtype=np.int64)


def _decoded(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in ("S", "O"):
        return np.array([v.decode() if isinstance(v, bytes) else v for v in values], dtype=object)
    return values


def group_attributes(pop: Any, kind: str, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Every attribute of the given rows of an open node or edge population (h5py group),
    gathered over its groups (``<kind>_group_id``/``<kind>_group_index``); an attribute a
    row's group lacks is None there."""
    group_ids = np.asarray(pop[f"{kind}_group_id"][()])[rows]
    group_index = np.asarray(pop[f"{kind}_group_index"][()])[rows]
    out: dict[str, np.ndarray] = {}
    for gid in np.unique(group_ids):
        mask = group_ids == gid
        for name, data in pop[str(gid)].items():
            if not hasattr(data, "shape") or data.ndim != 1:
                continue  # dynamics_params subgroups
            if name not in out:
                out[name] = np.full(len(rows), None, dtype=object)
            out[name][mask] = _decoded(np.asarray(data[()]))[group_index[mask]]
    return out


def node_populations(circuit: Circuit) -> dict[str, tuple[Path, Path]]:
    """Node population name -> (nodes file, node types file)."""
    import h5py

    out: dict[str, tuple[Path, Path]] = {}
    for nodes_file, types_file in circuit.nodes:
        with h5py.File(nodes_file, "r") as fh:
            for name in fh.get("nodes", {}):
                out[name] = (nodes_file, types_file)
    return out


def node_model(circuit: Circuit, population: str, node_id: int) -> NodeModel:
    """The model of a node: its node type row with its own attributes over it.

    Raises:
        PspSweepError: an unknown population or node id, naming the valid ones.
    """
    import h5py

    populations = node_populations(circuit)
    if population not in populations:
        raise PspSweepError(
            f"network.target: unknown node population {population!r}; populations: {', '.join(sorted(populations))}"
        )
    nodes_file, types_file = populations[population]
    with h5py.File(nodes_file, "r") as fh:
        pop = fh[f"nodes/{population}"]
        size = len(pop["node_type_id"])
        if not 0 <= node_id < size:
            raise PspSweepError(f"network.target: population {population!r} has node ids 0..{size - 1}, not {node_id}")
        type_id = int(pop["node_type_id"][node_id])
        own = {k: v[0] for k, v in group_attributes(pop, "node", np.array([node_id])).items()}
    types = types_table(types_file, "node_type_id")
    if type_id not in types.index:
        raise PspSweepError(f"node {population}:{node_id} has node_type_id {type_id}, not in {types_file}")
    props = {k: _plain(v) for k, v in types.loc[type_id].items()}
    props.update({k: _plain(v) for k, v in own.items() if v is not None})
    return NodeModel(population, node_id, props)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def parse_target(target: str | None) -> tuple[str, int]:
    """``POPULATION:NODE_ID`` -> (population, node id)."""
    match = re.fullmatch(r"\s*([^:\s]+)\s*:\s*([0-9]+)\s*", str(target or ""))
    if match is None:
        raise PspSweepError(f"network.target={target!r}: expected POPULATION:NODE_ID, e.g. internal:0")
    return match.group(1), int(match.group(2))
