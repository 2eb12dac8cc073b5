"""What a run records beside its files: the config that applied, and its metrics explained.

Params hold only the config a run used: the options of a choice not taken (the demo
morphology of a ``.param`` cell, the files of an ISF embedding under the demo network)
are left out, and the values taken from an input file (dt, celsius, v_init from a
``.param``) replace the config's "from the file" (None). The run's description (MLflow's
note, shown first on a run's page) is a table of the key metrics with their units.
No MLflow here: :mod:`pspsweep.tracking` writes what these functions return.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pspsweep.pipeline import PreparedSweep

#: unit and meaning of every metric a sweep logs (per cell type and group: ``<name>.<type>``)
SWEEP_METRICS: dict[str, tuple[str, str]] = {
    "amp_mean": ("mV", "mean signed PSP amplitude of the responding units"),
    "amp_median": ("mV", "median amplitude of the responding units"),
    "amp_std": ("mV", "standard deviation of the amplitudes (ddof 0)"),
    "amp_min": ("mV", "smallest amplitude"),
    "amp_max": ("mV", "largest amplitude"),
    "t_mean": ("ms", "mean peak time (latency from tStim; absolute under analysis.convention=isf)"),
    "t_median": ("ms", "median peak time"),
    "t_std": ("ms", "standard deviation of the peak times"),
    "n_units": ("count", "units (presynaptic cells or synapses) swept"),
    "n_responding": ("count", "units whose amplitude is at least analysis.threshold_mV in size"),
    "n_synapses": ("count", "synapses of all units together"),
    "n_celltypes": ("count", "cell types swept"),
    "n_simulated": ("count", "distinct simulations (units on the same segments share one)"),
    "wall_time_s": ("s", "wall time of the sweep"),
    "simulation_time_s": ("s", "wall time of the simulations"),
    "units_per_second": ("1/s", "units per second of simulation wall time"),
    "simulations_per_second": ("1/s", "distinct simulations per second"),
    "workers": ("count", "worker processes"),
    "parallel_efficiency": ("fraction", "work time over workers x wall time"),
    "chunks": ("count", "chunks of units"),
    "chunks_reused": ("count", "chunks found finished on disk"),
}

#: unit and meaning of the fit's metrics on a multirun's parent run (``<name>.<group>``)
FIT_METRICS: dict[str, tuple[str, str]] = {
    "optimal_g": ("nS", "conductance whose PSPs match the measured EPSPs (weighted)"),
    "g_mean": ("nS", "conductance matching the measured mean EPSP"),
    "g_median": ("nS", "conductance matching the measured median EPSP"),
    "g_max": ("nS", "conductance matching the measured largest EPSP"),
    "ci_low": ("nS", "lower bound of optimal_g's bootstrap confidence interval"),
    "ci_high": ("nS", "upper bound of optimal_g's bootstrap confidence interval"),
}

#: the metrics a run's description shows, in this order
KEY_METRICS = ("amp_mean", "amp_median", "amp_std", "amp_min", "amp_max", "t_mean", "t_median")
KEY_COUNTS = ("n_units", "n_responding", "n_synapses")


def metric_unit(name: str) -> str:
    """The unit of a logged metric (``amp_mean.L4ss_C2`` is in mV like ``amp_mean``), or ""."""
    base = name.split(".", 1)[0]
    unit, _ = SWEEP_METRICS.get(base) or FIT_METRICS.get(base) or ("", "")
    return unit


def sweep_description(title: str, metrics: Mapping[str, float]) -> str:
    """Markdown: the key metrics of one sweep with their units, then where the rest are."""
    rows = [_row(name, metrics[name]) for name in KEY_COUNTS + KEY_METRICS if name in metrics]
    return (
        f"**{title}**\n\n| metric | value | unit | meaning |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\nAmplitudes are signed (IPSPs negative). Every metric and tag is explained "
        "in pspsweep's docs/outputs.md; per cell type and group they carry the suffix "
        "`.<celltype>` or `.group.<group>`."
    )


def fit_description(metrics: Mapping[str, float], measured: bool = True) -> str:
    """Markdown for a multirun's parent: the fitted conductance of each group, with its
    confidence interval (``measured``: whether the multirun fits against measured EPSPs)."""
    groups = sorted(name.split(".", 1)[1] for name in metrics if name.startswith("optimal_g."))
    if not groups:
        why = "the fit runs when every job is done" if measured else "fit.measured not given"
        return f"**Multirun**: no conductance fitted ({why}); the jobs are its child runs."
    lines = ["**Conductance fit** (nS)\n", "| group | optimal_g | CI low | CI high |", "|---|---|---|---|"]
    for group in groups:
        cells = [_number(metrics.get(f"{name}.{group}", math.nan)) for name in ("optimal_g", "ci_low", "ci_high")]
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nThe jobs, one per conductance, are its child runs."


def _row(name: str, value: float) -> str:
    unit, meaning = SWEEP_METRICS[name]
    return f"| `{name}` | {_number(value)} | {unit} | {meaning} |"


def _number(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else "-"


def applicable_config(tree: Mapping[str, Any]) -> dict[str, Any]:
    """The config (a plain nested dict) without the options of choices not taken.

    A ``.param`` cell ignores the morphology, biophysics and discretization keys; a demo
    morphology has no path and a file morphology no demo parameters; the demo network
    reads no files and the ISF network generates no synapses; a local executor has no
    address; without ``fit.measured`` nothing is fitted.
    """
    out = copy.deepcopy(dict(tree))
    neuron, network = out.get("neuron", {}), out.get("network", {})
    if neuron.get("param_file"):
        for key in ("morphology", "biophysics", "discretization"):
            neuron.pop(key, None)
        # None there means "from the file": a job records the values it simulated
        neuron["sim"] = {k: v for k, v in neuron.get("sim", {}).items() if v is not None}
    elif "morphology" in neuron:
        morphology = neuron["morphology"]
        morphology.pop("path" if _choice(morphology.get("kind")) == "demo" else "demo", None)
    if _choice(network.get("kind")) == "isf":
        network.pop("seed", None)
        for celltype in network.get("celltypes", {}).values():
            for key in ("n_cells", "min_synapses_per_cell", "max_synapses_per_cell", "labels"):
                celltype.pop(key, None)
    elif network:
        for key in ("syn_file", "con_file", "snap_to_points"):
            network.pop(key, None)
    if _choice(out.get("executor", {}).get("kind")) == "local":
        out["executor"].pop("address", None)
    if "fit" in out and not out["fit"].get("measured"):
        out["fit"] = {"measured": None}
    return out


def _choice(value: Any) -> str:
    """A choice as its name, whether an enum member or already a string."""
    return str(getattr(value, "value", value))


def job_config(tree: Mapping[str, Any], prep: PreparedSweep, tracking_uri: str) -> dict[str, Any]:
    """A job's :func:`applicable_config` with the values it worked out itself, as it used
    them: the cell's sim settings (from a ``.param`` unless overridden), each conductance
    (per cell type where they differ; none that no cell type uses) and the store."""
    out = applicable_config(tree)
    sim = prep.cell.sim
    out.setdefault("neuron", {})["sim"] = {"v_init": sim.v_init, "dt": sim.dt, "celsius": sim.celsius}
    run = out.setdefault("run", {})
    for name in ("gAMPA", "gNMDA", "gGABA"):
        used = {c: w[name] for c, w in prep.weights.items() if name in w}
        if not used:
            run.pop(name, None)
        elif len(set(used.values())) == 1:
            run[name] = next(iter(used.values()))
        else:
            run[name] = used
    out.setdefault("tracking", {})["uri"] = tracking_uri
    return out
