"""The encoder's compiled network and hand-written adjoint against an autograd reference
(tests/reference/encoder_numpy.py), for every padding, padding mode, activation and
variance option; sparse and dense inputs; thread-count independence; the variance clip."""
from __future__ import annotations

import itertools

import autograd
import numba
import numpy as np
import pytest

from lowrank.inference.encoder import Encoding, encode, encode_adjoint
from lowrank.kernels import encoder as kernels
from lowrank.model.encoder import (MAX_VAR, MIN_VAR, PADDING_MODES, PADDINGS, EncoderOptions, encoder_layout,
                                   init_encoder, source_index)
from reference import encoder_numpy as ref

D, R, T = 5, 2, 9
LENGTHS = np.array([9, 6, 2])           # 2 is shorter than the first kernel
ARCHS = {"three_layers": ((3, 2, 1), (6, 5)), "two_layers": ((4, 1), (6,))}


def options(arch, padding, mode, activation, constant_var):
    ks, ch = ARCHS[arch]
    return EncoderOptions(kernel_sizes=ks, channels=ch, padding=padding, padding_mode=mode,
                          activation=activation, constant_var=constant_var, init_scale=0.5)


def random_theta(enc, seed):
    """Generic parameters: the seeded init, with every entry perturbed so no layer is special."""
    rng = np.random.default_rng(seed)
    theta = init_encoder(enc, D, R, rng)
    return theta + rng.normal(0.0, 0.3, theta.shape)


def observations(kind, seed, S=3):
    """(S, T, D) counts (mostly zeros, so the kernels' sparse path runs) or Gaussian data,
    zero past each length."""
    rng = np.random.default_rng(seed)
    y = rng.poisson(0.1, (S, T, D)).astype(float) if kind == "sparse" else rng.normal(0.0, 1.0, (S, T, D))
    return y * (np.arange(T)[None, :, None] < LENGTHS[:S, None, None])


def adjoint_weights(seed):
    rng = np.random.default_rng(seed)
    valid = np.arange(T)[None, :, None] < LENGTHS[:, None, None]
    return rng.normal(size=(3, T, R)) * valid, rng.normal(size=(3, T, R)) * valid


def kernel_functional(theta, enc, y, c1, c2):
    e = encode(theta, enc, y, LENGTHS, R)
    return np.sum(c1 * e.mu) + np.sum(c2 * e.prec)


