"""Progress display for long unit loops: units done, rate and ETA on stderr."""

from __future__ import annotations

from typing import Callable, Iterable, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress_bar(description: str) -> Callable[[Iterable[T], int], Iterable[T]]:
    """A wrapper that shows a tqdm bar (units done, units/s, ETA) around an iterable."""

    def wrap(items: Iterable[T], total: int) -> Iterable[T]:
        return tqdm(items, total=total, desc=description, unit="unit", mininterval=0.5,
                    dynamic_ncols=True, leave=True)

    return wrap
