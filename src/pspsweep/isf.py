"""A drop-in for ISF's ``run_ex_synapses`` on pspsweep's fast path (isf-reference 6.2).

ISF scripts call ``run_ex_synapses(neuron_param, network_param, celltype, gAMPA=...,
gNMDA=..., vardt=..., tStim=..., tEnd=..., mode=...)`` once per cell type and
conductance and get ``(t_baseline, v_baseline, [t_vecs], [v_vecs])``. The same call here
runs one pspsweep sweep (``neuron=isf network=isf``: the cell settles once, units run in
parallel, no MLflow run) and returns the traces in the same shape and order.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pspsweep.errors import PspSweepError

#: the parsed ``.param`` file written for a dict ``neuron_param`` (read back by the same reader)
PARAM_FILE_NAME = "neuron.param"


def run_ex_synapses(
    neuron_param: str | Path | Mapping[str, Any],
    network_param: Mapping[str, Any],
    celltype: str,
    gAMPA: float | None = None,
    gNMDA: float | None = None,
    gGABA: float | None = None,
    vardt: bool = True,
    tStim: float = 110.0,
    tEnd: float = 150.0,
    mode: str = "cells",
    *,
    units: Sequence[int] | None = None,
    workers: int = 0,
    out_dir: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Baseline and per-unit soma traces of one cell type at one conductance.

    Args:
        neuron_param: an ISF ``.param`` path, or its parsed tree (a dict with ``neuron``
            and ``sim``, or an ISF parameter object with ``to_dict``/``as_dict``).
        network_param: the network parameters of this cell type as ISF splits them:
            ``{"network": {celltype: {"synapses": {"distributionFile": .syn,
            "connectionFile": .con, "receptors": {...}}, ...}}}``.
        celltype: the presynaptic cell type, e.g. ``VPM_C2``.
        gAMPA, gNMDA: peak conductances (nS) of an excitatory type.
        gGABA: peak conductance (nS) of an inhibitory type.
        vardt: CVODE (True) or the fixed step of the ``.param`` file's ``sim.dt``.
        tStim, tEnd: activation time and end of every simulation (ms).
        mode: ``cells`` (a unit is a presynaptic cell) or ``synapses`` (one synapse).
        units: pspsweep extension: only these unit indices (0-based, in unit order).
        workers: pspsweep extension: local worker processes (0: all cores).
        out_dir: pspsweep extension: keep the result files (psps.csv, traces.npz, plots)
            there; None: a temporary folder, removed before returning.

    Returns:
        ``(t_baseline, v_baseline, t_vecs, v_vecs)``: 1-D float64 arrays of the
        synapse-free run, and one list entry per unit in unit order: the simulated
        samples, unrounded (``run.record_dtype=float64``).

    Raises:
        PspSweepError: on bad input, naming the culprit.
    """
    if out_dir is not None:
        return _run(neuron_param, network_param, celltype, _run_overrides(locals()), Path(out_dir))
    with tempfile.TemporaryDirectory(prefix="pspsweep-isf-") as tmp:
        return _run(neuron_param, network_param, celltype, _run_overrides(locals()), Path(tmp))


def _run_overrides(args: Mapping[str, Any]) -> dict[str, Any]:
    """The ``run`` and ``executor`` config of the call's ISF arguments and extensions."""
    run = {name: args[name] for name in ("celltype", "gAMPA", "gNMDA", "gGABA", "vardt", "tStim", "tEnd", "mode")}
    # g=None: as in ISF, the conductances are the explicit arguments only
    run.update(g=None, units=list(args["units"]) if args["units"] is not None else None, record_dtype="float64")
    return {"run": run, "executor": {"workers": args["workers"], "progress": False}}


def _run(
    neuron_param: Any, network_param: Mapping[str, Any], celltype: str, overrides: dict[str, Any], out_dir: Path
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray]]:
    from pspsweep.api import merged_config, run

    values = {
        **overrides,
        "neuron": {"param_file": str(_param_file(neuron_param, out_dir))},
        "network": network_config(network_param, celltype),
    }
    result = run(merged_config(["neuron=isf", "network=isf"], values), tracking=False, out_dir=out_dir / "results")
    return unit_traces(result.traces_path, result.table["simulation"].to_numpy())


