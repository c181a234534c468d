"""The encoder proposal inside the SMC kernels, given the encoder's per-step output.

The encoder network is checked on its own (tests/test_encoder.py) and end to
end with the SMC objective (tests/test_smc_gradients.py); here the kernels'
part is isolated: for given per-step means ``μ_e`` and precisions ``λ``,
the forward pass equals the dense reference (``reference.smc_numpy``), and
the backward pass's gradients, with respect to the model's blocks and to
``μ_e``, ``λ`` themselves, equal autograd on that reference.
"""
import autograd
import numpy as np
import pytest

from lowrank.inference import elbo as elbo_mod
from lowrank.model.options import ModelOptions
from lowrank.model.params import BLOCKS, Params
from reference import smc_numpy as ref

CASES = [
    dict(activation="relu", readout="units", units_readout_from="currents", likelihood="poisson", link="softplus",
         noise="diag", init_noise="diag", rank=2, n_inputs=0),
    dict(activation="tanh", readout="latent", likelihood="gaussian", noise="full", init_noise="full", rank=3,
         n_inputs=2),
    dict(activation="clipped_relu", readout="units", units_readout_from="rates", likelihood="poisson", link="exp",
         noise="full", init_noise="diag", rank=2, n_inputs=1, filter_inputs=True),
    dict(activation="identity", readout="latent", readout_input=True, likelihood="poisson", link="softplus",
         noise="diag", init_noise="full", rank=1, n_inputs=2),
    dict(activation="relu", readout="units", units_readout_from="currents", likelihood="gaussian",
         noise="full", init_noise="full", rank=2, n_inputs=0),
]


class Enc:
    def __init__(self, mu, prec):
        self.mu, self.prec = mu, prec


def _case(i, make_model, make_inputs):
    c = dict(CASES[i])
    rng = np.random.default_rng(100 + i)
    R = c.pop("rank")
    N, D, K, T, S = 7, 4, 5, 6, 3
    opts = ModelOptions(n_units=N, rank=R, n_obs=D, encoder=dict(kernel_sizes=(2, 1), channels=(3,)), **c)
    params = make_model(opts, 200 + i)
    u = make_inputs(opts, S, T, 300 + i)
    _, y = ref.simulate(params, opts, T, S, u, seed=400 + i)
    lengths = np.array([T, T - 2, T - 1])
    mu = rng.normal(0.0, 1.0, (S, T, R))
    prec = np.exp(rng.normal(0.0, 1.0, (S, T, R)))
    for s in range(S):
        mu[s, lengths[s]:] = prec[s, lengths[s]:] = 0.0
    draws = ref.make_draws(S, T, K, R, 500 + i)
    return opts, params, u, y, lengths, mu, prec, draws, K


def _kernel(opts, params, u, y, lengths, mu, prec, draws, K):
    yk, uk, lk = elbo_mod._check_data(y, u, lengths, opts)
    choices = elbo_mod.check_choices(opts, "encoder", "systematic", None, K)
    args = elbo_mod.pack(params, opts, yk, uk, lk, choices, elbo_mod.Draws(*draws), Enc(mu, prec))
    rec = elbo_mod._filter(args)
    blocks, dmu, dprec = elbo_mod.backward(args, rec, params, opts)
    return rec, blocks, dmu, dprec


@pytest.mark.parametrize("i", range(len(CASES)))
def test_encoder_proposal_kernels_match_reference(i, make_model, make_inputs):
    opts, params, u, y, lengths, mu, prec, draws, K = _case(i, make_model, make_inputs)
    rec, blocks, dmu, dprec = _kernel(opts, params, u, y, lengths, mu, prec, draws, K)
    S, T = y.shape[:2]
    valid = np.arange(T)[None, :] < lengths[:, None]
    kw = dict(draws=draws, proposal="encoder", resample="systematic", ess_threshold=None, lengths=lengths)
    own = ref.forward(params, opts, y, u, **kw, encoding=(mu, prec))
    np.testing.assert_array_equal(own.ancestors[valid], rec.anc[valid])
    np.testing.assert_allclose(rec.Z[valid], own.particles[valid], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(rec.ell.sum(1), own.elbo, rtol=1e-10, atol=1e-10)

    def value(bl, m, pr):
        return ref._run(Params(*bl), opts, y, u, draws, "encoder", "systematic", None, lengths,
                        rec.anc, rec.resampled.astype(bool), encoding=(m, pr))[0]

    bl0 = [np.asarray(x, dtype=np.float64) for x in params]
    g_bl, g_mu, g_prec = autograd.grad(value, (0, 1, 2))(bl0, mu, prec)
    bad = []
    for k, gk in zip(BLOCKS, g_bl):
        gk = np.asarray(gk)
        if k in ("L_z", "L_0"):
            kind = opts.noise if k == "L_z" else opts.init_noise
            gk = np.diag(np.diag(gk)) if kind == "diag" else np.tril(gk)
        if gk.size and np.linalg.norm(blocks[k] - gk) > 1e-7 * max(np.linalg.norm(gk), 1e-8):
            bad.append(f"{k}: {np.linalg.norm(blocks[k] - gk) / np.linalg.norm(gk):.2e}")
    for name, a, b in (("mu_e", dmu, g_mu), ("prec_e", dprec, g_prec)):
        if np.linalg.norm(a[valid] - b[valid]) > 1e-7 * np.linalg.norm(b[valid]):
            bad.append(f"{name}: {np.linalg.norm(a[valid] - b[valid]) / np.linalg.norm(b[valid]):.2e}")
    assert not bad, "; ".join(bad)


def test_posterior_score_predict_and_sample_use_the_encoder(make_model):
    """A model with an encoder filters with it by default, everywhere the filter runs."""
    opts = ModelOptions(n_units=6, rank=2, n_obs=4, readout="units", likelihood="poisson",
                        encoder=dict(kernel_sizes=(3, 1), channels=(4,), padding="acausal"))
    import lowrank
    model = lowrank.LowRankRNN.from_params(make_model(opts, 7), opts)
    y = model.sample(n_trials=3, n_steps=12, seed=1).y
    post = model.posterior(y, n_particles=20, seed=2)
    boot = model.posterior(y, n_particles=20, seed=2, proposal="bootstrap")
    assert post.filter_mean.shape == (3, 12, 2) and np.all(np.isfinite(post.filter_mean))
    assert not np.allclose(post.filter_mean, boot.filter_mean)       # the encoder was used
    s_enc = model.score(y, n_particles=20, seed=3)
    assert s_enc == model.score(y, n_particles=20, seed=3, proposal="encoder")
    assert s_enc != model.score(y, n_particles=20, seed=3, proposal="bootstrap")
    pred = model.predict(y, 5, n_particles=20, seed=4)
    assert np.all(np.isfinite(pred.mean))
    gen = model.sample(n_trials=3, n_steps=6, z0="posterior", y=y, seed=5)
    assert gen.z.shape == (3, 6, 2) and np.all(np.isfinite(gen.z))
    # trials of different lengths: the encoder pads each at its own length
    ragged = [y[0], y[1, :7]]
    post_r = model.posterior(ragged, n_particles=20, seed=2)
    assert np.all(np.isfinite(post_r.filter_mean[1, :7]))
