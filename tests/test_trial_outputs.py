"""The outputs of trials (docs/trials.md): psps.csv's per-unit trial columns, their
statistics and metrics, trials.parquet written chunk by chunk, trials.png, and the fit's
statement of what it fits.

Chunk stores are synthetic (numbers drawn here, written with ``ChunkStore.write``), so
every expectation is recomputed from the drawn numbers with Python's ``statistics``
module, pandas or pyarrow, not with the code under test.
"""

from __future__ import annotations

import math
import statistics as pystats
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pspsweep import execution
from pspsweep.execution.trials import Trials
from pspsweep.features import AnalysisOptions
from pspsweep.run_record import metric_unit
from pspsweep.statistics import (
    statistics_metrics,
    summary_statistics,
    trial_columns,
    trial_statistics_columns,
)
from pspsweep.trial_outputs import (
    add_trial_columns,
    chunk_trials,
    has_trials,
    sweep_trial_statistics,
    unit_trial_statistics,
    write_trials_parquet,
)
from pspsweep.units import Unit
from pspsweep.validation import check_metric_name

VOLTAGE = AnalysisOptions(threshold_mV=0.05)
TRAIN = AnalysisOptions(threshold_mV=0.05, pulses=(0.0, 20.0))
CLAMP = AnalysisOptions(signal="current", threshold_nA=0.001)


def make_units(n: int, celltypes=("A", "B")) -> list[Unit]:
    """``n`` units, alternating cell types, 1 to 3 synapses each."""
    return [
        Unit(
            i, celltypes[i % len(celltypes)], 100 + i, tuple(range(1 + i % 3)), (0,) * (1 + i % 3), (0.5,) * (1 + i % 3)
        )
        for i in range(n)
    ]


def draw_trials(n_units: int, n_trials: int, n_pulses: int, rng: np.random.Generator) -> Trials:
    """Trials with failures: a unit releases in a trial with probability 0.5, then a
    positive amplitude, else a small noise amplitude."""
    released = rng.binomial(3, 0.4, size=(n_units, n_trials)).astype(np.int64)
    amplitudes = np.where(released[:, :, None] > 0, rng.gamma(2.0, 0.3, (n_units, n_trials, n_pulses)), 0.0)
    amplitudes += rng.normal(0, 0.01, amplitudes.shape)
    t_peaks = rng.uniform(2.0, 12.0, amplitudes.shape)
    return Trials(amplitudes, t_peaks, released)


def write_store(
    folder: Path,
    units: list[Unit],
    source: np.ndarray,
    n_trials: int,
    n_pulses: int,
    chunk_size: int = 4,
    seed: int = 0,
    deterministic_work: int | None = None,
) -> tuple[execution.ChunkStore, list[execution.ChunkTask], dict[int, Trials]]:
    """A chunk store of the simulated units (those whose ``source`` is themselves), their
    trials by result key; chunks of ``deterministic_work`` run once, without trials."""
    rng = np.random.default_rng(seed)
    firsts = sorted(set(source.tolist()))
    chunks = execution.plan_chunks([units[i] for i in firsts], 1, chunk_size, keys=firsts)
    if deterministic_work is not None:
        chunks = [
            c if i % 2 else execution.ChunkTask(c.index, c.units, c.keys, deterministic_work)
            for i, c in enumerate(chunks)
        ]
    store = execution.ChunkStore(folder)
    by_key: dict[int, Trials] = {}
    for c in chunks:
        keys = c.result_keys()
        once = c.work == deterministic_work
        trials = draw_trials(len(keys), 1 if once else n_trials, n_pulses, rng)
        if once:
            trials.released[:] = [[u.n_synapses * n_pulses] for u in c.units]
        shown = [(np.linspace(0, 50, 11), rng.normal(size=11)) for _ in range(n_trials)] if c.index == 0 else None
        means, peaks = Trials(trials.amplitudes, trials.t_peaks, trials.released).unit_means()
        amps, pks = (means[:, 0], peaks[:, 0]) if n_pulses == 1 else (means, peaks)
        result = execution.ChunkResult(
            c.index,
            keys,
            [np.zeros(2)] * len(keys),
            [np.zeros(2)] * len(keys),
            amps,
            pks,
            0.0,
            "test",
            trials=None if once else Trials(trials.amplitudes, trials.t_peaks, trials.released, shown),
        )
        store.write(result)
        for i, k in enumerate(keys):
            by_key[int(k)] = Trials(trials.amplitudes[i], trials.t_peaks[i], trials.released[i])
    return store, chunks, by_key


