"""Plain numpy/autograd reference of the SMC objective in docs/smc.md.

This is the oracle for the hand-written reverse-mode gradient of the Numba
kernels, so it is deliberately written differently from them:

* every quantity is computed the obvious, dense way (the optimal proposal's
  weight uses the D×D predictive covariance ``B Σ Bᵀ + R_obs`` and its
  log-determinant, not the Woodbury / determinant-lemma form);
* it is a pure function of the parameters, written with ``autograd.numpy``
  and without in-place writes on traced arrays, so ``autograd.grad`` of
  ``value`` is the gradient with the draws, ancestors and resampling
  decisions held fixed — the gradient docs/smc.md defines;
* it loops over sequences in Python and vectorises over particles only.

Ancestors and resampling decisions can be replayed from a kernel run
(``ancestors=``, ``resampled=``): the reference then follows exactly the same
particle genealogy, which is what makes a gradient comparison meaningful
when floating-point differences could otherwise flip an ancestor.
"""
from __future__ import annotations

from typing import NamedTuple

import autograd
import autograd.numpy as anp
import numpy as np
from autograd.tracer import getval
from scipy.special import gammaln

from lowrank.model.params import BLOCKS, Params, from_flat, to_flat

LOG2PI = float(np.log(2.0 * np.pi))
PROPOSALS = ("bootstrap", "optimal", "encoder")
RESAMPLERS = ("systematic", "stratified", "multinomial", "none")


class ReferenceDegeneracy(RuntimeError):
    """All log-weights of a sequence are -inf at some step."""

    def __init__(self, seq, step):
        super().__init__(f"sequence {seq}: all log-weights are -inf at step {step}")
        self.seq, self.step = seq, step


class RefResult(NamedTuple):
    elbo: np.ndarray            # (n_seq,)
    elbo_per_step: np.ndarray   # (n_seq,)
    value: float
    ell: np.ndarray             # (n_seq, T) per-step increments ℓ_t (NaN past the length)
    particles: np.ndarray       # (n_seq, T, K, R) z_t^k
    prior_means: np.ndarray     # (n_seq, T, K, R) f^k (already gathered through anc_t)
    log_w: np.ndarray           # (n_seq, T, K) incremental log-weights log w_t^k
    log_W: np.ndarray           # (n_seq, T, K) normalised log-weights after step t's update
    ancestors: np.ndarray       # (n_seq, T, K) anc_t (anc_0 = identity)
    resampled: np.ndarray       # (n_seq, T) bool: resampling happened after step t


def make_draws(n_seq, T, K, R, seed):
    """The draws of docs/smc.md, in its order: Box–Muller normals from 2m uniforms
    (``u[i]`` with ``u[m + i]``), then uniforms. The library's kernel gives the same
    normals to rounding (a few ulp), not bit for bit."""
    rng = np.random.default_rng(seed)
    n = n_seq * T * K * R
    m = (n + 1) // 2
    u = rng.random(2 * m)
    r = np.sqrt(-2.0 * np.log1p(-u[:m]))
    theta = 2.0 * np.pi * u[m:]
    eps = np.concatenate([r * np.cos(theta), r * np.sin(theta)])[:n].reshape(n_seq, T, K, R)
    unif = rng.random((n_seq, T, K))
    return eps, unif


# ---------------------------------------------------------------------------
# Model pieces (all vectorised over a leading particle axis)
# ---------------------------------------------------------------------------

def _relu(x):
    # anp.maximum would give slope 1/2 at a tie; the kernels use the
    # subgradient 0 at kinks, so select with a strict comparison instead.
    return anp.where(x > 0.0, x, 0.0)


def phi(activation, x, h):
    """Activation on the pre-activation ``x = m z + W_u v - h``."""
    if activation == "identity":
        return x
    if activation == "relu":
        return _relu(x)
    if activation == "clipped_relu":
        return _relu(x + h) - _relu(x)
    if activation == "tanh":
        return anp.tanh(x)
    raise ValueError(activation)


