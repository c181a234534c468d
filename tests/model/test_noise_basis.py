"""Correlated observation noise through a fixed noise basis S (lowrank.model.noise_basis).

The read-out is y = S (W z + b + σ ⊙ ε). Checked here: the SMC value against an
exact Kalman filter written in data space (no change of coordinates), the
value and every gradient block against the diagonal model on S⁻¹ y, the noise
covariance of generated data, posterior/predict outputs in data space, fit
plumbing (identity basis = no basis, augmentation shaped by S), save/load and
format versions, and bad input.
"""
import json

import numpy as np
import pytest

import lowrank
from lowrank import io, metrics
from lowrank.model.noise_basis import residual_noise_basis, to_noise_coords
from lowrank.model.options import ModelOptions
from reference import kalman

LATENT = dict(n_units=6, rank=2, n_obs=3, activation="identity", noise="full", init_noise="full")
LATENT_INPUTS = dict(n_units=6, rank=2, n_obs=3, n_inputs=2, filter_inputs=True, readout_input=True,
                     activation="clipped_relu", shared_leak=True)


def _basis(D, seed=0):
    rng = np.random.default_rng(seed)
    return np.eye(D) + 0.4 * rng.standard_normal((D, D))


def _model(spec, params, S, seed=0):
    opts = ModelOptions(**spec)
    return lowrank.LowRankRNN.from_params(params, opts, seed=seed, noise_basis=S)


@pytest.mark.parametrize("proposal", ["optimal", "bootstrap"])
def test_elbo_concentrates_on_correlated_noise_kalman_loglik(proposal, smc, make_model):
    """Identity activation: with K = 2000 every run is within 6σ of the exact log p(y)."""
    opts = ModelOptions(**LATENT)
    params = make_model(opts, 102)
    S = _basis(3, 1)
    model = _model(LATENT, params, S)
    y = model.sample(1, 6, seed=3).y
    ll = kalman.kalman_loglik(params, opts, y[0], noise_basis=S)
    assert abs(ll - kalman.kalman_loglik(params, opts, y[0])) > 1.0      # the basis matters
    res = smc.elbo(model, np.repeat(y, 20, axis=0), n_particles=2000, proposal=proposal, seed=1, grad=False)
    e = np.asarray(res.elbo)
    sd = e.std(ddof=1)
    assert sd < (0.1 if proposal == "optimal" else 0.5), f"unexpectedly noisy: sd {sd}"
    assert np.all(np.abs(e - ll) < 6 * sd + 1e-9), (e - ll, sd)


@pytest.mark.parametrize("spec", [LATENT, LATENT_INPUTS], ids=["latent", "latent_inputs"])
@pytest.mark.parametrize("proposal", ["optimal", "bootstrap"])
def test_value_and_gradient_equal_the_diagonal_model_on_whitened_data(spec, proposal, smc, make_model,
                                                                      make_inputs):
    opts = ModelOptions(**spec)
    params = make_model(opts, 11)
    S = _basis(opts.n_obs, 2)
    u = make_inputs(opts, 3, 8, 5)
    y = np.random.default_rng(4).standard_normal((3, 8, opts.n_obs))
    a = smc.elbo(_model(spec, params, S), y, u, n_particles=5, proposal=proposal, seed=9)
    b = smc.elbo(params, to_noise_coords(S, y), u, options=opts, n_particles=5, proposal=proposal, seed=9)
    logdet = np.linalg.slogdet(S)[1]
    np.testing.assert_allclose(a.elbo, np.asarray(b.elbo) - 8 * logdet, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.value, b.value - logdet, rtol=0, atol=1e-10)
    np.testing.assert_allclose(a.grad_flat, b.grad_flat, rtol=1e-10, atol=1e-10)
    # and the Params path with noise_basis= is the model path
    c = smc.elbo(params, y, u, options=opts, n_particles=5, proposal=proposal, seed=9, noise_basis=S)
    np.testing.assert_array_equal(c.grad_flat, a.grad_flat)
    assert c.value == a.value


def test_identity_basis_is_the_diagonal_model(make_model):
    opts = ModelOptions(**LATENT)
    params = make_model(opts, 3)
    m0 = lowrank.LowRankRNN.from_params(params, opts, seed=4)
    m1 = lowrank.LowRankRNN.from_params(params, opts, seed=4, noise_basis=np.eye(3))
    y = m0.sample(2, 30, seed=1).y
    np.testing.assert_array_equal(m1.sample(2, 30, seed=1).y, y)
    assert m1.score(y, seed=2) == m0.score(y, seed=2)
    kw = dict(n_particles=4, window=10, batch_size=2, n_iter=15, verbose=0, seed=5, augment_noise=0.3)
    f0 = m0.copy().fit(y, **kw)
    f1 = m1.copy().fit(y, **kw)
    np.testing.assert_array_equal(lowrank.model.to_flat(f1.params, opts), lowrank.model.to_flat(f0.params, opts))


