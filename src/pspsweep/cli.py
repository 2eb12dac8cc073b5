"""Command-line entry points: the only place that touches Hydra's main machinery.

``pspsweep`` composes the config (``conf/``), checks it against the typed schemas of
:mod:`pspsweep.config`, and runs one sweep per job, tracked in MLflow. Any user error
(bad override, missing file, unknown cell type, impossible times) ends the command with
one line on stderr and exit code 2; ``--traceback`` (or ``PSPSWEEP_VERBOSE=1``) shows
the Python traceback as well.
"""

from __future__ import annotations

import atexit
import dataclasses
import errno
import io
import logging
import math
import os
import secrets
import shutil
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from pspsweep import tracking
from pspsweep.config import PspSweepConfig, schema_node
from pspsweep.entry import collect_garbage_again
from pspsweep.errors import PspSweepError
from pspsweep.hydra_callbacks import SweepAborted, fail_active_parent
from pspsweep.launch import launch_dir, remember_launch_dir
from pspsweep.stores import redact, redact_file
from pspsweep.validation import unknown_key_error

log = logging.getLogger("pspsweep")

ConfigStore.instance().store(name="pspsweep_schema", node=schema_node())

# ``${pspsweep_unique:}`` in hydra.run.dir and hydra.sweep.dir: random per command, cached
# like Hydra's ``now`` (which copies the cache into every job of a multirun), so that
# commands started in the same second get folders of their own
OmegaConf.register_new_resolver("pspsweep_unique", lambda: secrets.token_hex(3), use_cache=True, replace=True)

#: exit codes
EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def run_job(cfg: DictConfig) -> dict[str, float]:
    """One Hydra job: :func:`pspsweep.api.run_job` with Hydra's output folder and
    multirun parent. Returns the run's metrics."""
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    try:
        return _run_job(cfg, out_dir)
    except Exception:
        remove_unproduced(out_dir, keep_above=launch_dir())
        raise
    finally:
        collect_garbage_again()  # off during start-up, see pspsweep.entry.main


#: what Hydra puts into a job's output folder before the job runs (its configs, the log)
_HYDRA_ONLY = {".hydra", "pspsweep.log"}


def remove_unproduced(out_dir: Path, keep_above: Path) -> None:
    """Remove the output folder of a job that failed before producing anything.

    Hydra creates it (with ``.hydra``) before the job can refuse its input; a folder
    holding anything else (a result, the staging folder of one) stays. Emptied parent
    folders (``outputs/<date>``) go too, up to ``keep_above``.
    """
    try:
        if not out_dir.is_dir() or not {p.name for p in out_dir.iterdir()} <= _HYDRA_ONLY:
            return
        shutil.rmtree(out_dir / ".hydra", ignore_errors=True)
        (out_dir / "pspsweep.log").unlink(missing_ok=True)
        folder = out_dir.resolve()
        top = keep_above.resolve()
        while folder != top and top in folder.parents:
            folder.rmdir()  # only an empty folder; another command's stays
            folder = folder.parent
    except OSError:
        pass  # the error that ended the job is the one to report


def _run_job(cfg: DictConfig, out_dir: Path) -> dict[str, float]:
    """Read what Hydra decided (output folder, multirun parent), run the job, report it."""
    from pspsweep import api

    typed: PspSweepConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    hc = HydraConfig.get()
    hydra_dir = out_dir / hc.output_subdir if hc.output_subdir else None
    if hydra_dir is not None:
        for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
            redact_file(hydra_dir / name)  # Hydra saved the overrides as typed, passwords too
    parent = None
    multirun = hc.mode == RunMode.MULTIRUN
    if typed.tracking.enabled and multirun:
        parent = tracking.read_parent_run_id(Path(hc.sweep.dir))
    result = api.run_job(typed, out_dir, parent, hydra_dir)
    stats = result.metrics
    if result.reused_from:
        print(
            f"pspsweep: reused the finished run {result.reused_from} of the same sweep: no new run, "
            "its files copied below (run.force=true simulates again)"
        )
    where = ""
    if result.run_id and result.tracking_uri:
        where = f"\n  MLflow run {result.run_id} in {result.tracking_uri}"
        if result.reused_from:
            where += f"\n  {tracking.run_hint(result.tracking_uri, result.run_id)}"
        elif not multirun:  # a multirun shows how to open the UI once, at its end
            experiment = tracking.experiment_id(result.tracking_uri, typed.tracking.experiment)
            where += f"\n  {tracking.ui_hint(result.tracking_uri, experiment)}"
    print(f"pspsweep: {result.label}: {amplitude_summary(stats)}\n  results: {out_dir.resolve()}{where}")
    return stats


