"""Posterior, smoothing by ancestry tracing, score, prediction and z0="posterior"."""
from __future__ import annotations

import numpy as np
import pytest

import lowrank
from lowrank.inference.posterior import trace_ancestry
from lowrank.model import equations as dynamics

import lowrank.smc  # noqa: E402,F401  (a failed import fails these tests; it never skips them)


@pytest.fixture(scope="module")
def teacher():
    m = lowrank.LowRankRNN(12, 2, 4, activation="tanh", seed=1)
    p = m.params
    # Informative observations and visible latent dynamics, so that the posterior has something to track.
    m.params = p._replace(m=p.m * 3.0, n=p.n * 3.0, sigma=np.full(4, 0.2), L_z=0.3 * np.eye(2),
                          W=np.random.default_rng(0).normal(size=(4, 2)))
    return m


@pytest.fixture(scope="module")
def data(teacher):
    return teacher.sample(n_trials=5, n_steps=40, seed=2)


def test_trace_ancestry_by_hand():
    # 1 sequence, T=3, K=3, R=1; particle values encode (t, k) as 10 t + k.
    particles = (10 * np.arange(3)[:, None] + np.arange(3)[None, :]).astype(float)[None, :, :, None]
    anc = np.array([[[0, 1, 2], [2, 2, 0], [1, 0, 0]]])
    traj = trace_ancestry(particles, anc)[0, :, :, 0]
    # final particle 0: parent at t=1 is 1, whose parent at t=0 is 2
    assert traj[:, 0].tolist() == [2, 11, 20]
    assert traj[:, 1].tolist() == [2, 10, 21]
    assert traj[:, 2].tolist() == [2, 10, 22]


def test_posterior_shapes_and_weights(teacher, data):
    post = teacher.posterior(data.y, n_particles=50, seed=0)
    n, T, R, D, K = 5, 40, 2, 4, 50
    assert post.filter_mean.shape == (n, T, R) and post.smooth_mean.shape == (n, T, R)
    assert post.particles.shape == (n, T, K, R) and post.smoothed.shape == (n, T, K, R)
    assert post.log_weights.shape == (n, T, K) and post.ancestors.shape == (n, T, K)
    assert post.obs_mean.shape == (n, T, D) and post.smooth_weights.shape == (n, T, K)
    assert post.smooth_cov.shape == (n, T, R, R) and post.filter_cov.shape == (n, T, R, R)
    np.testing.assert_allclose(np.exp(post.log_weights).sum(-1), 1.0, rtol=1e-10)
    np.testing.assert_allclose(post.smooth_weights.sum(-1), 1.0, rtol=1e-10)
    assert np.all(np.linalg.eigvalsh(post.smooth_cov) > 0)
    # at the last step the smoothed and filtering distributions coincide
    np.testing.assert_allclose(post.smooth_mean[:, -1], post.filter_mean[:, -1], rtol=1e-10, atol=1e-12)
    # the observation mean is the read-out of the smoothed mean for a linear read-out
    np.testing.assert_allclose(post.obs_mean, post.smooth_mean @ teacher.params.W.T + teacher.params.b,
                               rtol=1e-9, atol=1e-12)
    # deterministic given the seed
    again = teacher.posterior(data.y, n_particles=50, seed=0)
    assert np.array_equal(again.smooth_mean, post.smooth_mean)


def test_ancestry_smoother_traces_the_final_particles(teacher, data):
    post = teacher.posterior(data.y, n_particles=50, seed=0, smoother="ancestry")
    assert post.smoother == "ancestry"
    traj = trace_ancestry(post.particles, post.ancestors)
    assert np.array_equal(post.smoothed, traj)
    final = np.exp(post.log_weights[:, -1])
    np.testing.assert_allclose(post.smooth_weights, np.repeat(final[:, None], 40, axis=1), rtol=1e-10)
    np.testing.assert_allclose(post.smooth_mean, np.einsum("nk,ntkr->ntr", final, traj), atol=1e-12)
    # the same filter as the backward smoother's: only the smoothing differs
    back = teacher.posterior(data.y, n_particles=50, seed=0)
    assert np.array_equal(back.filter_mean, post.filter_mean)
    np.testing.assert_allclose(back.smooth_mean[:, -1], post.smooth_mean[:, -1], atol=1e-12)


