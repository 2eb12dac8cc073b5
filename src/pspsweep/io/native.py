"""Convert an ISF cell parameter file (``.param``) into pspsweep's native neuron config.

The native config is the YAML form of :class:`pspsweep.config.NeuronConfig` (the
``neuron`` config group). A converted file describes the same cell as the ``.param``:
:func:`pspsweep.builders.cell_spec_from_config` builds an identical
:class:`~pspsweep.cellmodel.CellSpec` from either. The conversion reads the parameter
file exactly as :func:`pspsweep.io.isf_param.param_to_cellspec` does (same checks, same
errors) and writes out what that produced:

* ``neuron.filename`` -> ``morphology: {kind: hoc|swc, path: <absolute path>}``; an
  ``AIS`` block -> ``morphology.synthetic_axon: true``;
* ``neuron.<label>.properties`` -> ``biophysics.<label>: {Ra, cm, ions}``;
* ``neuron.<label>.mechanisms.range.<mech>`` -> ``biophysics.<label>.mechanisms.<mech>:
  {spatial, <parameters>, <control keys>}``;
* ``neuron.discretization`` -> ``discretization: {rule: isf_dlambda, f, max_seg_length}``;
* ``cell_modify_functions.scale_apical_morph_86`` -> ``diameter_scaling: [{factor: 2.5,
  labels: [ApicalDendrite], max_distance_um: 1000.0, max_sections: 33}]``;
* ``sim.{Vinit, dt, T}`` -> ``sim: {v_init, dt, celsius}``;
* ``mechanism_dirs: [l5pt]`` (the channel set of ISF's L5PT cells; ``synapses`` is always
  added by the builder).

Keys the PSP pipeline does not use (``info``, ``NMODL_mechanisms``, ``mech_globals``,
``mechanisms.global``, the other ``sim`` keys) are dropped, as by ``param_to_cellspec``.

Use a converted file as a config group option: put it at ``DIR/neuron/NAME.yaml`` and
run ``pspsweep hydra.searchpath=[file://DIR] neuron=NAME ...``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from pspsweep.cellmodel import CellSpec, DiameterScaling, LabelBiophysics
from pspsweep.errors import InputFileError, PspSweepError
from pspsweep.io.isf_param import param_to_cellspec, resolve_morphology_path

#: Mechanism folders a converted ISF cell needs besides ``synapses`` (added by the builder).
DEFAULT_MECHANISM_DIRS = ("l5pt",)

#: Morphology file suffix -> ``morphology.kind``.
MORPHOLOGY_KINDS = {".hoc": "hoc", ".swc": "swc"}


def _label_config(bio: LabelBiophysics) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if bio.Ra is not None:
        out["Ra"] = bio.Ra
    if bio.cm is not None:
        out["cm"] = bio.cm
    if bio.ions:
        out["ions"] = dict(bio.ions)
    out["mechanisms"] = {m.name: {"spatial": m.spatial, **m.params, **m.distribution} for m in bio.mechanisms}
    return out


def _scaling_config(s: DiameterScaling) -> dict[str, Any]:
    return {
        "factor": s.factor,
        "labels": list(s.labels),
        "max_distance_um": s.max_distance_um,
        "max_sections": s.max_sections,
    }


def _plain(value: Any) -> Any:
    """Tuples -> lists (recursively), so the dict dumps as plain YAML."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def param_to_neuron_config(
    params: dict[str, Any],
    param_path: os.PathLike | str,
    mechanism_dirs: Sequence[str] = DEFAULT_MECHANISM_DIRS,
) -> dict[str, Any]:
    """Turn a parsed ISF parameter file into a native neuron config (a plain dict).

    The morphology is located with :func:`~pspsweep.io.isf_param.resolve_morphology_path`
    (warning once if it is found only next to the parameter file) and the whole file is
    checked by building its CellSpec with
    :func:`~pspsweep.io.isf_param.param_to_cellspec`.

    Args:
        params: the mapping from :func:`~pspsweep.io.isf_param.read_param_file`.
        param_path: the file it came from (morphology lookup, messages, the config name).
        mechanism_dirs: value of ``mechanism_dirs`` (shipped set names or folders).

    Returns:
        A dict with the fields of :class:`~pspsweep.config.NeuronConfig`: ``name`` (the
        parameter file's stem), ``morphology`` (``kind``, absolute ``path``,
        ``synthetic_axon``), ``biophysics``, ``discretization``, ``diameter_scaling``,
        ``sim`` and ``mechanism_dirs``; only plain str/float/int/bool/None/list/dict values.

    Raises:
        InputFileError: as :func:`~pspsweep.io.isf_param.param_to_cellspec`, or a
            morphology that is neither ``.hoc`` nor ``.swc``.
        PspSweepError: as :func:`~pspsweep.io.isf_param.param_to_cellspec`.
    """
    neuron = params.get("neuron")
    if isinstance(neuron, dict) and isinstance(neuron.get("filename"), str):
        # resolve once (one warning), then let param_to_cellspec read the resolved file
        morph_path = resolve_morphology_path(neuron["filename"], param_path).resolve()
        params = {**params, "neuron": {**neuron, "filename": str(morph_path)}}
    spec: CellSpec = param_to_cellspec(params, param_path)  # every check of the .param
    neuron = params["neuron"]
    morph_path = Path(neuron["filename"])
    kind = MORPHOLOGY_KINDS.get(morph_path.suffix.lower())
    if kind is None:  # pragma: no cover - param_to_cellspec rejects other suffixes first
        raise InputFileError(param_path, f"neuron.filename: unsupported morphology {str(morph_path)!r}")
    d = spec.discretization
    return _plain(
        {
            "name": spec.name,
            "morphology": {
                "kind": kind,
                "path": str(morph_path),
                # the rule of param_to_cellspec: the synthetic axon exists iff there is an AIS block
                "synthetic_axon": "AIS" in neuron,
            },
            "biophysics": {bio.label: _label_config(bio) for bio in spec.biophysics},
            "discretization": {"rule": d.rule, "f": d.f, "max_seg_length": d.max_seg_length},
            "diameter_scaling": [_scaling_config(s) for s in spec.diameter_scalings],
            "sim": {"v_init": spec.sim.v_init, "dt": spec.sim.dt, "celsius": spec.sim.celsius},
            "mechanism_dirs": list(mechanism_dirs),
        }
    )


