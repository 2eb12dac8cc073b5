"""Units on the same segments are simulated once; results equal simulating every unit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, pspsweep_env

from pspsweep.units import Unit, distinct_units

pytestmark = pytest.mark.slow


def test_distinct_units_by_segment_multiset():
    nseg = [1, 5]
    units = [
        Unit(0, "A", 0, (0, 1), (1, 1), (0.11, 0.5)),
        Unit(1, "A", 1, (2, 3), (1, 1), (0.5, 0.15)),  # same segments {1:0, 1:2}, other order and x
        Unit(2, "A", 2, (4,), (1,), (0.5,)),
        Unit(3, "A", 3, (5, 6), (1, 1), (0.5, 0.5)),  # segment 2 twice: a different multiset
        Unit(4, "B", 0, (0,), (1,), (0.5,)),  # another cell type
        Unit(5, "A", 4, (7,), (0,), (0.9,)),
        Unit(6, "A", 5, (8,), (0,), (0.1,)),  # the soma has one segment
    ]
    assert distinct_units(units, nseg) == [0, 0, 2, 3, 2, 5, 5]


def sweep(tmp_path: Path, name: str, *overrides: str) -> pd.DataFrame:
    exe = Path(sys.executable).parent / "pspsweep"
    out = tmp_path / name
    res = subprocess.run(
        [str(exe), *overrides, "tracking.enabled=false", "executor.workers=1", f"hydra.run.dir={out}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=pspsweep_env(),
        timeout=1200,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return pd.read_csv(out / "psps.csv")


DEMO = ["network.celltypes.L5tt_C2.n_cells=40"]


@pytest.mark.parametrize("mode", ["cells", "synapses"])
@pytest.mark.parametrize("vardt", ["false", "true"])
def test_reuse_on_and_off_identical_demo(tmp_path, mode, vardt):
    args = [*DEMO, "run.celltype=L5tt_C2", f"run.mode={mode}", f"run.vardt={vardt}"]
    on = sweep(tmp_path, "on", *args)
    off = sweep(tmp_path, "off", *args, "run.reuse_identical=false")
    assert (off.simulation == off.unit).all()
    if mode == "synapses":
        assert (on.simulation != on.unit).any(), "some synapses share a segment"
    pd.testing.assert_frame_equal(on.drop(columns="simulation"), off.drop(columns="simulation"))


@pytest.mark.realdata
@pytest.mark.parametrize("celltype", ["VPM_C2", "L34_C2"])
@pytest.mark.parametrize("mode", ["cells", "synapses"])
def test_reuse_on_and_off_identical_isf86(tmp_path, isf86, celltype, mode):
    units = "[" + ",".join(map(str, range(40))) + "]"
    args = [
        "neuron=isf",
        "network=isf",
        f"neuron.param_file={isf86 / '86_C2_center.param'}",
        f"network.syn_file={isf86 / 'example_embedding_86_C2_center.syn'}",
        f"network.con_file={isf86 / 'example_embedding_86_C2_center.con'}",
        f"run.celltype={celltype}",
        f"run.mode={mode}",
        f"run.units={units}",
    ]
    on = sweep(tmp_path, "on", *args)
    off = sweep(tmp_path, "off", *args, "run.reuse_identical=false")
    pd.testing.assert_frame_equal(on.drop(columns="simulation"), off.drop(columns="simulation"))


def test_the_sweep_key_covers_the_weights_and_delays_of_sonata_synapses(compose, launch_dir):
    """A SONATA edge's own weight or delay decides its PSP: two sweeps that differ only
    there must not reuse each other's results (docs/reuse.md)."""
    import dataclasses

    from omegaconf import OmegaConf

    from pspsweep.pipeline import prepare
    from pspsweep.sweep_plan import sweep_key
    from pspsweep.units import WeightedUnit

    cfg = OmegaConf.to_object(compose())
    prep = prepare(cfg)

    def weighted(weight: float, delay: float) -> str:
        units = [
            WeightedUnit(**dataclasses.asdict(u), weights=(weight,) * u.n_synapses, delays=(delay,) * u.n_synapses)
            for u in prep.units
        ]
        return sweep_key(cfg, dataclasses.replace(prep, units=units))

    keys = {weighted(1e-3, 1.0), weighted(2e-3, 1.0), weighted(1e-3, 1.5)}
    assert len(keys) == 3 and sweep_key(cfg, prep) not in keys
    assert weighted(1e-3, 1.0) == weighted(1e-3, 1.0)
