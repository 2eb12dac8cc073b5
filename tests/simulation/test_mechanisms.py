"""Compiling, caching and loading mechanisms (pspsweep.simulation.mechanisms).

Compiles use tiny throw-away ``.mod`` files in temporary caches (a few seconds
each); only the loading tests use the shipped folders, which are compiled once
into the regular cache and loaded once per process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pspsweep.errors import PspSweepError
from pspsweep.simulation import mechanisms
from pspsweep.simulation.mechanisms import (
    compile_mechanisms,
    library_path,
    load_mechanisms,
    mechanism_names,
    mechanism_source_dirs,
    source_hash,
)

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"

L5PT_NAMES = {
    "NaTa_t",
    "Nap_Et2",
    "K_Pst",
    "K_Tst",
    "SKv3_1",
    "SK_E2",
    "Ca_HVA",
    "Ca_LVAst",
    "CaDynamics_E2",
    "Ih",
    "Im",
}


def _leak_mod(name: str, comment: str = "") -> str:
    """A minimal density mechanism (compiles in a few seconds)."""
    return textwrap.dedent(
        f"""\
        COMMENT
        test mechanism {comment}
        ENDCOMMENT
        NEURON {{
            THREADSAFE
            SUFFIX {name}
            NONSPECIFIC_CURRENT i
            RANGE g, e
        }}
        UNITS {{
            (mA) = (milliamp)
            (mV) = (millivolt)
            (S) = (siemens)
        }}
        PARAMETER {{
            g = 0.001 (S/cm2)
            e = -70 (mV)
        }}
        ASSIGNED {{
            v (mV)
            i (mA/cm2)
        }}
        BREAKPOINT {{
            i = g*(v - e)
        }}
        """
    )


def _folder(root: Path, name: str, files: dict[str, str]) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for fname, text in files.items():
        (folder / fname).write_text(text)
    return folder


@pytest.fixture
def compile_counter(monkeypatch):
    """Count nrnivmodl runs (the real compiler still runs)."""
    calls: list[list[str]] = []
    real = mechanisms._run_nrnivmodl

    def counting(cmd, cwd, env):
        calls.append(list(cmd))
        return real(cmd, cwd, env)

    monkeypatch.setattr(mechanisms, "_run_nrnivmodl", counting)
    return calls


@pytest.fixture
def no_compile(monkeypatch):
    """Fail the test if nrnivmodl would be run."""

    def refuse(cmd, cwd, env):
        raise AssertionError(f"nrnivmodl must not run here (cmd {cmd} in {cwd})")

    monkeypatch.setattr(mechanisms, "_run_nrnivmodl", refuse)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch) -> Path:
    """A fresh cache folder, also set as PSPSWEEP_CACHE_DIR."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("PSPSWEEP_CACHE_DIR", str(cache))
    return cache


# ----------------------------------------------------------------- shipped sources


def test_shipped_folders_and_names():
    synapses, l5pt = mechanism_source_dirs()
    assert (synapses.name, l5pt.name) == ("synapses", "l5pt")
    syn_names = {n for f in synapses.glob("*.mod") for n in mechanism_names(f)}
    l5pt_names = {n for f in l5pt.glob("*.mod") for n in mechanism_names(f)}
    assert syn_names == {
        "glutamate_syn",
        "gaba_syn",
        "tm_glutamate_syn",
        "tm_gaba_syn",
        "stoch_glutamate_syn",
        "stoch_gaba_syn",
    }
    assert l5pt_names == L5PT_NAMES


@pytest.mark.parametrize(
    "path", [p for d in mechanism_source_dirs() for p in sorted(d.glob("*.mod"))], ids=lambda p: p.name
)
def test_shipped_mod_files_are_threadsafe_and_coreneuron_ready(path):
    text = path.read_text()
    assert text.startswith("COMMENT\n"), f"{path.name} must open with a COMMENT block"
    header = text[: text.index("ENDCOMMENT")]
    assert "Reference" in header and "specification" in header, f"{path.name}: header incomplete"
    code = re.sub(r"COMMENT.*?ENDCOMMENT", "", text, flags=re.S)
    assert "THREADSAFE" in code, f"{path.name} is not THREADSAFE"
    for banned in ("VERBATIM", "POINTER", "BBCOREPOINTER"):
        assert banned not in code, f"{path.name} uses {banned}"
    assert "METHOD cnexp" in code or "SOLVE" not in code, f"{path.name}: expected cnexp"


def test_mechanism_names_ignore_comments(tmp_path):
    mod = tmp_path / "x.mod"
    mod.write_text(
        "COMMENT\nSUFFIX fake_in_comment\nENDCOMMENT\n"
        ": POINT_PROCESS fake_in_line_comment\n"
        "NEURON { POINT_PROCESS real_pp : SUFFIX trailing\n}\n"
    )
    assert mechanism_names(mod) == ["real_pp"]
    (tmp_path / "lib.mod").write_text("NEURON { SUFFIX nothing }\n")
    assert mechanism_names(tmp_path / "lib.mod") == []


