"""Standard normals from uniforms (Box–Muller), vectorised, in chunks spread over threads.

The SMC draws are ``n`` standard normals per call (256,000 for a spiking
batch). numpy's ziggurat makes them one at a time, at ~8 ns each on the
project's machine: 2 ms, a tenth of a training step. Uniforms come at
~1.7 ns, and the Box–Muller map from pairs of uniforms to pairs of normals
is pure arithmetic that vectorises:

    x[i]     = sqrt(-2 log(1 - u[i])) · cos(2π u[m + i])
    x[m + i] = sqrt(-2 log(1 - u[i])) · sin(2π u[m + i])        i < m

over ``u`` (2m,) uniform in [0, 1). ``1 - u`` lies in (0, 1] and is exact
(``u`` is a multiple of 2^-53), so the logarithm is finite. Pairing the two
halves rather than neighbours keeps every access contiguous.
``sincos_2pi`` reduces ``2π b`` to ``|x| <= π/4`` around the nearest
multiple of π/2 (``b − q/4`` is exact) and evaluates the Taylor
polynomials of sin (to x^15) and cos (to x^16), whose first omitted
terms are below 6e-17 relative there; the quadrant's signs and swap are
selects. Each element depends only on its own pair, so the result does
not depend on the thread count.

The chunks run on :mod:`.threads`' pool, as the SMC kernels do, not in a
``prange`` loop: a parallel region leaves Numba's OpenMP threads spinning
for a while after it ends, and the particle filter that follows the draws
then shared its cores with them (on the project's 2-core machine the EEG
step took 8.8 ms instead of 4.2 ms with two threads, slower than with one).
"""
import math

import numba

from ..config import CACHE
from .threads import over_sequences
from .vmath import _fma, log_s

_TWO_PI = 2.0 * math.pi
# sin x = x (1 + z (S1 + z (S2 + ...))), cos x = 1 + z (C1 + ...), z = x^2
(_S1, _S2, _S3, _S4, _S5, _S6, _S7) = ((-1.0) ** k / math.factorial(2 * k + 1) for k in range(1, 8))
(_C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8) = ((-1.0) ** k / math.factorial(2 * k) for k in range(1, 9))

# Pairs per chunk (a chunk's loop vectorises).
CHUNK = 8192


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def sincos_2pi(b):
    """``(sin 2πb, cos 2πb)`` for ``b`` in [0, 1)."""
    q = math.floor(4.0 * b + 0.5)            # nearest quarter turn, 0..4
    x = _TWO_PI * (b - 0.25 * q)             # |x| <= π/4; b - q/4 is exact
    z = x * x
    s = x + x * z * _fma(z, _fma(z, _fma(z, _fma(z, _fma(z, _fma(z, _S7, _S6), _S5), _S4), _S3), _S2), _S1)
    c = 1.0 + z * _fma(z, _fma(z, _fma(z, _fma(z, _fma(z, _fma(z, _fma(z, _C8, _C7), _C6), _C5), _C4),
                                           _C3), _C2), _C1)
    # Quadrant q (4 is 0) by float compares: an int conversion keeps LLVM from vectorising.
    odd = q == 1.0 or q == 3.0
    sin = c if odd else s
    cos = s if odd else c
    sin = -sin if q == 2.0 or q == 3.0 else sin
    cos = -cos if q == 1.0 or q == 2.0 else cos
    return sin, cos


@numba.njit(fastmath=False, error_model="numpy", cache=CACHE)
def _box_muller_pairs(a, b):
    """The pairs ``a[i]``, ``b[i]`` in place (a slice of :func:`box_muller`'s halves)."""
    # a loop over range(lo, hi) of the whole halves stays scalar: pass slices
    for i in range(a.shape[0]):
        r = math.sqrt(-2.0 * log_s(1.0 - a[i]))
        s, c = sincos_2pi(b[i])
        a[i] = r * c
        b[i] = r * s


@numba.njit(nogil=True, fastmath=False, error_model="numpy", cache=CACHE)
def box_muller_chunks(start, step, u):
    """Chunks ``start, start + step, ...`` (``CHUNK`` pairs each) of :func:`box_muller` on ``u``
    (2m,), in place, without the GIL (:mod:`.threads`)."""
    m = u.shape[0] // 2
    for c in range(start, (m + CHUNK - 1) // CHUNK, step):
        lo, hi = c * CHUNK, min(m, (c + 1) * CHUNK)
        _box_muller_pairs(u[lo:hi], u[m + lo:m + hi])


def box_muller(u):
    """Turn ``u`` (2m,) uniforms in [0, 1) into 2m standard normals, in place (see the module docstring)."""
    m = u.shape[0] // 2
    over_sequences(box_muller_chunks, (m + CHUNK - 1) // CHUNK, u)
