"""Compiling and loading the NMODL mechanisms shipped with pspsweep.

This module is the only place that runs ``nrnivmodl`` or loads a mechanism
library into NEURON. Builds are cached by content: the cache key is a SHA-256
over the ``.mod`` file names and contents plus the NEURON version, so a build
is reused until a source file or NEURON changes. Concurrent processes are
safe: a file lock makes sure one of them compiles, and a build only becomes
visible under its final name once it is complete (atomic rename).

Typical use::

    from pspsweep.simulation.mechanisms import load_mechanisms
    load_mechanisms()          # the shipped ``synapses`` and ``l5pt`` folders
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pspsweep.errors import PspSweepError
from pspsweep.simulation import toolchain

#: Environment variable that overrides the default cache folder.
CACHE_ENV = "PSPSWEEP_CACHE_DIR"

#: Folders under ``simulation/mod`` that pspsweep ships, in load order.
SHIPPED_FOLDERS = ("synapses", "l5pt")


@dataclass(frozen=True)
class _Loaded:
    """Where a loaded mechanism came from."""

    mod_file: Path
    digest: str  # sha256 of the .mod file's contents
    library: Path
    coreneuron: bool


# Libraries loaded into this process: build key -> library path. NEURON cannot
# unload a library, so this registry lives as long as the process.
_LOADED: dict[str, Path] = {}
# Mechanism name -> where it was loaded from, for every mechanism loaded by us.
_LOADED_NAMES: dict[str, _Loaded] = {}
_LOAD_LOCK = threading.Lock()


# --------------------------------------------------------------------------- sources


def mechanism_source_dirs() -> list[Path]:
    """Return the mechanism folders shipped with pspsweep.

    Returns:
        The paths of ``simulation/mod/synapses`` and ``simulation/mod/l5pt``
        inside the installed package, in that order.
    """
    base = Path(__file__).resolve().parent / "mod"
    return [base / name for name in SHIPPED_FOLDERS]


def _normalise_dirs(dirs: Iterable[str | os.PathLike[str]] | None) -> list[Path]:
    """Turn ``dirs`` into a list of existing folders (default: the shipped ones)."""
    if dirs is None:
        return mechanism_source_dirs()
    if isinstance(dirs, (str, os.PathLike)):
        # A lone path is a common slip; treat it as a one-element list.
        dirs = [dirs]
    result = [Path(d).expanduser().resolve() for d in dirs]
    if not result:
        raise PspSweepError("no mechanism folders given")
    for folder in result:
        if not folder.is_dir():
            raise PspSweepError(f"mechanism folder does not exist: {folder}")
    return result


def _mod_files(dirs: list[Path]) -> list[Path]:
    """Return the ``.mod`` files of ``dirs`` sorted by file name.

    Raises:
        PspSweepError: If there is no ``.mod`` file at all, or two folders hold
            a file of the same name (they would overwrite each other in the
            single build folder).
    """
    by_name: dict[str, Path] = {}
    for folder in dirs:
        for path in sorted(folder.glob("*.mod")):
            if path.name in by_name:
                raise PspSweepError(f"mechanism file name {path.name!r} occurs twice: {by_name[path.name]} and {path}")
            by_name[path.name] = path
    if not by_name:
        raise PspSweepError("no .mod files found in " + ", ".join(str(d) for d in dirs))
    return [by_name[name] for name in sorted(by_name)]


_COMMENT_BLOCK = re.compile(r"\bCOMMENT\b.*?\bENDCOMMENT\b", re.DOTALL)
_VERBATIM_BLOCK = re.compile(r"\bVERBATIM\b.*?\bENDVERBATIM\b", re.DOTALL)
_LINE_COMMENT = re.compile(r"[:?][^\n]*")
_NAME_DECL = re.compile(r"\b(?:SUFFIX|POINT_PROCESS|ARTIFICIAL_CELL)\s+([A-Za-z_][A-Za-z0-9_]*)")


def mechanism_names(mod_file: str | os.PathLike[str]) -> list[str]:
    """Return the mechanism names a ``.mod`` file defines.

    Args:
        mod_file: Path of an NMODL file.

    Returns:
        The names declared with ``SUFFIX``, ``POINT_PROCESS`` or
        ``ARTIFICIAL_CELL`` (``SUFFIX nothing`` defines none).
    """
    text = Path(mod_file).read_text(encoding="utf-8", errors="replace")
    # Strip comments first so that names mentioned in prose do not count.
    text = _COMMENT_BLOCK.sub(" ", text)
    text = _VERBATIM_BLOCK.sub(" ", text)
    text = _LINE_COMMENT.sub(" ", text)
    return [name for name in _NAME_DECL.findall(text) if name != "nothing"]


def _names_by_file(mod_files: list[Path]) -> dict[str, Path]:
    """Map every mechanism name to its file, rejecting names defined twice."""
    owner: dict[str, Path] = {}
    for path in mod_files:
        for name in mechanism_names(path):
            if name in owner:
                raise PspSweepError(f"mechanism {name!r} is defined twice: in {owner[name]} and in {path}")
            owner[name] = path
    return owner


def _neuron_version() -> str:
    """Return the installed NEURON version without starting NEURON if possible."""
    for dist in ("neuron", "neuron-nightly", "NEURON"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        import neuron
    except ImportError as exc:  # pragma: no cover - NEURON is a hard dependency
        raise PspSweepError("NEURON is not installed in this Python environment: pip install 'neuron>=9,<10'") from exc
    return str(getattr(neuron, "__version__", "unknown"))


def _hash_files(files: list[Path]) -> str:
    """Return the SHA-256 over the NEURON version and the files' names and contents."""
    digest = hashlib.sha256()
    digest.update(f"neuron={_neuron_version()}\0".encode())
    for path in sorted(files, key=lambda p: p.name):
        data = path.read_bytes()
        # Length prefixes keep name/content boundaries unambiguous.
        digest.update(f"{path.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def source_hash(dirs: Iterable[str | os.PathLike[str]] | None = None) -> str:
    """Return the cache key of a set of mechanism folders.

    Args:
        dirs: Mechanism folders; ``None`` means the shipped folders.

    Returns:
        A hex SHA-256 over the sorted ``.mod`` file names and their contents
        plus the NEURON version (a NEURON upgrade invalidates the build).

    Raises:
        PspSweepError: If a folder is missing, holds no ``.mod`` file, or two
            folders hold files of the same name.
    """
    return _hash_files(_mod_files(_normalise_dirs(dirs)))


# --------------------------------------------------------------------------- building


def default_cache_dir() -> Path:
    """Return the mechanism cache folder.

    Returns:
        ``$PSPSWEEP_CACHE_DIR`` if set, else ``~/.cache/pspsweep/mechanisms``.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "pspsweep" / "mechanisms"


def _announce(line: str) -> None:
    """A status line on stderr, from the launching process only (workers set PSPSWEEP_QUIET_BUILD)."""
    if not os.environ.get("PSPSWEEP_QUIET_BUILD"):
        print(line, file=sys.stderr, flush=True)


def _arch() -> str:
    """Return the name of the folder nrnivmodl writes its output to."""
    return platform.machine()


def library_path(build_dir: str | os.PathLike[str], coreneuron: bool = False) -> Path:
    """Return the path of a built mechanism library inside ``build_dir``.

    Args:
        build_dir: A folder returned by :func:`compile_mechanisms`.
        coreneuron: Return CoreNEURON's ``libcorenrnmech`` instead of
            NEURON's ``libnrnmech``.

    Returns:
        ``<build_dir>/<arch>/libnrnmech.so`` (or ``libcorenrnmech.so``;
        ``.dylib`` on macOS).
    """
    suffix = ".dylib" if sys.platform == "darwin" else ".so"
    stem = "libcorenrnmech" if coreneuron else "libnrnmech"
    return Path(build_dir) / _arch() / f"{stem}{suffix}"


def _is_complete(build_dir: Path, coreneuron: bool) -> bool:
    """Tell whether ``build_dir`` holds every library the build must produce."""
    if not library_path(build_dir).is_file():
        return False
    return not coreneuron or library_path(build_dir, coreneuron=True).is_file()


def _run_nrnivmodl(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run nrnivmodl (a separate function so tests can count invocations)."""
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        check=False,
    )


