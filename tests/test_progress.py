"""progress: the bar counts units, identical units included, as the summary does."""

from __future__ import annotations

import pspsweep
from pspsweep import pipeline


class RecordingBar:
    """What the sweep tells its progress bar."""

    def __init__(self, description: str, total: int, enabled: bool = True) -> None:
        self.total, self.done, self.leave = total, 0, True

    def update(self, n: int) -> None:
        self.done += n

    def close(self) -> None:
        pass


def test_bar_counts_units_not_simulations(launch_dir, monkeypatch):
    bars: list[RecordingBar] = []
    monkeypatch.setattr(pipeline, "progress_bar", lambda *a, **kw: bars.append(RecordingBar(*a, **kw)) or bars[-1])
    # one unit per synapse: synapses on the same segment are simulated once
    result = pspsweep.run(["run.mode=synapses", "executor.workers=1"], tracking=False, out_dir=launch_dir / "out")
    table = result.table
    assert table["simulation"].nunique() < len(table), "the sweep has identical units"
    (bar,) = bars
    assert bar.total == bar.done == len(table) == result.metrics["n_units"]
