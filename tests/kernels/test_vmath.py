"""lowrank.kernels.vmath against exact references (50-digit decimal) and numpy / scipy.

The scalar functions are checked through their element-wise array forms
(tests/reference/vmath_arrays.py).

Errors are relative, ``|f - f_exact| / max(|f_exact|, 2^-1022)``: plain relative
error for normal results, within one subnormal step for subnormal ones.
Infinities, nans and zeros must match exactly (signed zeros where numpy has
them). The grids are fixed (seeded) and cover every binade that matters:
|x| up to 745 and past it, subnormals, ±0, ±inf, nan.
"""
from __future__ import annotations

import math
from decimal import Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext

import numba
import numpy as np
import pytest
import scipy.special
import scipy.stats

from lowrank.config import FASTMATH
from lowrank.kernels import vmath
from reference import vmath_arrays

BOUND = 1e-14
# What the functions reach (measured: 1.5e-16 log ... 8.4e-16 log softplus), with
# 2-3x to spare: a regression far inside BOUND still shows.
MEASURED = {"exp_v": 1e-15, "log_v": 1e-15, "log1p_v": 1e-15, "softplus_v": 1e-15,
            "log_softplus_v": 2e-15, "sigmoid_v": 1e-15, "dlog_softplus_v": 1e-15}
TINY = np.finfo(float).tiny
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, TINY, -TINY, 1.0, -1.0,
                    709.782712893384, 709.7827128933841, 709.79, 710.0, 1e308,
                    -708.3964185322641, -708.4, -745.1332191019411, -745.1332191019412, -745.14,
                    -746.0, -1e308, 32.0, -32.0, np.nextafter(-32.0, 0.0), np.nextafter(-32.0, -1.0),
                    36.0, 37.0, 38.0])


# ---------------------------------------------------------------- exact references

def _dec(f):
    """``f`` (a function of one Decimal) as an exact reference on float64 arrays: (hi, lo).

    ``hi`` is ``f(x)`` rounded to float64 (±inf past the range), ``lo`` the
    rounding error as a float64, so ``hi + lo`` is exact to about 1e-32.
    """
    def ref(x):
        x = np.asarray(x, dtype=float)
        hi = np.empty_like(x)
        lo = np.zeros_like(x)
        with localcontext() as ctx:
            ctx.prec = 50
            for trap in (Overflow, DivisionByZero, InvalidOperation):   # inf, -inf, nan instead
                ctx.traps[trap] = False
            for i, xi in enumerate(x):
                v = f(Decimal(float(xi)))
                hi[i] = float(v)
                if np.isfinite(hi[i]):
                    lo[i] = float(v - Decimal(hi[i]))
        return hi, lo
    return ref


def _ln1p(a):
    """``log(1 + a)`` in Decimal without losing a tiny ``a`` to ``1 + a == 1``."""
    if abs(a) < Decimal("1e-12"):
        return a - a * a / 2 + a * a * a / 3    # next term a^4/4 < 1e-48 relative
    return (1 + a).ln()


def _softplus(x):
    return _ln1p(x.exp()) if x < 0 else x + _ln1p((-x).exp())


def _sigmoid(x):
    return 1 / (1 + (-x).exp())


ref_exp = _dec(lambda x: x.exp())
ref_log = _dec(lambda x: x.ln())
ref_log1p = _dec(_ln1p)
ref_softplus = _dec(_softplus)
# below -1000, x - e^x/2 (error e^(2x)): Decimal's e^x underflows past -10^6
ref_log_softplus = _dec(lambda x: x - x.exp() / 2 if x < -1000 else _softplus(x).ln())
ref_sigmoid = _dec(_sigmoid)
# below -1000 the series 1 - e^x/2 (error e^(2x)) also gives the limit 1 at -inf
ref_dlog_softplus = _dec(lambda x: 1 - x.exp() / 2 if x < -1000 else _sigmoid(x) / _softplus(x))


