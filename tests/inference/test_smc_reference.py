"""Self-checks of the numpy/autograd SMC oracle (no kernels involved).

If these fail, the comparison tests in test_smc_gradients.py mean nothing.
"""
import numpy as np
import pytest
from scipy.special import gammaln
from scipy.stats import multivariate_normal, norm

from lowrank.model.options import ModelOptions
from lowrank.model.params import grad_to_flat, to_flat
from reference import kalman, smc_numpy as ref   # tests/ is put on sys.path by conftest


def make_options(**kw):
    return ModelOptions(**{"n_units": 6, "rank": 2, "n_obs": 3, **kw})


# ---------------------------------------------------------------------------
# autograd gradient vs central finite differences of the reference itself
# ---------------------------------------------------------------------------

FD_CONFIGS = [
    # smooth activation, full noise, inputs filtered through the leak, optimal proposal, ESS
    dict(opts=dict(activation="tanh", n_inputs=2, filter_inputs=True, noise="full", init_noise="full",
                   readout_input=True), proposal="optimal", resample="systematic", ess=0.6),
    # units from currents, optimal, shared leak, stratified
    dict(opts=dict(activation="identity", readout="units", n_inputs=1, shared_leak=True, noise="full"),
         proposal="optimal", resample="stratified", ess=None),
    # Poisson softplus, units from rates, clipped ReLU, bootstrap, multinomial
    dict(opts=dict(activation="clipped_relu", readout="units", units_readout_from="rates",
                   likelihood="poisson", link="softplus", bin_width=0.5, init_noise="full"),
         proposal="bootstrap", resample="multinomial", ess=None),
    # Poisson exp, relu, inputs unfiltered, no resampling
    dict(opts=dict(activation="relu", likelihood="poisson", link="exp", n_inputs=2),
         proposal="bootstrap", resample="none", ess=None),
]


def _setup(cfg, make_model, make_inputs, seed, n_seq=2, T=5, K=4):
    opts = make_options(n_units=7, rank=2, n_obs=3, **cfg["opts"])
    params = make_model(opts, seed)
    u = make_inputs(opts, n_seq, T, seed + 1)
    _, y = ref.simulate(params, opts, T, n_seq, u, seed=seed + 2)
    draws = ref.make_draws(n_seq, T, K, opts.rank, seed + 3)
    return opts, params, u, y, draws


@pytest.mark.parametrize("i", range(len(FD_CONFIGS)))
def test_reference_grad_matches_finite_differences(i, make_model, make_inputs):
    cfg = FD_CONFIGS[i]
    opts, params, u, y, draws = _setup(cfg, make_model, make_inputs, seed=10 * i)
    kw = dict(draws=draws, proposal=cfg["proposal"], resample=cfg["resample"], ess_threshold=cfg["ess"])
    fwd = ref.forward(params, opts, y, u, **kw)
    # Freeze the genealogy: FD must not see ancestors flip.
    kw.update(ancestors=fwd.ancestors, resampled=fwd.resampled)
    theta = to_flat(params, opts)
    g = ref.grad_flat(theta, opts, y, u, **kw)
    h = 1e-6
    fd = np.empty_like(theta)
    for j in range(len(theta)):
        e = np.zeros_like(theta)
        e[j] = h
        fd[j] = (ref.value_flat(theta + e, opts, y, u, **kw) - ref.value_flat(theta - e, opts, y, u, **kw)) / (2 * h)
    # piecewise-linear activations: FD is exact away from kinks, and a step of 1e-6
    # crossing one is improbable at these sizes; tolerance covers roundoff ~1e-10/h.
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(g).max()))