def unit_table(
    units: list[Unit], source: np.ndarray, options: AnalysisOptions, by_key: dict[int, Trials]
) -> pd.DataFrame:
    """psps.csv's identity and feature columns: the mean over a unit's trials."""
    amplitude, peak = options.pulse_columns(0)
    rows = [
        {
            "celltype": u.celltype,
            "unit": u.index,
            "cell_id": u.cell_id,
            "n_synapses": u.n_synapses,
            "gAMPA": 1.0,
            "gNMDA": 1.0,
            "gGABA": np.nan,
            amplitude: float(by_key[int(s)].amplitudes[:, 0].mean()),
            peak: 5.0,
            "simulation": int(s),
        }
        for u, s in zip(units, source)
    ]
    return pd.DataFrame(rows)


def test_unit_statistics_match_pythons_statistics_module():
    amplitudes = np.array([[0.0, 1.0, 2.0, 0.1], [0.0, 0.0, 0.0, 0.0], [0.5, 0.7, 0.6, 0.9]])
    released = np.array([[0, 2, 1, 0], [0, 0, 0, 0], [1, 1, 3, 1]])
    got = unit_trial_statistics(amplitudes, released)
    for row, (a, r) in enumerate(zip(amplitudes.tolist(), released.tolist())):
        successes = [x for x, n in zip(a, r) if n > 0]
        sd = pystats.stdev(a)
        expected = [
            pystats.mean(successes) if successes else math.nan,
            sum(n == 0 for n in r) / len(r),
            sd,
            sd / abs(pystats.mean(a)) if pystats.mean(a) != 0 else math.nan,
        ]
        np.testing.assert_allclose(got[row], expected, rtol=1e-12, equal_nan=True)


def test_one_trial_has_no_sd_and_no_cv():
    got = unit_trial_statistics(np.array([[0.4], [0.0]]), np.array([[2], [0]]))
    np.testing.assert_array_equal(got, [[0.4, 0.0, np.nan, np.nan], [np.nan, 1.0, np.nan, np.nan]])


def test_trial_column_names_follow_the_measured_signal():
    assert trial_columns(VOLTAGE) == ("success_mean_mV", "failure_rate", "amplitude_sd_mV", "amplitude_cv")
    assert trial_columns(CLAMP) == ("success_mean_nA", "failure_rate", "psc_sd_nA", "psc_cv")
    assert "success_psc_mean" in trial_statistics_columns(CLAMP) and "psc_cv_median" in trial_statistics_columns(CLAMP)
    for name in (*trial_statistics_columns(VOLTAGE), *trial_statistics_columns(CLAMP)):
        check_metric_name(name, "metric")
        assert metric_unit(name) in ("mV", "nA", "ratio", "fraction"), name


@pytest.mark.parametrize("options", [VOLTAGE, TRAIN, CLAMP], ids=["psp", "train", "clamp"])
def test_trials_parquet_has_every_unit_and_trial_and_matches_the_chunks(tmp_path, options):
    units = make_units(23)
    source = np.arange(23)
    source[[5, 9, 22]] = [4, 4, 1]  # identical units take another row's simulation
    store, chunks, by_key = write_store(tmp_path / "store", units, source, 7, options.n_pulses)
    table = unit_table(units, source, options, by_key)
    path = write_trials_parquet(store, chunks, table, options, tmp_path / "trials.parquet")
    trials = pd.read_parquet(path)
    names = [n for k in range(options.n_pulses) for n in options.pulse_columns(k)]
    assert list(trials.columns) == ["celltype", "unit", "cell_id", "trial", *names, "any_release", "n_released"]
    assert len(trials) == 23 * 7 and not trials.duplicated(["celltype", "unit", "trial"]).any()
    assert pq.ParquetFile(path).metadata.num_row_groups == len(chunks)  # one chunk at a time
    for row in table.itertuples():
        mine = trials[trials["unit"] == row.unit].sort_values("trial")
        drawn = by_key[row.simulation]
        assert mine["celltype"].unique().tolist() == [row.celltype] and mine["cell_id"].unique().tolist() == [
            row.cell_id
        ]
        for k, (amplitude, peak) in enumerate(options.pulse_columns(k) for k in range(options.n_pulses)):
            np.testing.assert_array_equal(mine[amplitude], drawn.amplitudes[:, k])
            np.testing.assert_array_equal(mine[peak], drawn.t_peaks[:, k])
        np.testing.assert_array_equal(mine["n_released"], drawn.released)
        np.testing.assert_array_equal(mine["any_release"], drawn.released > 0)
        assert mine[options.pulse_columns(0)[0]].mean() == pytest.approx(
            getattr(row, options.pulse_columns(0)[0]), rel=1e-12
        )


