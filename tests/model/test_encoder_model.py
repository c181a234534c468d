"""The encoder as part of the model: options, parameter layout, initialisation, files."""
import dataclasses
import json
import zipfile

import numpy as np
import pytest

import lowrank
from lowrank.io import read_metadata
from lowrank.model.encoder import (EncoderOptions, encoder_layout, init_encoder, n_encoder_params, pad_left,
                                   source_index)
from lowrank.model.options import ModelOptions
from lowrank.model.params import flat_slices, from_flat, init_params, n_params, to_flat


def test_layout_counts_every_weight_and_bias():
    enc = EncoderOptions(kernel_sizes=(5, 3, 2), channels=(4, 6))
    lay = encoder_layout(enc, n_obs=7, rank=3)
    want = 5 * 7 * 4 + 4 + 3 * 4 * 6 + 6 + 2 * 6 * 6 + 6
    assert lay.size == want == n_encoder_params(enc, 7, 3)
    assert list(lay.cout) == [4, 6, 6] and list(lay.ch_off) == [0, 4, 10]
    const = encoder_layout(EncoderOptions(kernel_sizes=(5, 3, 2), channels=(4, 6), constant_var=True), 7, 3)
    assert const.size == want - (2 * 6 * 3 + 3) + 3 and const.lv_off == const.size - 3


@pytest.mark.parametrize("padding,k,left", [("causal", 5, 4), ("acausal", 5, 2), ("acausal", 4, 1),
                                            ("windowed", 4, 2), ("windowed", 5, 2), ("lookahead", 5, 0)])
def test_padding_keeps_length(padding, k, left):
    assert pad_left(padding, k) == left
    assert 0 <= left <= k - 1


def test_source_index_modes():
    T = 4
    assert [source_index("zeros", i, T) for i in (-1, 0, 3, 4)] == [-1, 0, 3, -1]
    assert [source_index("replicate", i, T) for i in (-2, 5)] == [0, 3]
    assert [source_index("circular", i, T) for i in (-1, 4, 9)] == [3, 0, 1]
    # numpy's "reflect" is the same rule, also for pads longer than the sequence
    x = np.arange(T)
    padded = np.pad(x, (9, 9), mode="reflect")
    assert [source_index("reflect", i, T) for i in range(-9, T + 9)] == padded.tolist()


def test_init_is_seeded_and_sets_the_initial_scale():
    enc = EncoderOptions(kernel_sizes=(3, 1), channels=(5,), init_scale=0.2)
    a, b = init_encoder(enc, 4, 2, 7), init_encoder(enc, 4, 2, 7)
    np.testing.assert_array_equal(a, b)
    lay = encoder_layout(enc, 4, 2)
    bound = 1 / np.sqrt(5 * 1)
    lv_bias = a[lay.b_off[1] + 2:lay.b_off[1] + 4]
    assert np.all(np.abs(lv_bias - 2 * np.log(0.2)) <= bound)
    c = init_encoder(EncoderOptions(kernel_sizes=(3, 1), channels=(5,), constant_var=True, init_scale=0.2), 4, 2, 7)
    np.testing.assert_allclose(c[-2:], 2 * np.log(0.2))


@pytest.mark.parametrize("bad,exc", [(dict(kernel_sizes=(3, 0), channels=(2,)), ValueError),
                                     (dict(kernel_sizes=(3, 1), channels=()), ValueError),
                                     (dict(kernel_sizes="21"), TypeError),
                                     (dict(kernel_sizes=(3.0, 1), channels=(2,)), TypeError),
                                     (dict(activation="relu"), ValueError),
                                     (dict(padding="centre"), ValueError),
                                     (dict(padding_mode="edge"), ValueError),
                                     (dict(init_scale=0.0), ValueError),
                                     (dict(constant_var=1), TypeError)])
def test_bad_options_are_refused(bad, exc):
    with pytest.raises(exc):
        EncoderOptions(**bad)


def test_model_options_carry_the_encoder():
    o = ModelOptions(n_units=6, rank=2, n_obs=4, likelihood="poisson", encoder=True)
    assert o.encoder == EncoderOptions() and o.proposals == ("bootstrap", "encoder")
    assert o.default_proposal == "encoder"
    assert ModelOptions.from_dict(json.loads(json.dumps(o.to_dict()))) == o
    plain = ModelOptions(n_units=6, rank=2, n_obs=4)
    assert "encoder" not in plain.to_dict() and plain.default_proposal == "optimal"
    assert ModelOptions(n_units=6, rank=2, n_obs=4, encoder=dict(channels=(8, 8))).encoder.channels == (8, 8)
    with pytest.raises(TypeError, match="encoder"):
        ModelOptions(n_units=6, rank=2, n_obs=4, encoder="yes")


