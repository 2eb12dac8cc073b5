"""The compiler toolchain ``nrnivmodl`` needs, and its error lines when a build fails.

Checked before compiling, so that a missing compiler, ``make``, ``perl`` or Python
package is named with how to install it (:mod:`pspsweep.simulation.mechanisms` runs
the build).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import sys
import sysconfig
from pathlib import Path

from pspsweep.errors import PspSweepError

_INSTALL_HINT = (
    "install a C++17 compiler and make (Debian/Ubuntu: 'apt-get install g++ make') "
    "and the Python packages nrnivmodl needs "
    "('pip install setuptools find_libpython packaging sympy')"
)


def find_nrnivmodl() -> Path | None:
    """Locate nrnivmodl, preferring the one of the running Python environment."""
    # The venv's bin folder is often not on PATH (venv not activated), and
    # its nrnivmodl matches the NEURON this process imports.
    beside = Path(sys.executable).parent / "nrnivmodl"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("nrnivmodl")
    return Path(found) if found else None


def _is_python_wrapper(nrnivmodl: Path) -> bool:
    """Tell whether ``nrnivmodl`` is the pip wheel's Python wrapper script."""
    try:
        with open(nrnivmodl, "rb") as handle:
            first = handle.readline(200)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


def check_toolchain(coreneuron: bool) -> tuple[Path, dict[str, str]]:
    """Check that everything nrnivmodl needs is present.

    Returns:
        The nrnivmodl to run and the environment to run it in.

    Raises:
        PspSweepError: Naming what is missing and how to install it.
    """
    nrnivmodl = find_nrnivmodl()
    if nrnivmodl is None:
        raise PspSweepError(
            "nrnivmodl not found (neither next to "
            f"{sys.executable} nor on PATH): install NEURON in this Python "
            "environment ('pip install \"neuron>=9,<10\"') and " + _INSTALL_HINT
        )
    env = dict(os.environ)

    # The wheel's wrapper uses $CXX, else the compiler Python was built with.
    wanted = env.get("CXX") or sysconfig.get_config_var("CXX") or "c++"
    wanted_exe = shlex.split(wanted)[0] if wanted.strip() else "c++"
    if shutil.which(wanted_exe) is None:
        alternative = next((c for c in ("g++", "c++", "clang++") if shutil.which(c)), None)
        if alternative is None or "CXX" in os.environ:
            raise PspSweepError(f"C++ compiler {wanted_exe!r} not found, which nrnivmodl needs: " + _INSTALL_HINT)
        # Python's build compiler is absent but another one exists: use it.
        env["CXX"] = alternative
    if shutil.which("make") is None:
        raise PspSweepError("'make' not found, which nrnivmodl needs: " + _INSTALL_HINT)

    wrapper = _is_python_wrapper(nrnivmodl)
    if (wrapper or coreneuron) and shutil.which("perl") is None:
        # The wheel's wrapper and the CoreNEURON build both call perl.
        raise PspSweepError("'perl' not found, which nrnivmodl needs: apt-get install perl")
    if wrapper and nrnivmodl.parent == Path(sys.executable).parent:
        missing = [
            pkg
            for pkg in ("setuptools", "find_libpython", "packaging", "sympy")
            if importlib.util.find_spec(pkg) is None
        ]
        if missing:
            raise PspSweepError(f"Python packages needed by nrnivmodl are missing: pip install {' '.join(missing)}")
    return nrnivmodl, env


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ERRORISH = re.compile(r"error|illegal|undefined|not declared|cannot|fatal", re.IGNORECASE)


def error_excerpt(output: str, max_lines: int = 25) -> str:
    """Pick the compiler's error lines out of nrnivmodl's output."""
    lines = _ANSI.sub("", output).splitlines()
    # The wheel's wrapper appends its own Python traceback and a porting
    # note; neither helps locating the error in the .mod file.
    for marker in ("Traceback (most recent call last)", "NOTE: If you are encountering"):
        cut = next((i for i, line in enumerate(lines) if line.startswith(marker)), None)
        if cut is not None:
            lines = lines[:cut]
    lines = [line.rstrip() for line in lines if line.strip()]
    hits = [i for i, line in enumerate(lines) if _ERRORISH.search(line)]
    if hits:
        start = max(hits[0] - 1, 0)  # the line before often names the file
        end = min(hits[-1] + 3, len(lines))
        lines = lines[start:end]
    return "\n".join(lines[-max_lines:])