def compile_mechanisms(
    dirs: Iterable[str | os.PathLike[str]] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    coreneuron: bool = False,
) -> Path:
    """Compile mechanism folders into one cached build, once.

    All ``.mod`` files of ``dirs`` are copied into one build folder
    ``<cache>/<hash>[-coreneuron]/`` and ``nrnivmodl`` is run there. A
    complete build found in the cache is reused without compiling.

    Args:
        dirs: Mechanism folders; ``None`` means the shipped folders.
        cache_dir: Cache folder; ``None`` means :func:`default_cache_dir`.
        coreneuron: Build with ``nrnivmodl -coreneuron`` (also produces
            ``libcorenrnmech``) into a separate ``-coreneuron`` folder.

    Returns:
        The build folder; the library is ``<build>/<arch>/libnrnmech.so``
        (see :func:`library_path`).

    Raises:
        PspSweepError: If a folder is missing or empty, two files define the
            same mechanism name, the compiler toolchain is missing, or
            nrnivmodl fails (the message quotes the compiler's error lines).
    """
    return _compile_files(_mod_files(_normalise_dirs(dirs)), cache_dir, coreneuron)


def _compile_files(files: list[Path], cache_dir: str | os.PathLike[str] | None, coreneuron: bool) -> Path:
    """Compile ``files`` into ``<cache>/<hash>[-coreneuron]`` (see compile_mechanisms)."""
    _names_by_file(files)  # reject duplicate names before spending time compiling
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    name = _hash_files(files) + ("-coreneuron" if coreneuron else "")
    build = cache / name
    if _is_complete(build, coreneuron):
        return build

    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PspSweepError(f"cannot create mechanism cache folder {cache}: {exc}") from exc
    with open(cache / f".{name}.lock", "w") as lock:
        # One compiler per build key across processes; the others wait here
        # and then find the finished build.
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _is_complete(build, coreneuron):
                return build
            nrnivmodl, env = toolchain.check_toolchain(coreneuron)
            # We hold the lock, so any temp folder of this key is a leftover
            # of a killed process.
            for stale in cache.glob(f".{name}.tmp-*"):
                shutil.rmtree(stale, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=cache))
            tmp.chmod(0o755)  # mkdtemp's 0700 would hide the build from other users
            try:
                for path in files:
                    shutil.copy2(path, tmp / path.name)
                cmd = [str(nrnivmodl)] + (["-coreneuron"] if coreneuron else [])
                # seconds to a minute of silence otherwise (CoreNEURON's build is the longest)
                what = f"{len(files)} mechanism{'s' if len(files) != 1 else ''}"
                how = " ".join([nrnivmodl.name, *cmd[1:]])
                _announce(f"pspsweep: compiling {what} with {how} (once per mechanism set, cached in {cache}) ...")
                result = _run_nrnivmodl(cmd, tmp, env)
                if result.returncode != 0 or not _is_complete(tmp, coreneuron):
                    raise PspSweepError(
                        f"compiling mechanisms failed ({' '.join(cmd)}, exit code "
                        f"{result.returncode}) for "
                        + ", ".join(str(p) for p in files)
                        + ":\n"
                        # the random temp path only obscures the file names
                        + toolchain.error_excerpt(result.stdout or "").replace(str(tmp), "<build>")
                    )
                if build.exists():
                    # An incomplete folder under the final name (e.g. edited by
                    # hand); safe to replace while we hold the lock.
                    shutil.rmtree(build)
                os.rename(tmp, build)  # atomic: readers see all or nothing
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return build