def test_posterior_mean_tracks_true_latent_better_than_prior(teacher, data):
    post = teacher.posterior(data.y, n_particles=200, seed=0)
    prior_mean = teacher.sample(n_trials=300, n_steps=40, seed=9).z.mean(axis=0)
    rmse = lambda z: float(np.sqrt(np.mean((z - data.z) ** 2)))  # noqa: E731
    assert rmse(post.smooth_mean) < 0.5 * rmse(prior_mean[None])
    assert rmse(post.filter_mean) < 0.5 * rmse(prior_mean[None])
    assert rmse(post.smooth_mean) <= rmse(post.filter_mean) * 1.1


def test_posterior_variable_lengths_and_poisson():
    m = lowrank.LowRankRNN(10, 2, 3, likelihood="poisson", activation="relu", seed=0)
    s = m.sample(n_trials=3, n_steps=20, seed=1)
    y = s.y.astype(float)
    post = m.posterior(y, n_particles=20, lengths=np.array([20, 8, 15]), seed=0)
    assert np.isnan(post.smooth_mean[1, 8:]).all() and not np.isnan(post.smooth_mean[1, :8]).any()
    assert np.isnan(post.obs_mean[2, 15:]).all() and np.all(post.obs_mean[0] > 0)


def test_obs_mean_in_blocks_of_trials_is_the_weighted_mean_of_every_particle(monkeypatch):
    """``obs_mean`` is formed a few trials at a time; the blocks change nothing."""
    import lowrank.inference.posterior as post_mod
    m = lowrank.LowRankRNN(10, 2, 3, likelihood="poisson", activation="relu", seed=0)
    y = m.sample(n_trials=5, n_steps=12, seed=1).y.astype(float)
    whole = m.posterior(y, n_particles=8, seed=0)
    monkeypatch.setattr(post_mod, "OBS_BLOCK", 2 * 12 * 8 * 3)          # two trials per block, the last alone
    blocks = m.posterior(y, n_particles=8, seed=0)
    rate = dynamics.poisson_rate(dynamics.readout_mean(m.params, m.options, whole.smoothed, np.zeros((1, 1, 1, 0))),
                                 m.options.link, m.options.bin_width)
    want = np.einsum("ntk,ntkd->ntd", whole.smooth_weights, rate)
    np.testing.assert_allclose(whole.obs_mean, want, rtol=1e-12)
    np.testing.assert_array_equal(blocks.obs_mean, whole.obs_mean)


def test_score_is_mean_elbo_per_step(teacher, data):
    import lowrank.smc as smc
    s = teacher.score(data.y, seed=3)
    r = smc.elbo(teacher, data.y, n_particles=10, seed=3, grad=False)
    assert s == pytest.approx(float(np.mean(r.elbo / 40)), rel=1e-12)
    assert teacher.score(data.y, seed=3) == s
    # the teacher explains its own data better than an unrelated model
    assert s > lowrank.LowRankRNN(12, 2, 4, activation="tanh", seed=7).score(data.y, seed=3)


def test_predict_shapes_and_one_step_mean(teacher, data):
    pred = teacher.predict(data.y, 3, n_particles=2000, seed=0, return_samples=True)
    assert pred.mean.shape == (5, 3, 4) and pred.z_mean.shape == (5, 3, 2)
    assert pred.z_samples.shape == (5, 3, 2000, 2) and pred.y_samples.shape == (5, 3, 2000, 4)
    np.testing.assert_allclose(pred.weights.sum(-1), 1.0)
    np.testing.assert_allclose(pred.mean, pred.z_mean @ teacher.params.W.T + teacher.params.b, atol=1e-10)
    # one step ahead: E[z_T | y] = E[f(z_{T-1}) | y]; compare with f of an independent filter's cloud
    post = teacher.posterior(data.y, n_particles=2000, seed=1)
    w = np.exp(post.log_weights[:, -1])
    f = dynamics.transition_mean(teacher.params, teacher.options, post.particles[:, -1], np.zeros((0,)))
    want = np.einsum("nk,nkr->nr", w, f)
    np.testing.assert_allclose(pred.z_mean[:, 0], want, atol=0.06)


