"""Atomic file writes: a reader sees the old file or the new one, never a mix.

Every file lowrank writes (models, checkpoints, samples, tables, figures)
goes through :func:`atomic_write`: the content goes to a temporary file in
the destination's folder, is flushed and fsynced, and is then renamed over
the destination (``os.replace``, atomic on POSIX and Windows). A process
killed mid-write leaves the destination untouched and, at worst, a
temporary named ``.<name>.<pid>.<random>.lowrank-tmp`` beside it; the next
write to the same destination removes temporaries whose process is gone.
"""
from __future__ import annotations

import contextlib
import os
import tempfile

TMP_SUFFIX = ".lowrank-tmp"


def atomic_write(path, write):
    """Write ``path`` atomically.

    Parameters
    ----------
    path : str or PathLike
        Destination; its folder must exist.
    write : callable
        ``write(fh)`` writes the whole content to the binary file object ``fh``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    remove_stale_temporaries(folder, base)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def remove_stale_temporaries(folder, base):
    """Delete temporaries of ``base`` in ``folder`` left by processes that no longer run."""
    prefix = f".{base}."
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(TMP_SUFFIX)):
            continue
        pid = name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and _alive(int(pid)):
            continue                              # another process may be writing right now
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, name))


def _alive(pid):
    if pid == os.getpid():
        return False                              # our own earlier, failed write
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True                               # exists, owned by someone else
    return True


def _fsync_folder(folder):
    # Makes the rename itself durable; not every platform can open a folder.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
