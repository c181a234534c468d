"""Branch-free ``exp``, ``log``, ``log1p`` and the Poisson link terms, vectorisable by LLVM.

The PyPI llvmlite has no SVML, so ``math.exp``/``math.log`` inside a loop stay
scalar libm calls and the Poisson likelihoods ran one channel at a time. The
functions here are polynomials with range reduction and bit manipulation
only (no calls; every branch is a select of values already computed), so a
loop over the D channels compiles to packed SIMD code (bench/vmath.py).

Scalar functions (``*_s``, ``softplus_parts``, ``poisson_channel``: for use
inside other kernels, always inlined); their element-wise array forms (``*_v``),
which only the tests and bench/vmath.py call, live in tests/reference/vmath_arrays.py:

- ``exp_s``: ``x = k ln2 + r``, ``|r| <= ln2/2`` (Cody-Waite, ``k`` rounded by
  the 1.5·2^52 shifter, read back from the bits), ``e^r`` by its Taylor
  polynomial of degree 13 (Estrin), times ``2^k`` built from bits in two
  halves so that subnormal results are rounded once and ``k = 1024`` still
  overflows to ``inf``. ``exp(x > 709.78) = inf``, ``exp(x < -745.13) = 0``.
- ``log_s``: ``x = 2^e m``, ``m`` in ``[sqrt(1/2), sqrt(2))`` from the bits
  (subnormals scaled by 2^52 first), ``log m = 2 atanh(f / (2 + f))``,
  ``f = m - 1``, by the odd series to ``s^23``.
- ``log1p_s``: ``log(u) + (x - (u - 1)) / u`` with ``u = 1 + x``.
- softplus link: ``softplus_parts`` gives ``g = log(1 + e^x)``, ``log g``,
  ``g' = sigmoid(x)`` and ``g'/g`` from one ``exp``, one ``log1p`` on [0, 1]
  (no bit tricks) and one ``log``. ``log g`` is ``x - e^x/2`` below
  ``x = -32`` (never ``-inf`` for finite x) and a Taylor polynomial around
  the root ``x0 = log(e - 1)`` of ``log g`` within ``|x - x0| <= 1/4``,
  where ``log(g)`` itself would lose relative accuracy; its coefficients are
  computed at import from the power series of ``log(log(1 + e^(x0 + t)))``
  in 50-digit decimal arithmetic.
- Poisson (link code ``LINK_SOFTPLUS`` or ``LINK_EXP``, as in :mod:`.observation`):
  :func:`poisson_loglik`, :func:`poisson_loglik_adjoint` and
  :func:`poisson_loglik_and_adjoint` are the forms for one particle's D
  channels (the references the block forms are tested against); :func:`link_terms` gives the
  per-channel ``g``, ``log g``, ``g'``, ``g'/g``. :func:`poisson_loglik_block`
  and :func:`poisson_loglik_adjoint_block` take the K particles of an SMC
  step at once, as a channel-major (D, K) block, each element rounded as
  :func:`poisson_channel` rounds it; for them :func:`softplus_parts` is split
  into :func:`softplus_head` (``e^-|x|``, ``softplus``) and
  :func:`softplus_tail` (the same operations), run as separate passes.

Accuracy (tests/test_vmath.py): relative error below 1e-14 everywhere
(measured as ``|f - f_exact| / max(|f_exact|, 2^-1022)``, i.e. subnormal
results are within one subnormal step; the worst seen is 8.4e-16, for
``log g``, the rest within 2.5 ulp); ``inf``, ``nan`` and signed zeros as
numpy gives them.

Fast-math: every scalar function has its own explicit ``fastmath=False``:
a helper without its own setting inherits the flags of a fast-math caller,
and ``reassoc`` would fold the shifter ``(x*log2e + S) - S`` and the log1p
correction ``x - (u - 1)``, ``nnan``/``ninf`` would drop the special-value
selects. FMA comes from ``_fma`` (LLVM ``fmuladd``: fused wherever the CPU
has FMA, decided by the target, not by the caller's flags), so a function
rounds the same wherever it is inlined, in vector or scalar code. The
scalar functions are ``forceinline`` (LLVM ``alwaysinline``): they keep
their own flags, unlike Numba-level ``inline="always"``, and without it
LLVM leaves the larger ones as calls and the loops stay scalar. The array
kernels use the library's ``FASTMATH`` (the sums vectorise only with
``reassoc``). ``error_model="numpy"``: a division by zero gives
``inf``/``nan`` instead of raising, and costs no branch.
"""
import math
from decimal import Decimal, localcontext