# ----------------------------------------------------------------- hashing


def test_source_hash_is_stable_and_tracks_contents(tmp_path, monkeypatch):
    a = _folder(tmp_path, "a", {"one.mod": _leak_mod("one")})
    b = _folder(tmp_path, "b", {"two.mod": _leak_mod("two")})
    first = source_hash([a, b])
    assert re.fullmatch(r"[0-9a-f]{64}", first), first
    assert source_hash([a, b]) == first
    assert source_hash([b, a]) == first, "file names are sorted, folder order does not matter"

    (b / "two.mod").write_text(_leak_mod("two", comment="edited"))
    assert source_hash([a, b]) != first, "a changed source must change the hash"

    (b / "two.mod").write_text(_leak_mod("two"))
    assert source_hash([a, b]) == first
    (b / "two.mod").rename(b / "three.mod")
    assert source_hash([a, b]) != first, "a renamed file must change the hash"
    (b / "three.mod").rename(b / "two.mod")

    monkeypatch.setattr(mechanisms, "_neuron_version", lambda: "0.0.0-other")
    assert source_hash([a, b]) != first, "the NEURON version is part of the hash"


def test_duplicate_mechanism_name_is_rejected(tmp_path, tmp_cache, no_compile):
    a = _folder(tmp_path, "a", {"first.mod": _leak_mod("dupname")})
    b = _folder(tmp_path, "b", {"second.mod": "NEURON { POINT_PROCESS dupname }\n"})
    with pytest.raises(PspSweepError) as err:
        compile_mechanisms([a, b])
    msg = str(err.value)
    assert "'dupname'" in msg and str(a / "first.mod") in msg and str(b / "second.mod") in msg, msg


def test_same_file_name_in_two_folders_is_rejected(tmp_path, tmp_cache, no_compile):
    a = _folder(tmp_path, "a", {"same.mod": _leak_mod("m_one")})
    b = _folder(tmp_path, "b", {"same.mod": _leak_mod("m_two")})
    with pytest.raises(PspSweepError, match="same.mod"):
        compile_mechanisms([a, b])


