"""bad input: every way a user can get the command's input wrong, run end to end.

The policy (README, "Bad input never starts a simulation"): every bad input ends the
command with exactly ONE line on stderr, starting with ``pspsweep: error:`` and naming
the culprit (file and line for a malformed file, the config key for a bad value, the
valid choices for an unknown cell type), exit code 2, no Python traceback (unless
``--traceback``). A run that was already created in MLflow ends FAILED, never FINISHED
(nor left RUNNING), and no result file (``psps.csv`` ...) is left in an output folder.

Most cases go through the Python API (``pspsweep.run``), which makes the same checks in
the same order before anything is recorded, and takes a second where a command takes
ten; the multirun, mechanism, ``--traceback`` and a few plain cases run the command
itself (marked slow) to keep the command's promise checked end to end.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.command import all_runs, result_files, run_command, store_overrides, through_api
from helpers.isf86 import EMBEDDING_FILES, copy_isf86, isf86_overrides

#: the cell types of the demo network, which the message for an unknown one must list
DEMO_CELLTYPES = ("L4ss_C2", "L5tt_C2", "INH_C2")

MEASURED_HEADER = "celltype,EPSP_mean_measured,EPSP_med_measured,EPSP_max_measured"


# --------------------------------------------------------------------------- helpers


def pspsweep(
    cwd: Path, *args: str, timeout: float = 600, command: bool = False, **env: str
) -> subprocess.CompletedProcess:
    """Run a job in ``cwd`` with its own store and one worker: the command itself for a
    multirun, ``--traceback``, an environment or ``command=True``; else through the
    Python API, its error shown as the command shows it."""
    if command or env or "-m" in args or "--traceback" in args:
        return run_command(cwd, *args, timeout=timeout, **env)
    return through_api(cwd, [*args, *store_overrides(cwd)])


STATUS_PREFIXES = ("pspsweep: compiling ",)


def error_line(res: subprocess.CompletedProcess) -> str:
    """The single stderr line of a refused command (asserting the policy's form)."""
    # status lines ("pspsweep: compiling ...", once per process that builds) are not errors
    lines = [line for line in res.stderr.splitlines() if line.strip() and not line.startswith(STATUS_PREFIXES)]
    assert res.returncode == 2, f"exit code {res.returncode}, stderr:\n{res.stderr[-3000:]}"
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert len(lines) == 1, f"expected exactly one line on stderr, got {len(lines)}:\n{res.stderr[-3000:]}"
    assert lines[0].startswith("pspsweep: error:"), lines[0]
    return lines[0]


def assert_refused(res: subprocess.CompletedProcess, cwd: Path, *expected: str, run_allowed: bool = False) -> str:
    """The policy for one bad input; returns the error line.

    ``expected``: substrings the line must contain (the culprit). ``run_allowed``: the
    failure may legitimately happen after the MLflow run was created (then it must be
    FAILED); otherwise no run may be recorded at all (README: "no run is recorded").
    """
    line = error_line(res)
    for text in expected:
        assert text in line, f"{text!r} not named in: {line}"
    runs = all_runs(cwd)
    statuses = sorted(r.info.status for r in runs)
    assert "FINISHED" not in statuses, f"a run was recorded as FINISHED after bad input: {statuses}"
    assert all(s == "FAILED" for s in statuses), f"runs not marked FAILED after bad input: {statuses}"
    if not run_allowed:
        assert not runs, f"bad input is refused before a run is recorded, found runs {statuses}"
    assert not result_files(cwd), f"result files left after bad input: {result_files(cwd)}"
    return line


def assert_names_line(line: str, file_name: str, lineno: int) -> None:
    """The message names the file and the line (``file:LINE`` or ``file ... line LINE``)."""
    assert file_name in line, f"{file_name!r} not named in: {line}"
    assert re.search(rf"{re.escape(file_name)}:{lineno}\b", line) or re.search(rf"\bline {lineno}\b", line), (
        f"line {lineno} of {file_name} not named in: {line}"
    )


def replace_line(path: Path, lineno: int, text: str) -> str:
    """Replace line ``lineno`` (1-based) of a text file; returns the old line."""
    lines = path.read_text().splitlines(keepends=True)
    old = lines[lineno - 1]
    lines[lineno - 1] = text.rstrip("\n") + "\n"
    path.write_text("".join(lines))
    return old


def first_line(path: Path, pattern: str, start: int = 1) -> int:
    """1-based number of the first line at or after ``start`` matching ``pattern``."""
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if i >= start and re.search(pattern, line):
            return i
    raise AssertionError(f"no line matching {pattern!r} in {path}")


@pytest.fixture
def isf_copy(isf86, tmp_path) -> Path:
    """The real ISF example cell and embedding copied into the test folder."""
    data = tmp_path / "data"
    data.mkdir()
    copy_isf86(isf86, data, extra=(*EMBEDDING_FILES, "measured_epsp.csv"))
    return data


def isf_args(data: Path) -> list[str]:
    """Overrides that run the copied ISF cell and embedding."""
    return [*isf86_overrides(data), "run.celltype=VPM_C2"]


# --------------------------------------------------------------------------- missing and unreadable files


@pytest.mark.slow
def test_missing_param_file(tmp_path):
    res = pspsweep(tmp_path, "neuron=isf", "neuron.param_file=missing.param", command=True)
    assert_refused(res, tmp_path, "neuron.param_file", "missing.param")


def test_missing_syn_file(tmp_path):
    (tmp_path / "x.con").write_text("")
    res = pspsweep(tmp_path, "network=isf", "network.syn_file=missing.syn", "network.con_file=x.con")
    assert_refused(res, tmp_path, "network.syn_file", "missing.syn")


def test_missing_con_file(tmp_path):
    (tmp_path / "x.syn").write_text("")
    res = pspsweep(tmp_path, "network=isf", "network.syn_file=x.syn", "network.con_file=missing.con")
    assert_refused(res, tmp_path, "network.con_file", "missing.con")


def test_missing_hoc_morphology(tmp_path):
    res = pspsweep(tmp_path, "neuron.morphology.kind=hoc", "neuron.morphology.path=missing.hoc")
    assert_refused(res, tmp_path, "neuron.morphology.path", "missing.hoc")


@pytest.mark.slow
def test_missing_measured_table_is_refused_before_the_sweep(tmp_path):
    # the parent run may exist (it is created when the multirun starts), but then FAILED;
    # no job may simulate
    res = pspsweep(tmp_path, "-m", "run.g=0.5,1", "fit.measured=missing.csv", "fit.bootstrap=10")
    assert_refused(res, tmp_path, "fit.measured", "missing.csv", run_allowed=True)


@pytest.mark.parametrize(
    ("key", "extra"),
    [
        ("neuron.param_file", ()),
        ("neuron.morphology.path", ("neuron.morphology.kind=hoc",)),
        ("network.syn_file", ("network=isf", "network.con_file=x.con")),
        ("network.con_file", ("network=isf", "network.syn_file=x.syn")),
    ],
)
def test_directory_given_as_input_file(tmp_path, key, extra):
    # a folder cannot be read as a file (chmod would not block reads when tests run as root)
    (tmp_path / "somewhere").mkdir()
    (tmp_path / "x.syn").write_text("")
    (tmp_path / "x.con").write_text("")
    res = pspsweep(tmp_path, *extra, f"{key}=somewhere")
    line = assert_refused(res, tmp_path, key, "somewhere")
    what = line.replace(str(tmp_path / "somewhere"), "<path>")
    assert re.search(r"director|folder|not a (regular )?file", what), f"says what is wrong with the path: {line}"


@pytest.mark.slow
def test_directory_given_as_measured_table(tmp_path):
    (tmp_path / "somewhere").mkdir()
    res = pspsweep(tmp_path, "-m", "run.g=0.5,1", "fit.measured=somewhere", "fit.bootstrap=10")
    assert_refused(res, tmp_path, "fit.measured", "somewhere", run_allowed=True)


def test_directory_given_for_a_file_the_network_does_not_read(tmp_path):
    """network=demo ignores network.syn_file; a bad value there must not record a FAILED run."""
    (tmp_path / "somewhere").mkdir()
    res = pspsweep(tmp_path, "network.syn_file=somewhere")
    if res.returncode == 0:  # ignoring an unused key is acceptable, but then it is a normal run
        assert all(r.info.status == "FINISHED" for r in all_runs(tmp_path))
        return
    assert_refused(res, tmp_path, "network.syn_file", "somewhere")


# --------------------------------------------------------------------------- malformed lines, real ISF files


realdata = pytest.mark.realdata


@realdata
@pytest.mark.slow
def test_isf_copy_runs_clean(isf_copy, tmp_path):
    """The uncorrupted copy is accepted (so that the corruptions below are what fails)."""
    res = pspsweep(tmp_path, *isf_args(isf_copy), "run.units=[0]", "run.tEnd=115", command=True)
    assert res.returncode == 0, res.stderr[-3000:]


@realdata
def test_malformed_hoc_point(isf_copy, tmp_path):
    hoc = isf_copy / "86_C2_center.hoc"
    n = first_line(hoc, r"pt3dadd", start=200)
    replace_line(hoc, n, "{pt3dadd(-122.4,abc,-379.3,5.6)}")
    line = assert_refused(pspsweep(tmp_path, *isf_args(isf_copy)), tmp_path)
    assert_names_line(line, "86_C2_center.hoc", n)


@realdata
def test_malformed_param_syntax(isf_copy, tmp_path):
    param = isf_copy / "86_C2_center.param"
    n = first_line(param, r'"Ra":', start=20)
    replace_line(param, n, '\t\t\t\t"Ra": 100.0 100.0 ]],')
    line = assert_refused(pspsweep(tmp_path, *isf_args(isf_copy)), tmp_path)
    assert_names_line(line, "86_C2_center.param", n)


@realdata
def test_malformed_syn_section_index(isf_copy, tmp_path):
    syn = isf_copy / "example_embedding_86_C2_center.syn"
    n = first_line(syn, r"^\S+\t\d+\t", start=1000)
    celltype, _, x = syn.read_text().splitlines()[n - 1].split("\t")
    replace_line(syn, n, f"{celltype}\tseven\t{x}")
    line = assert_refused(pspsweep(tmp_path, *isf_args(isf_copy)), tmp_path, "seven")
    assert_names_line(line, "example_embedding_86_C2_center.syn", n)


@realdata
def test_con_names_a_synapse_that_does_not_exist(isf_copy, tmp_path):
    con = isf_copy / "example_embedding_86_C2_center.con"
    n = first_line(con, r"^VPM_C2\t")
    celltype, cell, _ = con.read_text().splitlines()[n - 1].split("\t")
    replace_line(con, n, f"{celltype}\t{cell}\t999999")
    line = assert_refused(pspsweep(tmp_path, *isf_args(isf_copy)), tmp_path, "999999")
    assert_names_line(line, "example_embedding_86_C2_center.con", n)


@realdata
@pytest.mark.slow
def test_measured_table_missing_a_column(isf_copy, tmp_path):
    measured = isf_copy / "measured_epsp.csv"
    rows = [r.split(",") for r in measured.read_text().splitlines()]
    assert rows[0][-1] == "EPSP_max_measured"
    measured.write_text("".join(",".join(r[:-1]) + "\n" for r in rows))
    res = pspsweep(tmp_path, "-m", "run.g=0.5,1", f"fit.measured={measured}", "fit.bootstrap=10")
    line = assert_refused(res, tmp_path, "EPSP_max_measured", run_allowed=True)
    assert_names_line(line, "measured_epsp.csv", 1)


# --------------------------------------------------------------------------- malformed lines, small synthetic files


SWC = """\
# a three-point cell
1 1 0 0 0 10 -1
2 3 0 20 0 1 1
3 3 0 40 abc 1 2
4 4 0 -20 0 1 1
"""


def test_malformed_swc_line(tmp_path):
    (tmp_path / "cell.swc").write_text(SWC)
    res = pspsweep(tmp_path, "neuron.morphology.kind=swc", "neuron.morphology.path=cell.swc")
    line = assert_refused(res, tmp_path)
    assert_names_line(line, "cell.swc", 4)


def test_malformed_hoc_synthetic(tmp_path):
    hoc = tmp_path / "cell.hoc"
    hoc.write_text("{create soma}\n{access soma}\n{pt3dclear()}\n{pt3dadd(0,0,0,10)}\n{pt3dadd(0,1x,0,10)}\n")
    res = pspsweep(tmp_path, "neuron.morphology.kind=hoc", "neuron.morphology.path=cell.hoc")
    line = assert_refused(res, tmp_path)
    assert_names_line(line, "cell.hoc", 5)


def test_malformed_syn_synthetic(tmp_path):
    (tmp_path / "x.syn").write_text("# header\n\nL4ss_C2\t1\t0.5\nL4ss_C2\t1.5\t0.5\n")
    (tmp_path / "x.con").write_text("L4ss_C2\t0\t0\nL4ss_C2\t0\t1\n")
    res = pspsweep(tmp_path, "network=isf", "network.syn_file=x.syn", "network.con_file=x.con")
    line = assert_refused(res, tmp_path, "section index")
    assert_names_line(line, "x.syn", 4)


@pytest.mark.slow
def test_measured_table_with_a_bad_number(tmp_path):
    (tmp_path / "m.csv").write_text(f"{MEASURED_HEADER}\nL4,0.8,0.7,1.6\nL5tt,0.5,zero,1.0\n")
    res = pspsweep(tmp_path, "-m", "run.g=0.5,1", "fit.measured=m.csv", "fit.bootstrap=10")
    line = assert_refused(res, tmp_path, "zero", run_allowed=True)
    assert_names_line(line, "m.csv", 3)


def test_measured_table_with_a_bad_number_in_a_single_run(tmp_path):
    (tmp_path / "m.csv").write_text(MEASURED_HEADER + "\nL4ss_C2,1.0,abc,2.0\n")
    line = assert_refused(pspsweep(tmp_path, "fit.measured=m.csv"), tmp_path, "abc")
    assert_names_line(line, "m.csv", 2)


@pytest.mark.slow
def test_measured_table_with_a_non_positive_value(tmp_path):
    """Issue 14 item 18: a measured EPSP <= 0 gave a negative optimal g with fit_ok=True."""
    (tmp_path / "m.csv").write_text(f"{MEASURED_HEADER}\nL4,0.8,0.7,1.6\nL5tt,0.5,0,1.0\n")
    res = pspsweep(tmp_path, "-m", "run.g=0.5,1", "fit.measured=m.csv", "fit.bootstrap=10")
    line = assert_refused(res, tmp_path, "EPSP_med_measured", "must be positive", run_allowed=True)
    assert_names_line(line, "m.csv", 3)


# --------------------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["run.celltype=NOPE"], ["NOPE", *DEMO_CELLTYPES]),
        (["run.tStim=150"], ["run.tStim", "run.tEnd"]),
        (["run.tStim=200", "run.tEnd=150"], ["run.tStim", "run.tEnd"]),
        (["neuron.sim.dt=0"], ["neuron.sim.dt"]),
        (["neuron.sim.dt=-0.025", "run.vardt=false"], ["neuron.sim.dt"]),
        (["run.g=-1"], ["run.g"]),
        (["run.gGABA=-1", "run.celltype=INH_C2"], ["run.gGABA"]),
        (["run.mode=both"], ["run.mode", "both", "cells", "synapses"]),
        (["run.strategy=fast"], ["run.strategy", "fast", "restore", "reference"]),
        (["output.morphology_view=top"], ["output.morphology_view", "top", "principal", "xz"]),
        (["run.tStim=abc"], ["run.tStim", "abc"]),
        (["executor.workers=two"], ["executor.workers", "two"]),
        (["run.units=abc"], ["run.units", "abc"]),
        (["run.nope=1"], ["run.nope"]),
        # Hydra suggests the +, which then added a key that nothing read
        (["run.gampa=1"], ["unknown key run.gampa (did you mean run.gAMPA?)"]),
        (["+run.gampa=1"], ["unknown key run.gampa (did you mean run.gAMPA?)"]),
        (["+network.celltypes.L4ss_C2.recepter=x"], ["did you mean network.celltypes.L4ss_C2.receptor?"]),
        (["+spped=1"], ["unknown key spped"]),
        # a single run reads the measured table too, as a multirun does before its jobs
        (["fit.measured=missing.csv"], ["fit.measured", "missing.csv"]),
        # issue 14: these failed after the run was created (exit 1, a hang, or FINISHED with NaN)
        (["run.tEnd=inf"], ["run.tEnd=inf", "finite"]),
        (["run.tEnd=1e7"], ["run.max_steps", "run.tEnd"]),
        (["run.g=1e30"], ["run.g"]),
        (["neuron.sim.celsius=nan"], ["neuron.sim.celsius"]),
        (["neuron.morphology.demo.tuft_length=0"], ["neuron.morphology.demo.tuft_length"]),
        (["neuron.sim.dt=100", "run.vardt=false"], ["neuron.sim.dt", "run.tEnd - run.tStim"]),
        (["run.units=[]"], ["run.units=[]"]),
        (["run.tStim=0"], ["run.tStim=0"]),
        (["tracking.experiment=''"], ["tracking.experiment"]),
        (["+neuron.biophysics.Soma.mechanisms.nosuch.g=1"], ["nosuch", "neuron.mechanism_dirs"]),
        # issue 17: the protocol group and short-term plasticity
        (["protocol.hold_V=-70", "protocol.hold_I=0.1"], ["protocol.hold_V=-70", "protocol.hold_I=0.1"]),
        (["protocol.clamp=voltage"], ["protocol.clamp=voltage", "protocol.hold_V"]),
        (["protocol=vclamp", "protocol.series_resistance=0"], ["protocol.series_resistance=0"]),
        (["protocol.clamp=both"], ["protocol.clamp", "both", "current", "voltage"]),
        (["protocol.spikes=[0,20,10]"], ["protocol.spikes", "increasing"]),
        (["protocol.spikes=[]"], ["protocol.spikes is empty"]),
        (["protocol.spikes=[-5]"], ["protocol.spikes", ">= 0"]),
        (["protocol.spikes=[0,50]"], ["protocol.spikes", "run.tEnd=150"]),
        (["protocol.hold_V=nan"], ["protocol.hold_V=nan", "finite"]),
        (["+network.stp.NOPE={U: 0.5}"], ["network.stp.NOPE", "matches no cell type"]),
        (["+network.stp.L4ss_C2={U: 1.5, D: 800}"], ["network.stp.L4ss_C2", "U=1.5"]),
        (["+network.stp.L4ss_C2={U: 0.5, tau: 8}"], ["network.stp.L4ss_C2", "give U, and D and F"]),
        (["+network.stp.L4ss_C2={U: 0.5}", "network.celltypes.L4ss_C2.parameters.facilampa=0.2"], ["facilampa=0.2"]),
    ],
    ids=lambda v: " ".join(v) if v and "=" in v[0] else None,
)
def test_bad_value(tmp_path, overrides, expected):
    assert_refused(pspsweep(tmp_path, *overrides), tmp_path, *expected)


