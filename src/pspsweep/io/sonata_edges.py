"""The afferent edges of one SONATA node as a pspsweep embedding.

Every edge population of the circuit whose target population is the node's is read
(h5py, see :mod:`pspsweep.io.sonata`); each edge is one synapse at
``afferent_section_id`` / ``afferent_section_pos`` with the NetCon weight ``syn_weight``
(uS for ``Exp2Syn``) and the edge's ``delay`` (ms), both per edge or from the edge type.
A source node's cell type is its node type's ``pop_name`` or ``model_name``; a source
type without a name is named after its population (virtual sources in bmtk's examples).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pspsweep.embedding import Embedding, ReceptorSpec
from pspsweep.errors import PspSweepError
from pspsweep.io.sonata import (
    SYNAPSE_TEMPLATES,
    Circuit,
    group_attributes,
    h5_ids,
    missing_value,
    node_populations,
    types_table,
)

#: per-edge values read from the edges file, else from the edge types file
EDGE_VALUES = ("afferent_section_id", "afferent_section_pos", "syn_weight", "delay")


def _edge_column(own: dict[str, np.ndarray], types: pd.DataFrame, type_ids: np.ndarray, name: str, where: str):
    """Per edge, its own value of ``name``, else its edge type's."""
    from_types = types[name].reindex(type_ids).to_numpy() if name in types.columns else None
    values = own.get(name)
    if values is None:
        if from_types is None:
            raise PspSweepError(f"{where}: edges have no {name!r} (neither per edge nor in the edge types file)")
        return from_types
    missing = np.array([v is None for v in values])
    if missing.any():
        if from_types is None:
            raise PspSweepError(f"{where}: some edges have no {name!r} (neither per edge nor in the edge types file)")
        values = np.where(missing, from_types, values)
    return values


def _population_edges(path: Path, types_file: Path, name: str, pop: Any, node_id: int) -> pd.DataFrame | None:
    where = f"edges {path} population {name}"
    ids = np.flatnonzero(np.asarray(pop["target_node_id"][()]) == node_id)
    if ids.size == 0:
        return None
    type_ids = np.asarray(pop["edge_type_id"][()], dtype=np.int64)[ids]
    types = types_table(types_file, "edge_type_id")
    unknown = sorted(set(type_ids.tolist()) - set(types.index.tolist()))
    if unknown:
        raise PspSweepError(f"{where}: edge_type_id {unknown[0]} is not in {types_file}")
    own = group_attributes(pop, "edge", ids)
    if "afferent_section_id" not in own:
        raise PspSweepError(
            f"{where}: no afferent_section_id; pspsweep needs every synapse placed explicitly "
            "(bmtk's random placement by target_sections/distance_range is not reproduced)"
        )
    values = {k: _edge_column(own, types, type_ids, k, where) for k in EDGE_VALUES}
    return pd.DataFrame(
        {
            "edge_population": name,
            "edge_id": ids,
            "edge_type_id": type_ids,
            "source_population": _attr(pop["source_node_id"], "node_population"),
            "source_node_id": np.asarray(pop["source_node_id"][()], dtype=np.int64)[ids],
            "section": values["afferent_section_id"].astype(np.int64),
            "x": values["afferent_section_pos"].astype(float),
            "weight": values["syn_weight"].astype(float),
            "delay": values["delay"].astype(float),
            "model_template": types["model_template"].reindex(type_ids).to_numpy(),
            "dynamics_params": types["dynamics_params"].reindex(type_ids).to_numpy(),
        }
    )


def _attr(dataset: Any, name: str) -> str:
    value = dataset.attrs.get(name, "")
    return value.decode() if isinstance(value, bytes) else str(value)


def afferent_edges(circuit: Circuit, population: str, node_id: int) -> pd.DataFrame:
    """One row per afferent edge of a node, in file order, population after population.

    Columns: ``edge_population``, ``edge_id``, ``edge_type_id``, ``source_population``,
    ``source_node_id``, ``section``, ``x``, ``weight``, ``delay``, ``model_template``,
    ``dynamics_params``.

    Raises:
        PspSweepError: an edge type missing from its types file, or edges without an
            explicit section (bmtk's random placement is not reproduced).
    """
    import h5py

    frames = []
    for edges_file, types_file in circuit.edges:
        with h5py.File(edges_file, "r") as fh:
            for name in sorted(fh.get("edges", {})):
                pop = fh[f"edges/{name}"]
                if _attr(pop["target_node_id"], "node_population") != population:
                    continue
                frame = _population_edges(edges_file, types_file, name, pop, node_id)
                if frame is not None:
                    frames.append(frame)
    if not frames:
        raise PspSweepError(f"network.target {population}:{node_id} has no afferent edges in {circuit.path}")
    return pd.concat(frames, ignore_index=True)


