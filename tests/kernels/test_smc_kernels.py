"""Kernel-level tests of the SMC building blocks against plain numpy.

Resampling (expectations and spread of offspring counts), log-sum-exp edge
cases, transition means and their adjoint, read-outs and likelihoods,
thread-count determinism, degeneracy and input validation of
``lowrank.smc.elbo``.
"""
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import special, stats

from lowrank import smc
from lowrank.kernels import observation as obs
from lowrank.kernels import resampling as rs
from lowrank.kernels import transition as tr
from lowrank.kernels import vmath
from lowrank.model import ModelOptions, equations, init_params
from lowrank.model.codes import ACTIVATION_CODE, RESAMPLE_CODE

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------- resampling

def _weights(K, seed):
    w = np.random.default_rng(seed).gamma(0.7, size=K)
    w /= w.sum()
    return np.log(w)


def _draw_counts(code, logW, n, seed):
    K = logW.shape[0]
    rng = np.random.default_rng(seed)
    anc = np.empty(K, dtype=np.int64)
    cw = np.empty(K)
    counts = np.empty((n, K))
    for i in range(n):
        rs.resample(code, logW, rng.random(K), anc, cw)
        counts[i] = np.bincount(anc, minlength=K)
    return counts


def _inverse_cdf_numpy(W, p):
    cw = np.cumsum(W)
    return np.minimum(np.searchsorted(cw, p, side="right"), len(W) - 1)


@pytest.mark.parametrize("scheme", ["systematic", "stratified", "multinomial"])
def test_offspring_expectation(scheme):
    K, n = 7, 20000
    logW = _weights(K, 1)
    W = np.exp(logW)
    counts = _draw_counts(RESAMPLE_CODE[scheme], logW, n, 2)
    assert np.all(counts.sum(axis=1) == K)
    # Multinomial variance bounds the other two schemes'.
    tol = 6 * np.sqrt(K * W * (1 - W) / n) + 1e-9
    assert np.all(np.abs(counts.mean(axis=0) - K * W) < tol)


def test_systematic_and_stratified_spread():
    K = 9
    for seed in range(5):
        logW = _weights(K, 10 + seed)
        KW = K * np.exp(logW)
        sysc = _draw_counts(RESAMPLE_CODE["systematic"], logW, 2000, seed)
        strc = _draw_counts(RESAMPLE_CODE["stratified"], logW, 2000, seed)
        assert np.all(np.abs(sysc - KW) < 1.0)
        assert np.all(np.abs(strc - KW) < 2.0)


@pytest.mark.parametrize("scheme", ["systematic", "stratified", "multinomial"])
def test_resample_matches_numpy_inverse_cdf(scheme):
    K = 11
    rng = np.random.default_rng(3)
    logW = _weights(K, 4)
    W = np.exp(logW)
    anc = np.empty(K, dtype=np.int64)
    cw = np.empty(K)
    for _ in range(50):
        u = rng.random(K)
        rs.resample(RESAMPLE_CODE[scheme], logW, u, anc, cw)
        k = np.arange(K)
        p = {"systematic": (k + u[0]) / K, "stratified": (k + u) / K, "multinomial": u}[scheme]
        np.testing.assert_array_equal(anc, _inverse_cdf_numpy(W, p))


def test_resample_none_is_identity():
    K = 6
    anc = np.full(K, -1, dtype=np.int64)
    rs.resample(RESAMPLE_CODE["none"], _weights(K, 0), np.random.default_rng(0).random(K), anc, np.empty(K))
    np.testing.assert_array_equal(anc, np.arange(K))


def test_resample_degenerate_weight_picks_survivor():
    K = 5
    logW = np.full(K, -np.inf)
    logW[3] = 0.0
    anc = np.empty(K, dtype=np.int64)
    for code in (1, 2, 3):
        rs.resample(code, logW, np.full(K, 0.999), anc, np.empty(K))
        assert np.all(anc == 3)


def _small_model(**kw):
    base = dict(n_units=8, rank=2, n_obs=3, activation="tanh")
    base.update(kw)
    opts = ModelOptions(**base)
    return init_params(opts, 0), opts


