"""Missing observations: a mask leaves entries out of the likelihood.

The kernels' gradients with missing entries are checked against the autograd
reference in tests/test_smc_gradients.py (the ``missing`` factor); here: the
API (``mask=`` of ``elbo``, ``fit``, ``posterior``, ``score``), its checks,
and what a mask means statistically.
"""
import numpy as np
import pytest

import lowrank
from lowrank._checks import check_mask
from lowrank.data import prepare_data
from lowrank.model.params import to_flat
from lowrank.model.subset import embed_channels, restrict_channels


def _model(**kw):
    base = dict(n_units=8, rank=2, n_obs=4, activation="tanh", seed=3)
    base.update(kw)
    return lowrank.LowRankRNN(**base)


def _data(model, n=3, T=12, seed=0):
    return model.sample(n, T, seed=seed).y


def _garbage(y, missing, value):
    out = np.array(y, dtype=float)
    out[missing] = value
    return out


@pytest.mark.parametrize("kw", [dict(likelihood="gaussian"),
                                dict(likelihood="poisson", readout="units", n_units=4)])
def test_masked_entries_do_not_matter(kw):
    m = _model(**kw)
    y = _data(m)
    missing = np.random.default_rng(1).random(y.shape) < 0.3
    res = [lowrank.smc.elbo(m, _garbage(y, missing, v), proposal="bootstrap", seed=4, mask=~missing)
           for v in (np.nan, 1e6, np.inf)]
    full = lowrank.smc.elbo(m, y, proposal="bootstrap", seed=4)
    for r in res[1:]:
        assert r.value == res[0].value
        np.testing.assert_array_equal(r.grad_flat, res[0].grad_flat)
    assert np.isfinite(res[0].value) and res[0].value != full.value
    # every entry observed: the mask changes nothing
    same = lowrank.smc.elbo(m, y, proposal="bootstrap", seed=4, mask=np.ones(y.shape, bool))
    assert same.value == full.value


@pytest.mark.parametrize("kw", [dict(likelihood="gaussian"),
                                dict(likelihood="poisson", readout="units", n_units=4, link="exp")])
def test_channel_mask_is_the_model_without_those_channels(kw):
    """A (D,) mask = the same network read out through the kept channels only (same draws)."""
    m = _model(**kw)
    y = _data(m)
    keep = np.array([0, 2, 3])
    mask = np.isin(np.arange(4), keep)
    a = lowrank.smc.elbo(m, y, proposal="bootstrap", seed=5, mask=mask)
    sp, so = restrict_channels(m.params, m.options, keep)
    b = lowrank.smc.elbo(sp, np.ascontiguousarray(y[..., keep]), options=so, proposal="bootstrap", seed=5)
    assert abs(a.value - b.value) <= 1e-12 * abs(b.value)
    # the restricted model's gradient, put back in the full model's layout (units reordered, left-out
    # channels' read-out taken from a.grad), is a.grad
    back = embed_channels(a.grad, b.grad, m.options, keep)
    for k in ("m", "n", "h", "a", "L_z", "W", "b", "gain", "sigma"):
        np.testing.assert_allclose(getattr(back, k), getattr(a.grad, k), rtol=1e-10, atol=1e-13, err_msg=k)
    out = a.grad.W if m.options.readout == "latent" else a.grad.gain
    assert not np.any(a.grad.b[1]) and not np.any(out[1])
    if m.options.likelihood == "gaussian":
        assert a.grad.sigma[1] == 0.0


def test_mask_checks():
    m = _model()
    y = _data(m)
    with pytest.raises(TypeError, match="mask must hold booleans"):
        lowrank.smc.elbo(m, y, proposal="bootstrap", mask=np.full(y.shape, 0.5))
    with pytest.raises(ValueError, match=r"mask of shape \(5,\) does not broadcast"):
        lowrank.smc.elbo(m, y, proposal="bootstrap", mask=np.ones(5, bool))
    missing = np.zeros(y.shape, bool)
    missing[0, 3, 1] = True
    with pytest.raises(ValueError, match="proposal='optimal' needs every observation"):
        lowrank.smc.elbo(m, y, proposal="optimal", mask=~missing)
    with pytest.raises(ValueError, match="y contains NaN"):      # NaN where the mask says observed
        lowrank.smc.elbo(m, _garbage(y, missing, np.nan), proposal="bootstrap")
    np.testing.assert_array_equal(check_mask("mask", [1, 0, 1], (2, 3)), [[True, False, True]] * 2)


