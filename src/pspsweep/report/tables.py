"""The fit's tables on disk: CSV for people, Parquet for the unit table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from pspsweep.fit.stage import FitResult

#: artifact names of a fit (fixed, documented in docs/fitting.md)
OPTIMAL_G_CSV = "optimal_g.csv"
GROUP_STATISTICS_CSV = "group_statistics.csv"
CELLTYPE_STATISTICS_CSV = "celltype_statistics.csv"
FITS_CSV = "fits.csv"
UNITS_PARQUET = "units.parquet"


def write_fit_tables(
    result: FitResult, out_dir: Path, named: Callable[[pd.DataFrame], pd.DataFrame] | None = None
) -> list[Path]:
    """Write the fit's tables into ``out_dir``, each through ``named`` when given (the
    column names of a voltage clamp's fit); returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for name, table in (
        (GROUP_STATISTICS_CSV, result.group_statistics),
        (CELLTYPE_STATISTICS_CSV, result.celltype_statistics),
        (FITS_CSV, result.fits),
        (OPTIMAL_G_CSV, result.optimal),
    ):
        if table is not None:
            (table if named is None else named(table)).to_csv(out_dir / name, index=False)
            files.append(out_dir / name)
    (result.units if named is None else named(result.units)).to_parquet(out_dir / UNITS_PARQUET, index=False)
    files.append(out_dir / UNITS_PARQUET)
    return files
