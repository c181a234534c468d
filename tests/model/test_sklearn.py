"""scikit-learn conventions on LowRankRNN: get_params / set_params, clone (sklearn only where it is used)."""
import inspect

import numpy as np
import pytest

import lowrank
from lowrank.model.options import ModelOptions
from lowrank.rnn import GROUPED_OPTIONS

ARGS = dict(n_units=7, rank=2, n_obs=3, n_inputs=1, activation="tanh", readout="units", likelihood="poisson",
            link="exp", seed=5, noise_basis=None, encoder=None, units_readout_from="rates", bin_width=0.5,
            shared_leak=True, filter_inputs=True, noise="full", init_noise="full", readout_input=False)


def test_get_params_returns_every_argument_unchanged():
    basis = [[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 2.0]]          # a list: stored as given, not converted
    m = lowrank.LowRankRNN(5, 2, 3, seed=None, noise_basis=basis, bin_width=3, encoder=True)
    p = m.get_params()
    assert p["noise_basis"] is basis and p["encoder"] is True and p["bin_width"] == 3 and p["seed"] is None
    assert set(p) == {f for f in ModelOptions.__dataclass_fields__} | {"seed", "noise_basis"}
    assert m.get_params(deep=False) == p
    for name, value in p.items():
        assert getattr(m, name) is value


def test_arguments_round_trip_through_the_constructor():
    m = lowrank.LowRankRNN(**ARGS)
    assert m.get_params() == ARGS
    again = type(m)(**m.get_params())
    assert again.get_params() == ARGS and again.options == m.options
    for k in m.params._fields:
        np.testing.assert_array_equal(getattr(again.params, k), getattr(m.params, k), err_msg=k)


def test_no_public_signature_over_16_parameters():
    sig = inspect.signature(lowrank.LowRankRNN.__init__)
    assert len(sig.parameters) - 1 <= 16                                 # without self; **options counts once
    assert set(GROUPED_OPTIONS) <= set(ModelOptions.__dataclass_fields__)


def test_set_params_of_a_structural_option_rebuilds_options_and_params():
    m = lowrank.LowRankRNN(6, 2, 3, seed=0)
    m.params = m.params._replace(b=m.params.b + 1.0)                        # e.g. fitted
    assert m.set_params(rank=3, noise="full") is m
    assert m.options.rank == 3 and m.options.noise == "full" and m.params.m.shape == (6, 3)
    fresh = lowrank.LowRankRNN(6, 3, 3, seed=0, noise="full")
    np.testing.assert_array_equal(m.params.b, fresh.params.b)
    np.testing.assert_array_equal(m.params.m, fresh.params.m)


def test_set_params_to_the_same_values_keeps_the_parameters():
    m = lowrank.LowRankRNN(6, 2, 3, noise_basis=np.eye(3))
    m.params = m.params._replace(b=m.params.b + 1.0)
    m.set_params(**m.get_params())
    m.set_params(noise_basis=np.eye(3))                                 # an equal array is the same value
    np.testing.assert_array_equal(m.params.b, lowrank.LowRankRNN(6, 2, 3).params.b + 1.0)


def test_set_params_seed_reinitialises_only_the_seeded_initialisation():
    m = lowrank.LowRankRNN(6, 2, 3, seed=0)
    m.params                                                             # built from seed 0
    m.set_params(seed=1)
    np.testing.assert_array_equal(m.params.m, lowrank.LowRankRNN(6, 2, 3, seed=1).params.m)
    m.params = m.params._replace(b=m.params.b + 1.0)                        # assigned: kept
    m.set_params(seed=2)
    assert m.seed == 2
    np.testing.assert_array_equal(m.params.m, lowrank.LowRankRNN(6, 2, 3, seed=1).params.m)


def test_set_params_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"invalid parameter 'ranks' for LowRankRNN; valid parameters: \[.*'rank'"):
        lowrank.LowRankRNN(6, 2, 3).set_params(ranks=3)


def test_set_params_validates_on_next_use():
    m = lowrank.LowRankRNN(6, 2, 3).set_params(activation="sigmoid")
    with pytest.raises(ValueError, match="activation must be one of"):
        m.sample(1, 4)


def test_assigned_options_and_from_params_show_in_get_params(tmp_path):
    m = lowrank.LowRankRNN(6, 2, 3)
    m.options = ModelOptions(n_units=6, rank=2, n_obs=3, bin_width=2.0)
    assert m.get_params()["bin_width"] == 2.0
    m.add_encoder()
    assert m.get_params()["encoder"] == m.options.encoder is not None
    m.save(tmp_path / "m.npz")
    loaded = lowrank.LowRankRNN.load(tmp_path / "m.npz")
    assert type(loaded)(**loaded.get_params()).options == m.options
    with pytest.raises(TypeError, match="options must be a ModelOptions"):
        m.options = {"rank": 2}


def test_sklearn_clone_gives_an_unfitted_model_with_the_same_arguments():
    base = pytest.importorskip("sklearn.base")
    m = lowrank.LowRankRNN(**dict(ARGS, encoder=dict(channels=(4,), kernel_sizes=(3, 1))))
    m.params = m.params._replace(b=m.params.b + 1.0)
    m.n_iter_ = 3                                                      # a fitted attribute
    c = base.clone(m)
    assert type(c) is lowrank.LowRankRNN and c is not m and not hasattr(c, "n_iter_")
    assert c.get_params() == m.get_params() and c.options == m.options
    np.testing.assert_array_equal(c.params.b, lowrank.LowRankRNN(**ARGS).params.b)   # the seeded initialisation
    basis = np.diag([1.0, 2.0, 3.0])
    g = base.clone(lowrank.LowRankRNN(6, 2, 3, noise_basis=basis))
    np.testing.assert_array_equal(g.noise_basis, basis)
    assert g.noise_basis is not basis                                   # clone deep-copies non-estimator arguments
