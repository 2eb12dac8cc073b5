"""pspsweep on SONATA input against bmtk's BioNet (tests/helpers/bmtk_reference.py).

The reference builds the cell and its synapses with bmtk's own code and activates every
unit alone (fixed step, the protocol of the acceptance: celsius 34, v_init -80, dL 20,
dt 0.025 ms, tStim 500, tEnd 600). pspsweep reads the original circuit. Every reference
run simulates 600 ms (about 0.5 s), so node 0's sources are compared all, the other
sweeps on a spread subset of their units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import isolated
from helpers.bmtk_reference import CIRCUIT_300, COMPONENTS_300, node_properties, original_units, run_in_subprocess

from pspsweep import api
from pspsweep.features import psp_features

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

PROTOCOL = {"t_stim": 500.0, "t_end": 600.0, "dt": 0.025, "dL": 20.0, "celsius": 34.0, "v_init": -80.0}
SIMULATION_CONFIG = CIRCUIT_300.parent / "config.simulation.json"
INTERNAL_TYPES = "[Scnn1a,Rorb,Nr5a1,PV1,PV2]"
TOLERANCE_MV = 1e-4
#: synapse positions of the builder-made circuit: inside the end segments and on the end nodes too
POSITIONS = (0.0, 0.03, 0.21, 0.77, 0.98, 1.0)


@pytest.fixture(scope="module", autouse=True)
def shared_circuit() -> None:
    if not SIMULATION_CONFIG.is_file():
        pytest.skip(f"the shared bmtk circuit is not at {SIMULATION_CONFIG}")


def sweep(folder, config, target: str, celltypes: str, mode: str = "cells", *extra: str) -> pd.DataFrame:
    """pspsweep's psps.csv of a sweep of ``target`` under the acceptance protocol."""
    overrides = [
        "neuron=sonata",
        "network=sonata",
        f"network.circuit_config={config}",
        f"network.target={target}",
        f"run.celltype={celltypes}",
        f"run.mode={mode}",
        "run.vardt=false",
        f"run.tStim={PROTOCOL['t_stim']}",
        f"run.tEnd={PROTOCOL['t_end']}",
        f"neuron.sim.dt={PROTOCOL['dt']}",
        "tracking.enabled=false",
        "executor.progress=false",
        *extra,
    ]
    return api.run(overrides, out_dir=folder / "out").table


def reference_amplitudes(result: dict) -> np.ndarray:
    """The reference's per-unit amplitudes, with pspsweep's feature code on bmtk's traces."""
    t, base = np.asarray(result["t"]), np.asarray(result["baseline"])
    return np.array(
        [psp_features(t, np.asarray(v), t, base, PROTOCOL["t_stim"], PROTOCOL["t_end"])[0] for v in result["units"]]
    )


def reference(folder, node_id: int, mode: str, every: int = 4, sources=("internal",)) -> tuple[list, dict]:
    network = CIRCUIT_300.parent / "network"
    units = original_units(network, node_id, mode, sources)[::every]
    request = {
        "target_props": node_properties(network, node_id),
        "units": units,
        "components": str(COMPONENTS_300),
        "protocol": PROTOCOL,
        "mechanisms": str(COMPONENTS_300 / "mechanisms" / "modfiles"),
    }
    return units, run_in_subprocess(request, folder / "bmtk")


def test_node0_cells_match_bmtk(tmp_path):
    """Every source of node 0 (Scnn1a): the 51 internal cells and the 9 virtual ones."""
    units, result = reference(tmp_path, 0, "cells", every=1, sources=("internal", "external"))
    table = sweep(tmp_path, SIMULATION_CONFIG, "internal:0", "'*'")
    assert len(table) == 60
    population = np.where(table["celltype"] == "external", "external", "internal")
    ours = dict(zip(zip(population, table["cell_id"]), table["amplitude_mV"]))
    expected = reference_amplitudes(result)
    got = np.array([ours[key] for key, _ in units])
    assert np.abs(got - expected).max() < TOLERANCE_MV
    assert np.all(np.abs(expected) > 0.1)  # real PSPs, not two flat lines


