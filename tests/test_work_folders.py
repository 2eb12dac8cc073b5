"""launch.work_folders and check_work_folders: where chunks and settled states go.

Checked against the documented defaults (``executor.work_dir`` / ``.pspsweep`` of the
launch directory, ``states`` beside ``chunks``) and the ``executor.state_dir`` key,
which names the settled-state cache folder on its own.
"""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from pspsweep.errors import PspSweepError
from pspsweep.launch import check_work_folders, work_folders


def test_states_beside_the_chunks_by_default(compose, launch_dir):
    chunks, states = work_folders(OmegaConf.to_object(compose()))
    assert (chunks, states) == (launch_dir / ".pspsweep" / "chunks", launch_dir / ".pspsweep" / "states")
    work = launch_dir / "work"
    chunks, states = work_folders(OmegaConf.to_object(compose(f"executor.work_dir={work}")))
    assert (chunks, states) == (work / "chunks", work / "states")


def test_state_dir_names_the_settled_state_folder(compose, launch_dir, tmp_path_factory):
    """``executor.state_dir`` moves the states only; a relative one is in the launch directory."""
    shared = tmp_path_factory.mktemp("shared") / "states"
    chunks, states = work_folders(OmegaConf.to_object(compose(f"executor.state_dir={shared}")))
    assert (chunks, states) == (launch_dir / ".pspsweep" / "chunks", shared)
    _, states = work_folders(OmegaConf.to_object(compose("executor.state_dir=cache/states")))
    assert states == launch_dir / "cache" / "states"


def test_state_dir_that_cannot_be_created_is_named_by_its_key(compose, launch_dir):
    blocker = launch_dir / "file"
    blocker.write_text("not a folder")
    with pytest.raises(PspSweepError, match=r"^executor\.state_dir: cannot create .*file/states"):
        check_work_folders(OmegaConf.to_object(compose(f"executor.state_dir={blocker / 'states'}")))


@pytest.mark.slow
def test_command_writes_the_settled_states_to_state_dir(tmp_path):
    """End to end: the demo sweep with ``executor.state_dir`` leaves its settled states
    there and none beside the chunks."""
    from helpers.command import run_command as pspsweep

    shared = tmp_path / "shared states"
    res = pspsweep(
        tmp_path, "executor.progress=false", "run.vardt=false", "run.units=[0,1]", f"executor.state_dir={shared}"
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert list(shared.glob("*.state")) and list(shared.glob("*.npz"))
    assert not (tmp_path / ".pspsweep" / "states").exists()
