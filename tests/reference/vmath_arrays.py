"""Element-wise array forms of :mod:`lowrank.kernels.vmath`'s scalar functions (``*_v``).

Test and benchmark references only (tests/test_vmath.py, bench/vmath.py): the
library calls the scalar functions inside its own kernels. Each loop is what
an SMC kernel's loop over channels is, so LLVM must vectorise it (the tests
read the IR). Not cached on disk: these kernels inline vmath's scalar
functions, and the kernels' cache stamp covers lowrank/ only.
"""
import numba

from lowrank.config import FASTMATH
from lowrank.kernels.vmath import exp_s, log1p_s, log_s, sigmoid_s, softplus_parts, softplus_s


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=False)
def exp_v(x, out):
    """``out[i] = e^x[i]``. ``x``, ``out``: (n,) float64 (may be the same array)."""
    for i in range(x.shape[0]):
        out[i] = exp_s(x[i])


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=False)
def log_v(x, out):
    """``out[i] = log(x[i])``. ``x``, ``out``: (n,) float64."""
    for i in range(x.shape[0]):
        out[i] = log_s(x[i])


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=False)
def log1p_v(x, out):
    """``out[i] = log(1 + x[i])``. ``x``, ``out``: (n,) float64."""
    for i in range(x.shape[0]):
        out[i] = log1p_s(x[i])


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=False)
def softplus_v(x, out):
    """``out[i] = log(1 + e^x[i])``. ``x``, ``out``: (n,) float64."""
    for i in range(x.shape[0]):
        out[i] = softplus_s(x[i])


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=False)
def log_softplus_v(x, out):
    """``out[i] = log softplus(x[i])`` (finite for finite ``x``). ``x``, ``out``: (n,) float64."""
    for i in range(x.shape[0]):
        out[i] = softplus_parts(x[i])[1]


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=False)
def sigmoid_v(x, out):
    """``out[i] = 1 / (1 + e^-x[i])``. ``x``, ``out``: (n,) float64."""
    for i in range(x.shape[0]):
        out[i] = sigmoid_s(x[i])


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=False)
def dlog_softplus_v(x, out):
    """``out[i] = sigmoid(x[i]) / softplus(x[i])``. ``x``, ``out``: (n,) float64."""
    for i in range(x.shape[0]):
        out[i] = softplus_parts(x[i])[3]