def test_prepare_data_marks_missing_entries_and_keeps_the_callers_data():
    opts = lowrank.ModelOptions(n_units=4, rank=1, n_obs=2, likelihood="poisson", readout="units")
    trials = [np.array([[1.0, 2], [np.nan, 0], [3, 1]]), np.array([[0.0, 1]])]
    masks = [np.array([[True, True], [False, True], [True, True]]), np.array([True, False])]
    d = prepare_data(trials, None, opts, mask=masks)
    assert np.isnan(d.y[0, 1, 0]) and np.isnan(d.y[1, 0, 1]) and np.isnan(d.y).sum() == 2
    assert d.y[1, 1:].tolist() == [[0.0, 0.0], [0.0, 0.0]]          # padding, not missing
    assert np.isnan(trials[0][1, 0])                                  # the caller's arrays untouched
    with pytest.raises(ValueError, match="mask has 1 trials but y has 2"):
        prepare_data(trials, None, opts, mask=masks[:1])
    with pytest.raises(ValueError, match=r"y\[0\] contains NaN"):
        prepare_data(trials, None, opts)


def test_fit_ignores_masked_entries_and_defaults_to_bootstrap():
    teacher = lowrank.teachers.get("oscillator", seed=0)
    y = teacher.dataset(seed=0).y[:16, :40]
    missing = np.random.default_rng(2).random(y.shape) < 0.25
    kw = dict(window=None, n_iter=4, lr=1e-2, seed=0, verbose=0, mask=~missing)
    a = lowrank.LowRankRNN(20, 2, 20, readout="units", seed=1).fit(_garbage(y, missing, np.nan), **kw)
    b = lowrank.LowRankRNN(20, 2, 20, readout="units", seed=1).fit(_garbage(y, missing, -7.0), **kw)
    np.testing.assert_array_equal(to_flat(a.params, a.options), to_flat(b.params, b.options))
    assert a.provenance_["settings"]["proposal"] == "bootstrap"
    with pytest.raises(ValueError, match="proposal='optimal' needs every observation"):
        lowrank.LowRankRNN(20, 2, 20, readout="units", seed=1).fit(y, proposal="optimal", **kw)
    # heldout_units and a mask together: the mask is cut to the kept channels
    c = lowrank.LowRankRNN(20, 2, 20, readout="units", seed=1).fit(
        _garbage(y, missing, np.nan), heldout_units=[0, 3], **kw)
    assert c.n_iter_ == 4


def test_posterior_predicts_missing_entries_from_the_others():
    """With the teacher itself, the posterior's read-out at missing entries explains most of their variance."""
    teacher = lowrank.teachers.get("oscillator", seed=0)
    y = teacher.dataset(seed=1).y[:20, :60]
    missing = np.random.default_rng(3).random(y.shape) < 0.3
    post = teacher.model.posterior(_garbage(y, missing, np.nan), mask=~missing, n_particles=200, seed=0)
    pred = post.obs_mean[missing]
    truth = y[missing]
    base = (y * ~missing).sum((0, 1)) / (~missing).sum((0, 1))            # each channel's observed mean
    resid = ((truth - pred) ** 2).sum()
    resid0 = ((truth - np.broadcast_to(base, y.shape)[missing]) ** 2).sum()
    assert 1 - resid / resid0 > 0.5, 1 - resid / resid0
    s1 = teacher.model.score(_garbage(y, missing, 3.0), mask=~missing, seed=0)
    s2 = teacher.model.score(_garbage(y, missing, -3.0), mask=~missing, seed=0)
    assert s1 == s2


def test_command_line_reads_a_mask_from_npz(tmp_path, capsys):
    """``lowrank fit`` / ``lowrank posterior`` take ``mask`` from an .npz: the same fit whatever the masked
    entries hold, and the same latents as the library's."""
    from lowrank.cli import main
    model = lowrank.LowRankRNN(8, 2, 3, activation="tanh", seed=1)
    y = model.sample(6, 30, seed=2).y
    mask = np.random.default_rng(0).random(y.shape) > 0.2
    outs = []
    for i, fill in enumerate((np.nan, 50.0)):
        np.savez(tmp_path / f"d{i}.npz", y=_garbage(y, ~mask, fill), mask=mask)
        out = tmp_path / f"m{i}.npz"
        assert main(["fit", str(tmp_path / f"d{i}.npz"), "--rank", "2", "--units", "8", "--iters", "3",
                     "--particles", "4", "--window", "0", "--heldout", "0", "--quiet", "--out", str(out)]) == 0
        outs.append(lowrank.LowRankRNN.load(out))
    np.testing.assert_array_equal(to_flat(outs[0].params, outs[0].options), to_flat(outs[1].params, outs[1].options))
    lat = tmp_path / "lat.npz"
    assert main(["posterior", str(tmp_path / "m0.npz"), str(tmp_path / "d0.npz"), "--out", str(lat),
                 "--n-particles", "20", "--seed", "3"]) == 0
    want = outs[0].posterior(y, mask=mask, n_particles=20, seed=3)
    with np.load(lat) as f:
        np.testing.assert_array_equal(f["smooth_mean"], want.smooth_mean)
    np.savez(tmp_path / "bad.npz", y=y, mask=np.full(y.shape, 0.5))
    capsys.readouterr()
    assert main(["fit", str(tmp_path / "bad.npz"), "--iters", "1", "--quiet", "--out", str(tmp_path / "x.npz")]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "mask" in err, err