import numba
import numpy as np

from ..config import CACHE, FASTMATH
from ..model.codes import LINK_EXP, LINK_SOFTPLUS

# ---------------------------------------------------------------- FMA and bit casts

if numba.config.DISABLE_JIT:
    def _fma(a, b, c):
        """``a * b + c``."""
        return a * b + c

    def _bits(x):
        """The IEEE-754 bits of the float64 ``x`` as an int64."""
        return int(np.float64(x).view(np.int64))

    def _from_bits(i):
        """The float64 whose bits are the int64 ``i``."""
        return np.int64(i).view(np.float64)
else:
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic

    @intrinsic
    def _fma(typingctx, a, b, c):
        """``a * b + c``, fused into one FMA where the CPU has it (LLVM ``fmuladd``).

        The choice is the target's, not the caller's fast-math flags: the same
        machine code rounds the same wherever it is inlined.
        """
        if not (a == b == c == types.float64):
            return None

        def codegen(context, builder, sig, args):
            f64 = ir.DoubleType()
            fn = builder.module.declare_intrinsic("llvm.fmuladd", [f64], ir.FunctionType(f64, [f64, f64, f64]))
            return builder.call(fn, args)
        return types.float64(types.float64, types.float64, types.float64), codegen

    @intrinsic
    def _bits(typingctx, x):
        """The IEEE-754 bits of the float64 ``x`` as an int64 (an LLVM bitcast)."""
        if x != types.float64:
            return None

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], ir.IntType(64))
        return types.int64(types.float64), codegen

    @intrinsic
    def _from_bits(typingctx, i):
        """The float64 whose bits are the int64 ``i`` (an LLVM bitcast)."""
        if i != types.int64:
            return None

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], ir.DoubleType())
        return types.float64(types.int64), codegen

# ---------------------------------------------------------------- constants

_LOG2E = 1.4426950408889634                 # 1 / ln 2, rounded
_SHIFT = 6755399441055744.0                 # 1.5 * 2^52: x + _SHIFT rounds x to an integer
_SHIFT_BITS = 0x4338000000000000            # its bits; bits(_SHIFT + k) = _SHIFT_BITS + k
_LN2_HI = 0.6931471803691238                # ln 2 with the last 21 bits zero: k * _LN2_HI exact
_LN2_LO = 1.9082149292705877e-10            # ln 2 - _LN2_HI
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD        # bits of sqrt(1/2)
_MANTISSA = 0x000FFFFFFFFFFFFF
_TWO52 = 4503599627370496.0
_TINY = 2.2250738585072014e-308             # smallest normal float64

# e^r: Taylor coefficients 1/n!, n = 2..13 (|r| <= 0.347: r^14/14! < 5e-18).
(_E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12, _E13) = (
    1.0 / math.factorial(n) for n in range(2, 14))
# log(1 + f) = 2 atanh(s) = 2s + s R, s = f / (2 + f), R = sum_k 2 z^k / (2k + 1), z = s^2,
# k = 1..11 (|s| <= 0.2: the first term left out is below 1e-18 relative).
(_L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8, _L9, _L10, _L11) = (2.0 / (2 * k + 1) for k in range(1, 12))

_NEG_CUT = -32.0    # below: log softplus = x - e^x/2, sigmoid/softplus = 1 - e^x/2 (error < e^(2x))
_ROOT_HALF_WIDTH = 0.25


