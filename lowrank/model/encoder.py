"""The encoder proposal's network: its options, parameter layout and initialisation.

A 1-D convolutional network maps a sequence of observations ``y`` (T, D)
to a diagonal Gaussian ``q_e(z_t | y) = N(μ_e,t, diag σ²_e,t)`` per step
(docs/design.md §2). Layer ``l`` (``l = 0 … L-1``) is a convolution over
time with kernel size ``k_l`` from ``C_in`` to ``C_out`` channels, followed
by the nonlinearity except on the last layer::

    out[t, o] = b[o] + Σ_j Σ_i W[j, i, o] · in[src(t + j − left), i]

``left`` is the padding before the sequence (:func:`pad_left`), ``src`` maps
a padded index back into ``[0, T_s)`` by the padding mode
(:func:`source_index`), and the term is absent when it falls outside with
``zeros`` padding. Each sequence is padded at its own length ``T_s``, so a
trial's encoding does not depend on what it was batched with.

The last layer has ``2R`` outputs: the means ``μ_e`` (channels ``0 … R-1``)
and the log-variances ``ℓ_e`` (channels ``R … 2R-1``); with
``constant_var`` it has ``R`` outputs (the means) and one learned
log-variance vector ``ℓ`` (R,) serves every step and sequence. Variances
are ``σ²_e = clip(exp(ℓ_e), 1e-8, 100)``.

Parameters are one flat float64 vector (the ``enc`` block of
``lowrank.model.params.Params``), laid out layer by layer as ``W_l``
``(k_l, C_in, C_out)`` row-major then ``b_l`` ``(C_out,)``, and, with
``constant_var``, ``ℓ`` (R,) at the end (:func:`encoder_layout`). They are
unconstrained: the optimiser sees them as they are.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from .._checks import check_choice, check_positive_float
from .codes import ENCODER_ACTIVATION_CODE, PADDING_MODE_CODE

ENCODER_ACTIVATIONS = ("gelu", "leaky_relu")
PADDINGS = ("causal", "acausal", "windowed", "lookahead")
PADDING_MODES = ("zeros", "reflect", "circular", "replicate")

LEAKY_SLOPE = 0.1
MIN_VAR, MAX_VAR = 1e-8, 100.0


def _int_tuple(name, value, minimum, allow_empty):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence of integers; got {value!r}")
    out = []
    for x in value:
        if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
            raise TypeError(f"{name} must hold integers; got {x!r}")
        if x < minimum:
            raise ValueError(f"{name} must hold integers >= {minimum}; got {list(value)}")
        out.append(int(x))
    if not out and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class EncoderOptions:
    """Structure of the encoder proposal's convolutional network.

    Parameters
    ----------
    kernel_sizes : sequence of int
        Kernel size of each layer, the last one the output layer's
        (default ``(21, 11, 1)``: a receptive field of 31 steps).
    channels : sequence of int
        Output channels of the hidden layers, one fewer than ``kernel_sizes``
        (default ``(64, 64)``).
    activation : {"gelu", "leaky_relu"}
        Nonlinearity after each hidden layer: exact GELU ``x Φ(x)``, or leaky
        ReLU with slope 0.1 below zero.
    padding : {"causal", "acausal", "windowed", "lookahead"}
        Which steps the output at ``t`` sees, per layer of kernel ``k``:
        ``causal`` the past ``t-k+1 … t`` (filtering-safe); ``acausal`` a
        centred window ``t-⌊(k-1)/2⌋ … t+⌈(k-1)/2⌉``; ``windowed`` the
        window ``t-⌊k/2⌋ … t+⌈k/2⌉-1`` (the reference's "windowed", which
        equals ``acausal`` for odd ``k`` and keeps length ``T`` for every
        ``k`` here); ``lookahead`` the future ``t … t+k-1`` (the reference's
        "acausal").
    padding_mode : {"zeros", "reflect", "circular", "replicate"}
        Values outside a sequence: absent, mirrored without repeating the
        edge, wrapped around, or the edge value. With ``causal`` padding only
        ``zeros`` and ``replicate`` keep the encoder causal.
    init_scale : float
        Initial encoder standard deviation ``s``: the log-variance biases
        (or the constant log-variance) start at ``2 log s`` (default 0.1).
    constant_var : bool
        One learned variance per latent dimension instead of one per step.
    precision_scale : float
        Multiplies the encoder's precisions in the proposal (not trained;
        default 1). Below 1 it tempers the encoder towards the transition
        prior, whose proposal (the bootstrap) is the limit at 0: an encoder
        trained by the ELBO tends to be over-confident, and tempering it
        evens the particles' weights (higher ESS) at little cost in the
        bound. ``bench/spikes.py`` picks it on training trials.

    Examples
    --------
    >>> small = lowrank.EncoderOptions(kernel_sizes=(9, 1), channels=(16,))
    >>> model = lowrank.LowRankRNN(n_units=40, rank=2, n_obs=40, readout="units", likelihood="poisson",
    ...                            encoder=small)
    >>> model.options.encoder.padding, model.options.default_proposal
    ('causal', 'encoder')
    """

    kernel_sizes: tuple = (21, 11, 1)
    channels: tuple = (64, 64)
    activation: str = "gelu"
    padding: str = "causal"
    padding_mode: str = "zeros"
    init_scale: float = 0.1
    constant_var: bool = False
    precision_scale: float = 1.0

    def __post_init__(self):
        ks = _int_tuple("kernel_sizes", self.kernel_sizes, 1, allow_empty=False)
        ch = _int_tuple("channels", self.channels, 1, allow_empty=True)
        if len(ch) != len(ks) - 1:
            raise ValueError(f"channels must have one entry fewer than kernel_sizes (the output layer has 2R "
                             f"channels); got {len(ch)} channels for {len(ks)} kernel sizes")
        object.__setattr__(self, "kernel_sizes", ks)
        object.__setattr__(self, "channels", ch)
        check_choice("activation", self.activation, ENCODER_ACTIVATIONS)
        check_choice("padding", self.padding, PADDINGS)
        check_choice("padding_mode", self.padding_mode, PADDING_MODES)
        object.__setattr__(self, "init_scale", check_positive_float("init_scale", self.init_scale))
        if not isinstance(self.constant_var, bool):
            raise TypeError(f"constant_var must be True or False; got {self.constant_var!r}")
        object.__setattr__(self, "precision_scale", check_positive_float("precision_scale", self.precision_scale))

    @property
    def receptive_field(self):
        """Steps of ``y`` that one output sees: ``Σ k_l − (L − 1)``."""
        return sum(self.kernel_sizes) - len(self.kernel_sizes) + 1

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["kernel_sizes"], d["channels"] = list(self.kernel_sizes), list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d):
        if isinstance(d, cls):
            return d
        if not isinstance(d, dict):
            raise TypeError(f"encoder options must be an EncoderOptions or a dict; got {type(d).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ValueError(f"unknown encoder options {sorted(unknown)}; valid: {sorted(fields)}")
        return cls(**d)


def pad_left(padding, k):
    """Steps of padding before the sequence for a layer of kernel size ``k``
    (the rest, ``k - 1 - left``, goes after it)."""
    if padding == "causal":
        return k - 1
    if padding == "acausal":
        return (k - 1) // 2
    if padding == "windowed":
        return k // 2
    if padding == "lookahead":
        return 0
    raise ValueError(f"padding must be one of {PADDINGS}; got {padding!r}")


def source_index(mode, i, T):
    """Index in ``[0, T)`` that padded position ``i`` reads, or -1 (zeros padding outside).

    ``reflect`` mirrors about the end points without repeating them
    (``-1 -> 1``, ``T -> T-2``), repeatedly when the padding exceeds ``T``.
    Plain Python; the kernels carry a compiled twin.
    """
    if 0 <= i < T:
        return i
    if mode == "zeros":
        return -1
    if mode == "replicate":
        return 0 if i < 0 else T - 1
    if mode == "circular":
        return i % T
    if mode == "reflect":
        if T == 1:
            return 0
        p = 2 * (T - 1)
        i = i % p
        return p - i if i >= T else i
    raise ValueError(f"padding_mode must be one of {PADDING_MODES}; got {mode!r}")


class EncoderLayout(NamedTuple):
    """Where each layer's parameters sit in the flat ``enc`` vector, and the layer sizes.

    Fields
    ------
    kernel, cin, cout, left : (L,) int64
        Kernel size, input and output channels, padding before the sequence.
    w_off, b_off : (L,) int64
        Start of ``W_l`` (k, cin, cout) and of ``b_l`` (cout,).
    ch_off : (L,) int64
        Start of layer l's outputs in the stacked hidden-activation buffer
        (channels of the hidden layers side by side; the last layer's entry
        is the total number of hidden channels).
    activation, mode : int
        ``ENCODER_ACTIVATION_CODE`` and ``PADDING_MODE_CODE``.
    rank : int
        R: the means are output channels ``0 … R-1``.
    constant_var : int
        1 when the log-variance is the vector at ``lv_off``.
    lv_off : int
        Start of that vector (R,); equals ``size`` otherwise.
    size : int
        Length of the flat vector.
    """

    kernel: np.ndarray
    cin: np.ndarray
    cout: np.ndarray
    left: np.ndarray
    w_off: np.ndarray
    b_off: np.ndarray
    ch_off: np.ndarray
    activation: int
    mode: int
    rank: int
    constant_var: int
    lv_off: int
    size: int


def encoder_layout(enc: EncoderOptions, n_obs, rank) -> EncoderLayout:
    """The :class:`EncoderLayout` of an encoder on ``n_obs`` channels for rank ``rank``."""
    ks = enc.kernel_sizes
    L = len(ks)
    cin = [n_obs] + list(enc.channels)
    cout = list(enc.channels) + [rank if enc.constant_var else 2 * rank]
    w_off, b_off, ch_off = [], [], []
    pos, ch = 0, 0
    for l in range(L):
        w_off.append(pos)
        pos += ks[l] * cin[l] * cout[l]
        b_off.append(pos)
        pos += cout[l]
        ch_off.append(ch)
        if l < L - 1:
            ch += cout[l]
    lv_off = pos
    if enc.constant_var:
        pos += rank
    i64 = lambda x: np.asarray(x, dtype=np.int64)   # noqa: E731
    return EncoderLayout(i64(ks), i64(cin), i64(cout), i64([pad_left(enc.padding, k) for k in ks]),
                         i64(w_off), i64(b_off), i64(ch_off), ENCODER_ACTIVATION_CODE[enc.activation],
                         PADDING_MODE_CODE[enc.padding_mode], int(rank), int(enc.constant_var), lv_off, pos)


def n_encoder_params(enc, n_obs, rank):
    """Length of the flat ``enc`` vector (0 without an encoder)."""
    return 0 if enc is None else encoder_layout(enc, n_obs, rank).size


def init_encoder(enc: EncoderOptions, n_obs, rank, rng) -> np.ndarray:
    """Seeded initial ``enc`` vector.

    Weights and biases of each layer ``~ U(-1/√(C_in k), 1/√(C_in k))``
    (the usual fan-in scaling); the log-variances start near ``2 log s``
    (``s = init_scale``): added to the last layer's log-variance biases, or
    the constant log-variance itself.
    """
    rng = np.random.default_rng(rng)
    lay = encoder_layout(enc, n_obs, rank)
    theta = np.empty(lay.size)
    for l in range(len(lay.kernel)):
        bound = 1.0 / np.sqrt(lay.cin[l] * lay.kernel[l])
        end = lay.b_off[l] + lay.cout[l]
        theta[lay.w_off[l]:end] = rng.uniform(-bound, bound, end - lay.w_off[l])
    shift = 2.0 * np.log(enc.init_scale)
    if enc.constant_var:
        theta[lay.lv_off:] = shift
    else:
        last = len(lay.kernel) - 1
        theta[lay.b_off[last] + rank:lay.b_off[last] + 2 * rank] += shift
    return theta