def fed_inputs(p, opts, u, T):
    """List of the fed inputs ``v_t`` (U,), t = 0..T-1 (empty arrays when U = 0)."""
    U = opts.n_inputs
    if U == 0:
        return [np.zeros(0)] * T
    u = np.asarray(u, dtype=np.float64)
    if not opts.filter_inputs:
        return [u[t] for t in range(T)]
    abar = anp.mean(p.a)
    v = [np.zeros(U)]
    for t in range(T - 1):
        v.append(abar * v[-1] + (1.0 - abar) * u[t])
    return v


def transition_mean(p, opts, Z, v):
    """``f(z, v) = a ⊙ z + nᵀ φ(m z + W_u v − h)`` for each row of Z (K, R)."""
    X = anp.dot(Z, p.m.T) + anp.dot(p.W_u, v) - p.h
    return Z * p.a + anp.dot(phi(opts.activation, X, p.h), p.n)


def initial_mean(p, opts, v0):
    if opts.n_inputs == 0:
        return p.mu0
    # P_M = (mᵀm)⁻¹ mᵀ: least-squares latent coordinates of the input current.
    return p.mu0 + anp.linalg.solve(anp.dot(p.m.T, p.m), anp.dot(p.m.T, anp.dot(p.W_u, v0)))


def readout_mean(p, opts, Z, v):
    """Mean before the link, η (K, D)."""
    D = opts.n_obs
    if opts.readout == "latent":
        eta = anp.dot(Z, p.W.T) + p.b
        if opts.readout_input:
            eta = eta + anp.dot(p.W_v, v)
        return eta
    cur = anp.dot(Z, p.m[:D].T) + anp.dot(p.W_u[:D], v)
    if opts.units_readout_from == "currents":
        return p.gain * cur + p.b
    hD = p.h[:D]
    return p.gain * phi(opts.activation, cur - hD, hD) + p.b


def log_lik(p, opts, y, eta):
    """log p(y | η) summed over the observed channels (NaN in ``y``: missing), for each row of η (K, D)."""
    obs = ~np.isnan(np.asarray(y, dtype=np.float64))
    y = np.where(obs, y, 0.0)
    if opts.likelihood == "gaussian":
        r = (y - eta) / p.sigma
        return anp.sum(anp.where(obs, -0.5 * LOG2PI - anp.log(p.sigma) - 0.5 * r * r, 0.0), axis=-1)
    delta = float(opts.bin_width)
    if opts.link == "exp":
        log_lam = eta + np.log(delta)
        lam = anp.exp(eta) * delta
    else:
        sp = anp.logaddexp(0.0, eta)          # softplus, stable for large |η|
        log_lam = anp.log(sp) + np.log(delta)
        lam = sp * delta
    # y = 0 with λ → 0 is 0·(−inf); the count term must vanish there.
    term = anp.where(y > 0, y * log_lam, 0.0)
    return anp.sum(anp.where(obs, term - lam - gammaln(np.asarray(y) + 1.0), 0.0), axis=-1)


def linear_readout(p, opts, v):
    """(B, c_t) of a linear-Gaussian read-out ``y = B z + c_t + noise``."""
    D = opts.n_obs
    if opts.readout == "latent":
        c = p.b + anp.dot(p.W_v, v) if opts.readout_input else p.b
        return p.W, c
    if opts.units_readout_from != "currents":
        raise ValueError("units read-out from rates is not linear")
    B = p.gain[:, None] * p.m[:D]
    return B, p.gain * anp.dot(p.W_u[:D], v) + p.b


def log_mvn(x, mean, cov):
    """log 𝒩(x; mean, cov) for each row of (x − mean), dense."""
    diff = x - mean
    _, logdet = anp.linalg.slogdet(cov)
    sol = anp.linalg.solve(cov, diff.T).T
    return -0.5 * (diff.shape[-1] * LOG2PI + logdet + anp.sum(diff * sol, axis=-1))


def optimal_proposal(p, opts, L, F, y, v):
    """Moments of q ∝ p(z | prev) p(y | z) and the weight log p(y | prev)."""
    B, c = linear_readout(p, opts, v)
    Sigma = anp.dot(L, L.T)
    Sinv = anp.linalg.inv(Sigma)
    Rinv = anp.diag(1.0 / p.sigma ** 2)
    P = anp.linalg.inv(Sinv + anp.dot(B.T, anp.dot(Rinv, B)))
    # Symmetric in exact arithmetic; symmetrise so that the Cholesky factor (which reads
    # one triangle) and its autograd rule see the same matrix.
    P = 0.5 * (P + P.T)
    L_P = anp.linalg.cholesky(P)
    mean = anp.dot(anp.dot(F, Sinv) + anp.dot(y - c, anp.dot(Rinv, B)), P)
    S = anp.dot(B, anp.dot(Sigma, B.T)) + anp.diag(p.sigma ** 2)
    logw = log_mvn(y, anp.dot(F, B.T) + c, S)
    return mean, L_P, logw


