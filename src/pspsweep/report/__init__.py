"""Pictures and tables for people (no MLflow, no NEURON).

* :mod:`~pspsweep.report.sweep`: the trace overview of one sweep;
* :mod:`~pspsweep.report.histograms`: amplitude histograms (a sweep's, excitatory and
  inhibitory units apart; a fit's, one row per group and one column per g);
* :mod:`~pspsweep.report.fit`: the plots of a fit (fitted lines, amplitude against
  distance) and :func:`fit_figures`, all of them;
* :mod:`~pspsweep.report.morphology`: the amplitudes on the morphology, seen from the side;
* :mod:`~pspsweep.report.tables`: the fit's table files;
* :mod:`~pspsweep.report.trials`: the trials of a sweep (``trials.png``);
* :mod:`~pspsweep.report.plotting`: matplotlib, loaded on first use, and shared pieces.

Each function writes its files and returns their paths; the caller hands them to a
tracker, whose UI previews PNG and CSV.
"""

from pspsweep.report.fit import amplitude_vs_distance, fit_figures, fit_plot, fit_warnings
from pspsweep.report.histograms import KIND_TITLES, amplitude_histogram, group_histograms, split_by_kind
from pspsweep.report.morphology import VIEWS, morphology_map, morphology_view
from pspsweep.report.plotting import warm_up
from pspsweep.report.sweep import MAX_TRACES, TracePanel, trace_overview
from pspsweep.report.tables import write_fit_tables

__all__ = [
    "KIND_TITLES",
    "MAX_TRACES",
    "VIEWS",
    "TracePanel",
    "amplitude_histogram",
    "amplitude_vs_distance",
    "fit_figures",
    "fit_plot",
    "fit_warnings",
    "group_histograms",
    "morphology_map",
    "morphology_view",
    "split_by_kind",
    "trace_overview",
    "warm_up",
    "write_fit_tables",
]
