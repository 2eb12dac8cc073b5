"""How many units of the shared 86_C2_center embedding share their segments with an earlier unit.

Prints, per mode, the number of units and of distinct simulations over all cell types
one type at a time, in one run over every excitatory type (units of different types
share when their receptor and conductances are equal), and for a few large types: what
``run.reuse_identical`` saves. No simulation.

With ``--verify`` it also runs whole sweeps of the named cell types with reuse on and
off (CVODE, all cores, both modes) and checks that ``psps.csv`` is identical apart from
the ``simulation`` column.

    python benchmarks/identical_units.py
    python benchmarks/identical_units.py --verify VPM_C2 L34_C2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import isf86
import pandas as pd

from pspsweep.builders import cell_spec_from_config, embedding_from_config
from pspsweep.config import NetworkConfig, NeuronConfig
from pspsweep.geometry import segment_counts
from pspsweep.units import distinct_units, make_units, resolve_celltypes

DATA = isf86.DATA


def count() -> None:
    """Print units and distinct simulations per mode."""
    cell = cell_spec_from_config(NeuronConfig(param_file=str(DATA / isf86.PARAM), mechanism_dirs=["l5pt"]))
    emb = embedding_from_config(
        NetworkConfig(kind="isf", syn_file=str(DATA / isf86.SYN), con_file=str(DATA / isf86.CON)), cell
    )
    nseg = segment_counts(cell)
    excitatory = resolve_celltypes(emb, "excitatory")
    for mode in ("cells", "synapses"):
        total = distinct = 0
        shown = []
        pooled = []
        for celltype in emb.celltypes:
            units = make_units(emb, celltype, mode)
            n_distinct = len(set(distinct_units(units, nseg)))
            total += len(units)
            distinct += n_distinct
            if celltype in excitatory:
                pooled += units
            if celltype in ("VPM_C2", "L34_C2", "L5tt_C2"):
                shown.append(f"{celltype} {len(units)} -> {n_distinct}")
        together = len(set(distinct_units(pooled, nseg)))
        print(
            f"mode {mode}: {total} units, {distinct} distinct simulations one type at a time "
            f"({100 * (1 - distinct / total):.1f} % saved); all {len(excitatory)} excitatory types in one run: "
            f"{len(pooled)} units -> {together} ({100 * (1 - together / len(pooled)):.1f} % saved); " + "; ".join(shown)
        )


def sweep(out: Path, *overrides: str) -> tuple[pd.DataFrame, float]:
    """Run one pspsweep command; returns its psps.csv and wall time."""
    exe = Path(sys.executable).parent / "pspsweep"
    started = time.perf_counter()
    res = subprocess.run(
        [
            str(exe),
            *isf86.input_overrides(DATA),
            *overrides,
            "tracking.enabled=false",
            "executor.progress=false",
            f"executor.work_dir={out.parent / 'work'}",
            f"hydra.run.dir={out}",
        ],
        capture_output=True,
        text=True,
        cwd=out.parent,
    )
    if res.returncode != 0:
        sys.exit(f"identical_units: {' '.join(overrides)} failed:\n{res.stderr[-2000:]}")
    return pd.read_csv(out / "psps.csv"), time.perf_counter() - started


def verify(celltypes: list[str]) -> bool:
    """Whole sweeps with reuse on and off; True when every psps.csv pair is identical."""
    ok = True
    with tempfile.TemporaryDirectory(prefix="pspsweep-reuse-") as tmp:
        for celltype in celltypes:
            for mode in ("cells", "synapses"):
                args = [f"run.celltype={celltype}", f"run.mode={mode}"]
                on, t_on = sweep(Path(tmp) / f"{celltype}-{mode}-on", *args)
                off, t_off = sweep(Path(tmp) / f"{celltype}-{mode}-off", *args, "run.reuse_identical=false")
                same = on.drop(columns="simulation").equals(off.drop(columns="simulation"))
                ok &= same
                print(
                    f"{celltype} {mode}: {len(on)} units, {on.simulation.nunique()} simulated with reuse "
                    f"({t_on:.0f} s) vs {len(off)} without ({t_off:.0f} s): "
                    f"{'identical psps.csv' if same else 'DIFFERENT'}",
                    flush=True,
                )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verify", nargs="*", metavar="CELLTYPE", help="run and compare these cell types")
    args = parser.parse_args()
    isf86.require(DATA, "identical_units")
    count()
    if args.verify and not verify(args.verify):
        sys.exit("identical_units: reuse on and off differ")


if __name__ == "__main__":
    main()