def encoder_proposal(p, opts, L, F, mu_e, prec_e, eps_t, y, v):
    """Particles and weights of the encoder proposal, densely: q ∝ N(z; f, Σ) N(z; μ_e, diag(1/λ)).

    The proposal's covariance is ``P = (Σ⁻¹ + diag λ)⁻¹``; its noise is
    ``L_A⁻ᵀ ε`` with ``L_A = chol(P⁻¹)`` (docs/smc.md), and the weight is
    ``log p(y | z) + log N(z; f, Σ) − log N(z; mean, P)`` with both densities
    evaluated in full.
    """
    Sigma = anp.dot(L, L.T)
    Sinv = anp.linalg.inv(Sigma)
    A = Sinv + anp.diag(prec_e)
    P = anp.linalg.inv(A)
    P = 0.5 * (P + P.T)
    L_A = anp.linalg.cholesky(0.5 * (A + A.T))
    mean = anp.dot(anp.dot(F, Sinv) + mu_e * prec_e, P)
    Z = mean + anp.linalg.solve(L_A.T, eps_t.T).T
    logw = (log_lik(p, opts, y, readout_mean(p, opts, Z, v)) + log_mvn(Z, F, Sigma)
            - log_mvn(Z, mean, P))
    return Z, logw


# ---------------------------------------------------------------------------
# Resampling (on plain values: ancestors are constants for the gradient)
# ---------------------------------------------------------------------------

def inverse_cdf(W, points):
    """Smallest j with Σ_{i≤j} W_i > p for each point, clamped to K−1."""
    cum = np.cumsum(W)
    idx = np.searchsorted(cum, points, side="right")
    return np.minimum(idx, len(W) - 1).astype(np.int64)


def resample_indices(scheme, W, unif_t):
    K = len(W)
    k = np.arange(K)
    if scheme == "systematic":
        return inverse_cdf(W, (k + unif_t[0]) / K)
    if scheme == "stratified":
        return inverse_cdf(W, (k + unif_t) / K)
    if scheme == "multinomial":
        return inverse_cdf(W, unif_t)
    if scheme == "none":
        return k.copy()
    raise ValueError(scheme)


def _logsumexp(x):
    mx = np.max(getval(x))
    if not np.isfinite(mx):
        return mx + 0.0 * anp.sum(x)
    return mx + anp.log(anp.sum(anp.exp(x - mx)))


# ---------------------------------------------------------------------------
# The filter
# ---------------------------------------------------------------------------

