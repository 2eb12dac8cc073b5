"""The receptor model of each cell type beyond ISF's templates: the Tsodyks-Markram
short-term plasticity of ``network.stp`` (docs/protocols.md) and the stochastic release
of ``network.release`` (docs/trials.md). Plain data only."""

from __future__ import annotations

import math
from collections.abc import Iterable
from fnmatch import fnmatch
from typing import Any, TypeVar

from pspsweep.embedding import ReceptorSpec
from pspsweep.errors import PspSweepError

Entry = TypeVar("Entry")

#: each receptor's stochastic form (the same kinetics and TM plasticity, release drawn
#: from a Random123 stream ``rng`` per synapse)
STOCHASTIC_FORMS = {"tm_glutamate_syn": "stoch_glutamate_syn", "tm_gaba_syn": "stoch_gaba_syn"}
STOCHASTIC_MECHANISMS = frozenset(STOCHASTIC_FORMS.values())
#: ``network.release`` keys -> the stochastic mechanisms' parameters, and their defaults
RELEASE_PARAMETERS = {"p": ("p", 1.0), "quantal_cv": ("quantal_cv", 0.0), "sites": ("n_sites", 1.0)}
#: the TM parameters of a synapse without short-term plasticity
NO_PLASTICITY = {"U": 1.0, "tau_rec": 0.0, "tau_facil": 0.0}

#: each receptor's Tsodyks-Markram form (the same kinetics, TM plasticity per connection)
TM_MECHANISMS = {"glutamate_syn": "tm_glutamate_syn", "gaba_syn": "tm_gaba_syn"}
#: ``network.stp`` keys -> the TM mechanisms' parameters
TM_PARAMETERS = {"U": "U", "D": "tau_rec", "F": "tau_facil"}
#: ISF's own plasticity parameters and their values without plasticity, which the TM
#: model replaces
ISF_PLASTICITY_NEUTRAL = {
    **{f"decay{c}": 1.0 for c in ("ampa", "nmda", "gaba")},
    **{f"facil{c}": 0.0 for c in ("ampa", "nmda", "gaba")},
}
ISF_PLASTICITY_TIMES = {f"tau{k}{c}" for k in "df" for c in ("ampa", "nmda", "gaba")}


def entries_by_celltype(
    config_key: str, entries: dict[str, Entry], names: Iterable[str]
) -> dict[str, tuple[str, Entry]]:
    """Cell type -> (key, entry) of a per-cell-type config map whose keys are cell types
    or fnmatch patterns: a cell type takes the entry of its own name, else of the first
    pattern matching it.

    Raises:
        PspSweepError: naming ``<config_key>.<key>`` when a key matches no cell type.
    """
    names = list(names)
    chosen: dict[str, tuple[str, Entry]] = {}
    for key, entry in entries.items():
        matched = [n for n in names if n == key or (key not in names and fnmatch(n, key))]
        if not matched:
            raise PspSweepError(f"{config_key}.{key} matches no cell type of the embedding")
        for name in matched:
            if name not in chosen or key == name:
                chosen[name] = (key, entry)
    return chosen


def with_stp(receptors: dict[str, ReceptorSpec], stp: dict[str, dict[str, Any]]) -> dict[str, ReceptorSpec]:
    """The receptors with the Tsodyks-Markram model of ``network.stp`` where it applies.

    A cell type takes the entry of its own name, else of the first pattern matching it.
    Its receptor becomes the TM form of the same kinetics; ISF's own plasticity
    parameters are dropped at their values without plasticity and refused otherwise
    (two plasticity models at once).

    Raises:
        PspSweepError: naming the ``network.stp`` key that matches no cell type or holds
            a bad value, or the receptor parameter in the way.
    """
    out = dict(receptors)
    for name, (key, values) in entries_by_celltype("network.stp", stp, receptors).items():
        out[name] = _tm_receptor(name, receptors[name], _tm_parameters(key, values))
    return out


