"""Atomic file writes: readers see the old file or the new one, never a part of either."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets


def write_atomically(path: str | os.PathLike, data: bytes | bytearray) -> None:
    """Writes ``data`` to ``path`` through a temporary file in the same folder: written,
    flushed and fsynced, renamed over ``path`` (``os.replace``, atomic on POSIX and Windows),
    then the folder fsynced so that the rename itself survives a crash.

    If anything fails (a full disk, an interrupt), the temporary file is removed and ``path``
    is untouched. A process killed outright can leave the temporary file behind: it is named
    ``.<name>.<random>.tmp`` next to ``path``.
    """
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    temporary = os.path.join(folder, f".{name}.{secrets.token_hex(8)}.tmp")
    # 0o666 and O_EXCL: the process's umask applies as for any new file, and no other file of
    # that name is ever overwritten.
    fd = os.open(
        temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
    )
    try:
        with open(fd, "wb", closefd=True) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    """Makes a rename in ``folder`` durable (POSIX; Windows has no folder handles to sync)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:
        # Some file systems (network mounts, FUSE) cannot sync a folder; the file itself is.
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)
