"""How many units of the shared 86_C2_center embedding share their segments with an earlier unit.

Prints, per mode, the number of units and of distinct simulations over all cell types
(and for a few large types), i.e. what ``run.reuse_identical`` saves. No simulation.

    python benchmarks/identical_units.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from pspsweep.builders import cell_spec_from_config, embedding_from_config
from pspsweep.config import NetworkConfig, NeuronConfig
from pspsweep.geometry import segment_counts
from pspsweep.units import distinct_units, make_units

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "isf_86_c2"


def main() -> None:
    if not (DATA / "86_C2_center.param").is_file():
        sys.exit(f"identical_units: the shared 86_C2_center data is not at {DATA}")
    cell = cell_spec_from_config(NeuronConfig(param_file=str(DATA / "86_C2_center.param"), mechanism_dirs=["l5pt"]))
    emb = embedding_from_config(NetworkConfig(kind="isf", syn_file=str(DATA / "example_embedding_86_C2_center.syn"),
                                              con_file=str(DATA / "example_embedding_86_C2_center.con")), cell)
    nseg = segment_counts(cell)
    for mode in ("cells", "synapses"):
        total = distinct = 0
        shown = []
        for celltype in emb.celltypes:
            units = make_units(emb, celltype, mode)
            n_distinct = len(set(distinct_units(units, nseg)))
            total += len(units)
            distinct += n_distinct
            if celltype in ("VPM_C2", "L34_C2", "L5tt_C2"):
                shown.append(f"{celltype} {len(units)} -> {n_distinct}")
        print(f"mode {mode}: {total} units, {distinct} distinct simulations "
              f"({100 * (1 - distinct / total):.1f} % saved); " + "; ".join(shown))


if __name__ == "__main__":
    main()