# --------------------------------------------------------------------------- loading


def _neuron_mechanism_names(h: object) -> set[str]:
    """Return the names of all mechanisms NEURON knows at the moment."""
    names: set[str] = set()
    sname = h.ref("")  # type: ignore[attr-defined]
    for kind in (0, 1):  # 0: density mechanisms, 1: point processes/artificial cells
        mt = h.MechanismType(kind)  # type: ignore[attr-defined]
        for i in range(int(mt.count())):
            mt.select(i)
            mt.selected(sname)
            names.add(str(sname[0]))
    return names


def load_mechanisms(
    dirs: Iterable[str | os.PathLike[str]] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    coreneuron: bool = False,
) -> Path:
    """Compile mechanism folders if needed and load them into NEURON once.

    Loading the same set again in the same process is a no-op. A ``.mod``
    file whose mechanisms are already loaded from a file with identical
    contents (e.g. ``l5pt`` alone first, then ``synapses`` + ``l5pt``) is not
    loaded again; only the remaining files are compiled and loaded, as a
    library of their own. NEURON cannot unload a library or load a second
    definition of a mechanism, so a mechanism that is already defined with
    different contents (or built in, or auto-loaded from ``./<arch>``) is
    rejected.

    Args:
        dirs: Mechanism folders; ``None`` means the shipped folders.
        cache_dir: Cache folder; ``None`` means :func:`default_cache_dir`.
        coreneuron: Load the ``nrnivmodl -coreneuron`` build and point
            ``CORENEURONLIB`` at its ``libcorenrnmech`` for in-process
            CoreNEURON runs. CoreNEURON needs every mechanism in one library,
            so this set must not overlap with anything loaded before.

    Returns:
        The path of the ``libnrnmech`` library that holds this set (the newly
        loaded one, or the one loaded earlier if nothing new was needed).

    Raises:
        PspSweepError: For every error of :func:`compile_mechanisms`, if a
            mechanism of this set is already defined differently in NEURON,
            or if NEURON fails to load the library.
    """
    folders = _normalise_dirs(dirs)
    files = _mod_files(folders)
    key = _hash_files(files) + ("-coreneuron" if coreneuron else "")
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        owners = _names_by_file(files)

        from neuron import h  # deferred: importing NEURON starts the interpreter

        digests = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in files}
        new_files, known_library = _files_to_load(h, files, owners, digests, coreneuron)
        if not new_files:
            assert known_library is not None
            _LOADED[key] = known_library
            return known_library
        lib = _load_build(h, _compile_files(new_files, cache_dir, coreneuron), coreneuron)
        for mech, path in owners.items():
            if path in new_files:
                _LOADED_NAMES[mech] = _Loaded(path, digests[path], lib, coreneuron)
        _LOADED[key] = lib
        return lib