def test_missing_or_empty_folder_is_rejected(tmp_path, tmp_cache, no_compile):
    with pytest.raises(PspSweepError, match="does not exist"):
        compile_mechanisms([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(PspSweepError, match="no .mod files"):
        compile_mechanisms([tmp_path / "empty"])


# ----------------------------------------------------------------- compiling


def test_compile_once_then_cache_hit(tmp_path, tmp_cache, compile_counter, monkeypatch, capsys):
    src = _folder(tmp_path, "src", {"psp_cachetest.mod": _leak_mod("psp_cachetest")})
    build = compile_mechanisms([src])  # cache from PSPSWEEP_CACHE_DIR
    said = capsys.readouterr().err
    assert said.startswith("pspsweep: compiling 1 mechanism with nrnivmodl (once per mechanism set"), said
    assert build == tmp_cache / source_hash([src])
    lib = library_path(build)
    assert lib.is_file(), f"{lib} missing"
    assert lib.relative_to(build).parts == (os.uname().machine, "libnrnmech.so")
    assert len(compile_counter) == 1
    mtime = lib.stat().st_mtime_ns

    assert compile_mechanisms([src]) == build
    assert compile_mechanisms([src], cache_dir=tmp_cache) == build
    assert len(compile_counter) == 1, f"cache hit must not recompile: {compile_counter}"
    assert capsys.readouterr().err == "", "a cache hit says nothing"
    assert lib.stat().st_mtime_ns == mtime
    leftovers = [p.name for p in tmp_cache.iterdir() if ".tmp-" in p.name]
    assert leftovers == [], f"temporary build folders left behind: {leftovers}"

    # A cached build needs no compiler at all.
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert compile_mechanisms([src]) == build
    monkeypatch.setenv("PATH", path)

    # A changed source is a new build next to the old one.
    (src / "psp_cachetest.mod").write_text(_leak_mod("psp_cachetest", comment="v2"))
    rebuilt = compile_mechanisms([src])
    assert rebuilt != build and library_path(rebuilt).is_file() and lib.is_file()
    assert len(compile_counter) == 2


def test_compile_error_reports_the_mod_file_error(tmp_path, tmp_cache):
    src = _folder(
        tmp_path,
        "src",
        {
            "broken.mod": "NEURON { SUFFIX broken RANGE g }\n"
            "PARAMETER { g = 1 }\n"
            "ASSIGNED { v }\n"
            "BREAKPOINT { g = v +* 2 }\n"
        },
    )
    with pytest.raises(PspSweepError) as err:
        compile_mechanisms([src])
    msg = str(err.value)
    assert "broken.mod" in msg, msg
    assert re.search(r"line 4", msg), f"the error line is missing: {msg}"
    assert "Traceback" not in msg, f"the wrapper's traceback leaked into the message: {msg}"
    assert not list(tmp_cache.glob("*")) or all(p.name.endswith(".lock") for p in tmp_cache.iterdir()), (
        f"failed builds must not stay in the cache: {list(tmp_cache.iterdir())}"
    )


def test_missing_cxx_compiler_says_what_to_install(tmp_path, tmp_cache, monkeypatch, no_compile):
    src = _folder(tmp_path, "src", {"psp_nocxx.mod": _leak_mod("psp_nocxx")})
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(PspSweepError) as err:
        compile_mechanisms([src])
    msg = str(err.value)
    assert "compiler" in msg and "apt-get install g++ make" in msg, msg
    assert "setuptools find_libpython packaging sympy" in msg, msg


def test_missing_nrnivmodl_says_what_to_install(tmp_path, tmp_cache, monkeypatch, no_compile):
    src = _folder(tmp_path, "src", {"psp_nonrn.mod": _leak_mod("psp_nonrn")})
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(sys, "executable", str(empty / "python"))
    with pytest.raises(PspSweepError) as err:
        compile_mechanisms([src])
    msg = str(err.value)
    assert "nrnivmodl not found" in msg and "pip install" in msg, msg


@pytest.mark.slow
def test_concurrent_processes_compile_once(tmp_path):
    src = _folder(tmp_path, "src", {"psp_concurrent.mod": _leak_mod("psp_concurrent")})
    cache, log = tmp_path / "cache", tmp_path / "compiles.log"
    script = textwrap.dedent(
        f"""
        from pspsweep.simulation import mechanisms as m
        real = m._run_nrnivmodl
        def counting(cmd, cwd, env):
            with open({str(log)!r}, "a") as f:
                f.write("compile\\n")
            return real(cmd, cwd, env)
        m._run_nrnivmodl = counting
        print(m.compile_mechanisms([{str(src)!r}], cache_dir={str(cache)!r}))
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, errtext) in zip(procs, outs):
        assert p.returncode == 0, errtext
    paths = {out.strip() for out, _ in outs}
    assert len(paths) == 1, paths
    assert log.read_text().count("compile") == 1, "exactly one process may compile"
    assert library_path(paths.pop()).is_file()


@pytest.mark.slow
def test_coreneuron_build_is_separate(tmp_path, tmp_cache):
    src = _folder(tmp_path, "src", {"psp_core.mod": _leak_mod("psp_core")})
    build = compile_mechanisms([src], coreneuron=True)
    assert build.name == source_hash([src]) + "-coreneuron"
    assert library_path(build).is_file() and library_path(build, coreneuron=True).is_file()


# ----------------------------------------------------------------- loading into NEURON


@pytest.fixture(scope="module")
def h_loaded():
    """NEURON with the shipped mechanisms loaded (once per process)."""
    pytest.importorskip("neuron")
    from neuron import h

    load_mechanisms(mechanism_source_dirs())
    return h


def test_loading_again_is_a_no_op(h_loaded, no_compile):
    first = load_mechanisms(mechanism_source_dirs())
    assert load_mechanisms(mechanism_source_dirs()) == first
    assert load_mechanisms(None) == first
    # A subset that is already loaded with identical files is a no-op too.
    synapses, l5pt = mechanism_source_dirs()
    assert load_mechanisms([l5pt]).is_file()
    assert load_mechanisms([synapses]).is_file()
    assert hasattr(h_loaded, "glutamate_syn") and hasattr(h_loaded, "gaba_syn")
    sec = h_loaded.Section(name="loadcheck")
    for name in sorted(L5PT_NAMES):
        sec.insert(name)


def test_redefining_a_loaded_mechanism_is_rejected(h_loaded, tmp_path, no_compile):
    original = mechanism_source_dirs()[1] / "Ih.mod"
    changed = _folder(tmp_path, "changed", {"Ih.mod": original.read_text() + "\n: edited\n"})
    with pytest.raises(PspSweepError) as err:
        load_mechanisms([changed])
    msg = str(err.value)
    assert "'Ih'" in msg and "already loaded" in msg and "different contents" in msg, msg
    assert str(changed / "Ih.mod") in msg, msg


def test_builtin_mechanism_name_is_rejected(h_loaded, tmp_path, no_compile):
    src = _folder(tmp_path, "src", {"myhh.mod": _leak_mod("hh")})
    with pytest.raises(PspSweepError, match=r"'hh' .* already defined in NEURON"):
        load_mechanisms([src])


def test_loading_a_new_set_adds_its_mechanisms(h_loaded, tmp_path, tmp_cache, compile_counter):
    src = _folder(tmp_path, "src", {"psp_loadtest.mod": _leak_mod("psp_loadtest")})
    lib = load_mechanisms([src])
    assert lib == library_path(tmp_cache / source_hash([src]))
    sec = h_loaded.Section(name="psp_loadtest_sec")
    sec.insert("psp_loadtest")
    assert sec(0.5).psp_loadtest.e == -70.0
    assert load_mechanisms([src]) == lib
    assert len(compile_counter) == 1