def rel_err(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def test_source_index_twin_matches_the_model():
    for code, mode in enumerate(("zeros", "reflect", "circular", "replicate")):
        for n in (1, 2, 3, 7):
            got = [kernels.source_index.py_func(code, i, n) for i in range(-9, n + 9)]
            assert got == [source_index(mode, i, n) for i in range(-9, n + 9)], (mode, n)


@pytest.mark.parametrize("mode,np_mode", [("reflect", "reflect"), ("circular", "wrap"), ("replicate", "edge")])
def test_padding_index_agrees_with_np_pad(mode, np_mode):
    # Independent check of the padding semantics where numpy's single-pass padding applies (pad < n).
    for n, left, k in [(7, 3, 5), (5, 0, 4), (6, 2, 3)]:
        x = np.arange(1.0, n + 1)
        expect = np.pad(x, (left, k - 1 - left), mode=np_mode)
        assert np.array_equal(x[ref.padding_index(mode, n, left, k)], expect)


COMBOS = list(itertools.product(PADDINGS, PADDING_MODES, ("gelu", "leaky_relu"), (False, True)))


@pytest.mark.parametrize("padding,mode,activation,constant_var", COMBOS)
def test_forward_and_gradient_match_reference(padding, mode, activation, constant_var):
    for seed, (arch, kind) in enumerate([("three_layers", "dense"), ("two_layers", "sparse")]):
        enc = options(arch, padding, mode, activation, constant_var)
        theta, y = random_theta(enc, seed), observations(kind, seed)
        e = encode(theta, enc, y, LENGTHS, R)
        mu, logvar = ref.encode(theta, enc, y, LENGTHS, R)
        assert rel_err(e.mu, mu) < 1e-12 and rel_err(e.logvar, logvar) < 1e-12
        c1, c2 = adjoint_weights(seed)
        got = encode_adjoint(theta, enc, y, LENGTHS, e, c1, c2)
        want = autograd.grad(ref.functional)(theta, enc, y, LENGTHS, R, c1, c2)
        assert rel_err(got, want) < 1e-6, (arch, kind)


def test_both_first_layer_paths_are_exercised():
    assert kernels.is_sparse.py_func(observations("sparse", 1)[0], LENGTHS[0])
    assert not kernels.is_sparse.py_func(observations("dense", 0)[0], LENGTHS[0])


def test_sparse_and_dense_paths_agree_on_the_same_counts():
    # Counts dense enough to take the blocked path, then thinned to take the scatter path:
    # the thinned data's outputs must equal the reference either way.
    enc = options("three_layers", "acausal", "reflect", "gelu", False)
    theta = random_theta(enc, 3)
    rng = np.random.default_rng(3)
    y = rng.poisson(2.0, (3, T, D)).astype(float)
    for data in (y, y * (rng.uniform(size=y.shape) < 0.1)):
        e = encode(theta, enc, data, LENGTHS, R)
        mu, _ = ref.encode(theta, enc, data, LENGTHS, R)
        assert rel_err(e.mu, mu) < 1e-12
        c1, c2 = adjoint_weights(3)
        want = autograd.grad(ref.functional)(theta, enc, data, LENGTHS, R, c1, c2)
        assert rel_err(encode_adjoint(theta, enc, data, LENGTHS, e, c1, c2), want) < 1e-6


def test_gradient_matches_finite_differences():
    enc = options("three_layers", "windowed", "circular", "gelu", False)
    theta, y = random_theta(enc, 5), observations("dense", 5)
    c1, c2 = adjoint_weights(5)
    e = encode(theta, enc, y, LENGTHS, R)
    g = encode_adjoint(theta, enc, y, LENGTHS, e, c1, c2)
    v = np.random.default_rng(6).normal(size=theta.shape)
    h = 1e-5
    fd = (kernel_functional(theta + h * v, enc, y, c1, c2) - kernel_functional(theta - h * v, enc, y, c1, c2)) / (2 * h)
    assert abs(fd - g @ v) < 1e-6 * max(1.0, abs(fd))


def test_results_do_not_depend_on_thread_count():
    enc = options("three_layers", "causal", "zeros", "leaky_relu", False)
    theta, y = random_theta(enc, 7), observations("dense", 7)
    c1, c2 = adjoint_weights(7)
    runs = []
    before = numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            e = encode(theta, enc, y, LENGTHS, R)
            runs.append((e.mu, e.logvar, encode_adjoint(theta, enc, y, LENGTHS, e, c1, c2)))
    finally:
        numba.set_num_threads(before)
    for a, b in zip(*runs):
        assert np.array_equal(a, b)


def test_variance_clip():
    enc = options("two_layers", "causal", "zeros", "gelu", False)
    lay = encoder_layout(enc, D, R)
    theta, y = random_theta(enc, 8), observations("dense", 8)
    last = len(enc.kernel_sizes) - 1
    lv_bias = lay.b_off[last] + R
    theta[lv_bias] = 40.0          # exp far above MAX_VAR at every step
    theta[lv_bias + 1] = -40.0     # far below MIN_VAR
    e = encode(theta, enc, y, LENGTHS, R)
    valid = np.arange(T)[None, :] < LENGTHS[:, None]
    assert np.all(e.var[..., 0][valid] == MAX_VAR) and np.all(e.var[..., 1][valid] == MIN_VAR)
    assert np.all(e.logvar[..., 0][valid] > np.log(MAX_VAR))
    c1, c2 = adjoint_weights(8)
    g = encode_adjoint(theta, enc, y, LENGTHS, e, np.zeros_like(c1), c2)
    assert g[lv_bias] == 0.0 and g[lv_bias + 1] == 0.0
    want = autograd.grad(ref.functional)(theta, enc, y, LENGTHS, R, np.zeros_like(c1), c2)
    assert np.allclose(g, want, rtol=1e-6, atol=1e-12)
    # The clipped head's other parameters get no gradient either; the mean head's do (through c1).
    g_mu = encode_adjoint(theta, enc, y, LENGTHS, e, c1, np.zeros_like(c2))
    assert np.any(g_mu[lay.b_off[last]:lay.b_off[last] + R] != 0.0)


def test_constant_var_gradient_is_the_sum_over_valid_steps():
    enc = options("two_layers", "lookahead", "replicate", "gelu", True)
    lay = encoder_layout(enc, D, R)
    theta, y = random_theta(enc, 9), observations("dense", 9)
    e = encode(theta, enc, y, LENGTHS, R)
    c2 = np.ones((3, T, R))      # ones past the lengths too: those steps must be ignored
    g = encode_adjoint(theta, enc, y, LENGTHS, e, np.zeros((3, T, R)), c2)
    prec = np.exp(-theta[lay.lv_off:])
    assert np.allclose(g[lay.lv_off:], -prec * LENGTHS.sum(), rtol=1e-12)
    assert np.all(g[:lay.lv_off] == 0.0)


def test_public_boundary_errors():
    enc = options("two_layers", "causal", "zeros", "gelu", False)
    theta, y = random_theta(enc, 0), observations("dense", 0)
    with pytest.raises(ValueError, match="theta"):
        encode(theta[:-1], enc, y, LENGTHS, R)
    with pytest.raises(ValueError, match="lengths"):
        encode(theta, enc, y, np.array([9, 10, 2]), R)
    with pytest.raises(TypeError, match="lengths"):
        encode(theta, enc, y, LENGTHS.astype(float), R)
    with pytest.raises(ValueError, match="y"):
        encode(theta, enc, y[0], LENGTHS, R)
    with pytest.raises(TypeError, match="enc_opts"):
        encode(theta, "gelu", y, LENGTHS, R)
    e = encode(theta, enc, y, LENGTHS, R)
    assert isinstance(e, Encoding)
    with pytest.raises(ValueError, match="dmu"):
        encode_adjoint(theta, enc, y, LENGTHS, e, np.zeros((3, T, R + 1)), np.zeros((3, T, R)))


def test_one_compiled_signature_each():
    # Every call above went through the same argument types: compiling once is part of the
    # contract (a second signature would mean a second, slow compile in the training loop).
    enc = options("three_layers", "causal", "zeros", "gelu", False)
    encode(random_theta(enc, 0), enc, observations("dense", 0), LENGTHS, R)
    assert len(kernels.forward_sequences.signatures) == 1        # the kernels each thread runs
    assert len(kernels.backward_sequences.signatures) <= 1
