"""Per-thread scratch arrays reused from one ELBO call to the next.

A training step allocates ~10 MB of short-lived arrays (the draws, the
forward pass's records, the encoder's activations) and frees them at its
end. glibc hands memory that large back to the system on free, so every
call page-faults all of it in again: on the project's 2-core machine about
2,200 faults and 2–4 ms per spiking ELBO call of 20 ms (bench/smc.py).
A :class:`Workspace` keeps such arrays between calls instead.

Only a call whose arrays do not outlive it may use one
(:func:`lowrank.smc.elbo` without ``return_particles``): the next call in
the same thread overwrites them. Each thread has its own
(:func:`thread_workspace`), so concurrent fits never share one. Arrays over
:data:`MAX_BYTES` in total are not kept (a large problem's page faults are
small beside its compute, and a thread should not hold gigabytes);
:func:`release` frees the calling thread's arrays.
"""
import threading

import numpy as np

# Most bytes a thread's workspace keeps; arrays beyond are allocated per call.
MAX_BYTES = 256 * 2**20


class Workspace:
    """Named scratch arrays, kept between calls (see the module docstring)."""

    def __init__(self, max_bytes=MAX_BYTES):
        self.max_bytes = int(max_bytes)
        self._arrays = {}

    @property
    def nbytes(self):
        """Bytes held."""
        return sum(a.nbytes for a in self._arrays.values())

    def empty(self, name, shape, dtype=np.float64):
        """An uninitialised array of ``shape`` and ``dtype``, the one returned for ``name``
        last time when it has the same shape and dtype."""
        shape = tuple(int(n) for n in shape)
        a = self._arrays.get(name)
        if a is not None and a.shape == shape and a.dtype == dtype:
            return a
        self._arrays.pop(name, None)
        a = np.empty(shape, dtype)
        if self.nbytes + a.nbytes <= self.max_bytes:
            self._arrays[name] = a
        return a

    def clear(self):
        """Drop every array."""
        self._arrays.clear()


class Fresh:
    """The allocator of calls whose arrays outlive them: a new array every time."""

    @staticmethod
    def empty(name, shape, dtype=np.float64):
        """A new uninitialised array (``name`` is ignored)."""
        return np.empty(shape, dtype)


FRESH = Fresh()

_local = threading.local()


def thread_workspace() -> Workspace:
    """The calling thread's :class:`Workspace`."""
    ws = getattr(_local, "workspace", None)
    if ws is None:
        ws = _local.workspace = Workspace()
    return ws


def release():
    """Free the arrays kept by the calling thread's workspace."""
    thread_workspace().clear()
