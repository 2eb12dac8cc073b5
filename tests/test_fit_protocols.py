"""The fit under a protocol: pulse 1 of a train, the inward PSC of a voltage clamp, the
measured EPSC table, and the protocol named in fit.png's title and the fit's tags.

Amplitudes proportional to g put every statistic on a line through 0, so measured
values made at a known g invert to exactly that g (hand-computed expectations)."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from pspsweep.config import Clamp, FitConfig, ProtocolConfig, PspSweepConfig
from pspsweep.errors import PspSweepError
from pspsweep.features import AnalysisOptions

SCALES = np.array([0.02, 0.03, 0.05, 0.08, 0.11])  # nA/nS per unit: an EPSC of -scale * g
SWEEP_G = (0.5, 1.0, 2.0)


def psc_children(g_values=SWEEP_G) -> list[pd.DataFrame]:
    """psps.csv of a voltage clamp at each g: EPSCs are negative (inward)."""
    return [
        pd.DataFrame({"celltype": "VPM_C2", "unit": np.arange(5), "g": g, "psc_nA": -SCALES * g, "t_peak_ms": 2.0})
        for g in g_values
    ]


def measured_epscs(g: float) -> pd.DataFrame:
    """Measured EPSCs made at ``g``: inward negative; "max" is the largest in size."""
    values = {"EPSC_mean_measured": -SCALES.mean() * g, "EPSC_med_measured": -np.median(SCALES) * g}
    values["EPSC_max_measured"] = -SCALES.max() * g
    return pd.DataFrame(values, index=pd.Index(["VPM_C2"], name="group"))


def test_a_psc_fit_inverts_measured_epscs_to_their_conductance():
    from pspsweep.fit.stage import fit_conductances

    options = AnalysisOptions(signal="current", threshold_nA=0.002)
    result = fit_conductances(psc_children(), measured_epscs(1.3), FitConfig(bootstrap=0), options)
    vpm = result.optimal.set_index("group").loc["VPM_C2"]
    for column in ("optimal_g", "g_mean", "g_median", "g_max"):
        assert vpm[column] == pytest.approx(1.3, rel=1e-12), column
    assert vpm["fit_ok"]
    # the bootstrap runs on the same inward amplitudes: an interval around it
    boot = fit_conductances(psc_children(), measured_epscs(1.3), FitConfig(bootstrap=50, seed=1), options)
    low, high = boot.optimal[["ci_low", "ci_high"]].iloc[0]
    assert 0 < low < 1.3 < high and boot.optimal["n_boot_valid"].iloc[0] == 50


def test_a_psc_fit_needs_epsc_columns_and_a_psc_column():
    from pspsweep.fit.stage import fit_conductances

    options = AnalysisOptions(signal="current")
    epsps = measured_epscs(1.0).rename(columns=lambda c: c.replace("EPSC", "EPSP"))
    with pytest.raises(PspSweepError, match="EPSC_mean_measured"):
        fit_conductances(psc_children(), epsps, FitConfig(bootstrap=0), options)
    voltage_tables = [t.rename(columns={"psc_nA": "amplitude_mV"}) for t in psc_children()]
    with pytest.raises(PspSweepError, match="psc_nA"):
        fit_conductances(voltage_tables, None, FitConfig(bootstrap=0), options)


def test_a_train_is_fitted_on_its_first_pulse():
    from pspsweep.fit.stage import fit_conductances

    train = AnalysisOptions(pulses=(0.0, 20.0), threshold_mV=0.0)
    tables = [
        pd.DataFrame(
            {"celltype": "VPM_C2", "unit": np.arange(5), "g": g, "amplitude_mV": SCALES * g, "t_peak_ms": 2.0}
        ).assign(amplitude_mV_p2=lambda d: 0.5 * d["amplitude_mV"], t_peak_ms_p2=2.0, ppr=0.5)
        for g in SWEEP_G
    ]
    measured = -measured_epscs(0.8).rename(columns=lambda c: c.replace("EPSC", "EPSP"))
    result = fit_conductances(tables, measured, FitConfig(bootstrap=0), train)
    assert result.optimal["optimal_g"].iloc[0] == pytest.approx(0.8, rel=1e-12)
    assert "pulse" not in result.group_statistics.columns


def test_protocol_labels_name_what_differs_from_isf():
    from pspsweep.fit.stage import protocol_label

    assert protocol_label(ProtocolConfig()) == "protocol isf"
    assert protocol_label(ProtocolConfig(name="hold", hold_V=-70.0)) == "protocol hold (hold_V=-70 mV)"
    vclamp = ProtocolConfig(name="vclamp", hold_V=-70.0, clamp=Clamp.voltage, series_resistance=5.0)
    assert protocol_label(vclamp) == "protocol vclamp (hold_V=-70 mV, clamp=voltage, series_resistance=5 MOhm)"
    train = ProtocolConfig(name="train", hold_V=-70.0, spikes=[0, 20, 40, 60])
    assert protocol_label(train) == "protocol train (hold_V=-70 mV, spikes=[0, 20, 40, 60] ms)"


def test_a_voltage_clamp_fit_writes_inward_psc_tables_and_names_its_protocol(tmp_path, monkeypatch):
    from pspsweep.fit.stage import fit_stage

    monkeypatch.setitem(sys.modules, "mlflow", None)
    cfg = PspSweepConfig()  # the demo cell, for the morphology map
    cfg.fit.bootstrap = 0
    cfg.protocol = ProtocolConfig(name="vclamp", hold_V=-70.0, clamp=Clamp.voltage)
    tables = [t.assign(sections="1;2", xs="0.5;0.5", distance_um=10.0) for t in psc_children()]
    output = fit_stage(cfg, tables, measured_epscs(1.0), tmp_path)
    assert output.metrics["optimal_g.VPM_C2"] == pytest.approx(1.0, rel=1e-12)
    assert output.tags["fit.protocol"] == "protocol vclamp (hold_V=-70 mV, clamp=voltage)"
    assert output.tags["fit.amplitude"] == "inward PSC, -psc_nA (nA)"
    optimal = pd.read_csv(tmp_path / "optimal_g.csv")
    assert optimal["inward_EPSC_mean_measured"].iloc[0] == pytest.approx(SCALES.mean())
    assert "inward_psc_mean_slope" in optimal.columns and "amp_mean_slope" not in optimal.columns
    stats = pd.read_csv(tmp_path / "group_statistics.csv")
    assert stats["inward_psc_max"].tolist() == pytest.approx(list(SCALES.max() * np.array(SWEEP_G)))
    assert "inward_psc_nA" in pd.read_parquet(tmp_path / "units.parquet").columns
