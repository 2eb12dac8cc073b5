"""CI's container scripts: the Debian mirror comes from the machine's apt sources, and the
repository names no package or image registry host (issue 14, item 23)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEBIAN_MIRROR = ROOT / ".ci" / "debian-mirror"


def _mirror(apt_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(DEBIAN_MIRROR), str(apt_dir)], check=False, capture_output=True, text=True, timeout=30
    )


def _apt_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (apt / name).write_text(text)
    return apt


@pytest.mark.parametrize(
    "files, expected",
    [
        # one-line format with options; -security and deb-src lines are not the archive
        (
            {
                "sources.list": "deb-src http://src.example/debian bookworm main\n"
                "deb http://sec.example/debian-security bookworm-security main\n"
                "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n"
            },
            "http://one.example/debian",
        ),
        # deb822 (the bookworm default), a third-party repository beside it
        (
            {
                "sources.list.d/vendor.list": "deb https://vendor.example/apt stable main\n",
                "sources.list.d/debian.sources": "Types: deb\n# a comment\nURIs: http://deb822.example/debian/\n"
                "Suites: bookworm\n\nTypes: deb\n"
                "URIs: http://deb822.example/debian-security\n",
            },
            "http://deb822.example/debian/",
        ),
    ],
)
def test_debian_mirror_is_read_from_the_apt_sources(tmp_path, files, expected):
    """Checked against apt's two source formats, as sources.list(5) describes them."""
    res = _mirror(_apt_dir(tmp_path, files))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == expected


def test_debian_mirror_fails_without_a_debian_archive(tmp_path):
    res = _mirror(_apt_dir(tmp_path, {"sources.list.d/vendor.list": "deb https://vendor.example/apt stable main\n"}))
    assert res.returncode != 0 and res.stdout.strip() == ""


def test_container_check_has_no_fallback_mirror():
    """.ci/container-check takes the mirror from .ci/debian-mirror or PSPSWEEP_DEBIAN_MIRROR only."""
    text = (ROOT / ".ci" / "container-check").read_text()
    assert "bash .ci/debian-mirror" in text and "PSPSWEEP_DEBIAN_MIRROR" in text
    assert '--build-arg DEBIAN_MIRROR="$MIRROR"' in text, "the stand-in builds install from the same mirror"
    for dockerfile in ("python-standin.Dockerfile", "postgres-standin.Dockerfile"):
        assert "ARG DEBIAN_MIRROR=" in (ROOT / "docker" / dockerfile).read_text()


# words that mark a package or image registry in a host name (the hosts themselves are not
# written here: the repository names none)
REGISTRY_WORDS = ("debian", "pypi", "pythonhosted", "docker", "npmjs", "registry", "ghcr", "quay", "conda")


def test_repository_names_no_registry_host():
    """Every URL in the tracked files, checked for a registry in its host name."""
    files = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True, text=True
    ).stdout.split("\0")
    found = []
    for name in filter(None, files):
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            for host in re.findall(r"\b(?:https?|ftp)://([^/\s:'\"`)]+)", line):
                if any(word in host.lower() for word in REGISTRY_WORDS):
                    found.append(f"{name}:{lineno}: {host}")
    assert not found, found
