"""lowrank.decode: cross-validated ridge decoding of behaviour from latents."""
import numpy as np
import pytest

import lowrank


def _linear_data(seed=0, n=60, T=50, noise=0.5):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, T, 3))
    W = rng.normal(size=(3, 2))
    y = z @ W + 1.5 + noise * rng.normal(size=(n, T, 2))
    theory = (W ** 2).sum(0) / ((W ** 2).sum(0) + noise ** 2)     # var(signal) / var(total), per variable
    return z, y, W, theory


def test_r2_matches_the_theoretical_value_and_recovers_the_weights():
    z, y, W, theory = _linear_data()
    d = lowrank.decode(z, y)
    np.testing.assert_allclose(d.r2, theory, atol=0.01)
    np.testing.assert_allclose(d.coef, W, atol=0.03)
    np.testing.assert_allclose(d.intercept, 1.5, atol=0.03)
    assert d.coef.shape == (3, 2) and d.alpha.shape == (2,) and d.lags == (0,)
    assert d.predicted.shape == y.shape and np.all(np.isfinite(d.predicted))
    np.testing.assert_allclose(d.predict(z), z @ d.coef + d.intercept)


def test_r2_is_out_of_fold():
    # Pure noise behaviour: an in-sample fit would score above 0, out of fold it cannot.
    rng = np.random.default_rng(1)
    d = lowrank.decode(rng.normal(size=(20, 10, 8)), rng.normal(size=(20, 10, 1)), alpha=0.0)
    assert d.r2[0] < 0.0


def test_lags_use_latent_history():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(40, 60, 1))
    y = np.zeros_like(z)
    y[:, 2:] = z[:, :-2]                                   # behaviour follows the latent two steps later
    assert lowrank.decode(z, y).r2[0] < 0.1
    d = lowrank.decode(z, y, lags=2)
    assert d.r2[0] > 0.999 and d.coef.shape == (3, 1) and abs(d.coef[2, 0] - 1) < 1e-3
    assert np.all(np.isnan(d.predicted[:, :2])) and np.all(np.isfinite(d.predicted[:, 2:]))
    assert lowrank.decode(z, y, lags=[2]).r2[0] > 0.999


def test_ragged_trials_and_determinism():
    z, y, _, theory = _linear_data(seed=3)
    zl = [zi[: 20 + i] for i, zi in enumerate(z)]
    yl = [yi[: 20 + i] for i, yi in enumerate(y)]
    a, b = lowrank.decode(zl, yl, cv=4), lowrank.decode(zl, yl, cv=4)
    np.testing.assert_array_equal(a.r2, b.r2)
    assert isinstance(a.predicted, list) and [len(p) for p in a.predicted] == [len(t) for t in yl]
    np.testing.assert_allclose(a.r2, theory, atol=0.02)


def test_teacher_latents_decode_themselves_and_noise_lowers_r2():
    z = lowrank.teachers.get("oscillator", seed=0).dataset(n_trials=40, seed=0).z
    assert lowrank.decode(z, z).r2.min() >= 0.99
    # Noise as large as each latent's own spread: half the variance is left, R² near 1/2.
    noisy = z + np.random.default_rng(0).normal(size=z.shape) * z.reshape(-1, 2).std(0)
    r2 = lowrank.decode(noisy, z).r2
    assert np.all(r2 > 0.4) and np.all(r2 < 0.65), r2


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(behaviour=np.zeros((6, 10))), ValueError, "behaviour must be a 3-D array"),
    (dict(behaviour=np.zeros((5, 10, 1))), ValueError, "latents has 6 trials but behaviour has 5"),
    (dict(behaviour=np.zeros((6, 9, 1))), ValueError, "trial 0: latents has 10 steps but behaviour has 9"),
    (dict(behaviour=np.full((6, 10, 1), np.nan)), ValueError, "behaviour contains NaN"),
    (dict(lags=-1), ValueError, "lags must be >= 0"),
    (dict(lags=1.5), TypeError, "lags must be"),
    (dict(lags=[1, 1]), ValueError, "lags lists a lag twice"),
    (dict(cv=1), ValueError, "cv must be >= 2"),
    (dict(cv=7), ValueError, "cv must be at most the number of trials"),
    (dict(alpha=-1.0), ValueError, "alpha must be"),
    (dict(alpha="big"), TypeError, "alpha must be"),
    (dict(lags=9), ValueError, "too few steps"),
])
def test_bad_inputs_are_named(kwargs, exc, match):
    args = dict(latents=np.zeros((6, 10, 2)), behaviour=np.zeros((6, 10, 1)))
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        lowrank.decode(**args)