def test_params_hold_the_encoder_block():
    o = ModelOptions(n_units=6, rank=2, n_obs=4, encoder=dict(kernel_sizes=(3, 1), channels=(5,)))
    p = init_params(o, 3)
    n_enc = n_encoder_params(o.encoder, 4, 2)
    assert p.enc.shape == (n_enc,)
    assert n_params(o) == n_params(o.with_encoder(None)) + n_enc
    assert flat_slices(o)["enc"].stop == n_params(o)
    np.testing.assert_array_equal(from_flat(to_flat(p, o), o).enc, p.enc)
    # the other blocks do not depend on whether there is an encoder
    q = init_params(o.with_encoder(None), 3)
    for k in ("m", "n", "h", "W", "b"):
        np.testing.assert_array_equal(getattr(p, k), getattr(q, k))


def test_save_load_with_encoder(tmp_path):
    m = lowrank.LowRankRNN(6, 2, 4, likelihood="poisson", readout="units",
                           encoder=dict(kernel_sizes=(3, 1), channels=(5,), padding="acausal"), seed=2)
    path = tmp_path / "m.npz"
    m.save(path)
    assert read_metadata(path)["format_version"] == 3
    back = lowrank.LowRankRNN.load(path)
    assert back.options == m.options
    np.testing.assert_array_equal(back.params.enc, m.params.enc)


def test_files_without_encoder_keep_their_old_format(tmp_path):
    m = lowrank.LowRankRNN(6, 2, 4, seed=2)
    path = tmp_path / "m.npz"
    m.save(path)
    meta = read_metadata(path)
    assert meta["format_version"] == 1 and "encoder" not in meta["options"]
    with zipfile.ZipFile(path) as z:
        assert "enc.npy" not in z.namelist()
    back = lowrank.LowRankRNN.load(path)
    assert back.params.enc.shape == (0,) and back.options.encoder is None


def test_add_encoder_keeps_the_other_parameters():
    m = lowrank.LowRankRNN(6, 2, 4, likelihood="poisson", readout="units", seed=2)
    before = m.params.copy()
    m.add_encoder(dict(kernel_sizes=(3, 1), channels=(5,)))
    assert m.options.encoder is not None and m.params.enc.size == n_encoder_params(m.options.encoder, 4, 2)
    for k in ("m", "n", "h", "gain", "b"):
        np.testing.assert_array_equal(getattr(m.params, k), getattr(before, k))
    with pytest.raises(ValueError, match="encoder"):
        m.add_encoder(None)


def test_encoder_proposal_needs_an_encoder():
    m = lowrank.LowRankRNN(6, 2, 4, likelihood="poisson", readout="units")
    y = np.zeros((1, 5, 4))
    with pytest.raises(ValueError, match="encoder=True"):
        lowrank.smc.elbo(m, y, proposal="encoder")


def test_precision_scale_is_a_shift_of_the_log_variances():
    """precision_scale c multiplies the proposal's precisions: the same bound and gradient as the
    network with its log-variance biases lowered by log c, and c → 0 approaches the bootstrap."""
    from lowrank.model.encoder import encoder_layout
    enc = lowrank.EncoderOptions(kernel_sizes=(3, 1), channels=(4,), init_scale=0.5)
    base = lowrank.LowRankRNN(6, 2, 4, readout="units", likelihood="poisson", encoder=enc, seed=2)
    y = base.sample(3, 12, seed=0).y
    c = 0.3
    tempered = lowrank.LowRankRNN.from_params(
        base.params, dataclasses.replace(base.options, encoder=dataclasses.replace(enc, precision_scale=c)), seed=2)
    lay = encoder_layout(enc, 4, 2)
    theta = base.params.enc.copy()
    theta[lay.b_off[-1] + 2:lay.b_off[-1] + 4] -= np.log(c)
    shifted = lowrank.LowRankRNN.from_params(base.params._replace(enc=theta), base.options, seed=2)
    a = lowrank.smc.elbo(tempered, y, proposal="encoder", seed=1)
    b = lowrank.smc.elbo(shifted, y, proposal="encoder", seed=1)
    assert a.value == pytest.approx(b.value, rel=1e-12)
    np.testing.assert_allclose(a.grad_flat, b.grad_flat, rtol=1e-9, atol=1e-12)
    assert a.value != lowrank.smc.elbo(base, y, proposal="encoder", seed=1).value
    tiny = lowrank.LowRankRNN.from_params(
        base.params, dataclasses.replace(base.options, encoder=dataclasses.replace(enc, precision_scale=1e-12)), seed=2)
    boot = lowrank.smc.elbo(base, y, proposal="bootstrap", seed=1)
    assert lowrank.smc.elbo(tiny, y, proposal="encoder", seed=1).value == pytest.approx(boot.value, rel=1e-8)
    with pytest.raises(ValueError, match="precision_scale"):
        lowrank.EncoderOptions(precision_scale=0.0)
    back = lowrank.EncoderOptions.from_dict(tempered.options.encoder.to_dict())
    assert back.precision_scale == c and lowrank.EncoderOptions.from_dict({}).precision_scale == 1.0