def test_celltype_name_mlflow_refuses(tmp_path):
    """Issue 14 item 14: a cell type 'VPM_C2?x' of a .syn/.con ran the whole sweep, wrote the
    result files and failed at metric logging; now refused before anything runs."""
    (tmp_path / "x.syn").write_text("VPM_C2?x\t1\t0.5\nVPM_C2?x\t2\t0.5\nL4ss_C2\t1\t0.2\n")
    (tmp_path / "x.con").write_text("VPM_C2?x\t0\t0\nVPM_C2?x\t0\t1\nL4ss_C2\t0\t0\n")
    res = pspsweep(
        tmp_path,
        "network=isf",
        "network.syn_file=x.syn",
        "network.con_file=x.con",
        "network.snap_to_points=false",
        "run.celltype=[VPM*,L4ss_C2]",
    )
    assert_refused(res, tmp_path, "cell type 'VPM_C2?x'", "MLflow")


@pytest.mark.slow
def test_unknown_celltype_lists_the_valid_ones(tmp_path):
    line = assert_refused(pspsweep(tmp_path, "run.celltype=L4sss_C2", command=True), tmp_path)
    assert re.search(r"valid.*" + r".*".join(DEMO_CELLTYPES), line), line


@pytest.mark.slow
def test_bad_value_in_a_multirun_is_refused_before_any_job_simulates(tmp_path):
    """One bad point of a sweep: no job may finish (the parent may exist, FAILED)."""
    res = pspsweep(tmp_path, "-m", "run.g=0.5,-1")
    assert_refused(res, tmp_path, "run.g", run_allowed=True)