def _series_log(a):
    """Taylor coefficients of ``log(A(t))`` from those of ``A`` (``a[0] > 0``), in Decimal."""
    n = len(a)
    da = [(k + 1) * a[k + 1] for k in range(n - 1)]
    q = []                                   # q = A' / A
    for k in range(n - 1):
        q.append((da[k] - sum(a[j] * q[k - j] for j in range(1, k + 1))) / a[0])
    return [a[0].ln()] + [q[k] / (k + 1) for k in range(n - 1)]


def _log_softplus_root_series(degree=16):
    """``(x0_hi, x0_lo, c)``: ``log softplus(x0 + t) = sum_n c[n] t^n``, ``x0 = log(e - 1)``.

    ``x0 = x0_hi + x0_lo`` to about 1e-33; ``c[0] = 0``. The series converges for
    ``|t| < |x0 - i pi| = 3.19``, so within ``|t| <= 1/4`` the terms fall by
    about ``0.08`` each and ``degree`` 16 leaves out less than 1e-19 relative.
    """
    with localcontext() as ctx:
        ctx.prec = 50
        e = Decimal(1).exp()
        x0 = (e - 1).ln()
        a = [e] + [(e - 1) / math.factorial(k) for k in range(1, degree + 1)]   # 1 + e^(x0 + t)
        f = _series_log(_series_log(a))
        hi = float(x0)
        return hi, float(x0 - Decimal(hi)), [float(c) for c in f]


_ROOT_HI, _ROOT_LO, _ROOT_C = _log_softplus_root_series()
(_R1, _R2, _R3, _R4, _R5, _R6, _R7, _R8, _R9, _R10, _R11, _R12, _R13, _R14, _R15,
 _R16) = _ROOT_C[1:]

