"""The SONATA reader on bmtk's 300-cell circuit (shared data), and its refusals.

Expected values come from the circuit's own sources: ``build_network.py`` (bmtk's
builder script: the weight rule of each edge group), its CSV files and the synaptic
model JSON files; bmtk's index names (``node_id_to_range``) and the spec's
(``node_id_to_ranges``) are both read, as is a file without any index.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from helpers.bmtk_reference import CIRCUIT_300, COMPONENTS_300
from helpers.command import through_api

from pspsweep.errors import PspSweepError
from pspsweep.io.sonata import node_model, parse_target, read_circuit
from pspsweep.io.sonata_edges import afferent_edges, sonata_embedding

pytestmark = pytest.mark.realdata

NETWORK = CIRCUIT_300.parent / "network"
SIMULATION = CIRCUIT_300.parent / "config.simulation.json"
#: syn_weight rules of build_network.py (uS): internal sources by kind, and the external ones
BUILD_WEIGHTS = {"e": 6.0e-05, "i": 0.002, "external": 0.00041}
EXCITATORY = ("Scnn1a", "Rorb", "Nr5a1")


@pytest.fixture(scope="module", autouse=True)
def shared_circuit() -> None:
    if not CIRCUIT_300.is_file():
        pytest.skip(f"the shared bmtk circuit is not at {CIRCUIT_300}")


def circuit_copy(folder: Path, edges: list[tuple[Path, Path]] | None = None, node_types: Path | None = None) -> Path:
    """A circuit config of the shared circuit with absolute paths, some files replaced."""
    original = read_circuit(CIRCUIT_300)
    nodes = [(str(n), str(node_types if node_types and "internal" in n.name else t)) for n, t in original.nodes]
    config = {
        "components": {k: str(v) for k, v in original.components.items()},
        "networks": {
            "nodes": [{"nodes_file": n, "node_types_file": t} for n, t in nodes],
            "edges": [
                {"edges_file": str(e), "edge_types_file": str(t)}
                for e, t in (original.edges if edges is None else edges)
            ],
        },
    }
    path = folder / "circuit.json"
    path.write_text(json.dumps(config))
    return path


def test_simulation_config_gives_the_conditions():
    circuit = read_circuit(SIMULATION)
    assert circuit.path == CIRCUIT_300.resolve()
    assert circuit.conditions == {"celsius": 34.0, "v_init": -80.0, "dt": 0.1, "dL": 20.0}
    assert read_circuit(CIRCUIT_300).conditions == {}
    assert circuit.components["mechanisms_dir"] == (COMPONENTS_300 / "mechanisms").resolve()


def test_tags_hash_every_circuit_file(launch_dir):
    """The input files a run's tags hash (``input.<key>.sha256``): both configs, every network file."""
    from pspsweep.api import compose_config
    from pspsweep.pipeline import input_files

    cfg = compose_config(["neuron=sonata", "network=sonata", f"network.circuit_config={SIMULATION}"])
    files = input_files(cfg)
    names = ["config.simulation.json", "config.circuit.json"] + [p.name for p in NETWORK.iterdir()]
    assert sorted(files) == sorted(f"network.circuit.{name}" for name in names)
    assert files["network.circuit.internal_internal_edges.h5"] == (NETWORK / "internal_internal_edges.h5").resolve()


def test_node_model_joins_type_and_node():
    node = node_model(read_circuit(CIRCUIT_300), "internal", 0)
    types = pd.read_csv(NETWORK / "internal_node_types.csv", sep=" ").set_index("node_type_id")
    assert node.get("model_name") == "Scnn1a" == types.loc[100, "model_name"]
    assert node.get("model_template") == "nml:Cell_472363762.cell.nml"
    with h5py.File(NETWORK / "internal_nodes.h5") as fh:
        assert node.get("rotation_angle_yaxis") == fh["nodes/internal/0/rotation_angle_yaxis"][0]


def test_embedding_of_node0():
    circuit = read_circuit(CIRCUIT_300)
    emb = sonata_embedding(circuit, "internal", 0, n_sections=122)
    syn = emb.synapses
    assert len(syn) == 136 + 58  # internal and external edges onto node 0
    assert sorted(emb.celltypes) == sorted(["Scnn1a", "Rorb", "Nr5a1", "PV1", "PV2", "external"])
    for celltype, rows in syn.groupby("celltype"):
        kind = "external" if celltype == "external" else ("e" if celltype in EXCITATORY else "i")
        assert np.all(rows["weight"] == BUILD_WEIGHTS[kind])
        assert np.all(rows["delay"] == 2.0)
        model = "GABA_InhToExc.json" if kind == "i" else "AMPA_ExcToExc.json"
        params = json.loads((COMPONENTS_300 / "synaptic_models" / model).read_text())
        receptor = emb.receptors[celltype]
        assert receptor.mechanism == "Exp2Syn"
        assert receptor.parameters == {"tau1": params["tau1"], "tau2": params["tau2"], "e": params["erev"]}
        assert receptor.excitatory == (kind != "i")
    assert syn["x"].eq(0.5).all()


