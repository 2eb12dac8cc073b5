"""The one error type pspsweep raises for problems a user can fix."""

from __future__ import annotations


class PspSweepError(Exception):
    """A problem with the user's input or environment.

    The message names the culprit (file and line, config key, cell type, ...)
    and is shown on one line without a traceback by the command-line entry points.
    """


class InputFileError(PspSweepError):
    """A malformed or missing input file; the message names the file and line."""

    def __init__(self, path: object, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.detail = message

    def __reduce__(self):  # keep the exception picklable across worker processes
        return (type(self), (self.path, self.detail, self.line))