def test_block_gradient_consistent_with_flat(make_model, make_inputs):
    cfg = FD_CONFIGS[0]
    opts, params, u, y, draws = _setup(cfg, make_model, make_inputs, seed=3)
    kw = dict(draws=draws, proposal=cfg["proposal"], resample=cfg["resample"], ess_threshold=cfg["ess"])
    gb = ref.grad_blocks(params, opts, y, u, **kw)
    gf = ref.grad_flat(to_flat(params, opts), opts, y, u, **kw)
    np.testing.assert_allclose(grad_to_flat(params, gb, opts), gf, rtol=1e-9, atol=1e-12)


def test_replay_reproduces_own_run(make_model, make_inputs):
    cfg = FD_CONFIGS[0]
    opts, params, u, y, draws = _setup(cfg, make_model, make_inputs, seed=4)
    kw = dict(draws=draws, proposal="bootstrap", resample="systematic", ess_threshold=0.7)
    a = ref.forward(params, opts, y, u, **kw)
    b = ref.forward(params, opts, y, u, ancestors=a.ancestors, resampled=a.resampled, **kw)
    np.testing.assert_array_equal(a.elbo, b.elbo)
    assert a.resampled[:, :-1].any() and not a.resampled[:, :-1].all(), a.resampled


# ---------------------------------------------------------------------------
# The optimal proposal's weight, evaluated explicitly
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("readout", ["latent", "units"])
def test_optimal_weight_is_joint_over_proposal(readout, make_model, make_inputs):
    opts = make_options(n_units=6, rank=3, n_obs=4, readout=readout, activation="tanh", n_inputs=2,
                        readout_input=(readout == "latent"), noise="full", init_noise="full")
    params = make_model(opts, 7)
    u = make_inputs(opts, 1, 4, 8)
    _, y = ref.simulate(params, opts, 4, 1, u, seed=9)
    draws = ref.make_draws(1, 4, 5, opts.rank, 10)
    r = ref.forward(params, opts, y, u, draws=draws, proposal="optimal", resample="systematic")
    p = params
    v = [np.asarray(x) for x in ref.fed_inputs(p, opts, u[0], 4)]
    for t in range(4):
        Sigma = (p.L_0 @ p.L_0.T) if t == 0 else (p.L_z @ p.L_z.T)
        B, c = (np.asarray(x) for x in ref.linear_readout(p, opts, v[t]))
        S = B @ Sigma @ B.T + np.diag(p.sigma ** 2)
        # the Kalman-gain form of q's moments (the reference uses the information form)
        G = Sigma @ B.T @ np.linalg.inv(S)
        P = Sigma - G @ B @ Sigma
        for k in range(5):
            f = r.prior_means[0, t, k]
            z = r.particles[0, t, k]
            mq = f + G @ (y[0, t] - B @ f - c)
            np.testing.assert_allclose(z, mq + np.linalg.cholesky(P) @ draws[0][0, t, k], rtol=1e-10, atol=1e-12)
            lp_y = norm.logpdf(y[0, t], B @ z + c, p.sigma).sum()
            lp_z = multivariate_normal.logpdf(z, f, Sigma)
            lq = multivariate_normal.logpdf(z, mq, P)
            assert r.log_w[0, t, k] == pytest.approx(lp_y + lp_z - lq, rel=1e-9, abs=1e-9)


# ---------------------------------------------------------------------------
# K = 1, bootstrap, no resampling: ELBO is the log-likelihood along the path
# ---------------------------------------------------------------------------

