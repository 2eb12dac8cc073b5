"""Per-unit PSPs of a SONATA node computed by bmtk's BioNet: the reference for pspsweep.

bmtk has no per-unit mode and always builds every node of a network, so the reference is
a small network made with bmtk's builder: the target node (its node type's and its own
properties) and one virtual node per unit, with the unit's original synapses as edges
(section id, position, weight, delay, synapse model). bmtk's BioNetwork and BioSimulator
build the cell, the synapses and the NetCons from that network; every virtual node
spikes at tStim. A unit is activated alone by zeroing the NetCon weights of every other
virtual node (an Exp2Syn event of weight 0 adds exactly nothing), and each run goes
from ``finitialize(v_init)`` to tEnd at the fixed step, the soma voltage recorded with a
NEURON Vector (bmtk's own report labels each sample one step early).

The original edges are read with h5py here, independently of pspsweep's reader.
Run :func:`reference` in a fresh process (:func:`run_in_subprocess`): bmtk's build is
process-global NEURON state.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

SHARED_300 = Path(__file__).resolve().parents[3] / "shared" / "data" / "bmtk_300cells"
CIRCUIT_300 = SHARED_300 / "bio_300cells_nosurround" / "config.circuit.json"
COMPONENTS_300 = SHARED_300 / "bio_components"


def _types(path: Path) -> dict[int, dict[str, Any]]:
    import pandas as pd

    table = pd.read_csv(path, sep=" ")
    return {int(r["node_type_id"] if "node_type_id" in r else r["edge_type_id"]): dict(r) for _, r in table.iterrows()}


#: the shared circuit's edge files onto the internal cells, by source population
EDGE_FILES = {
    "internal": ("internal_internal", "internal_to_internal"),
    "external": ("external_internal", "external_to_internal"),
}


def original_units(
    network_dir: Path, target: int, mode: str = "cells", sources: tuple[str, ...] = ("internal",)
) -> list:
    """The target's afferent edges from the given source populations, per unit:
    ((source population, source node id), [(section, pos, weight, delay, dynamics_params)]),
    edges in file order, units by population and then source id."""
    import h5py

    edges = []
    for population in sources:
        stem, name = EDGE_FILES[population]
        edge_types = _types(network_dir / f"{stem}_edge_types.csv")
        with h5py.File(network_dir / f"{stem}_edges.h5", "r") as fh:
            g = fh[f"edges/{name}"]
            ids = np.flatnonzero(g["target_node_id"][()] == target)
            src, types, index = g["source_node_id"][()][ids], g["edge_type_id"][()][ids], g["edge_group_index"][()][ids]
            sec, pos, w = (
                g[f"0/{k}"][()][index] for k in ("afferent_section_id", "afferent_section_pos", "syn_weight")
            )
        for s, t, values in zip(src, types, zip(sec, pos, w)):
            edge_type = edge_types[int(t)]
            edge = (
                int(values[0]),
                float(values[1]),
                float(values[2]),
                float(edge_type["delay"]),
                str(edge_type["dynamics_params"]),
            )
            edges.append(((population, int(s)), edge))
    if mode == "synapses":
        return [(key, [e]) for key, e in edges]
    units: dict[tuple[str, int], list] = {}
    for key, e in edges:
        units.setdefault(key, []).append(e)
    return sorted(units.items(), key=lambda item: (sources.index(item[0][0]), item[0][1]))


def node_properties(network_dir: Path, node_id: int) -> dict[str, Any]:
    """The target's node type columns and its own attributes (h5py)."""
    import h5py

    types = _types(network_dir / "internal_node_types.csv")
    with h5py.File(network_dir / "internal_nodes.h5", "r") as fh:
        g = fh["nodes/internal"]
        props = dict(types[int(g["node_type_id"][node_id])])
        index = int(g["node_group_index"][node_id])
        for name, values in g["0"].items():
            props[name] = values[index].item()
    props.pop("node_type_id")
    return props


def _count(n: int):
    return lambda source, target: n


def build_network(folder: Path, target_props: dict[str, Any], units: list) -> None:
    """The target and one virtual node per unit, with the unit's edges, saved by bmtk."""
    from bmtk.builder import NetworkBuilder

    target = NetworkBuilder("target")
    target.add_nodes(N=1, **target_props)
    sources = NetworkBuilder("sources")
    sources.add_nodes(N=len(units), model_type="virtual", unit=list(range(len(units))))
    for k, (_, edges) in enumerate(units):
        delays = {e[3] for e in edges}
        models = {e[4] for e in edges}
        assert len(delays) == 1 and len(models) == 1, "one delay and synapse model per unit"
        values = iter([[e[0], e[1], e[2]] for e in edges])
        cm = sources.add_edges(
            source=sources.nodes(unit=k),
            target=target.nodes(),
            connection_rule=_count(len(edges)),
            dynamics_params=models.pop(),
            model_template="Exp2Syn",
            delay=delays.pop(),
        )
        cm.add_properties(
            ["afferent_section_id", "afferent_section_pos", "syn_weight"],
            rule=lambda s, t, it=values: next(it),
            dtypes=[int, float, float],
        )
    target.build()
    sources.build()
    target.save(output_dir=str(folder))
    sources.save(output_dir=str(folder))


