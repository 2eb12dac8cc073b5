"""The conductance fit of a multirun over ``run.g``.

* :mod:`~pspsweep.fit.lines`: the maths: straight lines of the statistics against g,
  inverted at the measured EPSPs, and the bootstrap interval of the optimal g;
* :mod:`~pspsweep.fit.stage`: the stage: unit tables -> groups -> statistics -> lines ->
  optimal g, its files and what the parent run records.
"""

from pspsweep.fit.lines import FIT_COLUMNS, bootstrap_optimal_g, linear_fits, optimal_g
from pspsweep.fit.stage import FitOutput, FitResult, fit_conductances, fit_stage, measured_table, record_fit

__all__ = [
    "FIT_COLUMNS",
    "FitOutput",
    "FitResult",
    "bootstrap_optimal_g",
    "fit_conductances",
    "fit_stage",
    "linear_fits",
    "measured_table",
    "optimal_g",
    "record_fit",
]
