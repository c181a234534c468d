"""Bad input at the public boundary gets a clear error naming the argument."""
import numpy as np
import pytest

import lowrank
from lowrank.model.options import ModelOptions
from lowrank._checks import check_inputs, check_observations


def test_rank_bounds():
    # The constructor only stores its arguments (scikit-learn's convention); they are validated on first use.
    with pytest.raises(ValueError, match=r"rank must be between 1 and n_units=4; got rank=5"):
        lowrank.LowRankRNN(4, 5, 2).options
    with pytest.raises(ValueError, match="rank must be >= 1"):
        lowrank.LowRankRNN(4, 0, 2).params
    with pytest.raises(TypeError, match="rank must be an integer"):
        lowrank.LowRankRNN(4, 2.5, 2).sample()


def test_bad_options_fail_at_first_use_not_construction():
    m = lowrank.LowRankRNN(4, 5, 2)
    assert m.rank == 5 and "rank=5" in repr(m)                       # stored unchanged; repr does not validate
    for use in (lambda: m.options, lambda: m.params, lambda: m.sample(1, 3), lambda: m.n_params,
                lambda: m.fit(np.zeros((1, 5, 2)), n_iter=1, verbose=0), lambda: m.score(np.zeros((1, 5, 2)))):
        with pytest.raises(ValueError, match="rank must be between 1 and n_units=4"):
            use()
    m.set_params(rank=2)
    assert m.options.rank == 2


def test_unknown_constructor_option_is_a_type_error_listing_the_valid_ones():
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['bin_widht'\].*'bin_width'.*'init_noise'"):
        lowrank.LowRankRNN(6, 2, 3, bin_widht=2.0)


@pytest.mark.parametrize("opt,value,valid", [("activation", "sigmoid", "relu"), ("readout", "linear", "latent"),
                                             ("likelihood", "bernoulli", "poisson"), ("link", "log", "softplus"),
                                             ("noise", "lowrank", "diag"), ("units_readout_from", "spikes", "rates")])
def test_unknown_option_lists_valid_ones(opt, value, valid):
    with pytest.raises(ValueError, match=rf"{opt} must be one of \[.*'{valid}'.*\]; got '{value}'"):
        lowrank.LowRankRNN(6, 2, 3, **{opt: value}).options


def test_units_readout_needs_enough_units():
    with pytest.raises(ValueError, match="n_obs must be <= n_units=4"):
        lowrank.LowRankRNN(4, 2, 6, readout="units").options


def test_observations():
    o = ModelOptions(n_units=5, rank=2, n_obs=3)
    with pytest.raises(ValueError, match=r"y must be a 2-D or 3-D array; got an array of shape \(4,\)"):
        check_observations(np.zeros(4), o)
    with pytest.raises(ValueError, match=r"y must have 3 values in its last axis \(n_obs=3\); got shape \(2, 10, 4\)"):
        check_observations(np.zeros((2, 10, 4)), o)
    bad = np.zeros((2, 10, 3)); bad[1, 4, 2] = np.nan
    with pytest.raises(ValueError, match=r"y contains NaN or inf \(first at index \(1, 4, 2\)\)"):
        check_observations(bad, o)
    with pytest.raises(TypeError, match="y must be an array of real numbers"):
        check_observations([["a", "b", "c"]], o)
    po = ModelOptions(n_units=5, rank=2, n_obs=3, likelihood="poisson")
    with pytest.raises(ValueError, match="non-negative counts"):
        check_observations(-np.ones((1, 4, 3)), po)
    with pytest.raises(ValueError, match="integer counts.*0.5"):
        check_observations(np.full((1, 4, 3), 0.5), po)
    assert check_observations(np.ones((4, 3)), po).shape == (1, 4, 3)


def test_inputs():
    o = ModelOptions(n_units=5, rank=2, n_obs=3, n_inputs=2)
    with pytest.raises(ValueError, match="inputs are required: the model has n_inputs=2"):
        check_inputs(None, o, 2, 10)
    with pytest.raises(ValueError, match=r"inputs must have 10 time steps to match the data; got 9"):
        check_inputs(np.zeros((2, 9, 2)), o, 2, 10)
    with pytest.raises(ValueError, match=r"inputs must have 2 values in its last axis \(n_inputs=2\)"):
        check_inputs(np.zeros((2, 10, 3)), o, 2, 10)
    with pytest.raises(ValueError, match="inputs were given but the model has n_inputs=0"):
        check_inputs(np.zeros((2, 10, 1)), ModelOptions(n_units=5, rank=2, n_obs=3), 2, 10)


def test_sample_arguments():
    m = lowrank.LowRankRNN(5, 2, 3, n_inputs=1)
    with pytest.raises(ValueError, match="n_steps must be >= 1; got 0"):
        m.sample(1, 0, inputs=np.zeros((1, 1, 1)))
    with pytest.raises(ValueError, match=r"inputs must have 7 time steps"):
        m.sample(1, 7, inputs=np.zeros((1, 6, 1)))
    with pytest.raises(ValueError, match="noise_scale must be a finite number >= 0"):
        m.sample(1, 7, inputs=np.zeros((1, 7, 1)), noise_scale=-1)
    with pytest.raises(ValueError, match=r"z0 must have 2 values in its last axis \(rank=2\)"):
        m.sample(1, 7, inputs=np.zeros((1, 7, 1)), z0=np.zeros(3))