def rel_err(got, hi, lo):
    """Relative errors of ``got`` against the exact ``hi + lo`` (finite, non-zero ``hi`` only)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.abs((got - hi) - lo) / np.maximum(np.abs(hi), TINY)


def assert_close(got, ref_x, name):
    """Finite non-zero references: error <= BOUND; the others exactly (nan, ±inf, 0)."""
    hi, lo = ref_x
    regular = np.isfinite(hi) & (hi != 0.0)
    err = rel_err(got[regular], hi[regular], lo[regular])
    worst = float(err.max()) if err.size else 0.0
    assert worst <= BOUND, f"{name}: max relative error {worst:.3g} > {BOUND:g}"
    same = (got[~regular] == hi[~regular]) | (np.isnan(got[~regular]) & np.isnan(hi[~regular]))
    assert same.all(), f"{name}: special values {got[~regular][~same]} should be {hi[~regular][~same]}"
    return worst


# ---------------------------------------------------------------- grids


def eta_grid(seed=0):
    """Read-out means over the whole range, near 0, near the root of log softplus, with specials."""
    rng = np.random.default_rng(seed)
    root = vmath._ROOT_HI
    return np.concatenate([
        np.linspace(-760.0, 760.0, 1521),
        rng.uniform(-745.0, 745.0, 1000),
        rng.uniform(-40.0, 40.0, 1000),
        np.sign(rng.standard_normal(600)) * 10.0 ** rng.uniform(-323.0, 2.9, 600),
        root + np.sign(rng.standard_normal(600)) * 10.0 ** rng.uniform(-16.0, -0.3, 600),
        root + np.arange(-8, 9) * np.spacing(root),
        root + np.array([-0.25, 0.25, -0.2501, 0.2501, -0.125, 0.125]),   # the polynomial's edges
        SPECIAL,
    ])


def positive_grid(seed=1):
    """Positive floats from every binade (uniform over the bit patterns), subnormals included."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(1, 0x7FEFFFFFFFFFFFFF, 3000, dtype=np.int64)
    near_one = 1.0 + np.sign(rng.standard_normal(600)) * 10.0 ** rng.uniform(-16.0, -0.2, 600)
    return np.concatenate([bits.view(np.float64), near_one, rng.uniform(0.0, 4.0, 500),
                           np.array([0.0, -0.0, -1.0, -np.inf, np.inf, np.nan, 5e-324, TINY,
                                     np.finfo(float).max, 1.0, 2.0, 0.5, np.sqrt(0.5), np.sqrt(2.0),
                                     np.nextafter(np.sqrt(2.0), 0.0), np.nextafter(1.0, 0.0),
                                     np.nextafter(1.0, 2.0)])])


def log1p_grid(seed=2):
    rng = np.random.default_rng(seed)
    mag = 10.0 ** rng.uniform(-323.0, 0.0, 1500)
    return np.concatenate([mag, -mag * (1.0 - 2.0 ** -53), positive_grid(seed)[:2000],
                           -1.0 + 10.0 ** rng.uniform(-16.0, -0.3, 300),
                           np.array([-1.0, -1.5, -np.inf, np.nan, np.inf, 0.0, -0.0, 1e308])])


def _call(kernel, x):
    out = np.full_like(x, 12345.0)
    kernel(x, out)
    return out


# ---------------------------------------------------------------- accuracy

CASES = [
    ("exp_v", eta_grid, ref_exp),
    ("log_v", positive_grid, ref_log),
    ("log1p_v", log1p_grid, ref_log1p),
    ("softplus_v", eta_grid, ref_softplus),
    ("log_softplus_v", eta_grid, ref_log_softplus),
    ("sigmoid_v", eta_grid, ref_sigmoid),
    ("dlog_softplus_v", eta_grid, ref_dlog_softplus),
]


@pytest.fixture(scope="module")
def references():
    """Exact references, computed once per grid and function."""
    return {name: (grid(), ref(grid())) for name, grid, ref in CASES}


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_accuracy_against_exact(name, references):
    x, ref_x = references[name]
    worst = assert_close(_call(getattr(vmath_arrays, name), x), ref_x, name)
    assert worst <= MEASURED[name], f"{name}: {worst:.3g}, was below {MEASURED[name]:g}"


NUMPY = {
    "exp_v": np.exp,
    "log_v": np.log,
    "log1p_v": np.log1p,
    "softplus_v": lambda x: np.logaddexp(0.0, x),
    "sigmoid_v": scipy.special.expit,
}


