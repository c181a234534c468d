"""Each teacher's documented analytic facts hold in simulation."""
import numpy as np
import pytest

from lowrank import teachers


def dominant_frequency(x):
    """Peak of the trial- and dimension-averaged power spectrum (mean removed), cycles/step."""
    x = x - x.mean(axis=1, keepdims=True)
    power = (np.abs(np.fft.rfft(x, axis=1)) ** 2).mean(axis=(0, 2))
    freqs = np.fft.rfftfreq(x.shape[1])
    return freqs[1:][np.argmax(power[1:])]


@pytest.mark.parametrize("name", ["oscillator", "oscillator_poisson"])
def test_oscillator_frequency_matches_linearisation(name):
    t = teachers.get(name, seed=0)
    s = t.model.sample(40, 2048, seed=1)
    f = dominant_frequency(s.z)
    assert abs(f - t.facts["frequency"]) <= 0.05 * t.facts["frequency"]
    # Jacobian of the all-active region is the documented rotation-contraction
    ev = np.linalg.eigvals(t.facts["jacobian"])
    np.testing.assert_allclose(np.abs(ev), t.facts["rho"], rtol=1e-12)
    np.testing.assert_allclose(np.abs(np.angle(ev)), 2 * np.pi * t.facts["frequency"], rtol=1e-12)
    # every unit stays active where the latent lives, so the linearisation is exact there
    p = t.model.params
    assert (s.z @ p.m.T - p.h).min() > 0


def test_oscillator_stationary_statistics():
    t = teachers.get("oscillator", seed=0)
    d = t.dataset()
    assert d.y.shape == (200, 75, 20) and d.z.shape == (200, 75, 2)
    np.testing.assert_allclose(d.z.mean(axis=(0, 1)), t.facts["fixed_point"], atol=0.05)
    np.testing.assert_allclose(d.z.std(axis=(0, 1)), t.facts["stationary_std"], rtol=0.1)


def test_oscillator_poisson_counts():
    t = teachers.get("oscillator_poisson", seed=0)
    d = t.dataset()
    assert d.y.shape == (200, 75, 40) and d.y.dtype == np.int64
    np.testing.assert_allclose(d.y.mean(axis=(0, 1)), t.facts["mean_counts"], rtol=0.15)


def test_bistable_settles_at_its_two_fixed_points_without_noise():
    t = teachers.get("bistable", seed=0)
    fp = t.facts["fixed_points"]
    z0 = np.c_[np.linspace(-3, 3, 20), np.linspace(-1, 1, 20)]
    z0 = z0[np.abs(z0[:, 0]) > 0.05]  # off the saddle's stable manifold
    s = t.model.sample(len(z0), 400, z0=z0, noise_scale=0.0)
    end = s.z[:, -1]
    expected = np.where(z0[:, :1] > 0, fp[2], fp[0])
    np.testing.assert_allclose(end, expected, atol=1e-6)
    # the documented points are fixed points of the noise-free map
    from lowrank.model.equations import transition_mean
    np.testing.assert_allclose(transition_mean(t.model.params, t.model.options, fp, np.zeros((3, 0))), fp, atol=1e-12)


def test_bistable_switches_with_noise():
    t = teachers.get("bistable", seed=0)
    z = t.model.sample(10, 3000, seed=2).z[:, :, 0]
    switches = (np.diff(np.sign(z), axis=1) != 0).sum(axis=1)
    assert np.all(switches >= 2)
    assert 0.3 < (z > 0).mean() < 0.7


def test_ring_settles_on_its_ring_near_the_cue():
    t = teachers.get("ring", seed=0)
    d = t.dataset(seed=3)
    assert d.u.shape == (80, 60, 2) and set(d.labels) == set(range(8))
    r = np.linalg.norm(d.z[:, -20:], axis=2)  # (trials, 20): noise jitters the radius
    np.testing.assert_allclose(r.mean(), t.facts["ring_radius"], rtol=0.03)
    np.testing.assert_allclose(r.mean(axis=1), t.facts["ring_radius"], rtol=0.15)
    ang = np.arctan2(d.z[:, -1, 1], d.z[:, -1, 0])
    err = (ang - t.facts["cue_angles"][d.labels] + np.pi) % (2 * np.pi) - np.pi
    assert np.median(np.abs(err)) < 0.3


def test_teachers_are_deterministic_by_seed():
    for name in teachers.TEACHERS:
        a, b = teachers.get(name, seed=4).dataset(n_trials=3, n_steps=20, seed=1), \
            teachers.get(name, seed=4).dataset(n_trials=3, n_steps=20, seed=1)
        assert np.array_equal(a.y, b.y)
    with pytest.raises(ValueError, match=r"teacher must be one of \['bistable'"):
        teachers.get("lorenz")