def test_adaptive_resamples_only_below_threshold():
    p, opts = _small_model()
    y = np.random.default_rng(0).standard_normal((3, 30, 3)) * 2
    tau, K = 0.5, 16
    res = smc.elbo(p, y, options=opts, n_particles=K, proposal="bootstrap", resample="systematic",
                   ess_threshold=tau, return_particles=True, grad=False, seed=1)
    eps, unif = res.draws
    n_resampled = n_kept = 0
    for s in range(3):
        for t in range(29):
            W = np.exp(res.log_weights[s, t])
            ess = 1.0 / np.sum(W ** 2)
            anc = res.ancestors[s, t + 1]
            if ess < tau * K:
                n_resampled += 1
                np.testing.assert_array_equal(anc, _inverse_cdf_numpy(W, (np.arange(K) + unif[s, t, 0]) / K))
            else:
                n_kept += 1
                np.testing.assert_array_equal(anc, np.arange(K))
    assert n_resampled > 0 and n_kept > 0


def test_ess():
    assert rs.ess(np.full(4, -np.log(4))) == pytest.approx(4.0)
    assert rs.ess(np.array([0.0, -np.inf, -np.inf])) == pytest.approx(1.0)


# ------------------------------------------------------------- log-sum-exp

def test_logsumexp_edge_cases():
    assert rs.logsumexp(np.full(5, -np.inf)) == -np.inf
    assert rs.logsumexp(np.array([700.0, 700.0])) == pytest.approx(700.0 + math.log(2.0))
    assert rs.logsumexp(np.array([-700.0, -701.0, -np.inf])) == pytest.approx(special.logsumexp([-700.0, -701.0]))
    assert rs.logsumexp(np.array([-1e6, 0.0])) == 0.0
    x = np.array([690.0, -690.0, 0.0])  # spans 1e±300
    assert np.isfinite(rs.logsumexp(x))
    rng = np.random.default_rng(0)
    for _ in range(20):
        v = rng.standard_normal(13) * 50
        assert rs.logsumexp(v) == pytest.approx(special.logsumexp(v), rel=1e-13)


# ---------------------------------------------------------------- transition

_ACTIVATION_NAME = {code: name for name, code in ACTIVATION_CODE.items()}


def _phi_numpy(code, x, h):
    """The model's own numpy φ (lowrank.model.equations), the reference for the compiled one."""
    return equations.phi(_ACTIVATION_NAME[code], x, h)


def _transition_numpy(act, Z, a, mT, nT, h, xb):
    """``a z + nᵀ φ(m z + xb)`` for the rows of ``Z`` (K, R); xb (N,) the input drive."""
    return a * Z + _phi_numpy(act, Z @ mT + xb, h) @ nT.T


