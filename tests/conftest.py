"""Shared fixtures: repository paths, the real-data folder, composed configs."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: the real ISF example cell, kept outside the repository (never copied into it)
SHARED_DATA = REPO.parent / "shared" / "data" / "isf_86_c2"


@pytest.fixture(scope="session")
def isf86() -> Path:
    """The folder of the shared 86_C2_center data; skips the test where it is absent."""
    if not (SHARED_DATA / "86_C2_center.param").is_file():
        pytest.skip(f"real data not found at {SHARED_DATA} (the ../shared folder beside the repository)")
    return SHARED_DATA


@pytest.fixture
def compose():
    """Compose pspsweep's config with overrides, as the command would (no job is run)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    import pspsweep.cli  # noqa: F401  (registers the schemas)

    def _compose(*overrides: str):
        GlobalHydra.instance().clear()
        with initialize_config_module(config_module="pspsweep.conf", version_base="1.3"):
            return hydra_compose(config_name="config", overrides=list(overrides))

    yield _compose
    GlobalHydra.instance().clear()


@pytest.fixture
def launch_dir(tmp_path, monkeypatch) -> Path:
    """Run in a fresh directory, as a user starting the command there would."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PSPSWEEP_LAUNCH_DIR", str(tmp_path))
    return tmp_path


def pspsweep_env(**extra: str) -> dict[str, str]:
    """Environment for subprocess runs of the command."""
    env = dict(os.environ)
    env.pop("PSPSWEEP_LAUNCH_DIR", None)
    env.update(extra)
    return env


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_mlflow_server(root: Path, timeout: float = 120) -> Iterator[str]:
    """An ``mlflow server`` on 127.0.0.1 (free port) with a fresh SQLite store in ``root``; yields its URL."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    exe = Path(sys.executable).parent / "mlflow"
    with open(root / "server.log", "w") as log:
        proc = subprocess.Popen(
            [
                str(exe),
                "server",
                "--backend-store-uri",
                f"sqlite:///{root / 'store.db'}",
                "--artifacts-destination",
                str(root / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}")
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server did not answer within {timeout} s")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
