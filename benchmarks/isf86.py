"""The shared ISF 86_C2_center inputs the benchmarks run on (``../shared`` beside the repository)."""

from __future__ import annotations

import sys
from pathlib import Path

#: default folder of the 86_C2_center cell, its embedding and the measured EPSPs
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "isf_86_c2"
PARAM = "86_C2_center.param"
SYN = "example_embedding_86_C2_center.syn"
CON = "example_embedding_86_C2_center.con"


def input_overrides(data: Path = DATA) -> list[str]:
    """Command-line overrides that select the ISF config groups and point them at ``data``."""
    return [
        "neuron=isf",
        "network=isf",
        f"neuron.param_file={data / PARAM}",
        f"network.syn_file={data / SYN}",
        f"network.con_file={data / CON}",
    ]


def require(data: Path, script: str) -> None:
    """Exit with a clear message when the shared data is not at ``data``."""
    if not (data / PARAM).is_file():
        sys.exit(f"{script}: the shared 86_C2_center data is not at {data}")