def built_cell(config: str) -> dict:
    """pspsweep's cell of node 0: section names, lengths, nseg and area (run in a fresh
    process: the circuit's mechanisms share names with pspsweep's l5pt set)."""
    from pspsweep.builders import cell_spec_from_config
    from pspsweep.simulation.cell import build_cell

    cfg = api.compose_config(["neuron=sonata", "network=sonata", f"network.circuit_config={config}"])
    spec = cell_spec_from_config(cfg.neuron)
    cell = build_cell(spec)
    return {
        "names": [s.name for s in spec.sections],
        "lengths": [sec.L for sec in cell.sections],
        "nseg": sum(int(sec.nseg) for sec in cell.sections),
        "area": cell.total_area(),
    }


def test_node0_cell_size_matches_bmtk(tmp_path):
    """Section ids (names), lengths, nseg and total membrane area of pspsweep's cell and bmtk's."""
    _, result = reference(tmp_path, 0, "cells", every=1000)
    ours = isolated.call(__file__, "built_cell", str(SIMULATION_CONFIG))
    assert len(ours["names"]) == result["n_sections"] == 122
    assert ours["names"] == result["section_names"]  # bmtk's section ids
    assert ours["lengths"] == result["section_lengths"]
    assert ours["nseg"] == result["nseg"]
    assert ours["area"] == pytest.approx(result["area"], rel=1e-12)


def test_pv_target_matches_bmtk(tmp_path):
    """An inhibitory target: PV1 cell 240 (its GABA synapses reverse above its rest)."""
    units, result = reference(tmp_path, 240, "cells")
    table = sweep(tmp_path, SIMULATION_CONFIG, "internal:240", INTERNAL_TYPES)
    ours = table.set_index("cell_id")["amplitude_mV"]
    got = np.array([ours[source] for (_, source), _ in units])
    assert np.abs(got - reference_amplitudes(result)).max() < TOLERANCE_MV


def test_node0_synapses_match_bmtk(tmp_path):
    units, result = reference(tmp_path, 0, "synapses", every=9)
    table = sweep(tmp_path, SIMULATION_CONFIG, "internal:0", INTERNAL_TYPES, "synapses")
    assert len(table) == 136  # every internal edge onto node 0
    # a synapse unit of pspsweep: its source cell, section and position
    keyed = {(int(r.cell_id), int(r.sections), float(r.xs)): r.amplitude_mV for r in table.itertuples()}
    got = np.array([keyed[(source, e[0][0], e[0][1])] for (_, source), e in units])
    assert np.abs(got - reference_amplitudes(result)).max() < TOLERANCE_MV


def test_positions_and_json_biophysics_match_bmtk(tmp_path):
    """A circuit made here with bmtk's builder: node 0's morphology with the Allen JSON
    fit (ctdb:Biophys1.hoc, aibs_perisomatic), synapses at positions other than 0.5
    (near and at both ends), several synapses per source and two delays."""
    props = node_properties(CIRCUIT_300.parent / "network", 0)
    props.update(model_template="ctdb:Biophys1.hoc", dynamics_params="472363762_fit.json")
    rng = np.random.default_rng(3)
    units = []
    for k in range(8):
        delay = 2.0 if k % 2 else 0.7
        model = "AMPA_ExcToExc.json" if k < 5 else "GABA_InhToExc.json"
        edges = [
            (int(rng.integers(0, 120)), float(rng.choice(POSITIONS)), 4e-4, delay, model)
            for _ in range(int(rng.integers(1, 4)))
        ]
        units.append((("sources", k), edges))
    request = {
        "target_props": props,
        "units": units,
        "components": str(COMPONENTS_300),
        "protocol": {**PROTOCOL, "models": "biophysical_neuron_templates/ctdb"},
        "mechanisms": str(COMPONENTS_300 / "mechanisms" / "modfiles"),
    }
    result = run_in_subprocess(request, tmp_path / "bmtk")
    config = tmp_path / "bmtk" / "config.json"
    table = sweep(tmp_path, config, "target:0", "'*'", "cells", f"network.simulation_config={config}")
    # the unnamed virtual sources, split by their two synapse models
    assert sorted(set(table["celltype"])) == ["sources:AMPA_ExcToExc", "sources:GABA_InhToExc"]
    assert {float(x) for xs in table["xs"] for x in str(xs).split(";")} <= set(POSITIONS)
    ours = table.set_index("cell_id")["amplitude_mV"]
    got = np.array([ours[k] for (_, k), _ in units])
    assert np.abs(got - reference_amplitudes(result)).max() < TOLERANCE_MV