def test_generated_noise_has_the_basis_covariance(make_model):
    """Latent noise off, fixed start: y − mean has covariance S diag(σ²) Sᵀ (20,000 draws, 5 % relative)."""
    opts = ModelOptions(**LATENT)
    params = make_model(opts, 5)
    S = _basis(3, 6)
    model = _model(LATENT, params, S)
    out = model.sample(2000, 10, noise_scale=0.0, z0=np.zeros(2), seed=8)
    resid = (out.y - out.mean).reshape(-1, 3)
    target = model.obs_cov
    np.testing.assert_allclose(target, S @ np.diag(params.sigma ** 2) @ S.T)
    assert np.max(np.abs(np.cov(resid.T) - target)) < 0.05 * np.max(np.abs(target))
    np.testing.assert_allclose(model.readout_weights, S @ params.W)
    np.testing.assert_allclose(out.mean[0], out.z[0] @ (S @ params.W).T + S @ params.b, atol=1e-9)


def test_posterior_and_predict_are_in_data_space(make_model):
    opts = ModelOptions(**LATENT)
    params = make_model(opts, 2)
    S = _basis(3, 3)
    model = _model(LATENT, params, S)
    plain = lowrank.LowRankRNN.from_params(params, opts, seed=0)
    y = model.sample(1, 25, seed=2).y
    pa = model.posterior(y, n_particles=50, seed=1)
    pb = plain.posterior(to_noise_coords(S, y), n_particles=50, seed=1)
    np.testing.assert_allclose(pa.obs_mean, pb.obs_mean @ S.T, atol=1e-10)
    np.testing.assert_allclose(pa.filter_mean, pb.filter_mean, atol=1e-12)
    qa = model.predict(y, 5, n_particles=50, seed=1, return_samples=True)
    qb = plain.predict(to_noise_coords(S, y), 5, n_particles=50, seed=1, return_samples=True)
    np.testing.assert_allclose(qa.mean, qb.mean @ S.T, atol=1e-10)
    np.testing.assert_allclose(qa.y_samples, qb.y_samples @ S.T, atol=1e-10)


def test_fit_augmentation_is_shaped_by_the_basis(make_model):
    """augment_noise with a basis adds S(s ε): the fit equals a diagonal fit to S⁻¹ y with noise s ε."""
    opts = ModelOptions(**LATENT)
    params = make_model(opts, 4)
    S = _basis(3, 4)
    y = _model(LATENT, params, S).sample(2, 40, seed=1).y
    kw = dict(n_particles=4, window=10, batch_size=2, n_iter=12, verbose=0, seed=3, augment_noise=0.5)
    a = _model(LATENT, params, S).fit(y, **kw)
    b = lowrank.LowRankRNN.from_params(params, opts).fit(to_noise_coords(S, y), **kw)
    np.testing.assert_allclose(lowrank.model.to_flat(a.params, opts), lowrank.model.to_flat(b.params, opts),
                               rtol=1e-7, atol=1e-9)
    logdet = np.linalg.slogdet(S)[1]
    np.testing.assert_allclose(a.history_.train_elbo, b.history_.train_elbo - logdet, atol=1e-6)


def test_resume_names_a_changed_noise_basis_apart_from_the_data(tmp_path, make_model):
    import warnings

    from lowrank.data import prepare_data
    from lowrank.training.fit import _fingerprint

    opts = ModelOptions(**LATENT)
    params = make_model(opts, 4)
    S = _basis(3, 4)
    y = _model(LATENT, params, S).sample(2, 40, seed=1).y
    kw = dict(n_particles=4, window=10, batch_size=2, n_iter=4, verbose=0, seed=3)
    path = tmp_path / "ck.npz"
    _model(LATENT, params, S).fit(y, checkpoint=path, callback=lambda i, m, info: i == 1, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _model(LATENT, params, S).fit(y, resume=path, **kw)
    with pytest.warns(UserWarning, match=r"different noise basis than") as rec:
        _model(LATENT, params, _basis(3, 5)).fit(y, resume=path, **kw)
    assert "training data" not in str(rec[0].message)
    with pytest.warns(UserWarning, match=r"different training data than"):
        _model(LATENT, params, S).fit(y + 0.1, resume=path, **kw)
    with pytest.warns(UserWarning, match=r"different training data, noise basis than"):
        _model(LATENT, params, None).fit(y + 0.1, resume=path, **kw)
    # Checkpoints that hashed the training sequences (noise coordinates) and the basis together.
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["extra/ckpt/meta"][()]))
    del meta["basis_fingerprint"]
    data = prepare_data(y, None, opts)
    meta["fingerprint"] = _fingerprint(to_noise_coords(S, data.y), data.u, data.lengths, S)
    arrays["extra/ckpt/meta"] = np.array(json.dumps(meta))
    legacy = tmp_path / "legacy.npz"
    np.savez(legacy, **arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _model(LATENT, params, S).fit(y, resume=legacy, **kw)
    with pytest.warns(UserWarning, match=r"different training data or noise basis than"):
        _model(LATENT, params, _basis(3, 5)).fit(y, resume=legacy, **kw)


def test_save_load_round_trip_and_versions(tmp_path, make_model):
    opts = ModelOptions(**LATENT)
    params = make_model(opts, 1)
    S = _basis(3, 5)
    m = _model(LATENT, params, S, seed=3)
    m.save(tmp_path / "m.npz")
    back = lowrank.LowRankRNN.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.noise_basis, S)
    np.testing.assert_array_equal(back.sample(1, 20, seed=2).y, m.sample(1, 20, seed=2).y)
    assert io.read_metadata(tmp_path / "m.npz")["format_version"] == 2
    # a diagonal model is written as version 1, which older lowrank versions read
    lowrank.LowRankRNN.from_params(params, opts).save(tmp_path / "d.npz")
    assert io.read_metadata(tmp_path / "d.npz")["format_version"] == 1
    assert lowrank.LowRankRNN.load(tmp_path / "d.npz").noise_basis is None
    assert m.copy().noise_basis is not m.noise_basis
    np.testing.assert_array_equal(m.copy().noise_basis, S)


