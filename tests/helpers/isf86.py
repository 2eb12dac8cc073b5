"""The shared 86_C2_center cell copied into a test folder, to corrupt or edit it there."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

#: the cell and the embedding of the shared example
CELL_FILES = ("86_C2_center.param", "86_C2_center.hoc")
EMBEDDING_FILES = ("example_embedding_86_C2_center.syn", "example_embedding_86_C2_center.con")


def isf86_overrides(isf86: Path) -> list[str]:
    """The overrides that run the shared cell and its example embedding."""
    return [
        "neuron=isf",
        "network=isf",
        f"neuron.param_file={isf86 / '86_C2_center.param'}",
        f"network.syn_file={isf86 / EMBEDDING_FILES[0]}",
        f"network.con_file={isf86 / EMBEDDING_FILES[1]}",
    ]


def copy_isf86(isf86: Path, folder: Path, extra: tuple[str, ...] = ()) -> Path:
    """Copy the cell (and ``extra`` files of the shared folder) into ``folder``; the copied
    .param names the copied .hoc, so no "found next to the parameter file" warning is
    printed. Returns the copied .param."""
    for name in (*CELL_FILES, *extra):
        shutil.copy(isf86 / name, folder / name)
    param = folder / "86_C2_center.param"
    text, n = re.subn(
        r'"filename":\s*"[^"]*"', f'"filename": "{folder / "86_C2_center.hoc"}"', param.read_text(), count=1
    )
    assert n == 1, "the shared .param names no morphology"
    param.write_text(text)
    return param
