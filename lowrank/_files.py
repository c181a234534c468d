"""Atomic file writes: a reader sees the old file or the new one, never a mix.

Every file lowrank writes (models, checkpoints, samples, tables, figures)
goes through :func:`atomic_write`: the content goes to a temporary file in
the destination's folder, is flushed and fsynced, and is then renamed over
the destination (``os.replace``, atomic on POSIX and Windows). A process
killed mid-write leaves the destination untouched and, at worst, a
temporary named ``.<name>.<pid>.<random>.lowrank-tmp`` beside it; the next
write to the same destination removes temporaries whose process is gone
(and this process's own, except those another thread is writing now).

The new file gets the permissions of the file it replaces, or those of a
plain ``open(path, "w")`` (``0o666`` less the umask) when there was none,
not the owner-only mode of a fresh temporary.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading

TMP_SUFFIX = ".lowrank-tmp"

_active = set()                  # temporaries this process is writing right now (all threads)
_active_lock = threading.Lock()


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
    mode = _target_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=folder)
    with _active_lock:
        _active.add(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            with contextlib.suppress(OSError):       # e.g. a file system without permissions
                os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        with _active_lock:
            _active.discard(tmp)
    _fsync_folder(folder)


def remove_stale_temporaries(folder, base):
    """Delete temporaries of ``base`` in ``folder`` left by writers that no longer run.

    A temporary is stale when the process named in it has gone, or when it is
    this process's own and no thread of it is writing it (an earlier write
    that failed before it could clean up).
    """
    prefix = f".{base}."
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(TMP_SUFFIX)):
            continue
        full = os.path.join(folder, name)
        pid = name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and _alive(int(pid)):
            continue                              # another process may be writing right now
        with _active_lock:
            if full in _active or os.path.abspath(full) in _active:
                continue                          # another thread of ours is writing it
        with contextlib.suppress(OSError):
            os.unlink(full)


def _alive(pid):
    if pid == os.getpid():
        return False                              # ours: _active tells which are in progress
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True                               # exists, owned by someone else
    return True


def _target_mode(path):
    """Permission bits for the new file: the old file's, else 0o666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        pass
    umask = _umask()
    return 0o666 & ~umask


def _umask():
    # os.umask can only be read by setting it; /proc gives it without the race where available.
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    old = os.umask(0o022)
    os.umask(old)
    return old


def _fsync_folder(folder):
    # Makes the rename itself durable; not every platform can open a folder.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