# ---------------------------------------------------------------- scalar functions


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def exp_s(x):
    """``e^x`` for a float64 ``x``: ``inf`` above 709.78, ``0`` below -745.13, nan for nan."""
    x = 710.0 if x > 710.0 else x            # nan falls through both
    x = -746.0 if x < -746.0 else x
    t = _fma(x, _LOG2E, _SHIFT)
    kf = t - _SHIFT                          # round(x / ln2), exactly
    k = _bits(t) - _SHIFT_BITS               # the same as an int64, |k| <= 1077
    r = _fma(-kf, _LN2_LO, _fma(-kf, _LN2_HI, x))       # the inner product is exact
    # Estrin: the degree-13 Taylor polynomial in 5 dependent steps instead of 13
    r2 = r * r
    r4 = r2 * r2
    b0 = _fma(r2, _fma(r, _E3, _E2), _fma(r, 1.0, 1.0))
    b1 = _fma(r2, _fma(r, _E7, _E6), _fma(r, _E5, _E4))
    b2 = _fma(r2, _fma(r, _E11, _E10), _fma(r, _E9, _E8))
    b3 = _fma(r, _E13, _E12)
    p = _fma(r4 * r4, _fma(r4, b3, b2), _fma(r4, b1, b0))
    # 2^k = 2^k1 2^k2, both normal: p 2^k1 is exact, the last product rounds once
    # (subnormal results included). The masks keep garbage k (nan input) in range.
    k1 = k >> 1
    s1 = _from_bits(((k1 + 1023) & 0x7FF) << 52)
    s2 = _from_bits(((k - k1 + 1023) & 0x7FF) << 52)
    return (p * s1) * s2


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def _log1p_small(f):
    """``log(1 + f)`` for ``|f / (2 + f)| <= 0.2`` (``f`` in [-0.33, 0.5]), ``f`` exact."""
    s = f / (2.0 + f)
    z = s * s
    z2 = z * z
    z4 = z2 * z2
    c0 = _fma(z4, _fma(z2, _fma(z, _L8, _L7), _fma(z, _L6, _L5)),
              _fma(z2, _fma(z, _L4, _L3), _fma(z, _L2, _L1)))
    c1 = _fma(z2, _L11, _fma(z, _L10, _L9))
    R = z * _fma(z4 * z4, c1, c0)
    hfsq = 0.5 * f * f
    return f + _fma(s, hfsq + R, -hfsq)      # f - (hfsq - s (hfsq + R)) = 2s + sR


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def log_s(x):
    """``log(x)`` for a float64 ``x``: ``-inf`` at ±0, nan below 0 or for nan, ``inf`` at inf."""
    tiny = x < _TINY
    xs = abs(x * _TWO52 if tiny else x)      # subnormals made normal; abs keeps bit math in range
    d = _bits(xs) - _SQRT_HALF_BITS
    e = (d >> 52) - (52 if tiny else 0)
    m = _from_bits((d & _MANTISSA) + _SQRT_HALF_BITS)    # x = 2^e m, m in [sqrt(1/2), sqrt(2))
    ef = _from_bits(e + _SHIFT_BITS) - _SHIFT            # float(e), exactly, without cvtqq2pd
    r = _fma(ef, _LN2_HI, _fma(ef, _LN2_LO, _log1p_small(m - 1.0)))     # m - 1 is exact
    r = -math.inf if x == 0.0 else r
    r = math.nan if x < 0.0 else r
    return x if not (x < math.inf) else r                # +inf, nan


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def _log1p_unit(q):
    """``log(1 + q)`` for ``q`` in [0, 1] (or nan), with one division and no bit tricks.

    ``q < 1/2``: ``log1p(q)`` directly. ``q >= 1/2``: ``ln 2 + log1p((q - 1) / 2)``,
    ``q - 1`` exact (Sterbenz).
    """
    big = q >= 0.5
    lp = _log1p_small((q - 1.0) * 0.5 if big else q)
    return _LN2_HI + (_LN2_LO + lp) if big else lp


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def log1p_s(x):
    """``log(1 + x)`` for a float64 ``x``: exact ``x`` where ``1 + x == 1`` (signed zeros too)."""
    u = 1.0 + x
    r = log_s(u) + (x - (u - 1.0)) / u
    r = x if u == 1.0 else r
    r = -math.inf if u == 0.0 else r
    return x if x == math.inf else r


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def _softplus_q(x, q):
    """``softplus(x)`` given ``q = e^-|x|``."""
    return (x if x > 0.0 else 0.0) + _log1p_unit(q)


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def _sigmoid_q(x, q):
    """``sigmoid(x)`` given ``q = e^-|x|``."""
    return (1.0 if x >= 0.0 else q) / (1.0 + q)


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def softplus_head(x):
    """``(q, g)``: ``q = e^-|x|`` and ``g = softplus(x)``, the first half of :func:`softplus_parts`."""
    q = exp_s(-abs(x))
    return q, _softplus_q(x, q)


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def _log_softplus_tail(x, q, log_g):
    """``log softplus(x)`` given ``q = e^-|x|`` and ``log_g = log(softplus(x))`` (as :func:`log_s` gives it).

    Near the root ``log(e - 1)`` of ``log g`` and far below 0 the polynomial
    and the tail expansion replace ``log_g``.
    """
    t = (x - _ROOT_HI) - _ROOT_LO
    c = _fma(t, _R16, _R15)
    c = _fma(t, c, _R14)
    c = _fma(t, c, _R13)
    c = _fma(t, c, _R12)
    c = _fma(t, c, _R11)
    c = _fma(t, c, _R10)
    c = _fma(t, c, _R9)
    c = _fma(t, c, _R8)
    c = _fma(t, c, _R7)
    c = _fma(t, c, _R6)
    c = _fma(t, c, _R5)
    c = _fma(t, c, _R4)
    c = _fma(t, c, _R3)
    c = _fma(t, c, _R2)
    c = t * _fma(t, c, _R1)
    log_g = c if abs(t) <= _ROOT_HALF_WIDTH else log_g
    return _fma(-0.5, q, x) if x < _NEG_CUT else log_g


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def softplus_tail(x, q, g):
    """:func:`softplus_parts` of ``x`` given its :func:`softplus_head` ``(q, g)``.

    Split so that a loop can run the head and the tail as separate passes:
    together they form a long chain of dependent operations (two divisions
    deep), and one loop over both left the CPU waiting on it (1.9 instead of
    2.9 ns an element for ``log g``). The operations are the same, hence the bits.
    """
    dg = _sigmoid_q(x, q)
    log_g = _log_softplus_tail(x, q, log_s(g))
    dlog_g = _fma(-0.5, q, 1.0) if x < _NEG_CUT else dg / g
    return g, log_g, dg, dlog_g


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def softplus_parts(x):
    """Softplus-link terms of a float64 ``x``, from one ``exp`` and two ``log``.

    Returns
    -------
    g : float
        ``softplus(x) = log(1 + e^x)``: ``x`` for large ``x``, ``e^x`` far below 0.
    log_g : float
        ``log softplus(x)``: ``x - e^x/2`` for ``x < -32`` (finite for every
        finite ``x``), a Taylor polynomial around its root ``log(e - 1)``.
    dg : float
        ``g'(x) = sigmoid(x)``.
    dlog_g : float
        ``g'/g = sigmoid(x) / softplus(x)``: 1 at ``-inf``, 0 at ``inf``.
    """
    q, g = softplus_head(x)
    return softplus_tail(x, q, g)


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def sigmoid_s(x):
    """``1 / (1 + e^-x)`` for a float64 ``x`` (the parts not needed are compiled away)."""
    return softplus_parts(x)[2]


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def softplus_s(x):
    """``log(1 + e^x)`` for a float64 ``x`` (the parts not needed are compiled away)."""
    return softplus_parts(x)[0]


