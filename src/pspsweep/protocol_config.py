"""The ``protocol`` config group as plain data: the simulation's :class:`ProtocolSpec` and,
with the ``analysis`` group, the features' :class:`AnalysisOptions`; and the metrics a
protocol records about itself (docs/protocols.md)."""

from __future__ import annotations

from enum import Enum

import numpy as np

from pspsweep.config import ProtocolConfig, PspSweepConfig
from pspsweep.features import AnalysisOptions
from pspsweep.simulation.protocols import ProtocolSpec


def analysis_options(cfg: PspSweepConfig) -> AnalysisOptions:
    """The analysis config as the features' options: what is measured (a voltage, or the
    clamp current under a voltage clamp) and after which spikes."""
    a, protocol = cfg.analysis, cfg.protocol
    signal = "current" if protocol.clamp == "voltage" else "voltage"
    pulses = tuple(float(s) for s in protocol.spikes)
    return AnalysisOptions(
        a.convention.value, a.baseline.value, a.threshold_mV, a.resample_dt, pulses, signal, a.threshold_nA
    )


def protocol_spec(cfg: ProtocolConfig) -> ProtocolSpec:
    """The checked ``protocol`` group (``validation.check_protocol``) as plain data."""
    return ProtocolSpec(
        name=cfg.name,
        hold_V=None if cfg.hold_V is None else float(cfg.hold_V),
        hold_I=None if cfg.hold_I is None else float(cfg.hold_I),
        clamp=str(cfg.clamp),
        series_resistance=float(cfg.series_resistance),
        spikes=tuple(float(s) for s in cfg.spikes),
        trials=int(cfg.trials),
        seed=int(cfg.seed),
    )


def protocol_label(protocol: ProtocolConfig) -> str:
    """``protocol isf``, or the protocol's name and its keys that differ from ISF's
    (``protocol hold (hold_V=-70 mV)``), for titles and tags."""
    isf = ProtocolConfig()
    keys = []
    for key, unit in _PROTOCOL_UNITS.items():
        value = _plain(getattr(protocol, key))
        if value != _plain(getattr(isf, key)):
            shown = "[" + ", ".join(f"{v:g}" for v in value) + "]" if isinstance(value, list) else value
            keys.append(f"{key}={shown if isinstance(shown, str) else f'{shown:g}'}{unit}")
    return f"protocol {protocol.name}" + (f" ({', '.join(keys)})" if keys else "")


#: the protocol keys a label shows when they differ from ISF's, with their units
_PROTOCOL_UNITS = {
    "hold_V": " mV",
    "hold_I": " nA",
    "clamp": "",
    "series_resistance": " MOhm",
    "spikes": " ms",
    "trials": "",
    "seed": "",
}


def _plain(value: object) -> object:
    """A protocol value comparable with its default: an enum's value, a list of floats."""
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | int | float):
        return value
    return [float(v) for v in value]  # type: ignore[attr-defined]


def protocol_metrics(
    cfg: ProtocolConfig, t_stim: float, baseline: tuple[np.ndarray, np.ndarray], found: dict[str, float]
) -> dict[str, float]:
    """The holding of a run: the holding current (nA, into the cell) and, in current
    clamp, the soma voltage of the baseline at tStim (mV); nothing for ISF's protocol."""
    t, signal = baseline
    at_stim = float(np.interp(t_stim, t, signal))
    if cfg.clamp == "voltage":
        return {"holding_current_nA": at_stim}
    if cfg.hold_V is None and cfg.hold_I is None:
        return {}
    metrics = {"v_at_tstim_mV": at_stim}
    if "holding_current_nA" in found:
        metrics["holding_current_nA"] = float(found["holding_current_nA"])
    return metrics
