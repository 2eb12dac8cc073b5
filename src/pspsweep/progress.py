"""Progress display for long unit loops: units done, rate and ETA on stderr."""

from __future__ import annotations

from tqdm import tqdm


def progress_bar(description: str, total: int, enabled: bool = True) -> tqdm:
    """A tqdm bar counting units (units done, units/s, ETA); ``update(n)`` adds n units."""
    return tqdm(
        total=total,
        desc=description,
        unit="unit",
        mininterval=0.5,
        dynamic_ncols=True,
        disable=None if enabled else True,
    )  # None: off unless stderr is a terminal