# ---------------------------------------------------------------- Poisson likelihood


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def _softplus_channel(y, eta, q, g, bin_width, log_bw):
    """:func:`poisson_channel` (softplus link) given :func:`softplus_head` ``(q, g)`` of ``eta``."""
    g, log_g, dg, dlog_g = softplus_tail(eta, q, g)
    lam = g * bin_width
    ll = _fma(y, log_g + log_bw, -lam)
    dl = _fma(y, dlog_g, -bin_width * dg)
    return (ll if y != 0.0 else -lam), dl


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def poisson_channel(link, y, eta, bin_width, log_bw):
    """One channel's ``(log p + lgamma(y + 1), d log p / d eta)``; ``log_bw = log(bin_width)``.

    ``log p = y log(lambda) - lambda - lgamma(y + 1)``, ``lambda = g(eta) bin_width``;
    the ``y log(lambda)`` term is left out where ``y = 0``. ``d log p / d eta =
    y g'/g - bin_width g'``. All arguments are scalars (``link`` int, the rest
    float). Each term is rounded the same way in every kernel using it.
    """
    if link == LINK_SOFTPLUS:
        q, g = softplus_head(eta)
        return _softplus_channel(y, eta, q, g, bin_width, log_bw)
    ex = exp_s(eta)
    lam = ex * bin_width
    ll = _fma(y, eta + log_bw, -lam)
    dl = _fma(-ex, bin_width, y)
    return (ll if y != 0.0 else -lam), dl


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=CACHE)
def link_terms(link, eta, g, log_g, dg, dlog_g):
    """Per-channel link terms for link code ``LINK_SOFTPLUS`` or ``LINK_EXP``.

    Parameters
    ----------
    link : int
        ``LINK_SOFTPLUS`` or ``LINK_EXP`` (:mod:`lowrank.model.codes`).
    eta : (D,) float64
        Read-out means.
    g, log_g, dg, dlog_g : (D,) float64, written
        ``g(eta)``, ``log g(eta)``, ``g'(eta)`` and ``g'(eta) / g(eta)``. The
        Poisson rate is ``g * bin_width``. Exp link: ``e^eta``, ``eta``,
        ``e^eta``, 1.
    """
    D = eta.shape[0]
    if link == LINK_SOFTPLUS:
        for d in range(D):
            g[d], log_g[d], dg[d], dlog_g[d] = softplus_parts(eta[d])
    else:
        for d in range(D):
            e = eta[d]
            ex = exp_s(e)
            g[d] = ex
            log_g[d] = e
            dg[d] = ex
            dlog_g[d] = 1.0


# The Poisson kernels run their loop over whole blocks of _BLOCK channels, then over
# the last _BLOCK channels again (overlapping, same values rewritten): every channel
# goes through the vector code, and no slow scalar remainder runs when D is not a
# multiple of the vector width. Hence their outputs must not overlap y or eta.
_BLOCK = 8