@pytest.mark.parametrize("act", [0, 1, 2, 3])
@pytest.mark.parametrize("R", [1, 2, 3, 5])
@pytest.mark.parametrize("K", [1, 2, 7])  # odd K: pairs plus one single
def test_transition_means_match_numpy(act, R, K):
    rng = np.random.default_rng(act * 10 + R + 100 * K)
    N, U = 37, 2
    m, n = rng.standard_normal((N, R)), rng.standard_normal((N, R)) / N
    h, a, Z = rng.uniform(0.1, 0.5, N), rng.uniform(0.5, 0.9, R), rng.standard_normal((K, R))
    Wu, v = rng.standard_normal((N, U)), rng.standard_normal(U)
    xb = np.empty(N)
    tr.input_drive(Wu, v, h, xb)
    np.testing.assert_allclose(xb, Wu @ v - h, rtol=1e-13, atol=1e-14)
    mT, nT = np.ascontiguousarray(m.T), np.ascontiguousarray(n.T)
    X, P, F = np.empty((K, N)), np.empty((K, N)), np.empty((K, R))
    tr.transition_means(act, Z, a, mT, nT, h, xb, X, P, F)
    xr = Z @ m.T + Wu @ v - h
    np.testing.assert_allclose(X, xr, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(P, _phi_numpy(act, xr, h), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(F, _transition_numpy(act, Z, a, mT, nT, h, xb), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("act", [0, 1, 2, 3])
@pytest.mark.parametrize("K", [4, 5])
def test_transition_adjoint_finite_differences(act, K):
    rng = np.random.default_rng(act)
    N, R = 23, 3
    mT, nT = rng.standard_normal((R, N)), rng.standard_normal((R, N)) / N
    h, a = rng.uniform(0.1, 0.5, N), rng.uniform(0.5, 0.9, R)
    xb0 = rng.standard_normal(N) * 0.3
    Z = rng.standard_normal((K, R))
    C = rng.standard_normal((K, R))  # objective sum_k C_k . f(Z_k)

    def objective(mT, nT, h, a, xb, Z):
        X, P, F = np.empty((K, N)), np.empty((K, N)), np.empty((K, R))
        tr.transition_means(act, Z, a, mT, nT, h, xb - h, X, P, F)
        return float(np.sum(C * F))

    X, PB, GX = np.empty((K, N)), np.empty((K, N)), np.empty((K, N))
    dmT, dnT, dhp, da, dxb = np.zeros((R, N)), np.zeros((R, N)), np.zeros(N), np.zeros(R), np.zeros(N)
    dZ = np.zeros((K, R))
    tr.preactivations(act, Z, mT, h, xb0 - h, X, PB)
    tr.transition_adjoints(act, Z, a, mT, nT, h, X, C, GX, dZ, dhp, da)
    tr.transition_adjoint_block(C, Z, PB, GX, dmT, dnT, dxb)
    dh = dhp - dxb
    args = [mT, nT, h, a, xb0, Z]
    grads = [dmT, dnT, dh, da, dxb, dZ]
    eps = 1e-6
    for i, (arg, g) in enumerate(zip(args, grads)):
        flat = arg.ravel()
        for j in range(0, flat.size, max(1, flat.size // 12)):
            old = flat[j]
            flat[j] = old + eps
            fp = objective(*args)
            flat[j] = old - eps
            fm = objective(*args)
            flat[j] = old
            assert (fp - fm) / (2 * eps) == pytest.approx(g.ravel()[j], rel=1e-5, abs=1e-7), (i, j)


@pytest.mark.parametrize("K", [8, 9, 19])
def test_particles_as_lanes_match_numpy_and_the_pair_functions(K):
    """Rank 2, ReLU: :func:`step_means` takes the lanes (``transition_means_lanes``); its values match
    numpy, and ``transition_reverse_lanes`` gives the adjoints of the pair functions."""
    act, R, N = ACTIVATION_CODE["relu"], 2, 37
    assert tr.use_lanes(act, R, K) and not tr.use_lanes(act, R, tr.LANES_MIN_PARTICLES - 1)
    assert not tr.use_lanes(ACTIVATION_CODE["clipped_relu"], R, K) and not tr.use_lanes(act, 3, K)
    rng = np.random.default_rng(K)
    mT, nT = rng.standard_normal((R, N)), rng.standard_normal((R, N)) / N
    h, a, Z = rng.uniform(0.1, 0.5, N), rng.uniform(0.5, 0.9, R), rng.standard_normal((K, R))
    xb, DF = rng.standard_normal(N) * 0.5, rng.standard_normal((K, R))
    X, P, F = np.empty((K, N)), np.empty((K, N)), np.empty((K, R))
    ZT, FT = np.empty((R, K)), np.empty((R, K))
    tr.step_means(act, Z, a, mT, nT, h, xb, X, P, ZT, FT, F)
    np.testing.assert_allclose(F, _transition_numpy(act, Z, a, mT, nT, h, xb), rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(FT, F.T)                  # the lanes wrote F
    pair = [np.zeros((K, R)), np.zeros((R, N)), np.zeros((R, N)), np.zeros(N), np.zeros(N), np.zeros(R)]
    GX = np.empty((K, N))
    tr.preactivations(act, Z, mT, h, xb, X, P)
    tr.transition_adjoints(act, Z, a, mT, nT, h, X, DF, GX, pair[0], pair[4], pair[5])
    tr.transition_adjoint_block(DF, Z, P, GX, pair[1], pair[2], pair[3])
    lanes = [np.zeros((R, K)), np.zeros((R, N)), np.zeros((R, N)), np.zeros(N), np.zeros(R)]
    tr.transition_reverse_lanes(np.ascontiguousarray(Z.T), a, mT, nT, xb, np.ascontiguousarray(DF.T), *lanes)
    for name, got, want in zip(("DZ", "dmT", "dnT", "dxb", "da"), [lanes[0].T] + lanes[1:],
                               pair[:4] + [pair[5]]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13, err_msg=name)
    assert not pair[4].any()                                # ReLU has no explicit h


# ------------------------------------------------------ read-out, likelihoods

def test_readout_means_match_numpy():
    rng = np.random.default_rng(5)
    N, R, D, K = 12, 3, 5, 4
    Z, W, off = rng.standard_normal((K, R)), rng.standard_normal((D, R)), rng.standard_normal(D)
    m, h = rng.standard_normal((N, R)), rng.uniform(0.1, 0.4, N)
    gain, b = rng.uniform(0.5, 2, D), rng.standard_normal(D)
    ETA, XC = np.empty((D, K)), np.empty((D, K))
    ZT, WT, mDT = np.ascontiguousarray(Z.T), np.ascontiguousarray(W.T), np.ascontiguousarray(m[:D].T)
    obs.readout_block(0, 0, 1, ZT, WT, mDT, h[:D], gain, b, off, XC, ETA)
    np.testing.assert_allclose(ETA.T, Z @ W.T + off, rtol=1e-13)
    obs.readout_block(1, 0, 1, ZT, WT, mDT, h[:D], gain, b, off, XC, ETA)
    np.testing.assert_allclose(ETA.T, gain * (Z @ m[:D].T + off) + b, rtol=1e-13)
    for act in range(4):
        obs.readout_block(1, 1, act, ZT, WT, mDT, h[:D], gain, b, off, XC, ETA)
        np.testing.assert_allclose(ETA.T, gain * _phi_numpy(act, Z @ m[:D].T + off - h[:D], h[:D]) + b,
                                   rtol=1e-13)


def test_softplus_accuracy():
    x = np.concatenate([np.linspace(-40, 40, 4001), [-745.0, -700.0, -1e-300, 0.0, 1e-300, 700.0, 1e6]])
    got = np.array([vmath.softplus_s(v) for v in x])
    np.testing.assert_allclose(got, np.logaddexp(0.0, x), rtol=4e-16 * 8, atol=0)
    q = np.concatenate([np.geomspace(1e-320, 1.0, 2000), [0.0]])
    np.testing.assert_allclose([vmath.log1p_s(v) for v in q], np.log1p(q), rtol=4e-16 * 8, atol=0)


def _loglik(lik, link, y, eta, isg, gconst, bw, lgy):
    """One particle's log-likelihood through the block kernel."""
    out = np.empty(1)
    obs.loglik_block(lik, link, y, np.ascontiguousarray(eta[:, None]), isg, gconst, bw, lgy,
                     np.empty((2, len(y), 1)), out)
    return out[0]


def test_likelihoods_match_scipy():
    rng = np.random.default_rng(6)
    D = 9
    eta = rng.standard_normal(D) * 3
    eta[0] = -50.0  # softplus far in its exponential tail
    y = rng.standard_normal(D)
    sigma = rng.uniform(0.5, 2, D)
    gconst = -np.sum(np.log(sigma)) - 0.5 * D * math.log(2 * math.pi)
    got = _loglik(0, 0, y, eta, 1 / sigma, gconst, 1.0, 0.0)
    assert got == pytest.approx(stats.norm.logpdf(y, eta, sigma).sum(), rel=1e-12)
    counts = rng.poisson(2.0, D).astype(float)
    counts[0] = 3.0
    lgy = obs.lgamma_sum(counts)
    assert lgy == pytest.approx(special.gammaln(counts + 1).sum(), rel=1e-12)
    for link, g in ((0, lambda e: np.logaddexp(0, e)), (1, np.exp)):
        bw = 0.3
        lam = g(eta) * bw
        got = _loglik(1, link, counts, eta, np.zeros(0), 0.0, bw, lgy)
        assert got == pytest.approx(stats.poisson.logpmf(counts, lam).sum(), rel=1e-10)


@pytest.mark.parametrize("lik,link", [(0, 0), (1, 0), (1, 1)])
def test_likelihood_adjoint_finite_differences(lik, link):
    rng = np.random.default_rng(7)
    D = 6
    eta = rng.standard_normal(D) * 2
    y = rng.poisson(2.0, D).astype(float) if lik else rng.standard_normal(D)
    isg = 1 / rng.uniform(0.5, 2, D)
    deta, dsig = np.empty((D, 1)), np.zeros(D)
    obs.loglik_adjoint_block(lik, link, y, np.ascontiguousarray(eta[:, None]), isg, 0.7, np.ones(1),
                             np.empty((2, D, 1)), deta, dsig)
    for d in range(D):
        e = eta.copy()
        e[d] += 1e-6
        fp = _loglik(lik, link, y, e, isg, 0.0, 0.7, 0.0)
        e[d] -= 2e-6
        fm = _loglik(lik, link, y, e, isg, 0.0, 0.7, 0.0)
        assert (fp - fm) / 2e-6 == pytest.approx(deta[d, 0], rel=1e-6, abs=1e-8)


# ------------------------------------------------- determinism, degeneracy

DETERMINISM_SCRIPT = textwrap.dedent("""
    import hashlib, numpy as np
    from lowrank import smc
    from lowrank.model import ModelOptions, init_params
    out = []
    for kw in (dict(activation="clipped_relu"), dict(activation="tanh", n_inputs=2, filter_inputs=True)):
        opts = ModelOptions(n_units=30, rank=3, n_obs=4, **kw)
        p = init_params(opts, 0)
        rng = np.random.default_rng(1)
        y = rng.standard_normal((5, 12, 4))
        u = rng.standard_normal((5, 12, 2)) if opts.n_inputs else None
        for prop in ("optimal", "bootstrap"):
            r = smc.elbo(p, y, u, options=opts, n_particles=6, proposal=prop, seed=3)
            out.append(hashlib.sha256(r.elbo.tobytes() + r.grad_flat.tobytes()).hexdigest())
    print(" ".join(out))
""")


def _run_with_threads(n):
    env = dict(os.environ, NUMBA_NUM_THREADS=str(n))
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run([sys.executable, "-c", DETERMINISM_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=600, cwd=REPO)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_bit_identical_across_thread_counts():
    one = _run_with_threads(1)
    two = _run_with_threads(2)
    assert one == two
    assert _run_with_threads(2) == two  # warm cache, same answer


def test_degeneracy_raises():
    p, opts = _small_model(likelihood="poisson", link="exp")
    p = p._replace(b=np.full(3, 800.0))  # rate exp(800) = inf: every weight is zero
    y = np.ones((2, 4, 3))
    with pytest.raises(smc.SMCDegeneracyError, match="sequence 0 at step 0"):
        smc.elbo(p, y, options=opts, n_particles=4, proposal="bootstrap")
    assert issubclass(smc.SMCDegeneracyError, FloatingPointError)


def test_extreme_weights_do_not_overflow():
    p, opts = _small_model()
    p = p._replace(sigma=np.full(3, 1e-3))  # log-weights spread over ~1e6 nats
    y = np.random.default_rng(0).standard_normal((2, 5, 3)) * 3
    for prop in ("bootstrap", "optimal"):
        r = smc.elbo(p, y, options=opts, n_particles=8, proposal=prop)
        assert np.all(np.isfinite(r.elbo)) and np.all(np.isfinite(r.grad_flat))


# ---------------------------------------------------------------- validation

def test_validation_errors():
    p, opts = _small_model(n_inputs=2)
    y = np.zeros((2, 5, 3))
    u = np.zeros((2, 5, 2))
    ok = dict(options=opts, n_particles=3)
    with pytest.raises(ValueError, match="shape"):
        smc.elbo(p, np.zeros(5), u, **ok)
    with pytest.raises(ValueError, match="n_obs=3"):
        smc.elbo(p, np.zeros((2, 5, 4)), u, **ok)
    with pytest.raises(ValueError, match="NaN"):
        smc.elbo(p, np.full((2, 5, 3), np.nan), u, **ok)
    with pytest.raises(ValueError, match="n_inputs=2"):
        smc.elbo(p, y, None, **ok)
    with pytest.raises(ValueError, match="inputs must have shape"):
        smc.elbo(p, y, np.zeros((2, 4, 2)), **ok)
    with pytest.raises(ValueError, match="inputs must have shape"):
        smc.elbo(p, y, np.zeros((2, 5, 3)), **ok)
    with pytest.raises(ValueError, match="n_particles"):
        smc.elbo(p, y, u, options=opts, n_particles=0)
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="ess_threshold"):
            smc.elbo(p, y, u, ess_threshold=bad, **ok)
    with pytest.raises(ValueError, match="resample must be one of"):
        smc.elbo(p, y, u, resample="residual", **ok)
    with pytest.raises(ValueError, match=r"proposal must be one of \['bootstrap', 'optimal', 'encoder'\]"):
        smc.elbo(p, y, u, proposal="encoderr", **ok)
    with pytest.raises(ValueError, match="draws"):
        smc.elbo(p, y, u, draws=(np.zeros((2, 5, 3, 2)), np.zeros((2, 5, 2))), **ok)
    with pytest.raises(ValueError, match="lengths"):
        smc.elbo(p, y, u, lengths=np.array([5, 6]), **ok)


def test_optimal_proposal_rejected_for_nonlinear_readout():
    for kw in (dict(likelihood="poisson"), dict(readout="units", units_readout_from="rates")):
        p, opts = _small_model(**kw)
        with pytest.raises(ValueError, match=r"valid proposals for this model: \['bootstrap'\]"):
            smc.elbo(p, np.ones((1, 3, 3)), options=opts, proposal="optimal")


def test_poisson_counts_validated():
    p, opts = _small_model(likelihood="poisson")
    with pytest.raises(ValueError, match="non-negative integer"):
        smc.elbo(p, np.full((1, 3, 3), 0.5), options=opts, proposal="bootstrap")
    with pytest.raises(ValueError, match="non-negative integer"):
        smc.elbo(p, -np.ones((1, 3, 3)), options=opts, proposal="bootstrap")


def test_model_object_and_single_sequence():
    p, opts = _small_model()

    class Model:
        params, options = p, opts

    y = np.random.default_rng(0).standard_normal((6, 3))
    a = smc.elbo(Model(), y, n_particles=4, seed=2)
    b = smc.elbo(p, y[None], options=opts, n_particles=4, seed=2)
    assert a.elbo.shape == (1,) and a.elbo[0] == b.elbo[0]
    np.testing.assert_array_equal(a.grad_flat, b.grad_flat)
    assert a.value == pytest.approx(a.elbo[0] / 6)


def test_padded_lengths_ignore_tail():
    p, opts = _small_model()
    rng = np.random.default_rng(0)
    y = rng.standard_normal((2, 7, 3))
    draws = (rng.standard_normal((2, 7, 4, 2)), rng.random((2, 7, 4)))
    ypad = y.copy()
    ypad[1, 4:] = np.nan
    r = smc.elbo(p, ypad, options=opts, n_particles=4, lengths=np.array([7, 4]), draws=draws,
                 return_particles=True)
    r1 = smc.elbo(p, y[1:, :4], options=opts, n_particles=4,
                  draws=(draws[0][1:, :4], draws[1][1:, :4]))
    assert r.elbo[1] == pytest.approx(r1.elbo[0], rel=1e-13)
    assert r.elbo_per_step[1] == pytest.approx(r.elbo[1] / 4)
    assert np.all(np.isnan(r.particles[1, 4:])) and np.all(r.ancestors[1, 4:] == -1)
    assert r.particles.shape == (2, 7, 4, 2) and r.log_weights.shape == (2, 7, 4)


# ------------------------------------------------------ kernel signatures

def test_grad_views_tile_the_row():
    from lowrank.kernels.smc_args import GradLayout, Grads, grad_layout, grad_shapes, grad_views
    N, R, D, U, Uv = 7, 3, 4, 2, 2
    lay = grad_layout(N, R, D, U, Uv)
    assert GradLayout._fields[:-1] == Grads._fields == tuple(grad_shapes(N, R, D, U, Uv))
    row = np.arange(lay.size, dtype=np.float64)
    views = grad_views(row, lay, R, N, D, U, Uv)
    for name, shape in grad_shapes(N, R, D, U, Uv).items():
        view = getattr(views, name)
        assert view.shape == shape, name
        start = getattr(lay, name)
        np.testing.assert_array_equal(view.ravel(), row[start:start + view.size])
    assert sum(v.size for v in views) == lay.size


def test_kernels_take_at_most_twelve_arguments():
    import ast
    import glob
    folder = os.path.join(REPO, "lowrank", "kernels")
    wide = []
    for path in glob.glob(os.path.join(folder, "*.py")):
        with open(path) as fh:
            tree = ast.parse(fh.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and any("jit" in ast.unparse(d) for d in node.decorator_list):
                if len(node.args.args) > 12:
                    wide.append(f"{os.path.basename(path)}:{node.name} ({len(node.args.args)})")
    assert not wide, wide