def test_predict_needs_inputs_for_the_forecast():
    m = lowrank.LowRankRNN(10, 2, 3, n_inputs=1, seed=0)
    u = np.zeros((2, 25, 1))
    y = m.sample(2, 20, inputs=u[:, :20], seed=1).y
    with pytest.raises(ValueError, match="25 time steps"):
        m.predict(y, 5, inputs=u[:, :20])
    assert m.predict(y, 5, inputs=u, n_particles=10).mean.shape == (2, 5, 3)


def test_sample_from_posterior_initial_state(teacher, data):
    post = teacher.posterior(data.y, n_particles=500, seed=0)
    s = teacher.sample(n_trials=5, n_steps=10, z0="posterior", y=data.y, seed=3, noise_scale=0)
    np.testing.assert_allclose(s.z[:, 0], post.filter_mean[:, -1], atol=0.1)
    s1 = teacher.sample(n_trials=6, n_steps=10, z0="posterior", y=data.y[:1], seed=3)
    s2 = teacher.sample(n_trials=6, n_steps=10, z0="posterior", y=data.y[:1], seed=3)
    assert s1.z.shape == (6, 10, 2) and np.array_equal(s1.z, s2.z)
    with pytest.raises(ValueError, match="needs the observations"):
        teacher.sample(n_trials=2, z0="posterior")
    with pytest.raises(ValueError, match="1 or n_trials=3"):
        teacher.sample(n_trials=3, z0="posterior", y=data.y[:2])


def test_weighted_quantiles_by_hand():
    from lowrank.inference.posterior import weighted_quantiles
    vals = np.array([3.0, 1.0, 2.0, 4.0])[:, None]                    # (K=4, R=1)
    logw = np.log([0.1, 0.2, 0.3, 0.4])                               # sorted: 1 (.2), 2 (.3), 3 (.1), 4 (.4)
    got = weighted_quantiles(vals, logw, [0.0, 0.2, 0.21, 0.5, 0.55, 0.61, 1.0])[:, 0]
    assert got.tolist() == [1.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0]
    assert weighted_quantiles(vals, logw, 0.5).shape == (1,)


def test_posterior_and_score_accept_lists_of_trials(teacher, data):
    trials = [data.y[0], data.y[1, :25], data.y[2, :10]]
    post = teacher.posterior(trials, n_particles=20, seed=0)
    assert post.smooth_mean.shape == (3, 40, 2) and np.isnan(post.smooth_mean[2, 10:]).all()
    padded = np.zeros((3, 40, 4))
    for i, t in enumerate(trials):
        padded[i, :len(t)] = t
    want = teacher.posterior(padded, n_particles=20, seed=0, lengths=np.array([40, 25, 10]))
    assert np.array_equal(post.smooth_mean, want.smooth_mean, equal_nan=True)
    assert np.isfinite(teacher.score(trials))


def test_smc_elbo_defaults_to_the_models_proposal_like_score():
    # lowrank.smc.elbo used to default to proposal="optimal", which a Poisson model does not support,
    # so elbo(model, y) failed where model.score(y) worked.
    teacher = lowrank.teachers.get("oscillator_poisson")
    y = teacher.dataset().y[:3, :40]
    for model in (teacher.model, lowrank.LowRankRNN(10, 2, 5, likelihood="poisson", readout="units", seed=1)):
        yy = y[..., :model.options.n_obs]
        res = lowrank.smc.elbo(model, yy, seed=4, grad=False)
        boot = lowrank.smc.elbo(model, yy, proposal="bootstrap", seed=4, grad=False)
        assert np.isfinite(res.value) and res.value == boot.value
        assert res.value == model.score(yy, seed=4)
    gauss = lowrank.LowRankRNN(6, 2, 3, seed=0)                               # still the optimal proposal there
    yg = gauss.sample(2, 20, seed=1).y
    assert lowrank.smc.elbo(gauss, yg, grad=False).value == lowrank.smc.elbo(
        gauss, yg, proposal="optimal", grad=False).value
    missing = np.ones(yg.shape, bool)
    missing[0, 3, 1] = False                                                 # bootstrap where a value is missing
    assert lowrank.smc.elbo(gauss, yg, mask=missing, grad=False).value == lowrank.smc.elbo(
        gauss, yg, mask=missing, proposal="bootstrap", grad=False).value