def bmtk_config(folder: Path, components: Path, n_units: int, protocol: dict[str, float]) -> dict[str, Any]:
    """bmtk's config of the small network: every virtual node spikes once at tStim."""
    from bmtk.utils.reports.spike_trains import SpikeTrains

    spikes = SpikeTrains(population="sources")
    for k in range(n_units):
        spikes.add_spikes(node_ids=k, timestamps=[protocol["t_stim"]])
    spikes.to_sonata(str(folder / "spikes.h5"))
    return {
        "target_simulator": "NEURON",
        "run": {"tstop": protocol["t_end"], "dt": protocol["dt"], "dL": protocol["dL"], "spike_threshold": -15},
        "conditions": {"celsius": protocol["celsius"], "v_init": protocol["v_init"]},
        "inputs": {
            "spikes": {
                "input_type": "spikes",
                "module": "sonata",
                "input_file": str(folder / "spikes.h5"),
                "node_set": "sources",
            }
        },
        "output": {"output_dir": str(folder / "output"), "log_file": "log.txt", "spikes_file": "spikes.h5"},
        "components": {
            "morphologies_dir": str(components / "morphologies"),
            "synaptic_models_dir": str(components / "synaptic_models"),
            # bmtk finds no compiled library there (read-only): reference() loaded pspsweep's build
            "mechanisms_dir": str(components / "mechanisms"),
            "biophysical_neuron_models_dir": str(
                components / protocol.get("models", "biophysical_neuron_templates/nml")
            ),
        },
        "networks": {
            "nodes": [
                {"nodes_file": str(folder / f"{p}_nodes.h5"), "node_types_file": str(folder / f"{p}_node_types.csv")}
                for p in ("target", "sources")
            ],
            "edges": [
                {
                    "edges_file": str(folder / "sources_target_edges.h5"),
                    "edge_types_file": str(folder / "sources_target_edge_types.csv"),
                }
            ],
        },
    }


def simulate(config: dict[str, Any], n_units: int, protocol: dict[str, float]) -> dict[str, Any]:
    """Build with bmtk, then the baseline and every unit alone; traces and the cell's size."""
    from bmtk.simulator import bionet
    from neuron import h

    conf = bionet.Config.from_dict(config, validate=True)
    conf.build_env()
    net = bionet.BioNetwork.from_config(conf)
    bionet.BioSimulator.from_config(conf, network=net)
    (cell,) = net.get_local_cells().values()
    connections = cell.connections()
    weights = [c.syn_weight for c in connections]
    soma = cell.hobj.soma[0]
    tv, vv = h.Vector(), h.Vector()
    tv.record(h._ref_t, sec=soma)
    vv.record(soma(0.5)._ref_v)
    h.cvode.active(0)
    h.dt, h.celsius = protocol["dt"], protocol["celsius"]

    def run(active: int | None) -> list[float]:
        for c, w in zip(connections, weights):
            c.syn_weight = w if c.source_node.node_id == active else 0.0
        h.finitialize(protocol["v_init"])
        while h.t < protocol["t_end"]:
            h.fadvance()
        return vv.to_python()

    baseline = run(None) if protocol.get("baseline", True) else []
    traces = [run(k) for k in range(n_units)]
    sections = list(cell.hobj.all)
    return {
        "t": tv.to_python(),
        "baseline": baseline,
        "units": traces,
        "n_sections": len(sections),
        "section_names": [sec.name().split(".", 1)[1] for sec in sections],
        "section_lengths": [sec.L for sec in sections],
        "area": float(sum(seg.area() for sec in sections for seg in sec)),
        "nseg": int(sum(sec.nseg for sec in sections)),
    }


def reference(request: dict[str, Any]) -> dict[str, Any]:
    """The whole reference for a request (``folder``, ``target_props``, ``units``,
    ``components``, ``synapse_dir``, ``protocol``, ``mechanisms``)."""
    from pspsweep.simulation.mechanisms import load_mechanisms

    load_mechanisms([Path(request["mechanisms"])])
    folder = Path(request["folder"])
    build_network(folder, request["target_props"], request["units"])
    config = bmtk_config(folder, Path(request["components"]), len(request["units"]), request["protocol"])
    # also a circuit config that pspsweep reads (it holds networks, components and the conditions)
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    return simulate(config, len(request["units"]), request["protocol"])


def run_in_subprocess(request: dict[str, Any], folder: Path) -> dict[str, Any]:
    """:func:`reference` in a fresh Python process (a clean NEURON)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "request.json").write_text(json.dumps({**request, "folder": str(folder)}))
    done = subprocess.run(
        [sys.executable, __file__, str(folder / "request.json")], cwd=folder, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((folder / "result.json").read_text())


if __name__ == "__main__":
    path = Path(sys.argv[1])
    result = reference(json.loads(path.read_text()))
    (path.parent / "result.json").write_text(json.dumps(result))