def amplitude_summary(metrics: dict[str, float]) -> str:
    """Units, responding units and mean amplitude; EPSPs and IPSPs apart (their mean
    together means nothing); PSCs (``psc_mean``, nA) under a voltage clamp. Runs recorded
    before the per-kind metrics get the pooled mean."""
    prefix, unit, response = ("psc", "nA", "PSC") if "psc_mean" in metrics else ("amp", "mV", "PSP")
    kinds = [k for k in ("excitatory", "inhibitory") if f"n_units.{k}" in metrics]
    trials = ""
    if "failure_rate_mean" in metrics:  # a sweep with trials (docs/trials.md)
        trials = (
            f"; trials: mean failure rate {metrics['failure_rate_mean']:.3g}, "
            f"median CV {metrics.get(f'{prefix}_cv_median', float('nan')):.3g}"
        )
    if not kinds:
        return (
            f"{int(metrics['n_units'])} units, {int(metrics.get('n_responding', 0))} responding, "
            f"mean amplitude {metrics.get(f'{prefix}_mean', float('nan')):.4g} {unit}" + trials
        )
    parts = []
    for kind in kinds:
        psp, mean = ("E" if kind == "excitatory" else "I") + response, metrics[f"{prefix}_mean.{kind}"]
        parts.append(
            f"{int(metrics[f'n_units.{kind}'])} {kind} units, {int(metrics[f'n_responding.{kind}'])} responding, "
            + (f"mean {psp} {mean:.4g} {unit}" if math.isfinite(mean) else f"no mean {psp}")
        )
    return "; ".join(parts) + trials


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def _hydra_main(cfg: DictConfig) -> dict[str, float]:
    return run_job(cfg)


def one_line(exc: BaseException) -> str:
    """A single readable line for an exception from Hydra, OmegaConf or pspsweep."""
    if _is_environment_error(exc) and getattr(exc, "filename", None):
        assert isinstance(exc, OSError)
        return f"{exc.filename}: {exc.strerror} (free space, or choose a writable folder)"
    parts = [str(exc).strip()]
    cause = exc.__cause__ or exc.__context__
    # Hydra wraps OmegaConf's validation errors; their msg and full_key say what is wrong
    if cause is not None and not isinstance(exc, PspSweepError):
        msg = str(getattr(cause, "msg", None) or cause).strip().splitlines()[0]
        if msg and msg not in parts[0]:
            parts.append(msg)
        key = getattr(cause, "full_key", None)
        if key and key not in " ".join(parts):
            parts.append(f"(key: {key})")
    text = ": ".join(p for p in parts[:2] if p) + (" " + parts[2] if len(parts) > 2 else "")
    return " ".join(text.split())


def unknown_override(exc: BaseException) -> PspSweepError | None:
    """OmegaConf's "Key 'gampa' not in 'RunConfig'" (raised, or the cause of Hydra's "Could
    not override 'run.gampa'. To append to your config use +run.gampa=1") as pspsweep's
    unknown-key error with the closest key of the schema: the ``+`` Hydra suggests would
    add a key that nothing reads, and validation refuses it anyway."""
    for error in (exc, exc.__cause__):
        key = getattr(error, "full_key", None)
        schema = getattr(error, "object_type", None)
        if key and dataclasses.is_dataclass(schema) and " not in " in str(getattr(error, "msg", "")):
            prefix = key.rpartition(".")[0]
            fields = [f.name for f in dataclasses.fields(schema)]
            return unknown_key_error(key, [f"{prefix}.{name}" if prefix else name for name in fields])
    return None


