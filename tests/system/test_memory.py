"""Peak memory of a 1,000-unit sweep stays under 1 GB per process (demo cell).

Runs ``benchmarks/memory.py --demo`` in a subprocess: the whole command (MLflow store,
two workers) on 1,000 distinct demo units, every one simulated. Its peaks come from
``getrusage(RUSAGE_CHILDREN)`` of that subprocess, so only the command's own processes
(the launching process and its workers) count, never other tests' children.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "memory.py"
GB = 1024**3


def test_thousand_unit_demo_sweep_stays_under_1_gb():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--demo", "--units", "1000", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    roles = [p["role"] for p in result["processes"]]
    assert "launching process" in roles and roles.count("worker") == 2, result["processes"]
    # exact over every process of the command (ru_maxrss of the reaped children)
    assert 0 < result["max_rss_all_bytes"] < GB, result
    for p in result["processes"]:
        assert p["peak_rss_bytes"] < GB, p
