"""The CUDA kernels' tests: skipped unless numba-cuda imports and either the simulator is on
(``NUMBA_ENABLE_CUDASIM=1``, set before numba is imported) or a GPU is present.

Run them as their own pytest invocation::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda

The test modules import :mod:`lowrank.kernels.cuda` through the ``gpu``
fixture only, so they collect (and skip) without numba-cuda.
"""
import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


def _missing_cuda():
    """Why the CUDA tests cannot run here, or None."""
    try:
        from numba import cuda
    except ImportError as exc:
        return f"numba-cuda is not importable ({exc}); install the cuda extra"
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return None
    try:
        if cuda.is_available():
            return None
    except Exception:  # a driver that fails to load is no GPU either
        pass
    return "no CUDA GPU and the simulator is off: run with NUMBA_ENABLE_CUDASIM=1 set before numba is imported"


REASON = _missing_cuda()


@pytest.fixture(autouse=True)
def _require_cuda():
    if REASON:
        pytest.skip(REASON)


@pytest.fixture
def gpu(monkeypatch):
    """:mod:`lowrank.kernels.cuda`, with blocks as small as the particles allow (the
    simulator runs a Python thread per CUDA thread)."""
    import lowrank.kernels.cuda as gpu
    from lowrank.kernels.cuda import launch
    monkeypatch.setattr(launch, "MIN_THREADS", 1)
    return gpu
