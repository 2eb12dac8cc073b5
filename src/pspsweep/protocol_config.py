"""The ``protocol`` config group as plain data: the simulation's :class:`ProtocolSpec` and,
with the ``analysis`` group, the features' :class:`AnalysisOptions`; and the metrics a
protocol records about itself (docs/protocols.md)."""

from __future__ import annotations

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
    )


def describe(cfg: ProtocolConfig) -> str:
    """The protocol in a few words for titles: its name and what differs from ISF's."""
    parts = []
    if cfg.clamp == "voltage":
        parts.append(f"voltage clamp at {cfg.hold_V:g} mV, Rs {cfg.series_resistance:g} MOhm")
    elif cfg.hold_V is not None:
        parts.append(f"held at {cfg.hold_V:g} mV")
    elif cfg.hold_I is not None:
        parts.append(f"{cfg.hold_I:g} nA injected")
    if list(cfg.spikes) != [0.0]:
        parts.append("spikes at tStim + " + ", ".join(f"{s:g}" for s in cfg.spikes) + " ms")
    return f"protocol {cfg.name}" + (f" ({'; '.join(parts)})" if parts else "")


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
