"""Channels left out of the likelihood: the same network seen through fewer channels, and back."""
import numpy as np
import pytest

import lowrank
from lowrank.inference.encoder import encode
from lowrank.model import equations
from lowrank.model.subset import check_channels, embed_channels, restrict_channels

CASES = [dict(readout="units", likelihood="poisson", encoder=dict(kernel_sizes=(3, 1), channels=(4,))),
         dict(readout="units", units_readout_from="rates", likelihood="gaussian"),
         dict(readout="latent", likelihood="gaussian", n_inputs=2, readout_input=True),
         dict(readout="latent", likelihood="poisson", encoder=dict(kernel_sizes=(2,), channels=(), constant_var=True))]


@pytest.mark.parametrize("case", CASES)
def test_restricted_model_is_the_same_network(case, make_model):
    opts = lowrank.ModelOptions(n_units=8, rank=2, n_obs=6, **case)
    p = make_model(opts, 3)
    keep = np.array([1, 2, 4])
    sp, so = restrict_channels(p, opts, keep)
    assert so.n_obs == 3
    lowrank.model.params.check_params(sp, so)
    rng = np.random.default_rng(0)
    z, v = rng.normal(size=(2, 5, 2)), rng.normal(size=(2, 5, opts.n_inputs))
    np.testing.assert_allclose(equations.readout_mean(sp, so, z, v), equations.readout_mean(p, opts, z, v)[..., keep])
    np.testing.assert_allclose(equations.transition_mean(sp, so, z, v), equations.transition_mean(p, opts, z, v),
                               atol=1e-13)
    if opts.encoder is not None:
        y = rng.poisson(1.0, (2, 7, 6)).astype(float)
        lengths = np.array([7, 5])
        zeroed = y.copy()
        zeroed[..., np.setdiff1d(np.arange(6), keep)] = 0.0
        a = encode(sp.enc, so.encoder, np.ascontiguousarray(y[..., keep]), lengths, 2)
        b = encode(p.enc, opts.encoder, zeroed, lengths, 2)
        np.testing.assert_allclose(a.mu, b.mu, atol=1e-12)
        np.testing.assert_allclose(a.logvar, b.logvar, atol=1e-12)
    back = embed_channels(p, sp, opts, keep)
    for k in p._fields:
        np.testing.assert_array_equal(getattr(back, k), getattr(p, k), err_msg=k)


def test_check_channels():
    np.testing.assert_array_equal(check_channels([3, 1, 3], 5), [1, 3])
    for bad in ([], [5], [-1], [0.5], list(range(5))):
        with pytest.raises(ValueError, match="heldout_units"):
            check_channels(bad, 5)


def test_fit_without_some_channels_ignores_them():
    teacher = lowrank.teachers.get("oscillator", seed=0)
    y = teacher.dataset(seed=0).y[:20]
    out = [0, 5]
    garbage = y.copy()
    garbage[..., out] = 1e6
    kw = dict(window=None, n_iter=5, lr=1e-2, seed=0, verbose=0, heldout_units=out)
    a = lowrank.LowRankRNN(20, 2, 20, readout="units", seed=1).fit(y, **kw)
    b = lowrank.LowRankRNN(20, 2, 20, readout="units", seed=1).fit(garbage, **kw)
    start = lowrank.LowRankRNN(20, 2, 20, readout="units", seed=1).params
    for k in a.params._fields:
        np.testing.assert_array_equal(getattr(a.params, k), getattr(b.params, k), err_msg=k)
    np.testing.assert_array_equal(a.params.gain[out], start.gain[out])      # their read-out is not fitted
    np.testing.assert_array_equal(a.params.b[out], start.b[out])
    assert not np.array_equal(a.params.m, start.m) and a.n_iter_ == 5
    assert a.provenance_["heldout_units"] == out
    with pytest.raises(ValueError, match="heldout_units must lie in"):
        lowrank.LowRankRNN(20, 2, 20, readout="units").fit(y, heldout_units=[20], n_iter=1, verbose=0)