def _explicit_path_loglik(p, opts, y, u, eps):
    """Independent re-derivation: one particle, written with loops and np.clip."""
    T = eps.shape[0]
    U, D = opts.n_inputs, opts.n_obs
    v = np.zeros((T, U))
    for t in range(T):
        if opts.filter_inputs:
            if t > 0:
                ab = p.a.mean()
                v[t] = ab * v[t - 1] + (1 - ab) * u[t - 1]
        elif U:
            v[t] = u[t]

    def act(x, h):
        if opts.activation == "relu":
            return np.maximum(x, 0)
        if opts.activation == "clipped_relu":
            return np.clip(x + h, 0.0, h)        # = relu(x+h) − relu(x) for h > 0
        if opts.activation == "tanh":
            return np.tanh(x)
        return x

    mu = p.mu0.copy()
    if U:
        mu = mu + np.linalg.lstsq(p.m, p.W_u @ v[0], rcond=None)[0]
    z = mu + p.L_0 @ eps[0]
    total = 0.0
    for t in range(T):
        if t > 0:
            x = p.m @ z + p.W_u @ v[t - 1] - p.h
            z = p.a * z + p.n.T @ act(x, p.h) + p.L_z @ eps[t]
        if opts.readout == "latent":
            eta = p.W @ z + p.b + (p.W_v @ v[t] if opts.readout_input else 0.0)
        elif opts.units_readout_from == "currents":
            eta = p.gain * (p.m[:D] @ z + p.W_u[:D] @ v[t]) + p.b
        else:
            eta = p.gain * act(p.m[:D] @ z + p.W_u[:D] @ v[t] - p.h[:D], p.h[:D]) + p.b
        if opts.likelihood == "gaussian":
            total += norm.logpdf(y[t], eta, p.sigma).sum()
        else:
            g = np.exp(eta) if opts.link == "exp" else np.log1p(np.exp(eta))
            lam = g * opts.bin_width
            total += np.sum(y[t] * np.log(lam) - lam - gammaln(y[t] + 1))
    return total


@pytest.mark.parametrize("extra", [
    dict(activation="relu"),
    dict(activation="clipped_relu", n_inputs=2, filter_inputs=True, readout_input=True),
    dict(activation="tanh", readout="units", units_readout_from="rates", likelihood="poisson", n_inputs=1),
    dict(activation="identity", readout="units", likelihood="poisson", link="exp", bin_width=0.3,
         noise="full", init_noise="full"),
])
def test_single_particle_bootstrap_is_path_loglik(extra, make_model, make_inputs):
    opts = make_options(n_units=8, rank=2, n_obs=3, **extra)
    params = make_model(opts, 21)
    T = 6
    u = make_inputs(opts, 1, T, 22)
    _, y = ref.simulate(params, opts, T, 1, u, seed=23)
    draws = ref.make_draws(1, T, 1, opts.rank, 24)
    r = ref.forward(params, opts, y, u, draws=draws, proposal="bootstrap", resample="none")
    want = _explicit_path_loglik(params, opts, y[0], None if u is None else u[0], draws[0][0, :, 0])
    assert r.elbo[0] == pytest.approx(want, rel=1e-12, abs=1e-10)
    assert r.value == pytest.approx(want / T, rel=1e-12)


# ---------------------------------------------------------------------------
# Resampling conventions
# ---------------------------------------------------------------------------

def test_inverse_cdf_and_schemes():
    W = np.array([0.1, 0.0, 0.5, 0.4])
    # smallest j with cumsum > p; cumsum = [.1, .1, .6, 1.]
    np.testing.assert_array_equal(ref.inverse_cdf(W, [0.0, 0.1, 0.59, 0.6, 0.99, 1.0]), [0, 2, 2, 3, 3, 3])
    u = np.array([0.2, 0.9, 0.5, 0.05])
    np.testing.assert_array_equal(ref.resample_indices("systematic", W, u), [0, 2, 2, 3])    # .05,.3,.55,.8
    np.testing.assert_array_equal(ref.resample_indices("stratified", W, u), [0, 2, 3, 3])    # .05,.475,.625,.7625
    np.testing.assert_array_equal(ref.resample_indices("multinomial", W, u), [2, 3, 2, 0])
    np.testing.assert_array_equal(ref.resample_indices("none", W, u), [0, 1, 2, 3])


