"""Matplotlib, loaded on first use, and the pieces every plot of :mod:`pspsweep.report` shares."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pspsweep.features import AnalysisOptions


@dataclass(frozen=True)
class Measure:
    """What a plot's amplitudes are: the unit table's column, its unit and the labels
    (a PSP in mV, or the PSC of a voltage clamp in nA, inward negative)."""

    column: str = "amplitude_mV"
    unit: str = "mV"
    response: str = "PSP"
    label: str = "PSP amplitude (mV)"
    trace: str = "soma V (mV)"

    @classmethod
    def of(cls, options: AnalysisOptions) -> Measure:
        """The measure of the traces analysed with ``options``."""
        if options.signal == "current":
            return cls("psc_nA", "nA", "PSC", "PSC (nA, inward negative)", "clamp current (nA, inward negative)")
        return cls()


#: a PSP in mV, what every plot showed before clamp currents
PSP = Measure()

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


#: saved resolution of every figure (dots per inch); with fonts of at least
#: :data:`MIN_FONT_PT` text stays legible when a figure is shown at its pixel size
DPI = 120
MIN_FONT_PT = 10
#: figures a reader views whole (fit, group histograms) are at least this wide (px)
MIN_WIDTH_PX = 1200


def panel_grid(
    n: int,
    max_cols: int = 3,
    panel: tuple[float, float] = (5.0, 3.9),
    extra_width: float = 0.0,
    min_width_px: int = MIN_WIDTH_PX,
) -> tuple[Figure, list]:
    """A figure of n panels, at most ``max_cols`` per row, at least ``min_width_px`` wide
    at :data:`DPI` (panels widen to fill it); unused axes are hidden."""
    plt = pyplot()
    n = max(n, 1)
    ncols = min(n, max_cols)
    nrows = -(-n // ncols)
    panel_width = max(panel[0], (min_width_px / DPI - extra_width) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel_width * ncols + extra_width, panel[1] * nrows), dpi=DPI, squeeze=False
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def integer_counts(ax: Any) -> None:
    """Whole numbers only on the y axis (a histogram's counts of units)."""
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def threshold_values(threshold_mV: float, convention: str) -> tuple[float, ...]:
    """Where a unit starts to count as responding: ±threshold under ``pspsweep``
    (``|a| >= threshold``), +threshold only under ``isf`` (``a >= threshold``; IPSPs never count)."""
    return (threshold_mV,) if convention == "isf" else (-threshold_mV, threshold_mV)


def threshold_label(threshold_mV: float, convention: str, unit: str = "mV") -> str:
    """The legend text of :func:`threshold_values`' lines (the threshold in ``unit``)."""
    if convention == "isf":
        return f"threshold a ≥ {threshold_mV:g} {unit} (ISF)"
    return f"threshold |a| ≥ {threshold_mV:g} {unit}"


def finite_values(values: object) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    return a[np.isfinite(a)]


def format_g(g: float) -> str:
    return f"{g:.3g}" if np.isfinite(g) else "n/a"
