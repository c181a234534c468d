"""The encoder proposal's Gaussian ``q_e(z_t | y)`` and its adjoint, at the numpy level.

:func:`encode` runs the compiled network (:mod:`lowrank.kernels.encoder`)
once per sequence and turns its outputs into means, log-variances,
variances ``clip(exp(ℓ), MIN_VAR, MAX_VAR)`` and precisions;
:func:`encode_adjoint` takes adjoints of the means and precisions back to
the flat parameter vector. The network and its parameter layout are
specified in :mod:`lowrank.model.encoder`.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from .._checks import as_float_array, check_positive_int
from ..kernels.encoder import encoder_backward, encoder_forward
from ..model.encoder import MAX_VAR, MIN_VAR, EncoderLayout, EncoderOptions, encoder_layout
from .workspace import FRESH

__all__ = ["Encoding", "encode", "encode_adjoint", "layout", "prepare_encoder"]


class Encoding(NamedTuple):
    """Output of :func:`encode` (S sequences, T steps, rank R); entries past a sequence's length are
    0 for ``mu`` and ``logvar`` (so ``var`` and ``prec`` are 1 there).

    Attributes
    ----------
    mu : (S, T, R)
        Means ``μ_e``.
    logvar : (S, T, R)
        Log-variances ``ℓ_e`` before clipping (the constant vector at every valid step with
        ``constant_var``).
    var : (S, T, R)
        ``clip(exp(logvar), MIN_VAR, MAX_VAR)``.
    prec : (S, T, R)
        ``1 / var``.
    A, H : (S, T, Ch)
        The hidden layers' pre- and post-activations, for :func:`encode_adjoint`.
    layout : EncoderLayout
        The parameter layout used.
    """

    mu: np.ndarray
    logvar: np.ndarray
    var: np.ndarray
    prec: np.ndarray
    A: np.ndarray
    H: np.ndarray
    layout: EncoderLayout


@functools.lru_cache(maxsize=64)
def layout(enc_opts: EncoderOptions, n_obs: int, rank: int) -> EncoderLayout:
    """:func:`lowrank.model.encoder.encoder_layout`, cached (its arrays must not be modified)."""
    return encoder_layout(enc_opts, n_obs, rank)


def _check_options(enc_opts):
    if isinstance(enc_opts, dict):
        return EncoderOptions.from_dict(enc_opts)
    if not isinstance(enc_opts, EncoderOptions):
        raise TypeError(f"enc_opts must be an EncoderOptions or a dict; got {type(enc_opts).__name__}")
    return enc_opts


def _check_lengths(lengths, S, T):
    lengths = np.asarray(lengths)
    if not np.issubdtype(lengths.dtype, np.integer):
        raise TypeError(f"lengths must be an integer array; got dtype {lengths.dtype}")
    if lengths.shape != (S,):
        raise ValueError(f"lengths must have shape ({S},), one per sequence of y; got {lengths.shape}")
    if S and (lengths.min() < 1 or lengths.max() > T):
        raise ValueError(f"lengths must lie in [1, {T}] (the steps of y); got min {lengths.min()}, max {lengths.max()}")
    return np.ascontiguousarray(lengths, dtype=np.int64)


def _check_inputs(theta, enc_opts, y, lengths, rank):
    """Validated ``(theta, y, lengths, layout)`` in the kernels' types."""
    enc_opts = _check_options(enc_opts)
    rank = check_positive_int("rank", rank)
    y = as_float_array("y", y, (3,), shape_desc="(S, T, D)")
    S, T, D = y.shape
    if T < 1 or D < 1:
        raise ValueError(f"y must have at least one step and one channel; got shape {y.shape}")
    lay = layout(enc_opts, D, rank)
    theta = as_float_array("theta", theta, (1,), shape_desc="(P,)")
    if theta.shape[0] != lay.size:
        raise ValueError(f"theta must have {lay.size} entries for this encoder on D={D}, R={rank}; "
                         f"got {theta.shape[0]}")
    return theta, y, _check_lengths(lengths, S, T), lay


def _valid_mask(lengths, T):
    """(S, T, 1) float mask of the steps inside each sequence."""
    return (np.arange(T)[None, :] < lengths[:, None]).astype(np.float64)[:, :, None]