def test_psps_columns_come_before_simulation_and_identical_units_share_them(tmp_path):
    units = make_units(12)
    source = np.arange(12)
    source[7] = 3
    store, chunks, by_key = write_store(tmp_path / "store", units, source, 9, 1)
    table = unit_table(units, source, VOLTAGE, by_key)
    assert has_trials(store, chunks)
    stats = sweep_trial_statistics(store, chunks, source, VOLTAGE)
    joined = add_trial_columns(table, stats)
    assert list(joined.columns[-5:]) == [*trial_columns(VOLTAGE), "simulation"]
    pd.testing.assert_frame_equal(joined[list(table.columns)], table)
    assert joined.loc[7, list(trial_columns(VOLTAGE))].tolist() == joined.loc[3, list(trial_columns(VOLTAGE))].tolist()
    for row in joined.itertuples():
        drawn = by_key[row.simulation]
        assert row.failure_rate == pytest.approx(float(np.mean(drawn.released == 0)))
        assert row.amplitude_sd_mV == pytest.approx(pystats.stdev(drawn.amplitudes[:, 0].tolist()))


def test_a_chunk_run_once_deterministically_counts_as_one_trial_with_every_release(tmp_path):
    units = make_units(10)
    store, chunks, _ = write_store(tmp_path / "store", units, np.arange(10), 5, 1, chunk_size=3, deterministic_work=1)
    once = [c for c in chunks if c.work == 1]
    assert once and has_trials(store, chunks)
    ct = chunk_trials(store, once[0])
    assert ct.amplitudes.shape == (len(once[0].units), 1, 1)
    assert ct.released[:, 0].tolist() == [u.n_synapses for u in once[0].units]
    assert not has_trials(store, once)


def test_the_parquet_writer_holds_one_chunk_at_a_time(tmp_path):
    """1,000 units x 100 trials x 2 pulses in chunks of 10 units: the peak of what Python
    and numpy allocate while writing (tracemalloc) stays below a fifth of all trials'
    arrays together (it is a chunk's trials plus a few bytes per unit)."""
    units = make_units(1000)
    source = np.arange(1000)
    store, chunks, by_key = write_store(tmp_path / "store", units, source, 100, 2, chunk_size=10)
    table = unit_table(units, source, TRAIN, by_key)
    everything = sum(t.amplitudes.nbytes + t.t_peaks.nbytes + t.released.nbytes for t in by_key.values())
    del by_key
    tracemalloc.start()
    try:
        write_trials_parquet(store, chunks, table, TRAIN, tmp_path / "trials.parquet")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < everything / 5, (peak, everything)
    assert pq.ParquetFile(tmp_path / "trials.parquet").metadata.num_rows == 100_000


def trial_table(rng: np.random.Generator, n: int = 40) -> pd.DataFrame:
    """A unit table with trial columns drawn at random (some NaN, as a unit that never released)."""
    table = pd.DataFrame(
        {
            "celltype": rng.choice(["L4ss_C2", "L5tt_C2", "VPM_C2"], n),
            "gAMPA": 1.0,
            "gNMDA": 1.0,
            "gGABA": np.nan,
            "amplitude_mV": rng.gamma(2.0, 0.3, n),
            "t_peak_ms": rng.uniform(2, 10, n),
        }
    )
    failure = rng.choice([0.0, 0.3, 0.8, 1.0], n)
    table["success_mean_mV"] = np.where(failure < 1, rng.gamma(2.0, 0.4, n), np.nan)
    table["failure_rate"] = failure
    table["amplitude_sd_mV"] = rng.gamma(1.0, 0.2, n)
    table["amplitude_cv"] = table["amplitude_sd_mV"] / table["amplitude_mV"]
    return table


def test_statistics_per_cell_type_are_the_means_and_medians_pandas_finds():
    table = trial_table(np.random.default_rng(3))
    stats = summary_statistics(table, VOLTAGE).set_index("celltype")
    grouped = table.groupby("celltype")
    for column, stem in zip(trial_columns(VOLTAGE), ("success_amp", "failure_rate", "amp_sd", "amp_cv")):
        np.testing.assert_allclose(stats[f"{stem}_mean"], grouped[column].mean(), rtol=1e-12)  # pandas skips NaN
        np.testing.assert_allclose(stats[f"{stem}_median"], grouped[column].median(), rtol=1e-12)
    np.testing.assert_allclose(
        stats["fraction_responding_any"], grouped["failure_rate"].apply(lambda f: (f < 1).mean())
    )


