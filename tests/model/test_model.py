"""The model: options, parameter transforms, simulation shapes and values."""
import itertools

import autograd
import numpy as np
import pytest

import lowrank
from lowrank.model import params as P
from lowrank.model.equations import transition_mean
from lowrank.model.options import ModelOptions


def all_option_combos():
    for act, (readout, frm), lik, noise, n_in, filt in itertools.product(
            ["identity", "relu", "clipped_relu", "tanh"],
            [("latent", "currents"), ("units", "currents"), ("units", "rates")],
            ["gaussian", "poisson"], ["full", "diag"], [0, 2], [False, True]):
        if filt and n_in == 0:
            continue
        yield dict(activation=act, readout=readout, units_readout_from=frm, likelihood=lik,
                   noise=noise, init_noise=noise, n_inputs=n_in, filter_inputs=filt,
                   readout_input=(readout == "latent" and n_in > 0))


@pytest.mark.parametrize("kw", list(all_option_combos()), ids=lambda kw: "-".join(str(v) for v in kw.values()))
def test_every_combination_samples_finite_with_right_shapes(kw):
    model = lowrank.LowRankRNN(n_units=7, rank=2, n_obs=5, seed=1, **kw)
    u = np.random.default_rng(0).standard_normal((3, 11, kw["n_inputs"])) if kw["n_inputs"] else None
    s = model.sample(n_trials=3, n_steps=11, inputs=u, seed=2, return_rates=True)
    assert s.z.shape == (3, 11, 2) and s.y.shape == (3, 11, 5) and s.rates.shape == (3, 11, 7)
    assert np.all(np.isfinite(s.z)) and np.all(np.isfinite(s.y))
    if kw["likelihood"] == "poisson":
        assert s.y.dtype == np.int64 and s.y.min() >= 0
    # the kernel's trajectory obeys the transition equation with the drawn noise removed
    p = model.params
    v = lowrank.model.equations.fed_inputs(u if u is not None else np.zeros((3, 11, 0)), p.a, kw["filter_inputs"])
    resid = s.z[:, 1:] - transition_mean(p, model.options, s.z[:, :-1], v[:, :-1])
    rng = np.random.default_rng(2)
    rng.standard_normal((3, 2))
    eps = rng.standard_normal((3, 11, 2))
    np.testing.assert_allclose(resid, eps[:, :-1] @ p.L_z.T, atol=1e-10)


def test_noise_free_run_is_deterministic_transition():
    model = lowrank.LowRankRNN(20, 3, 4, activation="tanh", seed=3)
    s = model.sample(2, 30, noise_scale=0.0, seed=0)
    np.testing.assert_allclose(s.z[:, 0], np.broadcast_to(model.params.mu0, (2, 3)))
    np.testing.assert_allclose(s.z[:, 1:], transition_mean(model.params, model.options, s.z[:, :-1],
                                                               np.zeros((2, 29, 0))), atol=1e-12)


def test_same_seed_same_arrays_and_different_seed_differs():
    model = lowrank.LowRankRNN(30, 2, 6, activation="clipped_relu", seed=0)
    a, b = model.sample(4, 50, seed=7), model.sample(4, 50, seed=7)
    assert np.array_equal(a.z, b.z) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.y, model.sample(4, 50, seed=8).y)
    assert np.array_equal(lowrank.LowRankRNN(30, 2, 6, seed=5).params.m, lowrank.LowRankRNN(30, 2, 6, seed=5).params.m)


def test_initialisation_scale():
    model = lowrank.LowRankRNN(400, 3, 8, seed=0)
    p = model.params
    assert np.abs(p.m).max() <= 1 / np.sqrt(400) and np.abs(p.n).max() <= 1 / np.sqrt(400)
    np.testing.assert_allclose(p.a, 0.9)
    assert np.all(np.diag(p.L_z) < 0.5)


@pytest.mark.parametrize("noise,init_noise,shared", [("full", "diag", True), ("diag", "full", False)])
def test_flat_roundtrip_and_chain_rule(noise, init_noise, shared):
    o = ModelOptions(n_units=6, rank=3, n_obs=4, n_inputs=2, noise=noise, init_noise=init_noise,
                     shared_leak=shared, readout_input=True)
    p = P.init_params(o, 0)
    p = p._replace(L_z=np.tril(p.L_z + (0.05 if noise == "full" else 0.0)),
                   L_0=np.tril(p.L_0 + (0.1 if init_noise == "full" else 0.0)))
    theta = P.to_flat(p, o)
    assert theta.shape == (P.n_params(o),)
    for x, y in zip(p, P.from_flat(theta, o)):
        np.testing.assert_allclose(x, y, atol=1e-14)
    # grad_to_flat against autograd through from_flat, for an arbitrary smooth function
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal(np.shape(x)) for x in p]
    f = lambda th: sum(np.sum(w * np.sin(x)) for w, x in zip(weights, P.from_flat(th, o)))
    g_blocks = P.Params(*[w * np.cos(x) for w, x in zip(weights, p)])
    np.testing.assert_allclose(P.grad_to_flat(p, g_blocks, o), autograd.grad(f)(theta), rtol=1e-12, atol=1e-12)


def test_leak_stays_in_unit_interval_for_any_theta():
    o = ModelOptions(n_units=5, rank=2, n_obs=2)
    theta = np.random.default_rng(0).standard_normal(P.n_params(o)) * 30
    p = P.from_flat(theta, o)
    assert np.all((p.a > 0) & (p.a < 1)) and np.all(np.diag(p.L_z) > 0)


def _runaway_poisson_model():
    """A Poisson model whose latent grows ~70-fold per step (recurrent gain 3·3·8 on an excited relu network)."""
    m = lowrank.LowRankRNN(8, 1, 4, likelihood="poisson", readout="units", seed=0)
    p = m.params
    m.params = p._replace(m=np.full_like(p.m, 3.0), n=np.full_like(p.n, 3.0), h=np.full_like(p.h, -1.0))
    return m


def test_sampling_a_runaway_poisson_model_names_the_cause():
    from lowrank.inference.simulate import RunawayDynamicsError
    m = _runaway_poisson_model()
    mean = m.sample(3, 40, noise_scale=0.0, obs_noise=False).mean     # the mean itself is returned, unclipped
    t = int(np.argmax((mean > 9.2e18).any(axis=(0, 2))))
    with pytest.raises(RunawayDynamicsError, match=rf"overflowed at trial 0, step {t} .*dynamics ran away"
                                                   r".*latents reached \|z\| = "):
        m.sample(3, 40, noise_scale=0.0)
    with pytest.raises(FloatingPointError, match="largest finite"):           # the library's numeric-failure type
        m.sample(2, 400)
    assert m.sample(2, 5, noise_scale=0.0).y.dtype == np.int64               # before the run-away: counts as usual