@pytest.mark.parametrize("index", ["node_id_to_ranges", None])
def test_index_names_do_not_matter(tmp_path, index):
    """bmtk writes node_id_to_range; the spec says node_id_to_ranges; a file may have none."""
    edges = tmp_path / "internal_internal_edges.h5"
    shutil.copy(NETWORK / "internal_internal_edges.h5", edges)
    with h5py.File(edges, "r+") as fh:
        pop = fh["edges/internal_to_internal"]
        if index is None:
            del pop["indices"]
        else:
            for direction in ("source_to_target", "target_to_source"):
                pop.move(f"indices/{direction}/node_id_to_range", f"indices/{direction}/{index}")
    config = circuit_copy(tmp_path, [(edges, NETWORK / "internal_internal_edge_types.csv")])
    ours = afferent_edges(read_circuit(config), "internal", 0)
    original = afferent_edges(read_circuit(CIRCUIT_300), "internal", 0)
    pd.testing.assert_frame_equal(ours, original[original["edge_population"] == "internal_to_internal"])


def test_parse_target():
    assert parse_target("internal:12") == ("internal", 12)
    with pytest.raises(PspSweepError, match="POPULATION:NODE_ID"):
        parse_target("internal")


# ------------------------------------------------------------------ bad input, one line


def refusal(cwd: Path, *overrides: str) -> str:
    done = through_api(
        cwd,
        [
            "neuron=sonata",
            "network=sonata",
            f"network.circuit_config={CIRCUIT_300}",
            "tracking.enabled=false",
            "executor.progress=false",
            *overrides,
        ],
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    return done.stderr


def test_missing_circuit_file(tmp_path):
    assert "file not found" in refusal(tmp_path, f"network.circuit_config={tmp_path / 'nope.json'}")


def test_unknown_population(tmp_path):
    message = refusal(tmp_path, "network.target=cortex:0")
    assert "'cortex'" in message and "internal" in message


def test_node_id_out_of_range(tmp_path):
    assert "0..299" in refusal(tmp_path, "network.target=internal:300")


def test_target_without_afferent_edges(tmp_path):
    config = circuit_copy(tmp_path, edges=[])
    assert "no afferent edges" in refusal(tmp_path, f"network.circuit_config={config}", "network.target=internal:0")


def test_section_outside_the_morphology(tmp_path):
    edges = tmp_path / "internal_internal_edges.h5"
    shutil.copy(NETWORK / "internal_internal_edges.h5", edges)
    with h5py.File(edges, "r+") as fh:
        pop = fh["edges/internal_to_internal"]
        first = int(np.flatnonzero(pop["target_node_id"][()] == 0)[0])
        pop["0/afferent_section_id"][pop["edge_group_index"][first]] = 500
    config = circuit_copy(tmp_path, [(edges, NETWORK / "internal_internal_edge_types.csv")])
    message = refusal(tmp_path, f"network.circuit_config={config}", "network.target=internal:0")
    assert f"edge {first}" in message and "afferent_section_id 500" in message and "0..121" in message


@pytest.mark.parametrize(
    ("column", "value", "culprit"),
    [("model_template", "hoc:MyCell", "'hoc:MyCell'"), ("model_processing", "aibs_allactive", "aibs_allactive")],
)
def test_unsupported_model(tmp_path, column, value, culprit):
    types = pd.read_csv(NETWORK / "internal_node_types.csv", sep=" ")
    types[column] = value
    path = tmp_path / "internal_node_types.csv"
    types.to_csv(path, sep=" ", index=False)
    config = circuit_copy(tmp_path, node_types=path)
    assert culprit in refusal(tmp_path, f"network.circuit_config={config}", "network.target=internal:0")


def test_conductances_do_not_apply(tmp_path):
    message = refusal(tmp_path, "network.target=internal:0", "run.gAMPA=1", "run.celltype=Scnn1a")
    assert "run.gAMPA does not apply" in message


def recorded(*overrides: str) -> dict:
    """The config a run's params record, as api records it."""
    from omegaconf import OmegaConf

    from pspsweep.api import compose_config
    from pspsweep.run_record import applicable_config

    cfg = compose_config(list(overrides))
    return applicable_config(OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True, enum_to_str=True))


def test_recorded_params_are_the_circuit_keys(launch_dir):
    tree = recorded("neuron=sonata", "network=sonata")
    assert set(tree["network"]) == {"name", "kind", "circuit_config", "simulation_config", "target"}
    assert "biophysics" not in tree["neuron"] and set(tree["neuron"]["sonata"]) == {
        "circuit_config",
        "simulation_config",
        "target",
        "dL",
    }
    isf = recorded("neuron=isf", "network=isf")
    assert "sonata" not in isf["neuron"] and "circuit_config" not in isf["network"]


def test_cell_and_network_name_one_target(tmp_path):
    message = refusal(tmp_path, "network.target=internal:0", "neuron.sonata.target=internal:5")
    assert "neuron.sonata.target='internal:5' differs from network.target='internal:0'" in message


def test_virtual_target(tmp_path):
    assert "model_type 'virtual'" in refusal(tmp_path, "network.target=external:0")


def test_network_sonata_needs_neuron_sonata(tmp_path):
    done = through_api(
        tmp_path,
        ["network=sonata", f"network.circuit_config={CIRCUIT_300}", "tracking.enabled=false", "run.celltype=PV1"],
    )
    assert done.returncode == 2 and "network=sonata and neuron=sonata go together" in done.stderr


@pytest.mark.parametrize("key", ["network.stp", "network.release"])
def test_plasticity_or_stochastic_release_of_exp2syn_edges_is_refused(tmp_path, key):
    """Exp2Syn has no TM or stochastic form: the keys are refused, not silently ignored."""
    value = "{Scnn1a: {U: 0.5}}" if key == "network.stp" else "{Scnn1a: {p: 0.5}}"
    message = refusal(tmp_path, "network.target=internal:0", f"{key}={value}")
    assert key in message and "Exp2Syn" in message