@pytest.mark.parametrize("name", sorted(NUMPY))
def test_accuracy_against_numpy(name, references):
    """Large random grids against numpy / scipy.special (themselves within an ulp or two)."""
    rng = np.random.default_rng(3)
    x = references[name][0]
    lo, hi = (-760.0, 760.0) if name not in ("log_v", "log1p_v") else (-1.0, 50.0)
    x = np.concatenate([x, rng.uniform(lo, hi, 200_000)])
    with np.errstate(all="ignore"):
        want = NUMPY[name](x)
    got = _call(getattr(vmath_arrays, name), x)
    # numpy / scipy are not exact to the subnormal step (expit flushes to 0 from -709):
    # the subnormal results are checked against the exact references above.
    keep = ~(np.abs(want) < TINY)
    assert_close(got[keep], (want[keep], np.zeros(keep.sum())), name)


def test_signed_zeros_and_specials_like_numpy():
    x = np.array([0.0, -0.0, 5e-324, -5e-324, np.inf, -np.inf, np.nan])
    with np.errstate(all="ignore"):
        for name, f in NUMPY.items():
            got, want = _call(getattr(vmath_arrays, name), x), f(x)
            num = ~np.isnan(want)                          # numpy's nan may carry either sign
            np.testing.assert_array_equal(np.signbit(got[num]), np.signbit(want[num]), err_msg=name)
            np.testing.assert_array_equal(got, want, err_msg=name)


def test_limits():
    # exp's last finite double, then inf; the smallest subnormal down to where e^x < 2^-1075
    # (rounds to 0; glibc's exp still gives 5e-324 one double below that).
    x = np.array([709.782712893384, 709.7827128933841, -745.1332191019411, -745.1332191019412,
                  -745.14, 745.0, -1e308])
    assert Decimal(-1075) * Decimal(2).ln() < Decimal(x[2]) and Decimal(x[3]) < Decimal(-1075) * Decimal(2).ln()
    np.testing.assert_array_equal(_call(vmath_arrays.exp_v, x), [math.exp(x[0]),
                                                          np.inf, 5e-324, 0.0, 0.0, np.inf, 0.0])
    x = np.array([-745.0, -800.0, -1e300, 700.0, 1e300])
    lsp = _call(vmath_arrays.log_softplus_v, x)
    np.testing.assert_array_equal(lsp[:3], x[:3])  # e^x / 2 is below half an ulp of x
    np.testing.assert_array_equal(_call(vmath_arrays.softplus_v, x[3:]), x[3:])
    np.testing.assert_array_equal(_call(vmath_arrays.dlog_softplus_v, x[:3]), 1.0)


def test_constants():
    with localcontext() as ctx:
        ctx.prec = 50
        ln2 = Decimal(2).ln()
        assert abs(Decimal(vmath._LN2_HI) + Decimal(vmath._LN2_LO) - ln2) < Decimal("2e-26")
        root = (Decimal(1).exp() - 1).ln()
        assert abs(Decimal(vmath._ROOT_HI) + Decimal(vmath._ROOT_LO) - root) < Decimal("1e-32")
    # k * _LN2_HI is exact for |k| < 2^21: its last 21 bits are zero
    assert np.array(vmath._LN2_HI).view(np.int64) & ((1 << 21) - 1) == 0
    assert vmath._SHIFT == 1.5 * 2.0 ** 52 and np.array(vmath._SHIFT).view(np.int64) == vmath._SHIFT_BITS
    assert np.array(np.sqrt(0.5)).view(np.int64) == vmath._SQRT_HALF_BITS


def test_root_series_matches_finite_differences():
    """The Taylor coefficients of log softplus at its root against derivatives from the exact reference."""
    c = vmath._ROOT_C
    assert c[0] == 0.0 and c[1] == pytest.approx(1.0 - math.exp(-1.0), rel=1e-15)
    with localcontext() as ctx:
        ctx.prec = 50
        x0 = Decimal(vmath._ROOT_HI) + Decimal(vmath._ROOT_LO)
        h = Decimal("1e-6")
        f = [_softplus(x0 + k * h).ln() for k in (-1, 0, 1)]
        assert abs(float((f[2] - 2 * f[1] + f[0]) / (h * h) / 2) - c[2]) < 1e-10


def test_error_measure_can_fail():
    """A float32-accurate exp and an off-by-one special value are both caught."""
    x = eta_grid()[:1521]
    ref_x = ref_exp(x)
    with np.errstate(all="ignore"):
        with pytest.raises(AssertionError, match="relative error"):
            assert_close(np.exp(x.astype(np.float32)).astype(float), ref_x, "float32")
    bad = _call(vmath_arrays.exp_v, x)
    bad[np.argmax(x > 710.0)] = 1.7e308
    with pytest.raises(AssertionError, match="special"):
        assert_close(bad, ref_x, "exp")