def _tm_parameters(key: str, values: dict[str, Any]) -> dict[str, float]:
    unknown = sorted(set(values) - set(TM_PARAMETERS))
    if unknown or "U" not in values:
        raise PspSweepError(
            f"network.stp.{key}={dict(values)}: give U, and D and F in ms (e.g. {{U: 0.5, D: 800, F: 0}})"
        )
    try:
        u, d, f = float(values["U"]), float(values.get("D", 0.0)), float(values.get("F", 0.0))
    except (TypeError, ValueError):
        raise PspSweepError(f"network.stp.{key}={dict(values)}: U, D and F must be numbers") from None
    if not (0 < u <= 1 and math.isfinite(d) and d >= 0 and math.isfinite(f) and f >= 0):
        raise PspSweepError(f"network.stp.{key}: U={u:g} must be in (0, 1], D={d:g} and F={f:g} >= 0 ms")
    return {"U": u, "tau_rec": d, "tau_facil": f}


def _tm_receptor(name: str, receptor: ReceptorSpec, tm: dict[str, float]) -> ReceptorSpec:
    if receptor.mechanism not in TM_MECHANISMS:
        raise PspSweepError(f"network.stp: cell type {name} has receptor {receptor.mechanism}, which has no TM form")
    params = {}
    for key, value in receptor.parameters.items():
        if key in ISF_PLASTICITY_TIMES or ISF_PLASTICITY_NEUTRAL.get(key) == value:
            continue
        if key in ISF_PLASTICITY_NEUTRAL:
            raise PspSweepError(
                f"network.stp: cell type {name} also has ISF's plasticity {key}={value:g}; "
                "set it to its neutral value or drop the stp entry"
            )
        params[key] = value
    return ReceptorSpec(TM_MECHANISMS[receptor.mechanism], receptor.excitatory, {**params, **tm})


def with_release(receptors: dict[str, ReceptorSpec], release: dict[str, dict[str, Any]]) -> dict[str, ReceptorSpec]:
    """The receptors with the stochastic release of ``network.release`` where it applies
    (after :func:`with_stp`): release probability ``p``, gamma-distributed quantal size
    of CV ``quantal_cv``, and with short-term plasticity ``sites`` release sites of the
    stochastic Tsodyks-Markram model. ``p = 1`` without quantal variability or STP keeps
    the deterministic receptor: every spike releases its fixed quantum, exactly as before.

    Raises:
        PspSweepError: naming the ``network.release`` key that matches no cell type or
            holds a bad value.
    """
    out = dict(receptors)
    for name, (key, values) in entries_by_celltype("network.release", release, receptors).items():
        receptor, params = receptors[name], _release_parameters(key, values)
        plastic = receptor.mechanism in STOCHASTIC_FORMS
        if params["p"] == 1 and params["quantal_cv"] == 0 and not plastic:
            continue
        base = receptor if plastic else _tm_receptor(name, receptor, NO_PLASTICITY)
        out[name] = ReceptorSpec(STOCHASTIC_FORMS[base.mechanism], receptor.excitatory, {**base.parameters, **params})
    return out


def _release_parameters(key: str, values: dict[str, Any]) -> dict[str, float]:
    unknown = sorted(set(values) - set(RELEASE_PARAMETERS))
    if unknown:
        raise PspSweepError(
            f"network.release.{key}={dict(values)}: unknown {', '.join(unknown)}; give p, quantal_cv, sites "
            "(e.g. {p: 0.3, quantal_cv: 0.5})"
        )
    try:
        params = {name: float(values.get(k, default)) for k, (name, default) in RELEASE_PARAMETERS.items()}
    except (TypeError, ValueError):
        raise PspSweepError(f"network.release.{key}={dict(values)}: p, quantal_cv and sites must be numbers") from None
    p, cv, sites = params["p"], params["quantal_cv"], params["n_sites"]
    if not (0 < p <= 1 and math.isfinite(cv) and cv >= 0 and sites >= 1 and sites == int(sites)):
        raise PspSweepError(
            f"network.release.{key}: p={p:g} must be in (0, 1], quantal_cv={cv:g} >= 0, "
            f"sites={sites:g} a whole number >= 1"
        )
    return params