class _DropHydraJobErrorLine(io.TextIOBase):
    """stderr without Hydra's "Error executing job with overrides" line.

    Hydra writes that line straight to stderr before re-raising a job's exception; the
    exception itself is reported by :func:`_entry` in one line, so the extra line goes.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if text.startswith("Error executing job with overrides:"):
            return len(text)
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding


#: the warnings this command has shown
_SHOWN_WARNINGS: set[str] = set()


def show_warning_once(message: Warning | str, category: type[Warning], *_args: object, **_kwargs: object) -> None:
    """Show a warning on stderr in one line, once per command (``warnings.showwarning``).

    Python's own once-per-place registry forgets whenever a library changes the warning
    filters, and a multirun reads the same inputs for every job: the same warning would
    come once per job and once more per job for the check before the sweep.
    """
    text = f"pspsweep: warning: {message}"
    if text in _SHOWN_WARNINGS:
        return
    _SHOWN_WARNINGS.add(text)
    print(text if category is UserWarning else f"{text} ({category.__name__})", file=sys.stderr)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the run is marked KILLED and finished chunks stay on disk."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _entry(fn: Callable[[], object]) -> None:
    """Run ``fn`` with pspsweep's error policy (one line, exit code, no traceback)."""
    verbose = "--traceback" in sys.argv or os.environ.get("PSPSWEEP_VERBOSE") == "1"
    sys.argv = [a for a in sys.argv if a != "--traceback"]
    # relative inputs and the default MLflow store resolve against where the user started
    remember_launch_dir()
    # make Hydra raise instead of printing its own multi-line report
    os.environ["HYDRA_FULL_ERROR"] = "1"
    warnings.showwarning = show_warning_once
    real_stderr = sys.stderr
    sys.stderr = _DropHydraJobErrorLine(real_stderr)
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        fn()
    except SystemExit:
        raise
    except KeyboardInterrupt as exc:
        fail_active_parent("KILLED")
        print("pspsweep: interrupted; run the same command again to continue from the finished chunks", file=sys.stderr)
        sys.exit(EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED)
    except BaseException as exc:  # noqa: BLE001 - the policy is to report every error in one line
        fail_active_parent()
        if isinstance(exc, SweepAborted):
            exc = exc.error
        exc = unknown_override(exc) or exc
        if verbose:
            traceback.print_exc()
        user_error = isinstance(exc, PspSweepError) or _is_config_error(exc) or _is_environment_error(exc)
        prefix = "error" if user_error else f"internal error ({type(exc).__name__})"
        hint = "" if user_error or verbose else " [run with --traceback for details]"
        print(redact(f"pspsweep: {prefix}: {one_line(exc)}{hint}"), file=sys.stderr)
        sys.exit(EXIT_USER_ERROR if user_error else EXIT_INTERNAL_ERROR)
    finally:
        sys.stderr = real_stderr


def _exit_quickly(entry: Callable[[], None]) -> None:
    """Run a console entry point, then end the process without the interpreter's teardown.

    Why: freeing the modules of MLflow, SQLAlchemy and pandas takes 1.5-2 s after every
    result is written. Exit handlers (logging, multiprocessing) still run and the output
    is flushed; while another non-daemon thread is alive the normal exit is taken.
    """
    code: str | int | None = 0
    try:
        entry()
    except SystemExit as exc:
        code = exc.code
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if others or not (code is None or isinstance(code, int)):
        sys.exit(code)
    atexit._run_exitfuncs()  # what the interpreter runs at exit, before its slow teardown
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more to write anyway
            pass
    os._exit(code or 0)


#: errors of the machine that a user fixes (a folder without write permission, a full disk)
_ENVIRONMENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


def _is_environment_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRNOS


def _is_config_error(exc: BaseException) -> bool:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    return isinstance(exc, (HydraException, OmegaConfBaseException))


def _help_asked(text: str) -> bool:
    """Print ``text`` for ``-h``/``--help`` among the arguments (a command without Hydra)."""
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(text)
        return True
    return False


def main() -> None:
    """``pspsweep [overrides]`` and ``pspsweep -m [sweep overrides]`` (ends the process)."""
    _exit_quickly(lambda: _entry(_hydra_main))


def mechanisms_main() -> None:
    """``pspsweep-mechanisms``: compile the shipped mechanism folders into the cache.

    Compiles the two sets the shipped configs use (``synapses`` for the demo,
    ``l5pt`` + ``synapses`` for ISF cells), or the folders named as arguments. Used at
    image build time so that runs never compile; prints each library path.
    """

    def build() -> None:
        from pspsweep.builders import mechanism_dirs
        from pspsweep.simulation.mechanisms import compile_mechanisms

        if _help_asked(
            "usage: pspsweep-mechanisms [MECHANISM_FOLDER ...]\n"
            "Compile NMODL mechanisms into the cache: the shipped sets (synapses; l5pt + synapses), or the\n"
            "folders named (a shipped set's name, or a path); prints each library's path."
        ):
            return
        sets = [sys.argv[1:]] if len(sys.argv) > 1 else [["synapses"], ["l5pt", "synapses"]]
        for names in sets:
            print(compile_mechanisms([Path(d) for d in mechanism_dirs(names)]))

    _entry(build)


def convert_param_main() -> None:
    """``pspsweep-convert-param PARAM_FILE [OUTPUT.yaml]``: ISF ``.param`` -> native neuron config.

    Writes the YAML to OUTPUT.yaml (parent folders are created) or, without it, to
    stdout. Relative paths are taken from the current directory. Use the result as a
    config group option: put it at ``DIR/neuron/NAME.yaml`` and run
    ``pspsweep hydra.searchpath=[file://DIR] neuron=NAME``.
    """
    import warnings

    usage = "usage: pspsweep-convert-param PARAM_FILE [OUTPUT.yaml]"

    def convert() -> None:
        from pspsweep.io.isf_param import read_param_file
        from pspsweep.io.native import (
            neuron_yaml_text,
            param_to_neuron_config,
            write_neuron_yaml,
        )

        args = sys.argv[1:]
        if _help_asked(usage + "\nConvert an ISF cell parameter file into a pspsweep neuron config (YAML)."):
            return
        if len(args) not in (1, 2):
            raise PspSweepError(usage)
        param = Path(args[0]).expanduser().absolute()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            config = param_to_neuron_config(read_param_file(param), param)
        for w in caught:  # e.g. the morphology found next to the parameter file
            print(f"pspsweep-convert-param: warning: {w.message}", file=sys.stderr)
        if len(args) == 1:
            sys.stdout.write(neuron_yaml_text(config, param))
            return
        out = write_neuron_yaml(config, Path(args[1]).expanduser(), param)
        print(f"pspsweep-convert-param: wrote {out.resolve()}", file=sys.stderr)

    _entry(convert)


