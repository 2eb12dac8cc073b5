"""Opening an MLflow run in a background thread while the sweep already simulates.

Kept apart from :mod:`pspsweep.tracking` (which creates the run through the callables
given here): it is about threads and the order of events, not about MLflow.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pspsweep.tracking import MlflowTracker, Tracker

log = logging.getLogger(__name__)


class RunReused(BaseException):
    """A finished run of the same sweep turned up after the sweep had started: stop it and
    reuse that run. A BaseException, so that no ``except Exception`` on the way swallows it."""


class BackgroundRun:
    """An MLflow run opened in a background thread while the sweep already simulates.

    Why: opening a run takes seconds of Python (importing MLflow, opening the store and,
    for a new SQLite store, creating its schema). NEURON keeps the GIL while it
    integrates, so this overlaps only with units simulated in other processes; the
    command uses it when they run on local worker processes.

    The thread runs, in order, what the command did before simulating: ``lookup`` (a
    finished run of the same sweep to reuse, or None), and only when there is none
    ``create`` (the tracker) and ``record`` (params and tags), then ``then`` (optional
    work for an idle moment). A reused sweep thus creates no run of its own.
    :meth:`for_sweep` and the methods of :meth:`pipeline_tracker` raise in the calling
    thread what the opening raised, or :class:`RunReused`. The executor is not raised
    into: an opening that fails or finds a finished run sets ``cancel``, which the
    executor asks between chunks.
    """

    def __init__(
        self,
        create: Callable[[], MlflowTracker],
        lookup: Callable[[], str | None],
        record: Callable[[MlflowTracker], None],
        then: Callable[[], object] | None = None,
        background: bool = True,
        may_reuse: bool = True,
        cancel: threading.Event | None = None,
    ) -> None:
        """``background=False`` opens the run here and now (``then`` is not run).
        ``may_reuse=False`` (no finished run can turn up: a new store, or none looked up):
        :meth:`hold` never holds chunks back. ``cancel`` is set when the opening fails or
        finds a finished run of the same sweep (before :meth:`hold` turns False)."""
        self._may_reuse = may_reuse
        self._cancel = cancel
        #: the tracker once created (also when a later step failed: it still needs ending)
        self.tracker: MlflowTracker | None = None
        #: the finished run to reuse, once looked up
        self.previous: str | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        if not background:
            self._open(create, lookup, record, None)
            return
        threading.Thread(
            target=self._open, args=(create, lookup, record, then), name="pspsweep-open-run", daemon=True
        ).start()

    def _open(
        self,
        create: Callable[[], MlflowTracker],
        lookup: Callable[[], str | None],
        record: Callable[[MlflowTracker], None],
        then: Callable[[], object] | None,
    ) -> None:
        try:
            self.previous = lookup()
            if self.previous is None:
                self.tracker = create()
                record(self.tracker)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            self._error = exc
        finally:
            if self._cancel is not None and (self._error is not None or self.previous is not None):
                self._cancel.set()  # before _done: whoever sees hold() turn False sees this
            self._done.set()
        if then is not None and self._error is None and self.previous is None:
            try:
                then()
            except Exception:
                log.debug("background work after opening the run failed", exc_info=True)

    def wait(self) -> MlflowTracker | None:
        """The opened tracker (waits for it), None when a finished run is reused; raises
        what the opening raised."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self.tracker

    def hold(self) -> bool:
        """For the executor: True while the run is still opening and may turn out to be a
        reuse (finished chunks wait, so that nothing is written then), else False. Never
        raises: how the opening ended is told by ``cancel``."""
        return self._may_reuse and not self._done.is_set()

    def for_sweep(self) -> MlflowTracker:
        """The opened tracker (waits for it), for a sweep that simulated: raises the
        opening's error, or :class:`RunReused` when there is a finished run to reuse."""
        tracker = self.wait()
        if self.previous is not None:
            raise RunReused(self.previous)
        assert tracker is not None
        return tracker

    def end(self, status: str) -> None:
        """End the run (waits for the opening) if it was created."""
        self._done.wait()
        if self.tracker is not None:
            self.tracker.end(status)

    def pipeline_tracker(self) -> Tracker:
        """A :class:`Tracker` for the sweep: every call waits for the opening, then raises
        like :meth:`for_sweep` or passes the call on."""
        return _OpenedRun(self)


class _OpenedRun:
    """The :class:`Tracker` of a :class:`BackgroundRun` (see its ``pipeline_tracker``)."""

    def __init__(self, run: BackgroundRun) -> None:
        self._run = run

    @property
    def run_id(self) -> str | None:
        return self._run.for_sweep().run_id

    @run_id.setter
    def run_id(self, value: str | None) -> None:
        raise AttributeError("the run id of an opened run is MLflow's")

    def log_params(self, params: Mapping[str, str]) -> None:
        self._run.for_sweep().log_params(params)

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        self._run.for_sweep().log_metrics(metrics)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._run.for_sweep().set_tags(tags)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._run.for_sweep().log_artifact(path, artifact_path)

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        self._run.for_sweep().log_artifacts(folder, artifact_path)

    def end(self, status: str = "FINISHED") -> None:
        self._run.for_sweep().end(status)