def _param_file(neuron_param: Any, folder: Path) -> Path:
    """The ``.param`` file of ``neuron_param``: its path, or the parsed tree written to
    ``folder`` in the syntax ISF's reader (and pspsweep's) reads back unchanged."""
    if isinstance(neuron_param, (str, Path)):
        return Path(neuron_param).expanduser().absolute()
    params = _as_dict(neuron_param, "neuron_param")
    if "neuron" not in params:
        raise PspSweepError("neuron_param: the parameter tree has no 'neuron' block (give the whole .param content)")
    from pspsweep.io.isf_param import isf_param_text_to_json

    text = json.dumps(params, indent=1)
    if json.loads(isf_param_text_to_json(text)) != json.loads(text):
        # ISF's rewrites turn quotes, parentheses and the word None inside strings into JSON
        raise PspSweepError(
            "neuron_param: a string in the parameter tree holds ', ( ) or None, which the "
            ".param syntax cannot carry; pass the .param file's path instead"
        )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PARAM_FILE_NAME
    path.write_text(text, encoding="utf-8")
    return path


def _as_dict(value: Any, what: str) -> dict[str, Any]:
    """A plain dict of a mapping or an ISF parameter object (``to_dict``; older ISF: ``as_dict``)."""
    for method in ("to_dict", "as_dict"):
        if not isinstance(value, Mapping) and callable(getattr(value, method, None)):
            value = getattr(value, method)()
    if not isinstance(value, Mapping):
        raise PspSweepError(f"{what}: expected a mapping or a file path, got {type(value).__name__}")
    return json.loads(json.dumps(value))  # nested plain dicts and lists (rejects what JSON cannot hold)


def network_config(network_param: Any, celltype: str) -> dict[str, Any]:
    """The ``network`` config of ISF's network parameters of one cell type.

    Reads the ``.syn``/``.con`` paths of ``network.<celltype>.synapses`` and, when given,
    its receptor (mechanism name and parameters), which then replaces the template.

    Raises:
        PspSweepError: when the cell type or a file entry is missing.
    """
    network = _as_dict(network_param, "network_param").get("network")
    if not isinstance(network, Mapping) or celltype not in network:
        have = sorted(network) if isinstance(network, Mapping) else []
        raise PspSweepError(f"network_param: no entry network.{celltype} (has: {', '.join(have) or 'none'})")
    synapses = network[celltype].get("synapses") or {}
    files = {}
    for isf_key, key in (("distributionFile", "syn_file"), ("connectionFile", "con_file")):
        if not synapses.get(isf_key):
            raise PspSweepError(f"network_param: network.{celltype}.synapses.{isf_key} is missing")
        files[key] = str(Path(synapses[isf_key]).expanduser().absolute())
    config: dict[str, Any] = dict(files)
    receptors = synapses.get("receptors") or {}
    if len(receptors) == 1:
        ((name, receptor),) = receptors.items()
        config["celltypes"] = {celltype: {"receptor": name, "parameters": dict(receptor.get("parameter") or {})}}
    elif receptors:
        raise PspSweepError(
            f"network_param: network.{celltype}.synapses.receptors has {len(receptors)} "
            "receptors; a PSP sweep activates one (glutamate_syn or gaba_syn)"
        )
    return config


def unit_traces(
    traces_npz: Path,
    simulation: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """The reference's tuple from ``traces.npz``: every unit's trace through its
    ``simulation`` number (units on the same segments share one simulated trace)."""
    from pspsweep.traces import load_traces

    traces = load_traces(traces_npz)
    position = {int(u): i for i, u in enumerate(traces.units)}
    rows = [position[int(s)] for s in simulation]
    t_vecs = [np.array(traces.ts[i], dtype=np.float64) for i in rows]
    v_vecs = [np.array(traces.vs[i], dtype=np.float64) for i in rows]
    return (
        np.array(traces.t_baseline, dtype=np.float64),
        np.array(traces.v_baseline, dtype=np.float64),
        t_vecs,
        v_vecs,
    )