@numba.njit(fastmath=FASTMATH, error_model="numpy", forceinline=True, cache=CACHE)
def _loglik_range(link, y, eta, bin_width, log_bw, work, lo, hi):
    if link == LINK_SOFTPLUS:     # one loop per link: the test stays out of the vectorised body
        for d in range(lo, hi):
            work[d] = poisson_channel(LINK_SOFTPLUS, y[d], eta[d], bin_width, log_bw)[0]
    else:
        for d in range(lo, hi):
            work[d] = poisson_channel(LINK_EXP, y[d], eta[d], bin_width, log_bw)[0]


@numba.njit(fastmath=FASTMATH, error_model="numpy", forceinline=True, cache=CACHE)
def _adjoint_range(link, y, eta, bin_width, w, deta, lo, hi):
    if link == LINK_SOFTPLUS:
        for d in range(lo, hi):
            deta[d] = w * poisson_channel(LINK_SOFTPLUS, y[d], eta[d], bin_width, 0.0)[1]
    else:
        for d in range(lo, hi):
            deta[d] = w * poisson_channel(LINK_EXP, y[d], eta[d], bin_width, 0.0)[1]


@numba.njit(fastmath=FASTMATH, error_model="numpy", forceinline=True, cache=CACHE)
def _both_range(link, y, eta, bin_width, log_bw, w, deta, work, lo, hi):
    if link == LINK_SOFTPLUS:
        for d in range(lo, hi):
            ll, dl = poisson_channel(LINK_SOFTPLUS, y[d], eta[d], bin_width, log_bw)
            work[d] = ll
            deta[d] = w * dl
    else:
        for d in range(lo, hi):
            ll, dl = poisson_channel(LINK_EXP, y[d], eta[d], bin_width, log_bw)
            work[d] = ll
            deta[d] = w * dl


@numba.njit(fastmath=FASTMATH, error_model="numpy", forceinline=True, cache=CACHE)
def _sum(a):
    s = 0.0
    for d in range(a.shape[0]):
        s += a[d]
    return s


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=CACHE)
def poisson_loglik(link, y, eta, bin_width, lgy, work):
    """``sum_d [y_d log(lambda_d) - lambda_d] - lgy``, ``lambda = g(eta) * bin_width``.

    One particle's form of :func:`poisson_loglik_block`; terms
    with ``y_d = 0`` contribute ``-lambda_d`` only.

    Parameters
    ----------
    link : int
        ``LINK_SOFTPLUS`` or ``LINK_EXP``.
    y : (D,) float64
        Counts.
    eta : (D,) float64
        Read-out means.
    bin_width : float
        Bin width (> 0).
    lgy : float
        ``sum_d lgamma(y_d + 1)``.
    work : (D,) float64, written
        Each channel's ``y_d log(lambda_d) - lambda_d``. Must not overlap
        ``y`` or ``eta``.
    """
    log_bw = log_s(bin_width)
    D = y.shape[0]
    whole = D - D % _BLOCK
    _loglik_range(link, y, eta, bin_width, log_bw, work, 0, whole)
    if whole < D:
        _loglik_range(link, y, eta, bin_width, log_bw, work, max(D - _BLOCK, 0), D)
    return _sum(work[:D]) - lgy


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=CACHE)
def poisson_loglik_adjoint(link, y, eta, bin_width, w, deta):
    """``deta = w * d loglik / d eta``: ``w (y/lambda - 1) bin_width g'(eta)``.

    One particle's form of :func:`poisson_loglik_adjoint_block`.

    Parameters
    ----------
    link : int
        ``LINK_SOFTPLUS`` or ``LINK_EXP``.
    y, eta : (D,) float64
        Counts and read-out means.
    bin_width, w : float
        Bin width and the weight of this log-likelihood.
    deta : (D,) float64, written
        ``w * (y g'/g - bin_width g')``. Must not overlap ``y`` or ``eta``.
    """
    D = y.shape[0]
    whole = D - D % _BLOCK
    _adjoint_range(link, y, eta, bin_width, w, deta, 0, whole)
    if whole < D:
        _adjoint_range(link, y, eta, bin_width, w, deta, max(D - _BLOCK, 0), D)


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=CACHE)
def poisson_loglik_and_adjoint(link, y, eta, bin_width, lgy, w, deta, work):
    """:func:`poisson_loglik` (returned) and :func:`poisson_loglik_adjoint` (into ``deta``) in one pass.

    Parameters are those of the two functions: ``y``, ``eta``, ``deta``,
    ``work`` (D,) float64; ``link`` int; ``bin_width``, ``lgy``, ``w`` float.
    """
    log_bw = log_s(bin_width)
    D = y.shape[0]
    whole = D - D % _BLOCK
    _both_range(link, y, eta, bin_width, log_bw, w, deta, work, 0, whole)
    if whole < D:
        _both_range(link, y, eta, bin_width, log_bw, w, deta, work, max(D - _BLOCK, 0), D)
    return _sum(work[:D]) - lgy


