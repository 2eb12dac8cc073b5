"""Writing result files atomically: a killed or failing writer leaves no partial file."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from pspsweep.errors import PspSweepError


def unique_tmp(final: Path) -> Path:
    """A temporary name beside ``final`` that no other writer (process or thread) uses."""
    return final.with_name(f"{final.stem}.tmp{os.getpid()}-{secrets.token_hex(4)}{final.suffix}")


def write_error(what: str, folder: Path, exc: OSError, remedy: str) -> PspSweepError:
    """The one-line error for a file that cannot be written (disk full, read-only, no permission)."""
    reason = (exc.strerror or str(exc)).lower()
    return PspSweepError(f"cannot write {what} in {folder}: {reason}: {remedy}")


def write_atomically(final: Path, write: Callable[[Path], None], what: str, remedy: str) -> Path:
    """Call ``write`` on a temporary path beside ``final``, then rename it into place.

    Raises:
        PspSweepError: ``write`` failed with an OSError (named ``what``, with ``remedy``);
            the temporary file is gone either way.
    """
    tmp = unique_tmp(final)
    try:
        write(tmp)
        os.replace(tmp, final)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(what, final.parent, exc, remedy) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final
