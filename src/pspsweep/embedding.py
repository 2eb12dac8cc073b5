"""The anatomical embedding as plain data: synapse locations and presynaptic cells.

An :class:`Embedding` holds one row per synapse in a pandas table with columns

* ``celltype`` (str): presynaptic cell type, e.g. ``VPM_C2``;
* ``synapse_id`` (int): per-type synapse index (isf-reference 3.1);
* ``section`` (int): section index into ``CellSpec.sections``;
* ``x`` (float): position along the section in [0, 1];
* ``cell_id`` (int): presynaptic cell of that type driving the synapse.

Rows of a type are in the order that defines "synapse j of cell c" (.con order).
Receptor models live in ``receptors``, one per cell type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported by whoever builds the table; workers never need it
    import pandas as pd

SYNAPSE_COLUMNS = ("celltype", "synapse_id", "section", "x", "cell_id")


@dataclass(frozen=True)
class ReceptorSpec:
    """The synapse model used for one presynaptic cell type.

    Attributes:
        mechanism: NEURON point-process name (``glutamate_syn`` or ``gaba_syn``).
        excitatory: True for AMPA/NMDA units (weights gAMPA, gNMDA), False for GABA.
        parameters: RANGE variables assigned on every point process (``tau1`` ...).
    """

    mechanism: str
    excitatory: bool
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Embedding:
    """Synapses of all presynaptic cell types and the receptor of each type."""

    synapses: pd.DataFrame
    receptors: dict[str, ReceptorSpec]

    @property
    def celltypes(self) -> list[str]:
        """Cell types in order of first appearance."""
        import pandas as pd

        return [str(c) for c in pd.unique(self.synapses["celltype"].to_numpy())]
