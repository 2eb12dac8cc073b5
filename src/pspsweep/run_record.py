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
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pspsweep.pipeline import PreparedSweep

#: the unit of every metric a sweep logs (per cell type and group: ``<name>.<type>``);
#: docs/outputs.md says what each one means
SWEEP_METRICS: dict[str, str] = {
    **dict.fromkeys(("amp_mean", "amp_median", "amp_std", "amp_min", "amp_max"), "mV"),
    **dict.fromkeys(("psc_mean", "psc_median", "psc_std", "psc_min", "psc_max"), "nA"),
    **dict.fromkeys(("ppr_mean", "ppr_median"), "ratio"),
    **dict.fromkeys(("t_mean", "t_median", "t_std"), "ms"),
    **dict.fromkeys(("n_units", "n_responding", "n_synapses", "n_celltypes", "n_simulated"), "count"),
    **dict.fromkeys(("workers", "chunks", "chunks_reused"), "count"),
    **dict.fromkeys(("wall_time_s", "simulation_time_s"), "s"),
    **dict.fromkeys(("units_per_second", "simulations_per_second"), "1/s"),
    "parallel_efficiency": "fraction",
    # trials (docs/trials.md): statistics over the units of their per-unit trial values
    **dict.fromkeys(("success_amp_mean", "success_amp_median", "amp_sd_mean", "amp_sd_median"), "mV"),
    **dict.fromkeys(("success_psc_mean", "success_psc_median", "psc_sd_mean", "psc_sd_median"), "nA"),
    **dict.fromkeys(("amp_cv_mean", "amp_cv_median", "psc_cv_mean", "psc_cv_median"), "ratio"),
    **dict.fromkeys(("failure_rate_mean", "failure_rate_median", "fraction_responding_any"), "fraction"),
}

#: the unit of the fit's metrics on a multirun's parent run (``<name>.<group>``)
FIT_METRICS: dict[str, str] = dict.fromkeys(("optimal_g", "g_mean", "g_median", "g_max", "ci_low", "ci_high"), "nS")

#: the metrics a run's description shows, in this order
KEY_METRICS = (
    *("amp_mean", "amp_median", "amp_std", "amp_min", "amp_max"),
    *("psc_mean", "psc_median", "psc_std", "psc_min", "psc_max", "t_mean", "t_median"),
)
KEY_COUNTS = ("n_responding", "n_units", "n_synapses")


def metric_unit(name: str) -> str:
    """The unit of a logged metric (``amp_mean.L4ss_C2`` and pulse 2's ``amp_mean_p2``
    are in mV like ``amp_mean``), or ""."""
    base = re.sub(r"_p[0-9]+$", "", name.split(".", 1)[0])
    return SWEEP_METRICS.get(base) or FIT_METRICS.get(base) or ""


def sweep_description(title: str, metrics: Mapping[str, float]) -> str:
    """Markdown: a line of the main results (what MLflow shows of a folded description),
    then a table of the key metrics with their units."""
    headline = ", ".join(
        f"{name} {_number(metrics[name])} {metric_unit(name)}"
        for name in ("amp_mean", "psc_mean", "t_mean")
        if name in metrics
    )
    if "n_units" in metrics:
        headline += f"; {_number(metrics.get('n_responding', 0.0))} of {_number(metrics['n_units'])} units respond"
    rows = [_row(name, metrics[name]) for name in KEY_METRICS + KEY_COUNTS if name in metrics]
    return (
        f"**{title}**: {headline}\n\n| metric | value | unit |\n|---|---|---|\n"
        + "\n".join(rows)
        + "\n\nAmplitudes are signed (IPSPs negative; PSCs in nA, inward negative); peak times are "
        "latencies from tStim "
        "(absolute under analysis.convention=isf). Per cell type and group a metric carries "
        "the suffix `.<celltype>` or `.group.<group>`; pspsweep's docs/outputs.md explains "
        "every metric and tag."
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
    return f"| `{name}` | {_number(value)} | {metric_unit(name)} |"


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
    _sonata_keys(neuron, network)
    if _choice(out.get("executor", {}).get("kind")) == "local":
        out["executor"].pop("address", None)
    if "fit" in out and not out["fit"].get("measured"):
        out["fit"] = {"measured": None}
    return out


def _sonata_keys(neuron: dict[str, Any], network: dict[str, Any]) -> None:
    """A SONATA cell and network read only their circuit keys; others have none."""
    if _choice(neuron.get("morphology", {}).get("kind")) == "sonata":
        for key in ("biophysics", "discretization", "param_file"):
            neuron.pop(key, None)
        neuron["morphology"] = {"kind": "sonata"}
    else:
        neuron.pop("sonata", None)
    if _choice(network.get("kind")) == "sonata":
        for key in ("seed", "classification", "celltypes", "stp", "release"):  # refused there
            network.pop(key, None)
    elif network:
        for key in ("circuit_config", "simulation_config", "target"):
            network.pop(key, None)


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
