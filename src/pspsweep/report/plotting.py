"""Matplotlib, loaded on first use, and the pieces every plot of :mod:`pspsweep.report` shares."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PYPLOT: Any = None
_PYPLOT_LOCK = threading.Lock()


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, imported on first use.

    Why lazily: the import takes about a second, and a sweep draws only at its end, so
    importing it with this module delayed every simulation. The lock makes a drawing
    function wait for a :func:`warm_up` still in progress in another thread.
    """
    global _PYPLOT
    with _PYPLOT_LOCK:
        if _PYPLOT is None:
            import matplotlib

            matplotlib.use("Agg")  # no display on clusters and in CI
            import matplotlib.pyplot as plt

            _PYPLOT = plt
    return _PYPLOT


def warm_up() -> None:
    """Import pyplot and render a tiny figure (loads the font list and the Agg renderer).

    The figure is made without pyplot, whose figure registry is not thread-safe.
    """
    pyplot()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1), dpi=10)
    fig.text(0.5, 0.5, "0")
    FigureCanvasAgg(fig).draw()


def panel_grid(
    n: int, max_cols: int = 3, panel: tuple[float, float] = (4.2, 3.2), extra_width: float = 0.0
) -> tuple[Figure, list]:
    """A figure of n small panels, at most ``max_cols`` per row; unused axes are hidden."""
    plt = pyplot()
    n = max(n, 1)
    ncols = min(n, max_cols)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel[0] * ncols + extra_width, panel[1] * nrows), dpi=100, squeeze=False
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def finite_values(values: object) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    return a[np.isfinite(a)]


def format_g(g: float) -> str:
    return f"{g:.3g}" if np.isfinite(g) else "n/a"