def neuron_yaml_text(config: dict[str, Any], source: os.PathLike | str | None = None) -> str:
    """The YAML text of a native neuron config, with a header comment.

    Args:
        config: a dict as returned by :func:`param_to_neuron_config`.
        source: the file it was converted from, named in the header.

    Returns:
        YAML text (key order kept; innermost mappings and lists in flow style).
    """
    origin = f"from the ISF parameter file {Path(source).resolve()}" if source else "from an ISF parameter file"
    header = (
        f"# pspsweep neuron config converted {origin}\n"
        "# by pspsweep-convert-param (pspsweep.io.native). Use it as a config group option:\n"
        "# put it at DIR/neuron/NAME.yaml and run `pspsweep hydra.searchpath=[file://DIR] neuron=NAME`.\n"
    )
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=120, allow_unicode=True)
    return header + body


def write_neuron_yaml(config: dict[str, Any], path: os.PathLike | str, source: os.PathLike | str | None = None) -> Path:
    """Write a native neuron config as YAML (creating missing parent folders).

    Args:
        config: a dict as returned by :func:`param_to_neuron_config`.
        path: the output file.
        source: the file it was converted from, named in the header comment.

    Returns:
        The path written.

    Raises:
        PspSweepError: the file cannot be written.
    """
    path = Path(path)
    text = neuron_yaml_text(config, source)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise PspSweepError(f"{path}: cannot write the neuron config: {exc.strerror or exc}") from None
    return path
