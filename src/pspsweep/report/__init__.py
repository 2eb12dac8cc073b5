"""Pictures and tables for people (no MLflow, no NEURON).

* :mod:`~pspsweep.report.sweep`: the plots of one sweep (amplitude histogram, traces);
* :mod:`~pspsweep.report.fit`: the plots of a fit (group histograms, fitted lines,
  amplitude against distance, morphology map);
* :mod:`~pspsweep.report.tables`: the fit's table files;
* :mod:`~pspsweep.report.plotting`: matplotlib, loaded on first use.

Each function writes its files and returns their paths; the caller hands them to a
tracker, whose UI previews PNG and CSV.
"""

from pspsweep.report.fit import (
    amplitude_vs_distance,
    fit_figures,
    fit_plot,
    fit_warnings,
    group_histograms,
    morphology_map,
)
from pspsweep.report.plotting import warm_up
from pspsweep.report.sweep import MAX_TRACES, amplitude_histogram, trace_overview
from pspsweep.report.tables import write_fit_tables

__all__ = [
    "MAX_TRACES",
    "amplitude_histogram",
    "amplitude_vs_distance",
    "fit_figures",
    "fit_plot",
    "fit_warnings",
    "group_histograms",
    "morphology_map",
    "trace_overview",
    "warm_up",
    "write_fit_tables",
]
