"""Sequences spread over threads: a Python thread pool running one compiled, GIL-free kernel.

The SMC and encoder kernels handle one sequence per thread, the fixed-point
enumerator (:mod:`.arrangement`) one chunk of regions. They used to
do so with ``numba.prange``, but a parallel kernel costs its callee's whole
compile twice more: Numba links the machine-independent code (LLVM IR) of
every function a kernel calls into the kernel and optimises the result
again, and a ``prange`` loop adds two such levels (the loop body and the
kernel around it). For the particle filter and its reverse mode that was
more than half of a cold start, and 40 % of the fixed-point enumerator's. So each of them is one plain kernel,
``kernel(start, step, *args)``, running sequences ``start, start + step,
...`` with the GIL released (``nogil=True``), and :func:`over_sequences`
runs ``step`` such calls at once, one per thread.

Each sequence writes only its own rows, so the numbers do not depend on the
number of threads. That number is Numba's, ``numba.get_num_threads()`` of
the calling thread (``NUMBA_NUM_THREADS``, or ``numba.set_num_threads``).
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import numba

__all__ = ["over_sequences"]

_pool = None
_pool_lock = threading.Lock()


def _executor():
    """The shared pool: one thread fewer than Numba's, as the calling thread takes a share too."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, numba.config.NUMBA_NUM_THREADS - 1),
                                       thread_name_prefix="lowrank-sequences")
        return _pool


def over_sequences(kernel, n_seq, *args):
    """Run ``kernel(start, step, *args)`` for ``start`` in ``range(step)`` at once, one per thread.

    ``step = min(numba.get_num_threads(), n_seq)``: thread ``start`` takes the
    sequences ``start, start + step, ...`` of ``n_seq``. Returns when every share
    is done, also when the calling thread's share raised or was interrupted
    (Ctrl-C), so that no thread still writes into the caller's arrays; the first
    error is then raised.
    """
    step = min(numba.get_num_threads(), n_seq)
    if step <= 1 or threading.current_thread().name.startswith("lowrank-sequences"):
        kernel(0, 1, *args)
        return
    pool = _executor()
    futures = [pool.submit(kernel, start, step, *args) for start in range(1, step)]
    try:
        kernel(0, step, *args)
    finally:
        _wait(futures)
    for f in futures:
        f.result()


def _wait(futures):
    """Wait for every future, even through a KeyboardInterrupt (raised again afterwards)."""
    interrupted = None
    for f in futures:
        while True:
            try:
                f.exception()
                break
            except KeyboardInterrupt as exc:
                interrupted = exc
    if interrupted is not None:
        raise interrupted
