"""One content-hash scheme for every key pspsweep derives from plain data.

:func:`content_hash` is a SHA-256 over a canonical encoding: equal content gives equal
bytes in every process and on every run, unlike a pickle, whose bytes also depend on
which equal objects happen to be shared. Floats are encoded exactly (``float.hex``),
arrays by dtype, shape and raw bytes, dataclasses by type and field names.
"""

from __future__ import annotations

import enum
import hashlib
import os
import pickle
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np


def content_hash(*items: Any) -> str:
    """The hex SHA-256 of the canonical encoding of ``items`` (plain data: dataclasses,
    enums, lists, tuples, dicts, numbers, strings, None, paths, numpy arrays)."""
    digest = hashlib.sha256()
    feed(digest, items)
    return digest.hexdigest()


def feed(digest: Any, obj: Any) -> None:
    """Feed the canonical encoding of ``obj`` to ``digest`` (a ``hashlib`` object)."""
    if obj is None or isinstance(obj, (bool, int, str)):
        digest.update(f"{type(obj).__name__}:{obj!r};".encode())
    elif isinstance(obj, float):
        digest.update(f"float:{float(obj).hex()};".encode())
    elif isinstance(obj, (np.ndarray, np.generic)):
        _feed_array(digest, np.asarray(obj))
    elif is_dataclass(obj) and not isinstance(obj, type):
        digest.update(f"{type(obj).__module__}.{type(obj).__qualname__}{{".encode())
        for f in fields(obj):
            digest.update(f"{f.name}=".encode())
            feed(digest, getattr(obj, f.name))
        digest.update(b"}")
    elif isinstance(obj, enum.Enum):
        digest.update(f"{type(obj).__module__}.{type(obj).__qualname__}.".encode())
        feed(digest, obj.value)
    elif isinstance(obj, (list, tuple)):
        digest.update(f"{type(obj).__name__}[{len(obj)}](".encode())
        for item in obj:
            feed(digest, item)
        digest.update(b")")
    elif isinstance(obj, dict):
        digest.update(f"dict[{len(obj)}]{{".encode())
        for k, v in obj.items():
            feed(digest, k)
            feed(digest, v)
        digest.update(b"}")
    elif isinstance(obj, os.PathLike):
        feed(digest, os.fspath(obj))
    else:
        digest.update(f"pickle:{type(obj).__qualname__}:".encode())
        digest.update(pickle.dumps(obj, protocol=5))


def _feed_array(digest: Any, arr: np.ndarray) -> None:
    if arr.dtype.hasobject:
        feed(digest, ("object-array", arr.shape, arr.ravel().tolist()))
        return
    arr = np.ascontiguousarray(arr)
    digest.update(f"ndarray:{arr.dtype.str}:{arr.shape};".encode())
    digest.update(arr.tobytes())


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The hex SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
