"""Which chunk killed its worker: notes the workers leave while they run a chunk.

:func:`run_noted` runs in the workers (so this module stays light); :func:`read_notes`
and :func:`crashed` run in the launching process after a pool broke.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_noted(notes: str, position: int, fn: Callable, *args):
    """Run task ``position`` in a worker, with a note (a file named by the worker's pid)
    saying so while it runs: what tells a chunk that killed its worker from the others."""
    note = Path(notes) / str(os.getpid())
    try:
        note.write_text(str(position))
    except OSError:  # only a clue for crash counting: without it every running task counts
        pass
    try:
        return fn(*args)
    finally:
        note.unlink(missing_ok=True)


def read_notes(notes: Path) -> dict[int, int]:
    """The task each worker (by pid) was running, from :func:`run_noted`'s notes."""
    running = {}
    for note in notes.iterdir():
        try:
            running[int(note.name)] = int(note.read_text())
        except (OSError, ValueError):  # a note being written when its worker died
            pass
        note.unlink(missing_ok=True)
    return running


def crashed(processes: dict[int, Any], running: dict[int, int], unfinished: set[int]) -> set[int]:
    """Tasks whose own worker died while running them.

    A broken pool stops its other workers with SIGTERM: their tasks were bystanders. If
    no worker died on its own (say, SIGTERM from outside), every running task counts.
    """
    running = {pid: i for pid, i in running.items() if i in unfinished}
    died = {
        i for pid, i in running.items() if pid in processes and processes[pid].exitcode not in (None, -signal.SIGTERM)
    }
    return died or set(running.values())