def encode(theta, enc_opts, y, lengths, rank, alloc=FRESH) -> Encoding:
    """The encoder's Gaussian for every step of every sequence.

    Parameters
    ----------
    theta : (P,) array
        Flat encoder parameters (``lowrank.model.encoder.init_encoder``).
    enc_opts : EncoderOptions or dict
    y : (S, T, D) array
        Observations; steps past a sequence's length are not read.
    lengths : (S,) int array
        Steps of each sequence, in ``[1, T]``; each is padded at its own length.
    rank : int
        R, the latent dimension.
    alloc : optional
        Where the activations come from (:mod:`.workspace`); by default new arrays.

    Returns
    -------
    Encoding
    """
    theta, y, lengths, lay = _check_inputs(theta, enc_opts, y, lengths, rank)
    S, T, _ = y.shape
    R = lay.rank
    Ch = int(lay.ch_off[-1])
    # the kernel writes every entry, the steps past a sequence's length as zeros
    A, H = alloc.empty("encoder.A", (S, T, Ch)), alloc.empty("encoder.H", (S, T, Ch))
    out = alloc.empty("encoder.out", (S, T, int(lay.cout[-1])))
    encoder_forward(theta, lay, y, lengths, A, H, out)
    mu = out[:, :, :R].copy()
    if lay.constant_var:
        logvar = theta[lay.lv_off:lay.lv_off + R][None, None, :] * _valid_mask(lengths, T)
    else:
        logvar = out[:, :, R:].copy()
    var = np.clip(_safe_exp(logvar), MIN_VAR, MAX_VAR)
    return Encoding(mu, logvar, var, _precision_scale(enc_opts) / var, A, H, lay)


def encode_adjoint(theta, enc_opts, y, lengths, encoding, dmu, dprec, alloc=FRESH):
    """Gradient of a function of :func:`encode`'s ``mu`` and ``prec`` with respect to ``theta``.

    Parameters
    ----------
    theta, enc_opts, y, lengths : as given to :func:`encode`.
    encoding : Encoding
        :func:`encode`'s result for them.
    dmu, dprec : (S, T, R) arrays
        Adjoints of ``mu`` and ``prec``; steps past a sequence's length are ignored.
    alloc : optional
        Where the per-sequence gradient rows come from (:mod:`.workspace`); by default new arrays.

    Returns
    -------
    (P,) ndarray
        The gradient. The clip of the variance passes no gradient where it is
        active (``exp(logvar)`` outside ``[MIN_VAR, MAX_VAR]``). Per-sequence
        contributions are summed in sequence order, so the result does not
        depend on the thread count.
    """
    if not isinstance(encoding, Encoding):
        raise TypeError(f"encoding must be the Encoding returned by encode; got {type(encoding).__name__}")
    theta, y, lengths, lay = _check_inputs(theta, enc_opts, y, lengths, encoding.layout.rank)
    S, T, _ = y.shape
    R = lay.rank
    if encoding.mu.shape != (S, T, R):
        raise ValueError(f"encoding does not match y: mu has shape {encoding.mu.shape}, expected {(S, T, R)}")
    mask = _valid_mask(lengths, T)
    dmu = as_float_array("dmu", dmu, (3,), shape_desc="(S, T, R)")
    dprec = as_float_array("dprec", dprec, (3,), shape_desc="(S, T, R)")
    for name, d in (("dmu", dmu), ("dprec", dprec)):
        if d.shape != (S, T, R):
            raise ValueError(f"{name} must have shape {(S, T, R)} like encoding.mu; got {d.shape}")
    dlogvar = _logvar_adjoint(encoding, dprec) * mask
    dout = np.zeros((S, T, int(lay.cout[-1])))
    dout[:, :, :R] = dmu * mask
    if not lay.constant_var:
        dout[:, :, R:] = dlogvar
    grows = alloc.empty("encoder.grows", (S, lay.size))      # the kernel zeroes each row first
    encoder_backward(theta, lay, y, lengths, encoding.A, encoding.H, dout, grows)
    grad = grows.sum(axis=0)
    if lay.constant_var:
        grad[lay.lv_off:lay.lv_off + R] = dlogvar.sum(axis=(0, 1))
    return grad


_LOG_MIN, _LOG_MAX = np.log(MIN_VAR), np.log(MAX_VAR)


def _safe_exp(logvar):
    """``exp(logvar)`` where it matters, without overflow: exponents far outside the clip's
    range are brought nearer first, which changes neither the clipped value nor the side."""
    return np.exp(np.clip(logvar, _LOG_MIN - 1.0, _LOG_MAX + 1.0))


def _precision_scale(enc_opts):
    return EncoderOptions.from_dict(enc_opts).precision_scale


def _logvar_adjoint(encoding, dprec):
    """d/dlogvar through ``prec = c / clip(exp(logvar))`` (``c`` the precision scale): ``-dprec · prec``,
    zero where the clip is active."""
    e = _safe_exp(encoding.logvar)
    inside = (e >= MIN_VAR) & (e <= MAX_VAR)
    return np.where(inside, -dprec * encoding.prec, 0.0)


def prepare_encoder():
    """Compile (or load from the on-disk cache) the encoder kernels with a tiny network."""
    enc = EncoderOptions(kernel_sizes=(2, 1), channels=(2,))
    lay = layout(enc, 1, 1)
    y, lengths = np.zeros((1, 2, 1)), np.array([2])
    e = encode(np.zeros(lay.size), enc, y, lengths, 1)
    encode_adjoint(np.zeros(lay.size), enc, y, lengths, e, np.zeros((1, 2, 1)), np.zeros((1, 2, 1)))