def _one_sequence(p, opts, y, u, eps, unif, T, proposal, resample, ess_threshold,
                  anc_replay, res_replay, seq, rec, enc=None):
    K = eps.shape[1]
    logK = np.log(K)
    v = fed_inputs(p, opts, u, T)
    logW = -logK * np.ones(K)
    Z_prev = None
    anc = np.arange(K)
    elbo = 0.0
    for t in range(T):
        if t == 0:
            F = anp.ones((K, 1)) * initial_mean(p, opts, v[0])
            L = p.L_0
        else:
            F = transition_mean(p, opts, Z_prev[anc], v[t - 1])
            L = p.L_z
        if proposal == "bootstrap":
            Z = F + anp.dot(eps[t], L.T)
            logw = log_lik(p, opts, y[t], readout_mean(p, opts, Z, v[t]))
        elif proposal == "optimal":
            mean, L_P, logw = optimal_proposal(p, opts, L, F, y[t], v[t])
            Z = mean + anp.dot(eps[t], L_P.T)
        elif proposal == "encoder":
            Z, logw = encoder_proposal(p, opts, L, F, enc[0][t], enc[1][t], eps[t], y[t], v[t])
        else:
            raise ValueError(proposal)
        if np.all(np.isneginf(getval(logw))):
            raise ReferenceDegeneracy(seq, t)
        ell = _logsumexp(logW + logw)
        logW = logW + logw - ell
        elbo = elbo + ell

        rec["particles"][seq, t] = getval(Z)
        rec["prior_means"][seq, t] = getval(F)
        rec["log_w"][seq, t] = getval(logw)
        rec["log_W"][seq, t] = getval(logW)
        rec["ell"][seq, t] = getval(ell)
        rec["ancestors"][seq, t] = anc

        due = False
        if t < T - 1:
            if res_replay is not None:
                due = bool(res_replay[t])
            elif resample != "none":
                Wv = np.exp(getval(logW))
                due = ess_threshold is None or 1.0 / np.sum(Wv * Wv) < ess_threshold * K
        if due:
            if anc_replay is not None:
                anc = np.asarray(anc_replay[t + 1], dtype=np.int64)
            else:
                anc = resample_indices(resample, np.exp(getval(logW)), unif[t])
            logW = -logK * np.ones(K)
        else:
            anc = np.arange(K)
            if anc_replay is not None and t < T - 1 and not np.array_equal(anc_replay[t + 1], anc):
                raise AssertionError(
                    f"replay: sequence {seq}, step {t}: the reference does not resample here "
                    f"(ESS decision) but the given ancestors are not the identity")
        rec["resampled"][seq, t] = due
        Z_prev = Z
    return elbo


def _run(p, opts, y, inputs, draws, proposal, resample, ess_threshold, lengths,
         ancestors, resampled, encoding=None):
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2:
        y = y[None]
    n_seq, T, D = y.shape
    eps, unif = (np.asarray(d, dtype=np.float64) for d in draws)
    K, R = eps.shape[2], eps.shape[3]
    if inputs is not None:
        inputs = np.asarray(inputs, dtype=np.float64)
        if inputs.ndim == 2:
            inputs = inputs[None]
    if opts.n_inputs > 0 and inputs is None:
        raise ValueError("model has inputs; pass inputs")
    lengths = np.full(n_seq, T) if lengths is None else np.asarray(lengths, dtype=np.int64)
    if proposal == "optimal" and not opts.linear_gaussian_readout:
        raise ValueError("optimal proposal needs a linear-Gaussian read-out")
    if proposal == "encoder" and encoding is None:
        from .encoder_numpy import encode as _encode, precision
        mu_e, logvar = _encode(p.enc, opts.encoder, np.where(np.isnan(y), 0.0, y), lengths, R)
        encoding = (mu_e, precision(logvar))

    nan = np.nan
    rec = {
        "particles": np.full((n_seq, T, K, R), nan), "prior_means": np.full((n_seq, T, K, R), nan),
        "log_w": np.full((n_seq, T, K), nan), "log_W": np.full((n_seq, T, K), nan),
        "ell": np.full((n_seq, T), nan),
        "ancestors": np.tile(np.arange(K), (n_seq, T, 1)), "resampled": np.zeros((n_seq, T), bool),
    }
    elbos = []
    for s in range(n_seq):
        Tb = int(lengths[s])
        elbos.append(_one_sequence(
            p, opts, y[s, :Tb], None if inputs is None else inputs[s, :Tb],
            eps[s, :Tb], unif[s, :Tb], Tb, proposal, resample, ess_threshold,
            None if ancestors is None else np.asarray(ancestors)[s, :Tb],
            None if resampled is None else np.asarray(resampled)[s, :Tb], s, rec,
            None if encoding is None else (encoding[0][s], encoding[1][s])))
    value = 0.0
    for s in range(n_seq):
        value = value + elbos[s] / float(lengths[s])
    value = value / n_seq
    return value, elbos, lengths, rec


def _as_params(params_or_model):
    p = getattr(params_or_model, "params", params_or_model)
    return Params(*p)