# --------------------------------------------------------------------------- mechanisms


BROKEN_MOD = """\
NEURON {
    SUFFIX brokenleak
    RANGE gbar
    NONSPECIFIC_CURRENT i
}
PARAMETER { gbar = 0.001 (S/cm2) }
ASSIGNED { v (mV) i (mA/cm2) }
BREAKPOINT {
    i = gbar * (v - undeclared_erev
}
"""

LEAK_MOD = """\
NEURON {{
    SUFFIX {suffix}
    RANGE gbar
    NONSPECIFIC_CURRENT i
}}
PARAMETER {{ gbar = 0.001 (S/cm2) }}
ASSIGNED {{ v (mV) i (mA/cm2) }}
BREAKPOINT {{ i = gbar * (v + 70) }}
"""


def mechanism_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The demo with user mechanism folders, compiled into a cache inside the test folder."""
    return pspsweep(tmp_path, *args, PSPSWEEP_CACHE_DIR=str(tmp_path / "cache"))


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.slow
def test_mod_file_that_does_not_compile(tmp_path, workers):
    mods = tmp_path / "mymods"
    mods.mkdir()
    (mods / "brokenleak.mod").write_text(BROKEN_MOD)
    res = mechanism_run(tmp_path, f"neuron.mechanism_dirs=[{mods}]", f"executor.workers={workers}")
    line = assert_refused(res, tmp_path, "brokenleak.mod", run_allowed=True)
    # the compiler's own message (nocmodl's parse error with file and line), not just "failed"
    assert re.search(r"error|illegal|syntax", line, re.IGNORECASE), line
    assert re.search(r"line \d+ in file brokenleak\.mod|brokenleak\.mod:\d+", line), line
    assert not list((tmp_path / "cache").glob("[0-9a-f]*[0-9a-f]")), "no broken build under a final name"


@pytest.mark.slow
def test_failure_after_the_run_started_marks_it_failed(tmp_path):
    """Compiling happens when the cell is built, after the MLflow run was created: FAILED."""
    mods = tmp_path / "mymods"
    mods.mkdir()
    (mods / "brokenleak.mod").write_text(BROKEN_MOD)
    res = mechanism_run(tmp_path, f"neuron.mechanism_dirs=[{mods}]")
    assert_refused(res, tmp_path, "brokenleak.mod", run_allowed=True)
    runs = all_runs(tmp_path)
    assert len(runs) == 1, "the run is created before the cell is built"
    assert runs[0].info.status == "FAILED"


@pytest.mark.slow
def test_failure_of_a_multirun_job_marks_parent_and_child_failed(tmp_path):
    mods = tmp_path / "mymods"
    mods.mkdir()
    (mods / "brokenleak.mod").write_text(BROKEN_MOD)
    res = mechanism_run(tmp_path, "-m", "run.g=0.5,1", f"neuron.mechanism_dirs=[{mods}]")
    assert_refused(res, tmp_path, "brokenleak.mod", run_allowed=True)
    runs = all_runs(tmp_path)
    assert runs and all(r.info.status == "FAILED" for r in runs), [r.info.status for r in runs]


@pytest.mark.slow
def test_copy_of_a_shipped_mod_file_in_a_user_folder(tmp_path):
    shipped = Path(__import__("pspsweep").__file__).parent / "simulation" / "mod" / "synapses"
    mods = tmp_path / "mymods"
    mods.mkdir()
    shutil.copy(shipped / "glutamate_syn.mod", mods / "glutamate_syn.mod")
    res = mechanism_run(tmp_path, f"neuron.mechanism_dirs=[{mods}]")
    assert_refused(res, tmp_path, str(mods / "glutamate_syn.mod"), str(shipped / "glutamate_syn.mod"), run_allowed=True)


@pytest.mark.slow
def test_same_suffix_in_two_user_folders(tmp_path):
    a, b = tmp_path / "mods_a", tmp_path / "mods_b"
    a.mkdir()
    b.mkdir()
    (a / "leak_one.mod").write_text(LEAK_MOD.format(suffix="userleak"))
    (b / "leak_two.mod").write_text(LEAK_MOD.format(suffix="userleak"))
    res = mechanism_run(tmp_path, f"neuron.mechanism_dirs=[{a},{b}]")
    assert_refused(res, tmp_path, "userleak", str(a / "leak_one.mod"), str(b / "leak_two.mod"), run_allowed=True)


@pytest.mark.slow
def test_mechanism_folder_that_does_not_exist(tmp_path):
    res = mechanism_run(tmp_path, "neuron.mechanism_dirs=[no_such_folder]")
    assert_refused(res, tmp_path, "neuron.mechanism_dirs", "no_such_folder")


# --------------------------------------------------------------------------- --traceback


@pytest.mark.slow
def test_traceback_flag_shows_the_traceback(tmp_path):
    res = pspsweep(tmp_path, "run.g=-1", "--traceback")
    assert res.returncode == 2, res.stderr
    assert "Traceback (most recent call last)" in res.stderr
    assert "PspSweepError" in res.stderr
    last = [line for line in res.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("pspsweep: error:") and "run.g" in last, last


@pytest.mark.slow
def test_verbose_environment_shows_the_traceback(tmp_path):
    res = pspsweep(tmp_path, "run.g=-1", PSPSWEEP_VERBOSE="1")
    assert res.returncode == 2, res.stderr
    assert "Traceback (most recent call last)" in res.stderr
