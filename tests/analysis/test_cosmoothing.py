"""Co-smoothing (held-out neurons predicted from held-in ones) and bits per spike."""
import os

import numpy as np
import pytest

import lowrank
from lowrank.analysis.cosmoothing import heldin_model
from lowrank.metrics import bits_per_spike
from lowrank.model import equations


def test_bits_per_spike_definition():
    rng = np.random.default_rng(0)
    lam = rng.uniform(0.05, 2.0, (50, 30, 4))
    y = rng.poisson(lam).astype(float)
    base = y.mean(axis=(0, 1))
    want = (np.sum(y * np.log(lam) - lam) - np.sum(y * np.log(base) - base)) / (y.sum() * np.log(2))
    assert bits_per_spike(lam, y) == pytest.approx(want, rel=1e-12)
    assert bits_per_spike(np.broadcast_to(base, y.shape), y) == pytest.approx(0.0, abs=1e-12)
    assert bits_per_spike(lam, y) > 0.1            # the true rates beat the mean rates
    with pytest.raises(ValueError, match="same shape"):
        bits_per_spike(lam[..., :3], y)
    with pytest.raises(ValueError, match="rates must be > 0"):
        bits_per_spike(np.zeros_like(lam), y)
    with pytest.raises(ValueError, match="non-negative integers"):
        bits_per_spike(lam, y + 0.5)


def test_heldin_model_is_the_same_network_seen_through_fewer_channels():
    teacher = lowrank.teachers.get("oscillator_poisson", seed=0).model
    heldin = np.array([0, 3, 5, 7])
    sub = heldin_model(teacher, heldin)
    z = np.random.default_rng(1).normal(size=(3, 5, 2))
    v = np.zeros((3, 5, 0))
    np.testing.assert_allclose(equations.readout_mean(sub.params, sub.options, z, v),
                               equations.readout_mean(teacher.params, teacher.options, z, v)[..., heldin])
    np.testing.assert_allclose(equations.transition_mean(sub.params, sub.options, z, v),
                               equations.transition_mean(teacher.params, teacher.options, z, v), atol=1e-14)


DATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "spikes", "oscillator_poisson.npz")


@pytest.mark.skipif(not os.path.exists(DATA), reason=f"the spiking teacher's data are not at {DATA}")
def test_co_smoothing_of_the_true_model_reaches_the_true_rates():
    """With the paper's spiking teacher itself as the model, held-out predictions from 30 held-in
    neurons score at least 90 % of the bits per spike of the true rates."""
    from test_spikes_teacher_student import _teacher
    d = dict(np.load(DATA))
    model = _teacher(d)
    y, z = d["y"][:40].astype(float), d["latents"][:40].astype(float)
    out = np.arange(0, 40, 4)
    res = lowrank.co_smoothing(model, y, out, n_particles=128, seed=0)
    v = np.zeros(z.shape[:2] + (0,))
    true = equations.poisson_rate(equations.readout_mean(model.params, model.options, z, v), "softplus", 1.0)[..., out]
    bps_true = bits_per_spike(true, y[..., out])
    assert res.rates.shape == (40, 200, out.size)
    assert bps_true > 0.1
    assert res.bits_per_spike >= 0.9 * bps_true, (res.bits_per_spike, bps_true)
    # a model that ignores the latents (its rates at the mean) scores about zero
    assert res.bits_per_spike > bits_per_spike(np.broadcast_to(y[..., out].mean((0, 1)), res.rates.shape),
                                               y[..., out]) + 0.05


def test_co_smoothing_checks_its_arguments():
    teacher = lowrank.teachers.get("oscillator_poisson", seed=0).model
    y = np.zeros((2, 5, 40))
    with pytest.raises(ValueError, match="heldout_units must lie in"):
        lowrank.co_smoothing(teacher, y, [40])
    with pytest.raises(ValueError, match="at least one must stay observed"):
        lowrank.co_smoothing(teacher, y, np.arange(40))
    with pytest.raises(ValueError, match="n_obs=40"):
        lowrank.co_smoothing(teacher, y[..., :5], [0])
    gauss = lowrank.LowRankRNN(6, 2, 4)
    with pytest.raises(ValueError, match="poisson"):
        lowrank.co_smoothing(gauss, np.zeros((1, 5, 4)), [0])