def forward(params, opts, y, inputs=None, *, draws, proposal="optimal", resample="systematic",
            ess_threshold=None, lengths=None, ancestors=None, resampled=None, encoding=None) -> RefResult:
    """Run the reference filter; returns plain arrays (see :class:`RefResult`).

    ``ancestors`` (n_seq, T, K) and ``resampled`` (n_seq, T) replay a given
    genealogy; without them the reference resamples from ``draws`` itself.
    """
    p = _as_params(params)
    value, elbos, lengths, rec = _run(p, opts, y, inputs, draws, proposal, resample,
                                      ess_threshold, lengths, ancestors, resampled, encoding)
    elbo = np.array([float(getval(e)) for e in elbos])
    return RefResult(elbo=elbo, elbo_per_step=elbo / lengths, value=float(getval(value)),
                     ell=rec["ell"], particles=rec["particles"], prior_means=rec["prior_means"],
                     log_w=rec["log_w"], log_W=rec["log_W"], ancestors=rec["ancestors"],
                     resampled=rec["resampled"])


def value_flat(theta, opts, y, inputs=None, **kw):
    """``value`` as a function of the unconstrained flat vector (differentiable)."""
    return _run(from_flat(theta, opts), opts, y, inputs, kw.pop("draws"), kw.pop("proposal", "optimal"),
                kw.pop("resample", "systematic"), kw.pop("ess_threshold", None),
                kw.pop("lengths", None), kw.pop("ancestors", None), kw.pop("resampled", None))[0]


def grad_flat(theta, opts, y, inputs=None, **kw):
    """autograd gradient of ``value`` w.r.t. the flat vector (draws and genealogy fixed)."""
    return autograd.grad(lambda th: value_flat(th, opts, y, inputs, **dict(kw)))(
        np.asarray(theta, dtype=np.float64))


def grad_blocks(params, opts, y, inputs=None, **kw) -> Params:
    """autograd gradient of ``value`` w.r.t. the constrained blocks.

    Cholesky factors keep the lower triangle only (the diagonal only for
    ``diag`` noise), as docs/smc.md specifies; for ``shared_leak`` the leak
    gradient is per component (their sum is the derivative w.r.t. the shared
    leak), matching ``grad_to_flat``.
    """
    p = _as_params(params)
    blocks = [np.asarray(x, dtype=np.float64) for x in p]

    def f(bl):
        return _run(Params(*bl), opts, y, inputs, kw["draws"], kw.get("proposal", "optimal"),
                    kw.get("resample", "systematic"), kw.get("ess_threshold"), kw.get("lengths"),
                    kw.get("ancestors"), kw.get("resampled"))[0]

    g = autograd.grad(f)(blocks)
    out = {}
    for k, gk in zip(BLOCKS, g):
        gk = np.asarray(gk, dtype=np.float64)
        if k in ("L_z", "L_0"):
            kind = opts.noise if k == "L_z" else opts.init_noise
            gk = np.diag(np.diag(gk)) if kind == "diag" else np.tril(gk)
        out[k] = gk
    return Params(**out)


# ---------------------------------------------------------------------------
# Sampling from the model (test data)
# ---------------------------------------------------------------------------

def simulate(params, opts, T, n_seq, inputs=None, seed=0):
    """Sample (z, y) from the generative model: z (n_seq, T, R), y (n_seq, T, D)."""
    p = _as_params(params)
    rng = np.random.default_rng(seed)
    R, D = opts.rank, opts.n_obs
    zs = np.zeros((n_seq, T, R))
    ys = np.zeros((n_seq, T, D))
    for s in range(n_seq):
        v = fed_inputs(p, opts, None if inputs is None else inputs[s], T)
        z = initial_mean(p, opts, v[0]) + p.L_0 @ rng.standard_normal(R)
        for t in range(T):
            if t > 0:
                z = transition_mean(p, opts, z[None], v[t - 1])[0] + p.L_z @ rng.standard_normal(R)
            eta = readout_mean(p, opts, z[None], v[t])[0]
            zs[s, t] = z
            if opts.likelihood == "gaussian":
                ys[s, t] = eta + p.sigma * rng.standard_normal(D)
            else:
                lam = (np.exp(eta) if opts.link == "exp" else np.logaddexp(0.0, eta)) * opts.bin_width
                # A random model can drift to huge rates; counts in the hundreds test as much.
                ys[s, t] = rng.poisson(np.minimum(lam, 500.0))
    return zs, ys


__all__ = ["make_draws", "forward", "value_flat", "grad_flat", "grad_blocks", "simulate",
           "inverse_cdf", "resample_indices", "ReferenceDegeneracy", "RefResult", "to_flat"]
