"""Exactness of the SMC estimator on the linear-Gaussian model, against the Kalman filter.

With the identity activation and a Gaussian latent (or units-from-currents)
read-out the model is linear-Gaussian, so log p(y) is known exactly. Two
properties of ``lowrank.smc.elbo`` are checked there, both independent of the
numpy reference:

* consistency: with many particles the ELBO (= log Ẑ) concentrates on log p(y);
* unbiasedness: E[Ẑ] = p(y) for every resampling scheme, i.e. the mean of
  exp(ELBO − log p(y)) over independent runs is 1 within its Monte Carlo error.

Independent runs are obtained in one call by repeating the same trial along
the sequence axis: each copy gets its own draws.
"""
import numpy as np
import pytest

from lowrank.model.options import ModelOptions
from reference import kalman, smc_numpy as ref   # tests/ is put on sys.path by conftest

MODELS = {
    "latent": dict(n_units=6, rank=2, n_obs=2, activation="identity", noise="full", init_noise="full"),
    "latent_inputs": dict(n_units=6, rank=2, n_obs=3, n_inputs=2, filter_inputs=True, readout_input=True,
                          activation="identity", shared_leak=True),
    "units": dict(n_units=5, rank=2, n_obs=2, n_inputs=1, readout="units", activation="identity",
                  noise="full"),
}


def _problem(name, make_model, make_inputs, T, seed=0):
    opts = ModelOptions(**MODELS[name])
    params = make_model(opts, 100 + seed)
    u = make_inputs(opts, 1, T, 200 + seed)
    _, y = ref.simulate(params, opts, T, 1, u, seed=300 + seed)
    ll = kalman.kalman_loglik(params, opts, y[0], None if u is None else u[0])
    return opts, params, u, y, ll


def _replicate(y, u, n):
    yy = np.repeat(y, n, axis=0)
    uu = None if u is None else np.repeat(u, n, axis=0)
    return yy, uu


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("proposal", ["optimal", "bootstrap"])
def test_elbo_concentrates_on_kalman_loglik(name, proposal, smc, make_model, make_inputs):
    """K = 2000: each run's ELBO is within 6σ of log p(y), σ estimated from 20 runs.

    log Ẑ is biased low by about Var(log Ẑ)/2 (Jensen), negligible here next to
    σ/√n for the optimal proposal; the bootstrap's larger variance makes both the
    spread and this bias larger, so its bound on the mean adds Var/2 explicitly.
    """
    T, K, n = 6, 2000, 20
    opts, params, u, y, ll = _problem(name, make_model, make_inputs, T)
    yy, uu = _replicate(y, u, n)
    res = smc.elbo(params, yy, uu, options=opts, n_particles=K, proposal=proposal, seed=1, grad=False)
    e = np.asarray(res.elbo)
    sd = e.std(ddof=1)
    assert sd < (0.1 if proposal == "optimal" else 0.5), f"unexpectedly noisy: sd {sd}"
    assert np.all(np.abs(e - ll) < 6 * sd + 1e-9), (e - ll, sd)
    assert abs(e.mean() - ll) < 6 * sd / np.sqrt(n) + 0.5 * sd ** 2 + 1e-9, (e.mean() - ll, sd)


@pytest.mark.parametrize("name", ["latent", "latent_inputs", "units"])
@pytest.mark.parametrize("resample,ess", [("systematic", None), ("stratified", None), ("multinomial", None),
                                          ("none", None), ("systematic", 0.8)])
def test_likelihood_estimate_is_unbiased(name, resample, ess, smc, make_model, make_inputs):
    """mean exp(ELBO − log p(y)) over 4000 runs (K = 64, T = 4) is 1 within 6 standard errors."""
    T, K, n = 4, 64, 4000
    opts, params, u, y, ll = _problem(name, make_model, make_inputs, T, seed=1)
    yy, uu = _replicate(y, u, n)
    res = smc.elbo(params, yy, uu, options=opts, n_particles=K, proposal="optimal", resample=resample,
                   ess_threshold=ess, seed=2, grad=False)
    r = np.exp(np.asarray(res.elbo) - ll)
    se = r.std(ddof=1) / np.sqrt(n)
    assert se < 0.03, f"the check is too weak: se {se}"
    assert abs(r.mean() - 1.0) < 6 * se, (r.mean(), se)


@pytest.mark.parametrize("resample", ["systematic", "multinomial"])
def test_bootstrap_likelihood_estimate_is_unbiased(resample, smc, make_model, make_inputs):
    """The bootstrap estimator is unbiased too; its ratio is heavier-tailed, so more
    runs and particles, and the same 6-standard-error bound on the sample mean."""
    T, K, n = 3, 64, 6000
    opts, params, u, y, ll = _problem("latent", make_model, make_inputs, T, seed=2)
    yy, _ = _replicate(y, u, n)
    res = smc.elbo(params, yy, options=opts, n_particles=K, proposal="bootstrap", resample=resample,
                   seed=3, grad=False)
    r = np.exp(np.asarray(res.elbo) - ll)
    se = r.std(ddof=1) / np.sqrt(n)
    assert se < 0.05, f"the check is too weak: se {se}"
    assert abs(r.mean() - 1.0) < 6 * se, (r.mean(), se)