# ---------------------------------------------------------------- Poisson likelihood, K particles at once
#
# The SMC kernels evaluate the likelihood of K particles against one observation per
# step. One call per particle ran the link terms on D-long vectors, with a call (and
# its reference counts) per particle. These kernels take the whole step as one block
# ``ETA`` (D, K), channel-major: row d holds channel d of every particle, so each row
# shares one count ``y_d`` (a scalar in the loop, no tiling) and the loops run over
# K contiguous particles (no remainder when K is a multiple of the vector width);
# the sums over channels are vector adds of rows. Channels with no count need the
# rate only (``-lambda``; adjoint ``-bin_width g'``): their rows skip ``log g`` and
# ``g'/g``. The softplus link runs in passes over the whole block (``exp``, then
# ``log1p``, then the rest): each is a long chain of dependent operations (two
# divisions deep), and one loop over all of it left the CPU waiting on that chain
# (2.9 instead of 1.9 ns an element for ``log g``). Every element rounds as
# :func:`poisson_channel` rounds it (the same operations).


@numba.njit(fastmath=FASTMATH, error_model="numpy", forceinline=True, cache=CACHE)
def _exp_pass(ETA, Q):
    """``Q = e^-|ETA|`` (the ``q`` of :func:`softplus_head`) for (D, K) blocks."""
    D, K = ETA.shape
    for d in range(D):
        for k in range(K):
            Q[d, k] = exp_s(-abs(ETA[d, k]))


@numba.njit(fastmath=FASTMATH, error_model="numpy", forceinline=True, cache=CACHE)
def _softplus_pass(y, ETA, Q, G, all_rows):
    """``G = softplus(ETA)`` (the ``g`` of :func:`softplus_head`) given ``Q``, (D, K) blocks;
    only the channels with a count ``y[d] != 0`` unless ``all_rows``."""
    D, K = ETA.shape
    for d in range(D):
        if all_rows or y[d] != 0.0:
            for k in range(K):
                G[d, k] = _softplus_q(ETA[d, k], Q[d, k])