def test_bad_noise_basis_is_refused(make_model):
    with pytest.raises(ValueError, match=r"noise_basis must have 3 values in its last axis"):
        lowrank.LowRankRNN(6, 2, 3, noise_basis=np.eye(2)).options
    with pytest.raises(ValueError, match=r"noise_basis must have shape \(3, 3\)"):
        lowrank.LowRankRNN(6, 2, 3, noise_basis=np.ones((2, 3))).options
    with pytest.raises(ValueError, match="invertible"):
        lowrank.LowRankRNN(6, 2, 3, noise_basis=np.ones((3, 3))).options
    with pytest.raises(ValueError, match="NaN or inf"):
        lowrank.LowRankRNN(6, 2, 3, noise_basis=np.full((3, 3), np.nan)).options
    with pytest.raises(ValueError, match="latent read-out with a Gaussian likelihood"):
        lowrank.LowRankRNN(6, 2, 3, likelihood="poisson", noise_basis=np.eye(3)).options
    with pytest.raises(ValueError, match="latent read-out with a Gaussian likelihood"):
        lowrank.LowRankRNN(6, 2, 3, readout="units", noise_basis=np.eye(3)).options
    m = lowrank.LowRankRNN(6, 2, 3, noise_basis=np.eye(3))
    with pytest.raises(ValueError, match="a model passes its own noise_basis"):
        lowrank.smc.elbo(m, np.zeros((5, 3)), noise_basis=np.eye(3))


def test_residual_noise_basis_formula():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((3000, 5)) @ rng.standard_normal((5, 5))
    lam, V = np.linalg.eigh(np.cov(y.T))
    lam, V = lam[::-1], V[:, ::-1]
    g = 0.25
    S = residual_noise_basis(y, 2, smoothing_gain=g, floor=1e-6)
    rest = lam[2:] / g
    want = (V * np.r_[np.full(2, rest.mean()), rest]) @ V.T
    np.testing.assert_allclose(S, S.T, atol=1e-12)
    np.testing.assert_allclose(S @ S, want, rtol=1e-9, atol=1e-9)
    # trials are pooled; rank 0 gives the square root of the (floored) covariance
    S3 = residual_noise_basis(y.reshape(3, 1000, 5), 0, floor=1e-6)
    np.testing.assert_allclose(S3 @ S3, np.cov(y.T), rtol=1e-9, atol=1e-9)
    # the floor lifts small eigenvalues to floor x mean
    Sf = residual_noise_basis(y, 2, floor=0.9)
    raw = np.r_[np.full(2, lam[2:].mean()), lam[2:]]
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(Sf @ Sf)), np.sort(np.maximum(raw, 0.9 * raw.mean())),
                               rtol=1e-9)
    with pytest.raises(ValueError, match=r"rank must be an integer in \[0, 5\)"):
        residual_noise_basis(y, 5)
    with pytest.raises(ValueError, match=r"smoothing_gain must be in \(0, 1\]"):
        residual_noise_basis(y, 1, smoothing_gain=0.0)
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        residual_noise_basis(np.full((4, 2), np.nan), 1)


def test_hann_noise_gain_matches_smoothed_white_noise():
    x = np.random.default_rng(1).standard_normal((200_000, 2))
    for w in (3, 15, 31):
        v = metrics.hann_smooth(x, w)[w:-w].var()
        assert abs(v / metrics.hann_noise_gain(w) - 1) < 0.02
    assert metrics.hann_noise_gain(1) == 1.0
    assert abs(metrics.hann_noise_gain(15) - 0.10714285714285714) < 1e-12
    with pytest.raises(ValueError, match="window must be 1 or >= 3"):
        metrics.hann_noise_gain(2)
