"""config: typed schemas, composition and validation."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from pspsweep.config import Mode, PspSweepConfig, validate
from pspsweep.errors import PspSweepError


def test_default_config_composes_to_typed_schema(compose):
    cfg = compose()
    typed = OmegaConf.to_object(cfg)
    assert isinstance(typed, PspSweepConfig)
    assert typed.run.mode is Mode.cells
    assert typed.run.tStim == 110.0 and typed.run.tEnd == 150.0
    assert set(typed.network.celltypes) == {"L4ss_C2", "L5tt_C2", "INH_C2"}
    assert typed.neuron.biophysics["Soma"].mechanisms["hh"]["gnabar"] == 0.05
    validate(typed)


def test_override_is_typed(compose):
    cfg = compose("run.g=1", "run.mode=synapses", "run.units=[0,2]")
    assert isinstance(cfg.run.g, float) and cfg.run.g == 1.0
    assert cfg.run.mode == Mode.synapses
    assert list(cfg.run.units) == [0, 2]


@pytest.mark.parametrize("override", ["run.tStim=abc", "run.mode=neither", "run.strategy=magic",
                                      "run.vardt=maybe", "executor.workers=two"])
def test_wrongly_typed_override_fails_at_composition(compose, override):
    with pytest.raises(Exception) as info:
        compose(override)
    cause = info.value.__cause__ or info.value
    assert isinstance(cause, ValidationError) or "override" in str(info.value).lower()


def test_unknown_key_fails(compose):
    with pytest.raises(Exception, match="run.nope"):
        compose("run.nope=1")


@pytest.mark.parametrize(
    ("overrides", "culprit"),
    [
        (["run.tStim=150", "run.tEnd=150"], "run.tEnd"),
        (["run.tStim=-1"], "run.tStim"),
        (["run.g=-0.5"], "run.g"),
        (["run.gGABA=-1"], "run.gGABA"),
        (["neuron.sim.dt=0"], "neuron.sim.dt"),
        (["executor.workers=-1"], "executor.workers"),
        (["executor.chunk_size=0"], "executor.chunk_size"),
        (["run.record_dt=0"], "run.record_dt"),
        (["analysis.resample_dt=0"], "analysis.resample_dt"),
    ],
)
def test_impossible_values_name_the_key(compose, overrides, culprit):
    typed = OmegaConf.to_object(compose(*overrides))
    with pytest.raises(PspSweepError, match=culprit.replace(".", r"\.")):
        validate(typed)