@pytest.mark.filterwarnings("ignore:overflow")
def test_reference_degeneracy(make_model):
    opts = make_options(likelihood="gaussian")
    params = make_model(opts, 0)
    y = np.zeros((1, 3, 3))
    y[0, 1, 0] = 1e300      # (y − η)² overflows: every log-weight is −inf at step 1
    draws = ref.make_draws(1, 3, 4, opts.rank, 0)
    with pytest.raises(ref.ReferenceDegeneracy) as e:
        ref.forward(params, opts, y, draws=draws, proposal="bootstrap")
    assert e.value.step == 1


# ---------------------------------------------------------------------------
# The Kalman oracle
# ---------------------------------------------------------------------------

def _joint_gaussian_loglik(p, opts, y, u):
    """log p(y_{0:T−1}) from the stacked joint Gaussian (no recursion)."""
    T, D, R = y.shape[0], opts.n_obs, opts.rank
    A, offset = kalman.linear_system(p, opts)
    v = [np.asarray(x) for x in ref.fed_inputs(p, opts, u, T)]
    # z_t = A^t z_0 + Σ_{s<t} A^{t−1−s} (offset_s + ε_s): build means and the
    # linear map from (z_0, ε_1..ε_{T−1}) to z_{0:T−1}.
    mz = [np.asarray(ref.initial_mean(p, opts, v[0]))]
    for t in range(1, T):
        mz.append(A @ mz[-1] + offset(v[t - 1]))
    Mmap = np.zeros((T * R, T * R))
    for t in range(T):
        for s in range(t + 1):
            Mmap[t * R:(t + 1) * R, s * R:(s + 1) * R] = np.linalg.matrix_power(A, t - s)
    Cin = np.zeros((T * R, T * R))
    Cin[:R, :R] = p.L_0 @ p.L_0.T
    for t in range(1, T):
        Cin[t * R:(t + 1) * R, t * R:(t + 1) * R] = p.L_z @ p.L_z.T
    Cz = Mmap @ Cin @ Mmap.T
    Bbig = np.zeros((T * D, T * R))
    cbig = np.zeros(T * D)
    for t in range(T):
        B, c = (np.asarray(x) for x in ref.linear_readout(p, opts, v[t]))
        Bbig[t * D:(t + 1) * D, t * R:(t + 1) * R] = B
        cbig[t * D:(t + 1) * D] = c
    cov = Bbig @ Cz @ Bbig.T + np.kron(np.eye(T), np.diag(p.sigma ** 2))
    return multivariate_normal.logpdf(y.ravel(), Bbig @ np.concatenate(mz) + cbig, cov)


@pytest.mark.parametrize("extra", [
    dict(),
    dict(readout="units", n_inputs=2, filter_inputs=True, noise="full", init_noise="full"),
    dict(readout_input=True, n_inputs=1, shared_leak=True),
])
def test_kalman_matches_joint_gaussian(extra, make_model, make_inputs):
    opts = make_options(activation="identity", n_units=5, rank=2, n_obs=3, **extra)
    params = make_model(opts, 31)
    u = make_inputs(opts, 1, 5, 32)
    _, y = ref.simulate(params, opts, 5, 1, u, seed=33)
    uu = None if u is None else u[0]
    assert kalman.kalman_loglik(params, opts, y[0], uu) == pytest.approx(
        _joint_gaussian_loglik(params, opts, y[0], uu), rel=1e-10, abs=1e-9)


def test_reference_smc_converges_to_kalman(make_model):
    opts = make_options(activation="identity", n_units=5, rank=2, n_obs=2)
    params = make_model(opts, 41)
    _, y = ref.simulate(params, opts, 4, 1, seed=42)
    ll = kalman.kalman_loglik(params, opts, y[0])
    est = [ref.forward(params, opts, y, draws=ref.make_draws(1, 4, 500, 2, s), proposal="optimal").elbo[0]
           for s in range(20)]
    sd = np.std(est, ddof=1)
    assert abs(np.mean(est) - ll) < 6 * sd / np.sqrt(len(est)) + 1e-3
