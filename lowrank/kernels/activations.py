"""Activations and their slopes, selected by integer code inside kernels.

Codes: ``lowrank.model.codes.ACT_*`` (identity, relu, clipped_relu, tanh). ``x`` is the pre-activation ``M z + W_u v - h`` and
``h`` the unit's threshold, which clipped ReLU needs a second time:
``phi(x) = relu(x + h) - relu(x)``.
"""
import math

import numba

from ..config import CACHE, FASTMATH
from ..model.codes import ACT_CLIPPED_RELU, ACT_RELU, ACT_TANH


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def phi(code, x, h):
    if code == ACT_RELU:
        return x if x > 0.0 else 0.0
    if code == ACT_CLIPPED_RELU:
        return (x + h if x + h > 0.0 else 0.0) - (x if x > 0.0 else 0.0)
    if code == ACT_TANH:
        return math.tanh(x)
    return x


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def dphi_dx(code, x, h):
    """d phi / d x (the subgradient 0 at the kinks)."""
    if code == ACT_RELU:
        return 1.0 if x > 0.0 else 0.0
    if code == ACT_CLIPPED_RELU:
        return (1.0 if x + h > 0.0 else 0.0) - (1.0 if x > 0.0 else 0.0)
    if code == ACT_TANH:
        t = math.tanh(x)
        return 1.0 - t * t
    return 1.0


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def dphi_dh(code, x, h):
    """d phi / d h holding x fixed (non-zero only for clipped ReLU)."""
    if code == ACT_CLIPPED_RELU:
        return 1.0 if x + h > 0.0 else 0.0
    return 0.0
