"""Atomic writes (_atomic.py): a process killed while saving leaves the previous file whole.

The failures that Python sees (a full disk mid-write, a failing fsync or rename) are tested
through attnlab.save in tests/test_checkpoint.py; this file kills a process outright."""

import os
import signal
import subprocess
import sys
import textwrap

import attnlab as al
from attnlab._atomic import write_atomically


def test_write_replaces_the_file(tmp_path):
    path = tmp_path / "f.bin"
    write_atomically(path, b"old")
    write_atomically(str(path), b"new")
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["f.bin"]


def test_a_process_killed_while_saving_leaves_the_previous_file_loadable(tmp_path):
    path = tmp_path / "model.safetensors"
    child = textwrap.dedent(f"""
        import os, signal
        import attnlab as al
        model = al.nn.Linear(256, 256)
        al.save(model, {str(path)!r}, step=1)
        # killed after the new file's bytes are written, before its rename: the last moment
        # the old file is still the one at the path
        os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
        al.save(model, {str(path)!r}, step=2)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", child], env=env, timeout=120)
    assert result.returncode == -signal.SIGKILL
    assert al.load(path).step == 1
    # the killed save's temporary file stays, recognisably named
    leftovers = sorted(set(os.listdir(tmp_path)) - {"model.safetensors"})
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.safetensors.")
    assert leftovers[0].endswith(".tmp")