# ---------------------------------------------------------------- inside a fast-math kernel


@numba.njit(fastmath=FASTMATH, error_model="numpy")
def _fast_caller(x, out):
    """A FASTMATH kernel calling the scalar functions: they must keep their own flags."""
    for i in range(x.shape[0]):
        xi = x[i]
        g, log_g, dg, dlog_g = vmath.softplus_parts(xi)
        out[0, i] = vmath.exp_s(xi)
        out[1, i] = vmath.log_s(xi)
        out[2, i] = vmath.log1p_s(xi)
        out[3, i] = g
        out[4, i] = log_g
        out[5, i] = dg
        out[6, i] = dlog_g
        out[7, i] = vmath.softplus_s(xi) + vmath.sigmoid_s(xi) * 0.0


def test_called_from_a_fastmath_kernel(references):
    x = references["softplus_v"][0]
    x = np.concatenate([x, np.abs(x), references["log_v"][0], references["log1p_v"][0]])
    out = np.empty((8, x.size))
    _fast_caller(x, out)
    va = vmath_arrays
    expect = [va.exp_v, va.log_v, va.log1p_v, va.softplus_v, va.log_softplus_v, va.sigmoid_v, va.dlog_softplus_v,
              va.softplus_v]
    for row, kernel in zip(out, expect):
        # Same results bit for bit as the array kernels, whose accuracy is tested above.
        np.testing.assert_array_equal(row, _call(kernel, x), err_msg=kernel.__name__)
    for name, row in [("exp_v", 0), ("softplus_v", 3), ("log_softplus_v", 4), ("sigmoid_v", 5)]:
        n = references[name][0].size
        assert_close(out[row, :n], references[name][1], name)


def test_loops_are_vectorised():
    """LLVM IR of the array kernels holds packed double vectors (any SIMD width)."""
    if numba.config.DISABLE_JIT:
        pytest.skip("nothing compiled with NUMBA_DISABLE_JIT=1")
    if vmath.CACHE:
        pytest.skip("Numba cannot inspect cached code: run with LOWRANK_NUMBA_CACHE=0 (bench/vmath.py does)")
    x = np.linspace(-3.0, 3.0, 40)
    for kernel in (vmath_arrays.exp_v, vmath_arrays.log_v, vmath_arrays.softplus_v, vmath_arrays.log_softplus_v):
        kernel(x, np.empty_like(x))
        assert "x double>" in kernel.inspect_llvm(kernel.signatures[0]), kernel.__name__
    # the SMC step's (D, K) Poisson blocks
    y, ETA, work = np.arange(40.0) % 3, np.linspace(-3.0, 3.0, 40 * 64).reshape(40, 64), np.empty((2, 40, 64))
    vmath.poisson_loglik_block(0, y, ETA, 0.5, 0.0, work, np.empty(64))
    vmath.poisson_loglik_adjoint_block(0, y, ETA, 0.5, np.ones(64), work, np.empty((40, 64)))
    for kernel in (vmath.poisson_loglik_block, vmath.poisson_loglik_adjoint_block):
        assert "x double>" in kernel.inspect_llvm(kernel.signatures[0]), kernel.__name__


# ---------------------------------------------------------------- Poisson likelihood


def _link(link, eta):
    """Exact ``(g, g', log g)`` as Decimals for link 0 (softplus) / 1 (exp)."""
    if link == 0:
        g = _softplus(eta)
        return g, _sigmoid(eta), g.ln()
    g = eta.exp()
    return g, g, eta


def ref_poisson(link, y, eta, bw):
    """Exact per-channel log p(y | eta) and d/d eta, as float64 (hi part only)."""
    ll, dl = np.empty(y.size), np.empty(y.size)
    with localcontext() as ctx:
        ctx.prec = 50
        logbw = Decimal(bw).ln()
        for i, (yi, ei) in enumerate(zip(y, eta)):
            g, dg, logg = _link(link, Decimal(float(ei)))
            yd = Decimal(float(yi))
            lam = g * Decimal(bw)
            ll[i] = float((yd * (logg + logbw) if yi else 0) - lam - Decimal(math.lgamma(yi + 1.0)))
            dl[i] = float((yd / g if yi else 0) * dg - Decimal(bw) * dg)
    return ll, dl


