"""The demo cell spec and embedding for simulation tests (importable from test scripts run
in subprocesses too, which is why it is a module beside them and not a conftest fixture)."""

from __future__ import annotations

from functools import cache


@cache
def demo():
    """The demo cell spec and embedding, composed as the command would."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    import pspsweep.cli  # noqa: F401  (registers the schemas)
    from pspsweep.builders import cell_spec_from_config, embedding_from_config

    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="pspsweep.conf", version_base="1.3"):
            cfg = OmegaConf.to_object(compose(config_name="config"))
    finally:
        GlobalHydra.instance().clear()
    cell = cell_spec_from_config(cfg.neuron)
    return cell, embedding_from_config(cfg.network, cell)
