"""pspsweep.hashing.content_hash: one canonical content hash for every key.

Checked against what a key must do: equal content gives an equal hash whatever the
object sharing (a pickle's bytes differ there) and in another process; any change of a
value, a float's last bit, an array's dtype or a dataclass's type gives another hash.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np

from pspsweep.cellmodel import SimSettings
from pspsweep.hashing import content_hash, file_sha256


def test_equal_content_equal_hash_whatever_is_shared():
    shared = [1.0, "x"]
    assert content_hash([shared, shared]) == content_hash([list(shared), list(shared)])
    assert content_hash(SimSettings()) == content_hash(SimSettings())
    assert len(content_hash()) == 64


def test_every_difference_changes_the_hash():
    base = SimSettings()
    values = [
        (base, {"a": 1}),
        (replace(base, dt=base.dt * (1 + 2**-52)), {"a": 1}),  # the last bit of a float
        (base, {"a": 2}),
        (base, {"b": 1}),
        (base, {"a": 1.0}),  # a float is not an int
        ((base.v_init, base.dt, base.celsius), {"a": 1}),  # a tuple is not the dataclass
        (base, np.array([1], dtype=np.int64)),
        (base, np.array([1], dtype=np.int32)),
        (base, np.array([[1]], dtype=np.int64)),
        (base, None),
    ]
    hashes = [content_hash(*v) for v in values]
    assert len(set(hashes)) == len(hashes)
    # the items are hashed as a sequence: grouping them differently is another content
    assert content_hash(1, 2) != content_hash((1, 2))


def test_hash_is_the_same_in_another_process():
    code = (
        "import numpy as np; from pspsweep.cellmodel import SimSettings; from pspsweep.hashing import content_hash; "
        "print(content_hash(SimSettings(), {'g': [0.5, 1.5]}, np.arange(4.0), None, 'x'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == content_hash(SimSettings(), {"g": [0.5, 1.5]}, np.arange(4.0), None, "x")


def test_file_sha256(tmp_path):
    import hashlib

    path = tmp_path / "f.bin"
    data = bytes(range(256)) * 5000  # several read blocks
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