@numba.njit(fastmath=False, error_model="numpy", forceinline=True, cache=CACHE)
def _softplus_no_count(x, q, g, bin_width):
    """``(log p, d log p / d eta)`` of a channel with ``y = 0`` given ``q, g`` of ``x``:
    :func:`_softplus_channel`'s values there (``fma(0, g'/g, c) = c``, ``g'/g`` being finite),
    without the ``log``. Its own ``fastmath=False``: in a fast-math loop, the
    products could be reassociated with the caller's weight."""
    return -(g * bin_width), -bin_width * _sigmoid_q(x, q)


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=CACHE)
def poisson_loglik_block(link, y, ETA, bin_width, lgy, work, out):
    """:func:`poisson_loglik` of each particle (column of ``ETA``) against the same counts ``y``.

    Parameters
    ----------
    link : int
        ``LINK_SOFTPLUS`` or ``LINK_EXP``.
    y : (D,) float64
        Counts; NaN marks a missing value, whose channel is left out of ``out``.
    ETA : (D, K) float64, C-contiguous
        Read-out means, channel-major: ``ETA[d, k]`` is channel d of particle k.
    bin_width, lgy : float
        Bin width (> 0) and ``sum_d lgamma(y_d + 1)``.
    work : (2, D, K) float64, C-contiguous, written
        Scratch, not overlapping ``ETA``; ``work[1, d, k]`` ends up holding
        ``y_d log(lambda_dk) - lambda_dk``.
    out : (K,) float64, written
        ``out[k] = sum_d work[1, d, k] - lgy`` (summed in channel order).
    """
    # Row views (ETA[d]) are not taken in the loops: each would cost an atomic
    # reference count here (see lowrank.kernels.smc_forward); 2-D indexing costs none.
    D, K = ETA.shape
    log_bw = log_s(bin_width)
    Q, LL = work[0], work[1]
    if link == LINK_SOFTPLUS:
        _exp_pass(ETA, Q)
        _softplus_pass(y, ETA, Q, LL, True)
        for d in range(D):
            yd = y[d]
            if yd != 0.0:
                for k in range(K):
                    LL[d, k] = _softplus_channel(yd, ETA[d, k], Q[d, k], LL[d, k], bin_width, log_bw)[0]
            else:
                for k in range(K):
                    LL[d, k] = _softplus_no_count(ETA[d, k], Q[d, k], LL[d, k], bin_width)[0]
    else:
        for d in range(D):
            yd = y[d]
            for k in range(K):
                LL[d, k] = poisson_channel(LINK_EXP, yd, ETA[d, k], bin_width, log_bw)[0]
    for k in range(K):
        out[k] = 0.0
    for d in range(D):
        if y[d] != y[d]:
            continue
        for k in range(K):
            out[k] += LL[d, k]
    for k in range(K):
        out[k] -= lgy


@numba.njit(fastmath=FASTMATH, error_model="numpy", cache=CACHE)
def poisson_loglik_adjoint_block(link, y, ETA, bin_width, w, work, DETA):
    """:func:`poisson_loglik_adjoint` of each particle (column of ``ETA``), weighted by ``w[k]``.

    Parameters
    ----------
    link : int
        ``LINK_SOFTPLUS`` or ``LINK_EXP``.
    y : (D,) float64
        Counts; NaN marks a missing value (zero adjoint).
    ETA : (D, K) float64, C-contiguous
        Read-out means, channel-major as in :func:`poisson_loglik_block`.
    bin_width : float
        Bin width (> 0).
    w : (K,) float64
        Weights of the particles' log-likelihoods.
    work : (2, D, K) float64, C-contiguous, written
        Scratch, not overlapping ``ETA``.
    DETA : (D, K) float64, C-contiguous, written
        ``w[k] * d loglik / d ETA[d, k]``, as :func:`poisson_loglik_adjoint`
        rounds it; zero where ``w[k] == 0`` (even where the derivative is
        infinite: such a particle does not contribute). Must not overlap
        ``work`` or ``ETA``.
    """
    D, K = ETA.shape
    if link == LINK_SOFTPLUS:
        Q, G = work[0], work[1]
        _exp_pass(ETA, Q)
        _softplus_pass(y, ETA, Q, G, False)
        for d in range(D):
            yd = y[d]
            if yd != 0.0:
                for k in range(K):
                    DETA[d, k] = _softplus_channel(yd, ETA[d, k], Q[d, k], G[d, k], bin_width, 0.0)[1]
            else:
                for k in range(K):
                    DETA[d, k] = _softplus_no_count(ETA[d, k], Q[d, k], 0.0, bin_width)[1]
    else:
        for d in range(D):
            yd = y[d]
            for k in range(K):
                DETA[d, k] = poisson_channel(LINK_EXP, yd, ETA[d, k], bin_width, 0.0)[1]
    for d in range(D):
        missing = y[d] != y[d]
        for k in range(K):
            wk = w[k]
            DETA[d, k] = 0.0 if (wk == 0.0 or missing) else wk * DETA[d, k]
