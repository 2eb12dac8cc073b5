"""Run a test function in a fresh Python process.

NEURON keeps its state (loaded mechanisms, sections, the integrator) for the life of a
process, so checks that must start from a clean NEURON, or must not leave one behind,
run there. The function is named by its file and name and exchanges JSON-able values.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

_RUNNER = """
import importlib.util, json, sys
path, name, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
from pathlib import Path
tests = next(p for p in Path(path).parents if (p / "helpers").is_dir())
sys.path[:0] = [str(Path(path).parent), str(tests)]  # as pytest puts them: the module's folder, tests/
spec = importlib.util.spec_from_file_location("isolated_module", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(getattr(module, name)(*args)))
"""


def start(path: str | Path, name: str, *args: Any) -> subprocess.Popen:
    """Start ``name(*args)`` of the test file ``path`` in a fresh process (see :func:`result`)."""
    command = [sys.executable, "-c", _RUNNER, str(path), name, json.dumps(list(args))]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen, timeout: float = 1800) -> Any:
    """What the function of :func:`start` returned; fails the test with its stderr otherwise."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-4000:]
    return json.loads(out.strip().splitlines()[-1])


def call(path: str | Path, name: str, *args: Any, timeout: float = 1800) -> Any:
    """``name(*args)`` of the test file ``path``, run in a fresh process."""
    return result(start(path, name, *args), timeout)