def _files_to_load(
    h: object, files: list[Path], owners: dict[str, Path], digests: dict[Path, str], coreneuron: bool
) -> tuple[list[Path], Path | None]:
    """Sort ``files`` into already loaded (identical contents, same flavour) and new
    ones; anything else is a clash. Checked before compiling because loading would fail
    anyway.

    Returns:
        The files to compile and load, and the library of the already loaded ones.

    Raises:
        PspSweepError: naming every clash.
    """
    existing = _neuron_mechanism_names(h)
    new_files: list[Path] = []
    known_library: Path | None = None
    problems: list[str] = []
    for path in files:
        names = [n for n, owner in owners.items() if owner == path]
        records = [_LOADED_NAMES.get(n) for n in names]
        if names and all(r is not None and r.digest == digests[path] and r.coreneuron == coreneuron for r in records):
            known_library = known_library or records[0].library  # type: ignore[union-attr]
            continue
        problems.extend(_clashes(path, names, records, existing, digests[path], coreneuron))
        new_files.append(path)
    if coreneuron and new_files and known_library is not None:
        problems.append(
            "CoreNEURON needs all mechanisms in one library, but part of this set "
            f"is already loaded from {known_library}"
        )
    if problems:
        raise PspSweepError(
            "cannot load mechanisms into this NEURON process: "
            + "; ".join(problems)
            + ". NEURON cannot unload or redefine a mechanism: load all mechanism "
            "folders with one load_mechanisms() call per process (or start a new "
            "process) and rename mechanisms that clash."
        )
    return new_files, known_library


def _clashes(
    path: Path, names: list[str], records: list[_Loaded | None], existing: set[str], digest: str, coreneuron: bool
) -> list[str]:
    """Why the mechanisms ``names`` of ``path`` cannot be loaded (empty: they can)."""
    problems = []
    for mech, record in zip(names, records):
        if record is not None:
            flavour = (
                ""
                if record.coreneuron == coreneuron
                else (" built " + ("with" if record.coreneuron else "without") + " -coreneuron")
            )
            what = "different contents" if record.digest != digest else "the same contents"
            problems.append(
                f"{mech!r} in {path} is already loaded from {record.mod_file} ({record.library}) with {what}{flavour}"
            )
        elif mech in existing:
            problems.append(
                f"{mech!r} in {path} is already defined in NEURON (built in, or "
                f"auto-loaded from ./{_arch()} when NEURON was imported)"
            )
    return problems


def _load_build(h: object, build: Path, coreneuron: bool) -> Path:
    """Load the ``libnrnmech`` of ``build`` into NEURON; returns its path."""
    lib = library_path(build)
    try:
        ok = h.nrn_load_dll(str(lib))  # type: ignore[attr-defined]
    except RuntimeError as exc:
        raise PspSweepError(f"NEURON failed to load {lib}: {exc}") from exc
    if not ok:
        raise PspSweepError(f"NEURON failed to load {lib}")
    if coreneuron:
        os.environ["CORENEURONLIB"] = str(library_path(build, coreneuron=True))
    return lib