def source_types(circuit: Circuit, edges: pd.DataFrame) -> pd.DataFrame:
    """Per edge, the source's cell type name and whether it is excitatory (``ei`` column,
    else the sign of the synapse's reversal relative to -40 mV decided later: NaN)."""
    populations = node_populations(circuit)
    names = np.empty(len(edges), dtype=object)
    ei = np.full(len(edges), np.nan)
    for source, rows in edges.groupby("source_population", sort=False).groups.items():
        if source not in populations:
            raise PspSweepError(f"edges name source population {source!r}, which no nodes file of the circuit holds")
        nodes_file, types_file = populations[str(source)]
        type_ids = h5_ids(nodes_file, "nodes", str(source), "node_type_id")
        types = types_table(types_file, "node_type_id")
        idx = np.asarray(list(rows))
        for k, node in zip(idx, edges["source_node_id"].to_numpy()[idx]):
            row = types.loc[int(type_ids[node])]
            label = next((row[c] for c in ("pop_name", "model_name") if c in row and not missing_value(row[c])), None)
            names[k] = str(label) if label is not None else str(source)
            if "ei" in row and row["ei"] in ("e", "i"):
                ei[k] = 1.0 if row["ei"] == "e" else 0.0
    return pd.DataFrame({"celltype": names, "excitatory": ei}, index=edges.index)


def synapse_parameters(circuit: Circuit, template: str, dynamics: str, where: str) -> dict[str, float]:
    """The point process parameters of one edge type, as bmtk's ``Exp2Syn`` sets them."""
    if template not in SYNAPSE_TEMPLATES:
        raise PspSweepError(
            f"{where}: synapse model_template {template!r} is not supported (supported: {', '.join(SYNAPSE_TEMPLATES)})"
        )
    folder = circuit.components.get("synaptic_models_dir")
    path = Path(dynamics) if Path(dynamics).is_absolute() or folder is None else folder / dynamics
    try:
        params = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PspSweepError(f"{where}: cannot read synapse dynamics_params {path}: {exc}") from None
    missing = [k for k in ("tau1", "tau2", "erev") if k not in params]
    if missing:
        raise PspSweepError(f"{where}: synapse dynamics_params {path} lacks {', '.join(missing)}")
    return {"tau1": float(params["tau1"]), "tau2": float(params["tau2"]), "e": float(params["erev"])}


def sonata_embedding(circuit: Circuit, population: str, node_id: int, n_sections: int) -> Embedding:
    """The target's afferent synapses as an :class:`Embedding` with per-synapse weights.

    A cell type whose edges use several synapse models is split into one type per
    model (``NAME:DYNAMICS_PARAMS_STEM``), since a cell type has one receptor.

    Raises:
        PspSweepError: a section id outside the morphology, an unsupported synapse
            model, unreadable synapse parameters.
    """
    edges = afferent_edges(circuit, population, node_id)
    bad = edges[(edges["section"] < 0) | (edges["section"] >= n_sections)]
    if len(bad):
        row = bad.iloc[0]
        raise PspSweepError(
            f"edges population {row['edge_population']} edge {row['edge_id']}: afferent_section_id "
            f"{row['section']} outside the target's morphology (sections 0..{n_sections - 1})"
        )
    outside = edges[~((edges["x"] >= 0) & (edges["x"] <= 1))]
    if len(outside):
        row = outside.iloc[0]
        raise PspSweepError(
            f"edges population {row['edge_population']} edge {row['edge_id']}: "
            f"afferent_section_pos {row['x']} outside [0, 1]"
        )
    types = source_types(circuit, edges)
    edges = edges.assign(celltype=types["celltype"], excitatory=types["excitatory"])
    models = edges[["celltype", "model_template", "dynamics_params"]].drop_duplicates()
    split = set(models["celltype"][models["celltype"].duplicated()])
    if split:
        edges["celltype"] = [
            f"{c}:{Path(str(d)).stem}" if c in split else c
            for c, d in zip(edges["celltype"], edges["dynamics_params"], strict=True)
        ]
    receptors: dict[str, ReceptorSpec] = {}
    for celltype, rows in edges.groupby("celltype", sort=False):
        first = rows.iloc[0]
        where = f"edges population {first['edge_population']} edge type {first['edge_type_id']}"
        params = synapse_parameters(circuit, str(first["model_template"]), str(first["dynamics_params"]), where)
        kind = rows["excitatory"].iloc[0]
        excitatory = bool(kind == 1.0) if not np.isnan(kind) else params["e"] > -40.0
        receptors[str(celltype)] = ReceptorSpec(str(first["model_template"]), excitatory, params)
    edges["synapse_id"] = edges.groupby("celltype", sort=False).cumcount()
    edges["cell_id"] = edges["source_node_id"]
    columns = ["celltype", "synapse_id", "section", "x", "cell_id", "weight", "delay"]
    return Embedding(edges[columns + ["source_population", "edge_population", "edge_id"]], receptors)