def test_a_train_has_trial_statistics_for_pulse_1_only():
    table = trial_table(np.random.default_rng(4)).assign(amplitude_mV_p2=0.5, t_peak_ms_p2=25.0, ppr=0.5)
    stats = summary_statistics(table, TRAIN)
    assert stats.loc[stats["pulse"] == 1, "failure_rate_mean"].notna().all()
    assert stats.loc[stats["pulse"] == 2, "failure_rate_mean"].isna().all()
    metrics = statistics_metrics(table, stats, stats.rename(columns={"celltype": "group"}), TRAIN)
    assert "failure_rate_mean" in metrics and "failure_rate_mean_p2" not in metrics


def test_metrics_name_the_trial_statistics_per_cell_type_group_and_kind():
    table = trial_table(np.random.default_rng(5))
    stats = summary_statistics(table, VOLTAGE)
    groups = summary_statistics(
        table.assign(group=table["celltype"].str[:2]), VOLTAGE, by=("group", "gAMPA", "gNMDA", "gGABA")
    )
    metrics = statistics_metrics(table, stats, groups, VOLTAGE, {c: True for c in table["celltype"]})
    assert metrics["failure_rate_mean"] == pytest.approx(table["failure_rate"].mean())
    assert metrics["fraction_responding_any"] == pytest.approx((table["failure_rate"] < 1).mean())
    vpm = table[table["celltype"] == "VPM_C2"]
    assert metrics["amp_cv_median.VPM_C2"] == pytest.approx(vpm["amplitude_cv"].median())
    assert "failure_rate_mean.group.VP" in metrics and "fraction_responding_any.excitatory" in metrics
    for name in metrics:
        check_metric_name(name, "metric")


def test_a_table_without_trials_keeps_its_statistics_columns():
    table = trial_table(np.random.default_rng(6)).drop(columns=list(trial_columns(VOLTAGE)))
    stats = summary_statistics(table, VOLTAGE)
    assert "failure_rate_mean" not in stats.columns and "fraction_responding_any" not in stats.columns


def test_the_trials_plot_is_drawn_with_failures_and_without_traces(tmp_path):
    from pspsweep.report.trials import ShownTrials, trials_figure

    rng = np.random.default_rng(7)
    table = trial_table(rng)
    t = np.linspace(0, 50, 501)
    released = rng.binomial(2, 0.5, 30)
    traces = [(t, -70 + r * 0.4 * np.exp(-np.clip(t - 10, 0, None) / 8) * (t > 10)) for r in released]
    shown = ShownTrials("VPM_C2 unit 0", traces, released)
    for name, given in (("trials.png", shown), ("empty.png", None)):
        path = trials_figure(
            given, table, ("amplitude_cv", "failure_rate"), tmp_path / name, "VPM_C2, g=1 nS", (5.0, 50.0)
        )
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_fit_says_it_fits_the_trial_mean(tmp_path, monkeypatch):
    from pspsweep.config import ProtocolConfig, PspSweepConfig
    from pspsweep.fit.stage import fit_stage

    monkeypatch.setitem(sys.modules, "mlflow", None)
    cfg = PspSweepConfig()
    cfg.fit.bootstrap = 0
    cfg.protocol = ProtocolConfig(trials=20)
    scales = np.array([0.2, 0.3, 0.5])
    tables = [
        pd.DataFrame(
            {
                "celltype": "VPM_C2",
                "unit": np.arange(3),
                "g": g,
                "amplitude_mV": scales * g,
                "t_peak_ms": 2.0,
                "sections": "1",
                "xs": "0.5",
                "distance_um": 10.0,
                "failure_rate": 0.2,
            }
        )
        for g in (0.5, 1.0, 2.0)
    ]
    output = fit_stage(cfg, tables, None, tmp_path)
    assert output.tags["fit.amplitude"] == "amplitude_mV (mV), trial mean over 20 trials (failures included)"


def test_the_console_line_adds_the_failure_rate_and_cv_only_with_trials():
    from pspsweep.cli import amplitude_summary

    metrics = {"n_units": 4.0, "n_responding": 3.0, "amp_mean": 0.5}
    assert "trials" not in amplitude_summary(metrics)
    line = amplitude_summary({**metrics, "failure_rate_mean": 0.25, "amp_cv_median": 0.4})
    assert line.endswith("; trials: mean failure rate 0.25, median CV 0.4")
