"""What every input-file reader shares: opening text files, quoting lines, parsing numbers.

One way for all readers, so that a UTF-8 BOM, a huge line or ``6_2`` in an integer
field are treated the same in ``.syn``, ``.con``, ``.hoc``, ``.swc`` and ``.param``.
"""

from __future__ import annotations

import os
import re

from pspsweep.errors import InputFileError

#: Characters of an offending line shown in a message (a line can be megabytes long).
QUOTE_LIMIT = 80

_INTEGER = re.compile(r"-?[0-9]+")
_NON_NEGATIVE_INTEGER = re.compile(r"[0-9]+")


def read_text(path: os.PathLike | str, what: str) -> str:
    """The whole text of an input file, a leading UTF-8 BOM removed.

    Args:
        path: the file.
        what: what the file is, for messages (``"synapse (.syn)"``).

    Raises:
        InputFileError: the file is missing, a directory, unreadable or not UTF-8.
    """
    try:
        # utf-8-sig: editors on Windows write a BOM; it is no part of the first line
        with open(path, encoding="utf-8-sig", errors="strict") as fh:
            return fh.read()
    except FileNotFoundError:
        raise InputFileError(path, f"{what} file not found") from None
    except IsADirectoryError:
        raise InputFileError(path, f"{what} path is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read {what} file: {exc}") from None


def read_lines(path: os.PathLike | str, what: str) -> list[str]:
    """The lines of an input file (see :func:`read_text`), without line ends."""
    return read_text(path, what).splitlines()


def shorten(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def elided(text: str, limit: int = 60) -> str:
    """``text`` of at most ``limit`` characters, its middle replaced by ``...``: a long
    path keeps its start and its file name."""
    if len(text) <= limit:
        return text
    head = (limit - 3) // 3
    return f"{text[:head]}...{text[len(text) - (limit - 3 - head) :]}"


def quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``repr`` of a stripped line or field, cut to ``limit`` characters."""
    text = text.strip()
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def parse_int(token: str, *, negative: bool = False) -> int:
    """An integer written as ASCII digits (a leading ``-`` only if ``negative``).

    Python's ``int`` also takes ``6_2``, ``+62`` and non-ASCII digits; none of those is
    an integer in an input file.

    Raises:
        ValueError: anything else.
    """
    pattern = _INTEGER if negative else _NON_NEGATIVE_INTEGER
    if not pattern.fullmatch(token.strip()):
        raise ValueError(f"not an integer: {token!r}")
    return int(token)


def parse_float(token: str) -> float:
    """A number as ``float`` reads it, but without ``_`` digit separators (``1_0``).

    Callers check finiteness themselves (their messages differ).

    Raises:
        ValueError: anything else.
    """
    if "_" in token:
        raise ValueError(f"not a number: {token!r}")
    return float(token)