def fit_main() -> None:
    """``pspsweep-fit PARENT_RUN_ID [overrides]``: refit a finished multirun from its store.

    Reads the jobs' ``psps.csv`` and the sweep's config from the MLflow store, applies
    the overrides (``fit.measured=PATH``, ``fit.groups=...``, ``tracking.uri=...``) and
    records the fit as a new run nested under the parent (earlier fits stay). Nothing is
    simulated.
    """
    usage = "usage: pspsweep-fit PARENT_RUN_ID [fit.measured=PATH] [other overrides]"

    def refit() -> None:
        import tempfile

        from omegaconf.errors import OmegaConfBaseException

        from pspsweep.fit.stage import fit_summary
        from pspsweep.hydra_callbacks import PARENT_CONFIG, fit_parent_run
        from pspsweep.validation import validate

        if _help_asked(
            usage + "\nFit the conductances of a finished multirun again from its MLflow store: the children's\n"
            "psps.csv and the sweep's config are read from there, the overrides applied (fit.*, tracking.uri)\n"
            "and the fit logged to the parent run. Nothing is simulated."
        ):
            return
        args = sys.argv[1:]
        if not args or args[0].startswith("-") or "=" in args[0]:
            raise PspSweepError(usage)
        run_id, overrides = args[0], args[1:]
        cli = OmegaConf.from_dotlist(overrides)
        base = launch_dir()
        uri = tracking.resolve_tracking_uri(OmegaConf.select(cli, "tracking.uri"), base)
        tracking.require_store(uri)
        with tempfile.TemporaryDirectory() as tmp:
            try:
                stored = OmegaConf.load(tracking.download_artifact(uri, run_id, PARENT_CONFIG, Path(tmp)))
            except Exception as exc:  # noqa: BLE001 - any store error means: not a pspsweep parent here
                raise PspSweepError(f"run {run_id} in {uri} is not a pspsweep multirun parent ({exc})") from None
            try:
                cfg = OmegaConf.merge(OmegaConf.structured(PspSweepConfig), stored, cli)
            except OmegaConfBaseException as exc:
                raise PspSweepError(f"bad override: {one_line(exc)}") from None
            typed: PspSweepConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
            validate(typed)
            if not typed.fit.measured:
                raise PspSweepError("fit.measured=PATH is needed (the measured EPSP table)")
            out = Path(tmp) / "fit"
            result, fit_run = fit_parent_run(typed, uri, run_id, out)
        if result.optimal is not None:
            print(fit_summary(result.optimal))
        print(
            f"pspsweep-fit: fit recorded as run {fit_run}, nested under the sweep's run {run_id} in {uri}\n"
            f"  {tracking.run_hint(uri, fit_run)}"
        )

    _exit_quickly(lambda: _entry(refit))


def export_nwb_main() -> None:
    """``pspsweep-export-nwb RUN_ID_OR_FOLDER [OUTPUT.nwb] [tracking.uri=URI]``: a finished
    sweep's traces as NWB (:func:`pspsweep.nwb.export`), from its output folder or its run."""
    usage = "usage: pspsweep-export-nwb RUN_ID_OR_FOLDER [OUTPUT.nwb] [tracking.uri=URI]"

    def export() -> None:
        from pspsweep.nwb import export as export_nwb

        if _help_asked(usage + "\nWrite a sweep's baseline and unit traces as NWB intracellular data."):
            return
        args = sys.argv[1:]
        overrides = dict(a.split("=", 1) for a in args if "=" in a)
        positional = [a for a in args if "=" not in a]
        if set(overrides) - {"tracking.uri"} or len(positional) not in (1, 2):
            raise PspSweepError(usage)
        out = Path(positional[1]).expanduser() if len(positional) == 2 else None
        path = export_nwb(positional[0], out, overrides.get("tracking.uri"))
        print(f"pspsweep-export-nwb: wrote {path.resolve()}", file=sys.stderr)

    _exit_quickly(lambda: _entry(export))
