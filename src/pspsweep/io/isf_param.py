"""Read ISF cell parameter files (``.param``) into a :class:`~pspsweep.cellmodel.CellSpec`.

isf-reference section 2: a ``.param`` file is Python-literal-like text that ISF turns
into JSON with four textual rewrites; the ``neuron`` block names the morphology and
holds the biophysics per section label, the ``sim`` block the initial voltage, time
step and temperature.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

from pspsweep.cellmodel import (
    DISTRIBUTION_CONTROL_KEYS,
    CellSpec,
    DiameterScaling,
    Discretization,
    LabelBiophysics,
    MechanismSpec,
    SectionSpec,
    SimSettings,
    control_value_problem,
)
from pspsweep.errors import InputFileError, PspSweepError
from pspsweep.io.isf_axon import synthetic_axon
from pspsweep.io.isf_hoc import read_hoc
from pspsweep.io.text import elided, quote, read_text, shorten

#: Keys of the ``neuron`` block that are not section labels (isf-reference 2.2).
NON_LABEL_KEYS = ("filename", "cell_modify_functions", "spatialgraph_modify_functions", "discretization")

#: Labels that the synthetic axon creates (isf-reference 1.4).
SYNTHETIC_LABELS = ("AIS", "Myelin")

#: Control keys that may be absent from a distribution entry.
OPTIONAL_CONTROL_KEYS = frozenset({"outsidescale_sections"})

#: ``scale_apical_morph_86`` expressed as a diameter scaling (isf-reference 1.8).
SCALE_APICAL_MORPH_86 = DiameterScaling(factor=2.5, labels=("ApicalDendrite",), max_distance_um=1000.0, max_sections=33)

_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_PAREN_GROUP = re.compile(r"\(([^()]*)\)")


def isf_param_text_to_json(text: str) -> str:
    """Apply ISF's textual rewrites (isf-reference 2.1) in ISF's order.

    1. ``'`` -> ``"``; 2. drop a comma followed only by whitespace and ``}`` or ``]``;
    3. ``( ... )`` without nested parentheses -> ``[ ... ]`` (also inside strings);
    4. ``None`` -> ``null``. Line breaks are kept, so JSON error lines are file lines.

    Args:
        text: the raw file content.

    Returns:
        Text for a strict JSON parser.
    """
    text = text.replace("'", '"')
    text = _TRAILING_COMMA.sub(r"\1", text)
    text = _PAREN_GROUP.sub(r"[\1]", text)
    return text.replace("None", "null")


def read_param_file(path: os.PathLike | str) -> dict[str, Any]:
    """Read an ISF ``.param`` file into nested dicts (file key order kept).

    Args:
        path: the parameter file.

    Returns:
        The parsed top-level mapping.

    Raises:
        InputFileError: the file is missing or unreadable, is not valid after ISF's
            rewrites (the message names the line), or is not a mapping at top level.
    """
    raw = read_text(path, "parameter")
    text = isf_param_text_to_json(raw)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        lines = raw.splitlines()
        src = lines[exc.lineno - 1].strip() if 0 < exc.lineno <= len(lines) else ""
        hint = ""
        rest = text[exc.pos : exc.pos + 5]
        if rest.startswith(("True", "False")):
            hint = " (write JSON true/false, not Python True/False)"
        elif rest.startswith("#"):
            hint = " (comments are not allowed in .param files)"
        raise InputFileError(
            path, f"invalid parameter file syntax: {exc.msg}{hint}: {quote(src)}", exc.lineno
        ) from None
    if not isinstance(data, dict):
        raise InputFileError(path, f"top level must be a mapping ({{...}}), got {type(data).__name__}")
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    """A value as a message shows it (a long string cut short)."""
    return shorten(repr(value))


def _number(path: os.PathLike | str, key: str, value: Any, *, positive: bool = False) -> float:
    """Return ``value`` as float or raise naming the key."""
    if not _is_number(value):
        raise InputFileError(path, f"{key}: expected a number, got {_shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        number = math.inf
    if not math.isfinite(number):
        # JSON as Python reads it takes NaN and Infinity; NEURON would integrate them
        raise InputFileError(path, f"{key}: expected a finite number, got {_shown(value)}")
    if positive and number <= 0:
        raise InputFileError(path, f"{key}: must be > 0, got {_shown(value)}")
    return number


def _control_value(path: os.PathLike | str, key: str, name: str, value: Any) -> Any:
    """Check one control key of a spatial rule (:func:`control_value_problem`)."""
    problem = control_value_problem(name, value)
    if problem is not None:
        raise InputFileError(path, f"{key}: {problem}, got {_shown(value)}")
    return value


def _mapping(path: os.PathLike | str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputFileError(path, f"{key}: expected a mapping, got {type(value).__name__}")
    return value


def resolve_morphology_path(filename: str, param_path: os.PathLike | str) -> Path:
    """Find the morphology named in ``neuron.filename``.

    The path is used as written if it exists (relative paths are tried against the
    current directory, then the parameter file's folder). Otherwise the file of the
    same basename next to the parameter file is used, with a warning (ISF parameter
    files often hold absolute paths of the machine they were made on, or ``mdb://``
    / ``reldb://`` database paths).

    Args:
        filename: the value of ``neuron.filename``.
        param_path: the parameter file it was read from.

    Returns:
        The existing morphology file.

    Raises:
        InputFileError: neither candidate exists (names the parameter file).
    """
    param_dir = Path(param_path).resolve().parent
    is_db = filename.startswith(("mdb://", "reldb://"))
    given = Path(filename)
    candidates: list[Path] = []
    if not is_db:
        candidates.append(given)
        if not given.is_absolute():
            candidates.append(param_dir / given)
    for cand in candidates:
        if cand.is_file():
            return cand
    basename = filename.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    fallback = param_dir / basename
    if basename and fallback.is_file():
        warnings.warn(
            f"{elided(str(param_dir / Path(param_path).name))}: neuron.filename {elided(filename, 48)!r} not found; "
            f"using {basename} next to the parameter file",
            stacklevel=3,
        )
        return fallback
    raise InputFileError(
        param_path,
        f"neuron.filename: morphology {_shown(filename)} not found, nor {_shown(basename)} next to the parameter file",
    )


def read_morphology(path: os.PathLike | str) -> tuple[SectionSpec, ...]:
    """Read a ``.hoc`` (ISF rules) or ``.swc`` morphology by file extension.

    Args:
        path: the morphology file.

    Returns:
        Its sections in index order.

    Raises:
        InputFileError: unknown extension or a malformed file.
        PspSweepError: an SWC file but no SWC reader is available.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".hoc":
        return read_hoc(path)
    if suffix == ".swc":
        try:
            module = importlib.import_module("pspsweep.simulation.swc")
        except ModuleNotFoundError as exc:
            if exc.name and not "pspsweep.simulation.swc".startswith(exc.name):
                raise
            raise PspSweepError(
                f"{path}: SWC needs pspsweep.simulation.swc.read_swc, which is not available "
                "in this installation; use the .hoc morphology instead"
            ) from None
        read_swc = getattr(module, "read_swc", None)
        if read_swc is None:
            raise PspSweepError(f"{path}: SWC needs pspsweep.simulation.swc.read_swc, which is not defined")
        return tuple(read_swc(path))
    raise InputFileError(path, f"unsupported morphology format {suffix or '(no extension)'!r}; expected .hoc or .swc")


def _mechanism(path: os.PathLike | str, key: str, name: str, entry: Any) -> MechanismSpec:
    """Turn one ``range.<mech>`` entry into a MechanismSpec."""
    entry = _mapping(path, key, entry)
    if "spatial" not in entry:
        raise InputFileError(path, f"{key}: missing 'spatial'")
    spatial = entry["spatial"]
    if spatial not in DISTRIBUTION_CONTROL_KEYS:
        known = ", ".join(DISTRIBUTION_CONTROL_KEYS)
        raise InputFileError(path, f"{key}: unknown spatial distribution {_shown(spatial)} (known: {known})")
    control = DISTRIBUTION_CONTROL_KEYS[spatial]
    missing = [k for k in control if k not in entry and k not in OPTIONAL_CONTROL_KEYS]
    if missing:
        raise InputFileError(path, f"{key}: spatial {_shown(spatial)} needs {', '.join(repr(k) for k in missing)}")
    params: dict[str, float] = {}
    distribution: dict[str, Any] = {}
    for k, v in entry.items():
        if k == "spatial":
            continue
        if k in control:
            distribution[k] = _control_value(path, f"{key}.{k}", k, v)
        else:
            params[k] = _number(path, f"{key}.{k}", v)
    return MechanismSpec(name=name, params=params, spatial=spatial, distribution=distribution)


def _label_biophysics(path: os.PathLike | str, label: str, block: Any) -> LabelBiophysics:
    """Turn ``neuron.<label>`` into LabelBiophysics."""
    key = f"neuron.{label}"
    block = _mapping(path, key, block)
    unknown = [k for k in block if k not in ("properties", "mechanisms")]
    if unknown:
        raise InputFileError(path, f"{key}: unknown key(s) {', '.join(map(repr, unknown))}")
    props = _mapping(path, f"{key}.properties", block.get("properties", {}))
    Ra = cm = None
    ions: dict[str, float] = {}
    for k, v in props.items():
        pkey = f"{key}.properties.{k}"
        if k == "Ra":
            Ra = _number(path, pkey, v, positive=True)
        elif k == "cm":
            cm = _number(path, pkey, v, positive=True)
        elif k == "ions":
            ions = {ion: _number(path, f"{pkey}.{ion}", val) for ion, val in _mapping(path, pkey, v).items()}
        elif k == "spines":
            raise PspSweepError(f"{path}: {pkey}: spine compensation is not supported")
        else:
            raise InputFileError(path, f"{pkey}: unsupported section property (supported: Ra, cm, ions)")
    mechs = _mapping(path, f"{key}.mechanisms", block.get("mechanisms", {}))
    unknown = [k for k in mechs if k not in ("global", "range")]
    if unknown:
        raise InputFileError(path, f"{key}.mechanisms: unknown key(s) {', '.join(map(repr, unknown))}")
    range_ = _mapping(path, f"{key}.mechanisms.range", mechs.get("range", {}))
    mechanisms = tuple(
        _mechanism(path, f"{key}.mechanisms.range.{name}", name, entry) for name, entry in range_.items()
    )
    return LabelBiophysics(label=label, Ra=Ra, cm=cm, ions=ions, mechanisms=mechanisms)


def _discretization(path: os.PathLike | str, block: Any) -> Discretization:
    block = _mapping(path, "neuron.discretization", block)
    unknown = [k for k in block if k not in ("f", "max_seg_length")]
    if unknown:
        raise InputFileError(path, f"neuron.discretization: unknown key(s) {', '.join(map(repr, unknown))}")
    f = _number(path, "neuron.discretization.f", block.get("f", 100.0), positive=True)
    msl = block.get("max_seg_length")
    if msl is not None:
        msl = _number(path, "neuron.discretization.max_seg_length", msl, positive=True)
    return Discretization(rule="isf_dlambda", f=f, max_seg_length=msl)


def _cell_modify_functions(path: os.PathLike | str, block: Any) -> tuple[DiameterScaling, ...]:
    block = _mapping(path, "neuron.cell_modify_functions", block)
    out = []
    for name, kwargs in block.items():
        if name != "scale_apical_morph_86":
            raise PspSweepError(
                f"{path}: neuron.cell_modify_functions: unsupported function {_shown(name)} "
                "(supported: scale_apical_morph_86)"
            )
        if kwargs not in ({}, None):
            raise InputFileError(path, f"neuron.cell_modify_functions.{name}: takes no arguments, got {_shown(kwargs)}")
        out.append(SCALE_APICAL_MORPH_86)
    return tuple(out)


def _sim_settings(path: os.PathLike | str, params: dict[str, Any]) -> SimSettings:
    if "sim" not in params:
        raise InputFileError(path, "missing 'sim' block (needs Vinit, dt, T)")
    sim = _mapping(path, "sim", params["sim"])
    values = {}
    for key in ("Vinit", "dt", "T"):
        if key not in sim:
            raise InputFileError(path, f"sim.{key}: missing")
        values[key] = _number(path, f"sim.{key}", sim[key], positive=key == "dt")
    return SimSettings(v_init=values["Vinit"], dt=values["dt"], celsius=values["T"])


def param_to_cellspec(params: dict[str, Any], param_path: os.PathLike | str) -> CellSpec:
    """Build a CellSpec from a parsed ISF parameter file (isf-reference 2.2-2.8).

    Steps, as ISF's ``create_cell``: read the morphology named by ``neuron.filename``
    (resolved by :func:`resolve_morphology_path`); append the synthetic hillock/AIS/myelin
    if the ``neuron`` block has an ``AIS`` key; one :class:`LabelBiophysics` per label
    block in file order; ``neuron.discretization`` -> :class:`Discretization`;
    ``cell_modify_functions`` -> :class:`DiameterScaling` (only
    ``scale_apical_morph_86``); ``sim`` -> :class:`SimSettings`.

    Args:
        params: the mapping from :func:`read_param_file`.
        param_path: the file it came from (for path resolution and messages).

    Returns:
        The cell, named after the parameter file's stem, with ``mechanism_dirs=()``
        (the caller adds the folder of the mechanisms it ships).

    Raises:
        InputFileError: missing/ill-typed keys, unknown mechanism keys or spatial rules,
            a morphology that cannot be found or read, a label with parameters but no
            sections (the message names the file and key).
        PspSweepError: an unsupported cell-modify function, spine compensation, or an
            SWC morphology without an SWC reader.

    Notes:
        ``mechanisms.global``, ``NMODL_mechanisms``, ``mech_globals``, ``info`` and the
        other ``sim`` keys are not used by the PSP pipeline and are ignored.
    """
    neuron = _mapping(param_path, "neuron", params.get("neuron"))
    if "filename" not in neuron or not isinstance(neuron["filename"], str):
        raise InputFileError(param_path, "neuron.filename: missing or not a string")
    morph_path = resolve_morphology_path(neuron["filename"], param_path)
    sections = read_morphology(morph_path)
    if "AIS" in neuron:
        sections = sections + synthetic_axon(sections)

    if neuron.get("spatialgraph_modify_functions"):
        raise PspSweepError(f"{param_path}: neuron.spatialgraph_modify_functions is not supported (deprecated in ISF)")
    present = {s.label for s in sections}
    biophysics = []
    for label, block in neuron.items():
        if label in NON_LABEL_KEYS:
            continue
        if label not in present:
            raise InputFileError(
                param_path,
                f"neuron.{label}: parameters for label {_shown(label)}, but the cell has no section with "
                f"that label (labels present: {', '.join(sorted(present))})",
            )
        biophysics.append(_label_biophysics(param_path, label, block))

    discretization = (
        _discretization(param_path, neuron["discretization"]) if "discretization" in neuron else Discretization()
    )
    scalings = _cell_modify_functions(param_path, neuron.get("cell_modify_functions", {}))
    return CellSpec(
        name=Path(param_path).stem,
        sections=sections,
        biophysics=tuple(biophysics),
        discretization=discretization,
        diameter_scalings=scalings,
        sim=_sim_settings(param_path, params),
        mechanism_dirs=(),
    )


def read_cellspec(param_path: os.PathLike | str) -> CellSpec:
    """Read a ``.param`` file and build its CellSpec (``read_param_file`` + ``param_to_cellspec``).

    Args:
        param_path: the parameter file.

    Returns:
        The cell.

    Raises:
        InputFileError: see :func:`read_param_file` and :func:`param_to_cellspec`.
        PspSweepError: see :func:`param_to_cellspec`.
    """
    return param_to_cellspec(read_param_file(param_path), param_path)