@numba.njit(error_model="numpy")
def _per_channel(link, y, eta, bw, w):
    """Each channel through the D = 1 kernels: log-likelihoods and the adjoint of all at once."""
    ll = np.empty(y.size)
    both = np.empty(y.size)
    deta = np.empty(y.size)
    deta2 = np.empty(y.size)
    work = np.empty(1)
    for i in range(y.size):
        ll[i] = vmath.poisson_loglik(link, y[i:i + 1], eta[i:i + 1], bw, 0.0, work)
        both[i] = vmath.poisson_loglik_and_adjoint(link, y[i:i + 1], eta[i:i + 1], bw, 0.0, w, deta2[i:i + 1], work)
    vmath.poisson_loglik_adjoint(link, y, eta, bw, w, deta)
    return ll, both, deta, deta2


def poisson_cases(link, seed=4):
    """Counts 0..255 against read-out means over the whole range (and the rate's mode y = lambda)."""
    rng = np.random.default_rng(seed)
    n = 6000
    y = rng.integers(0, 256, n).astype(float)
    top = 709.0 if link == 1 else 745.0
    eta = np.concatenate([rng.uniform(-745.0, top, n // 3), rng.uniform(-30.0, 30.0, n // 3),
                          np.zeros(n - 2 * (n // 3))])
    bw = 0.05
    # a third at the mode: g(eta) bw = y, where log p has its smallest magnitude
    mode = slice(2 * (n // 3), n)
    target = np.maximum(y[mode], 0.5) / bw
    with np.errstate(over="ignore"):
        eta[mode] = np.where(target > 30.0, target, np.log(np.expm1(np.minimum(target, 30.0)))) if link == 0 \
            else np.log(target)
    return y, eta, bw


@pytest.mark.parametrize("link", [0, 1])
def test_poisson_against_scipy_and_exact(link):
    """Per channel: log p against scipy.stats.poisson.logpmf and the exact value; d log p / d eta.

    ``log p = y log(lambda) - lambda - lgamma(y + 1)`` cancels near the mode
    ``lambda = y``: with ``y = 255`` the terms are ~1400 and ``log p`` ~-3.7, so
    the inputs' own rounding (one ulp of 1400 is 2.3e-13) bounds any float64
    evaluation, scipy's included (1.2e-13 off the exact value there). So: 1e-13
    relative where the terms cancel by less than 100x (most of the grid), and
    within 4 ulp of the largest term ``S = |y log lambda| + lambda + lgamma(y+1)``
    everywhere.
    """
    y, eta, bw = poisson_cases(link)
    w = 0.7
    ll, both, deta, deta2 = _per_channel(link, y, eta, bw, w)
    lgy = scipy.special.gammaln(y + 1.0)
    ll, both = ll - lgy, both - lgy
    np.testing.assert_array_equal(deta, deta2)
    np.testing.assert_array_equal(ll, both)
    g, log_g, dg, dlog_g = (np.empty_like(eta) for _ in range(4))
    vmath.link_terms(link, eta, g, log_g, dg, dlog_g)
    with np.errstate(all="ignore"):
        lam = (np.logaddexp(0.0, eta) if link == 0 else np.exp(eta)) * bw
        sp = scipy.stats.poisson.logpmf(y, lam)
        S = np.abs(y * (log_g + math.log(bw))) + g * bw + lgy
    ref_ll, ref_dl = ref_poisson(link, y, eta, bw)
    with np.errstate(over="ignore"):
        well = S <= 100.0 * np.abs(ref_ll)
    ok = np.isfinite(sp) & (lam > TINY)       # scipy sees a normal rate
    assert well.sum() > 3000 and (ok & well).sum() > 3000 and (~well).sum() > 1000
    eps = np.finfo(float).eps
    for name, want, sel in [("exact", ref_ll, np.ones_like(ok)), ("scipy", sp, ok)]:
        err = np.abs(ll - want)[sel]
        rel = (err / np.abs(want[sel]))[well[sel]].max()
        assert rel <= 1e-13, f"log p vs {name}: relative error {rel:.3g}"
        ulps = (err / (eps * S[sel])).max()
        assert ulps <= 4.0, f"log p vs {name}: {ulps:.3g} ulp of the largest term"
    # The derivative y g'/g - bw g' vanishes at the mode: relative to the size of its terms.
    scale = w * (y * dlog_g + bw * dg)
    err = np.abs(deta - w * ref_dl) / np.where(scale > 0, scale, 1.0)
    assert err.max() <= 1e-13, f"d log p / d eta vs exact: {err.max():.3g}"
    # and against a central difference of scipy's logpmf in eta (an independent check)
    i = ok & (np.abs(eta) < 20.0)
    h = 1e-6
    fd = (scipy.stats.poisson.logpmf(y[i], _rate(link, eta[i] + h, bw))
          - scipy.stats.poisson.logpmf(y[i], _rate(link, eta[i] - h, bw))) / (2 * h)
    np.testing.assert_allclose(deta[i] / w, fd, rtol=1e-6, atol=1e-6 * scale[i].max())


def _rate(link, eta, bw):
    return (np.logaddexp(0.0, eta) if link == 0 else np.exp(eta)) * bw


@pytest.mark.parametrize("link", [0, 1])
def test_poisson_sums_over_channels(link):
    """D = 40 channels at a time: the vectorised sums against scipy, the adjoint against the per-channel one."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        y = rng.integers(0, 256, 40).astype(float)
        y[rng.random(40) < 0.3] = 0.0
        eta = rng.uniform(-20.0, 8.0, 40)
        bw = 0.37
        lgy = float(scipy.special.gammaln(y + 1.0).sum())
        lam = (np.logaddexp(0.0, eta) if link == 0 else np.exp(eta)) * bw
        want = scipy.stats.poisson.logpmf(y, lam).sum()
        deta, work = np.empty(40), np.empty(40)
        got = vmath.poisson_loglik(link, y, eta, bw, lgy, work)
        assert got == pytest.approx(want, rel=1e-13)
        assert vmath.poisson_loglik_and_adjoint(link, y, eta, bw, lgy, 1.0, deta, work) == got
        fd = np.empty(40)
        vmath.poisson_loglik_adjoint(link, y, eta, bw, 1.0, fd)
        np.testing.assert_array_equal(deta, fd)


@pytest.mark.parametrize("link", [0, 1])
def test_poisson_special_values(link):
    y = np.array([0.0, 3.0, 0.0, 3.0, 0.0, 3.0, 3.0])
    eta = np.array([-np.inf, -np.inf, -800.0, -800.0, np.inf, np.inf, np.nan])
    deta = np.empty(7)
    with np.errstate(all="ignore"):
        terms = [vmath.poisson_loglik(link, y[i:i + 1], eta[i:i + 1], 0.5, 0.0, np.empty(1)) for i in range(7)]
    vmath.poisson_loglik_adjoint(link, y, eta, 0.5, 1.0, deta)
    assert terms[0] == 0.0                       # rate 0, no count: probability 1
    assert terms[1] == -np.inf
    assert terms[2] == 0.0
    assert terms[3] == pytest.approx(3.0 * (-800.0 + math.log(0.5)), rel=1e-15)   # never -inf
    assert terms[4] == -np.inf and np.isnan(terms[6])
    assert np.isnan(terms[5])                    # y log(inf) - inf, as scipy.stats.poisson.logpmf(3, inf)
    assert deta[2] == 0.0 and deta[3] == 3.0     # y g'/g -> y as eta -> -inf
    assert np.isnan(deta[6])


@pytest.mark.parametrize("link", [0, 1])
def test_poisson_any_number_of_channels(link):
    """Whole blocks of 8 plus an overlapping last block: every D gives each channel's own values."""
    y, eta, bw = poisson_cases(link, seed=6)
    y, eta = y[:200], eta[:200]
    one, _, d_one, _ = _per_channel(link, y, eta, bw, 0.3)
    for D in list(range(1, 27)) + [39, 40, 41, 63, 64, 65, 200]:
        work, work2, deta, deta2 = (np.full(D, np.nan) for _ in range(4))
        yd, ed = y[-D:], eta[-D:]
        lgy = float(scipy.special.gammaln(yd + 1.0).sum())
        s = vmath.poisson_loglik(link, yd, ed, bw, lgy, work)
        s2 = vmath.poisson_loglik_and_adjoint(link, yd, ed, bw, lgy, 0.3, deta2, work2)
        vmath.poisson_loglik_adjoint(link, yd, ed, bw, 0.3, deta)
        for got in (work, work2):
            np.testing.assert_array_equal(got, one[-D:], err_msg=f"D={D}")
        for got in (deta, deta2):
            np.testing.assert_array_equal(got, d_one[-D:], err_msg=f"D={D}")
        assert s == s2 and s == pytest.approx(math.fsum(one[-D:]) - lgy, rel=1e-14, abs=1e-9)


@pytest.mark.parametrize("link", [0, 1])
@pytest.mark.parametrize("K", [1, 3, 64])
def test_poisson_block_matches_per_channel(link, K):
    """The (D, K) block kernels of the SMC step: every element as the per-channel kernels
    round it (the whole range, |eta| > 700, counts 0..255, channels without a count),
    sums against fsum and scipy, and particles of weight 0 zero even where the derivative
    is infinite."""
    y_all, eta_all, bw = poisson_cases(link, seed=8)
    D = 37
    rng = np.random.default_rng(9)
    y = y_all[rng.integers(0, y_all.size, D)]
    y[:3] = [0.0, 255.0, 1.0]
    y[rng.random(D) < 0.3] = 0.0
    ETA = np.ascontiguousarray(eta_all[rng.integers(0, eta_all.size, (D, K))])
    ETA[:5, 0] = [-745.0, 720.0 if link == 0 else 705.0, -701.0, 0.0, 760.0]
    w = rng.uniform(-1.0, 1.0, K)
    w[K // 2] = 0.0
    ETA[5, K // 2] = 800.0                     # exp link: an infinite derivative, of weight 0
    Y = np.repeat(y, K)
    one, _, d_one, _ = _per_channel(link, Y, ETA.ravel(), bw, 1.0)
    one, d_one = one.reshape(D, K), d_one.reshape(D, K)
    lgy = float(scipy.special.gammaln(y + 1.0).sum())
    work, out, DETA = np.full((2, D, K), np.nan), np.empty(K), np.full((D, K), np.nan)
    with np.errstate(all="ignore"):
        vmath.poisson_loglik_block(link, y, ETA, bw, lgy, work, out)
    np.testing.assert_array_equal(work[1], one)
    for k in range(K):
        want = math.fsum(one[:, k]) if np.all(np.isfinite(one[:, k])) else one[:, k].sum()
        assert out[k] == pytest.approx(want - lgy, rel=1e-14, abs=1e-9) or (np.isnan(want) and np.isnan(out[k]))
    with np.errstate(all="ignore"):
        vmath.poisson_loglik_adjoint_block(link, y, ETA, bw, w, work, DETA)
        want = np.where(w[None, :] == 0.0, 0.0, w[None, :] * d_one)
    np.testing.assert_array_equal(DETA, want)
    assert link == 0 or (y[5] == 0.0 and d_one[5, K // 2] == -np.inf) or y[5] != 0.0
    assert np.all(DETA[:, K // 2] == 0.0)
    # against scipy, where scipy sees normal rates (|eta| <= 700; below, scipy's softplus
    # is subnormal and loses its digits, see test_poisson_against_scipy_and_exact)
    E2 = np.ascontiguousarray(np.clip(ETA, -700.0, 700.0))
    vmath.poisson_loglik_block(link, y, E2, bw, lgy, work, out)
    with np.errstate(all="ignore"):
        lam = (np.logaddexp(0.0, E2) if link == 0 else np.exp(E2)) * bw
        want = scipy.stats.poisson.logpmf(y[:, None], lam).sum(axis=0)
    assert np.all(lam > TINY)
    np.testing.assert_allclose(out, want, rtol=1e-13)


def test_softplus_head_tail_is_softplus_parts():
    """The split used by the block kernels gives the bits of softplus_parts."""
    x = np.concatenate([np.linspace(-800.0, 800.0, 20001), [-np.inf, np.inf, np.nan, -0.0, 0.0, -32.0, -31.999]])

    @numba.njit(error_model="numpy")
    def both(x):
        a, b = np.empty((x.size, 4)), np.empty((x.size, 4))
        for i in range(x.size):
            a[i] = vmath.softplus_parts(x[i])
            q, g = vmath.softplus_head(x[i])
            b[i] = vmath.softplus_tail(x[i], q, g)
        return a, b

    a, b = both(x)
    np.testing.assert_array_equal(a, b)
