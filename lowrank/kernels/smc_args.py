"""The named structures the SMC kernels take (docs/smc.md).

The particle filter's inputs and outputs are grouped by role into
NamedTuples of arrays and scalars, which Numba compiles as a whole, so a
kernel takes a handful of structures instead of forty positional arrays:

- :class:`Codes`          the options, as small integers and two floats
- :class:`Sequences`      the data: observations, raw and fed inputs, lengths
- :class:`Draws`          the caller's random numbers
- :class:`ModelArrays`    the parameters, laid out for the kernels
- :class:`ProposalArrays` the optimal and encoder proposals' set-up
- :class:`Records`        what the forward pass writes and the backward pass reads
- :class:`GradLayout`     where each gradient block sits in a row of the
                          backward pass's per-sequence buffer, by name
- :class:`Grads`          the views of one such row, by name
- :class:`SMCInputs`      the first five together (Python side only)

Sizes: ``S`` sequences, ``T`` steps, ``K`` particles, ``R`` rank, ``N``
units, ``D`` observed dimensions, ``U`` inputs, ``Uv`` columns of ``W_v``.
Floats are float64 and integer arrays int64 unless stated; arrays are
C-contiguous, so every call shares one compiled signature.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numba
import numpy as np

from ..config import CACHE, FASTMATH


class Codes(NamedTuple):
    """The options as the kernels see them.

    Fields
    ------
    activation : int
        ``ACT_*`` of :mod:`lowrank.model.codes` (identity, relu, clipped_relu, tanh).
    readout : int
        ``READOUT_LATENT`` or ``READOUT_UNITS``.
    from_rates : int
        1 when the units read-out is of rates, 0 of currents (or latent).
    likelihood : int
        ``LIK_GAUSSIAN`` or ``LIK_POISSON``.
    link : int
        Poisson link: ``LINK_SOFTPLUS`` or ``LINK_EXP``.
    proposal : int
        ``PROPOSAL_BOOTSTRAP``, ``PROPOSAL_OPTIMAL`` or ``PROPOSAL_ENCODER``.
    resampling : int
        ``RESAMPLE_*``: none, systematic, stratified, multinomial.
    filter_inputs : int
        1 when the fed inputs ``v`` are the leak-filtered raw inputs ``u``.
    tau : float
        ESS threshold as a fraction of K; ``<= 0`` resamples at every step.
    bin_width : float
        Poisson bin width ``Δ``.
    """

    activation: int
    readout: int
    from_rates: int
    likelihood: int
    link: int
    proposal: int
    resampling: int
    filter_inputs: int
    tau: float
    bin_width: float


class Sequences(NamedTuple):
    """The data, zero past each sequence's length.

    Fields
    ------
    y : (S, T, D)
        Observations (in noise coordinates for a correlated-noise read-out).
    u : (S, T, U)
        Raw inputs.
    v : (S, T, U)
        Fed inputs (``lowrank.model.equations.fed_inputs``).
    lengths : (S,) int64
        Steps of each sequence, in ``[1, T]``.
    """

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    lengths: np.ndarray


class Draws(NamedTuple):
    """The caller's random numbers (docs/smc.md, "Draws").

    Fields
    ------
    eps : (S, T, K, R)
        Standard normals of the proposals.
    unif : (S, T, K)
        Uniforms in [0, 1) of the resampling steps.
    """

    eps: np.ndarray
    unif: np.ndarray


class ModelArrays(NamedTuple):
    """The parameters, transposed where that gives the loops unit stride.

    Fields
    ------
    mT, nT : (R, N)
        Loadings ``mᵀ``, ``nᵀ``.
    h : (N,)
        Thresholds.
    a : (R,)
        Leak.
    Wu : (N, U)
        Input weights.
    mu_init : (S, R)
        Initial mean of each sequence, ``lowrank.model.equations.initial_mean``.
    Lz, L0 : (R, R)
        Lower Cholesky factors of ``Σ_z`` and ``Σ_0``.
    WT : (R, D), or (R, 0) for a units read-out
        Latent read-out ``Wᵀ``.
    mDT : (R, min(D, N))
        Observed units' loadings ``m[:D]ᵀ`` (units read-out).
    Wv : (D, Uv)
        Input term of the latent read-out.
    gain : (D,), or (0,) for a latent read-out
    b : (D,)
        Read-out offsets.
    inv_sigma : (D,), or (0,) for Poisson
        ``1 / σ``.
    gconst : float
        Gaussian constant ``-Σ log σ - D/2 log 2π`` (0 for Poisson).
    abar : float
        Mean leak ``ā``, the input filter's coefficient.
    """

    mT: np.ndarray
    nT: np.ndarray
    h: np.ndarray
    a: np.ndarray
    Wu: np.ndarray
    mu_init: np.ndarray
    Lz: np.ndarray
    L0: np.ndarray
    WT: np.ndarray
    mDT: np.ndarray
    Wv: np.ndarray
    gain: np.ndarray
    b: np.ndarray
    inv_sigma: np.ndarray
    gconst: float
    abar: float


class ProposalArrays(NamedTuple):
    """The proposals' set-up: optimal (``lowrank.kernels.proposal``) and encoder
    (:func:`~.smc_forward.propose_encoder`); zero-size or zeros where unused.

    Index 0 of the leading axis of ``P2``, ``LP2``, ``k2``, ``Sinv2`` is the
    initial regime (``Σ_0``, t = 0), index 1 the transition regime (``Σ_z``).

    Fields
    ------
    B : (D, R), or (0, R) for bootstrap
        Linear read-out matrix.
    rinv : (D,), or (0,) for bootstrap
        Observation precisions ``1 / σ²``.
    G : (R, R)
        ``Bᵀ diag(rinv) B``.
    P2, LP2 : (2, R, R)
        Posterior covariance ``P`` and its lower Cholesky factor.
    k2 : (2,)
        Constant of the log-weight.
    Sinv2 : (2, R, R)
        Prior precisions ``Σ_0⁻¹``, ``Σ_z⁻¹`` (encoder proposal).
    emu, eprec : (S, T, R), or (0, 0, R) without the encoder proposal
        The encoder's means ``μ_e`` and precisions ``1 / σ²_e`` per step.
    """

    B: np.ndarray
    rinv: np.ndarray
    G: np.ndarray
    P2: np.ndarray
    LP2: np.ndarray
    k2: np.ndarray
    Sinv2: np.ndarray
    emu: np.ndarray
    eprec: np.ndarray


class Records(NamedTuple):
    """What the forward pass writes (and the backward pass reads).

    Fields
    ------
    Z : (S, T, K, R)
        Particles after the proposal step.
    F : (S, T, K, R)
        Their prior means (transition means of the parents; ``mu_init`` at t = 0).
    anc : (S, T, K) int64
        ``anc[:, t]``: parents of step t's particles (identity at t = 0).
    logW : (S, T, K)
        Normalised log-weights after step t, before resampling.
    resampled : (S, T) int8
        1 where resampling followed step t.
    ell : (S, T)
        Log-likelihood increments ``ℓ_t``.
    fail : (S,) int64
        Step at which all weights of a sequence vanished, or -1.
    """

    Z: np.ndarray
    F: np.ndarray
    anc: np.ndarray
    logW: np.ndarray
    resampled: np.ndarray
    ell: np.ndarray
    fail: np.ndarray


class SMCInputs(NamedTuple):
    """Everything the forward pass reads, as packed by ``lowrank.inference.elbo``."""

    codes: Codes
    seqs: Sequences
    draws: Draws
    model: ModelArrays
    prop: ProposalArrays


def records(S, T, K, R, alloc=None):
    """Empty :class:`Records` for S sequences of T steps, K particles of rank R.

    ``alloc``: where the large per-particle arrays come from, an object with
    ``empty(name, shape, dtype)`` (:mod:`lowrank.inference.workspace`); None: new arrays.
    """
    empty = (lambda name, shape, dtype=np.float64: np.empty(shape, dtype)) if alloc is None else alloc.empty
    return Records(empty("rec.Z", (S, T, K, R)), empty("rec.F", (S, T, K, R)),
                   empty("rec.anc", (S, T, K), np.int64), empty("rec.logW", (S, T, K)),
                   np.zeros((S, T), dtype=np.int8), np.zeros((S, T)), np.empty(S, dtype=np.int64))


# ---- the backward pass's gradient buffer

class Grads(NamedTuple):
    """Adjoints accumulated by the backward pass: views of one buffer row.

    Fields
    ------
    mT, nT : (R, N)
    h : (N,)
    a : (R,)
    Wu : (N, U)
    Lz, L0 : (R, R)
    P, LP : (2, R, R)
        Of the proposal's ``P2``, ``LP2``.
    k : (2,)
        Of the proposal's ``k2``.
    G : (R, R)
    B : (D, R)
    rinv : (D,)
    WT : (R, D)
        Of ``Wᵀ`` (latent read-out).
    b : (D,)
    Wv : (D, Uv)
    gain : (D,)
    sigma : (D,)
        Of ``σ`` through the Gaussian likelihood (the proposal's ``rinv``
        is carried separately).
    mu : (R,)
        Of the sequence's initial mean ``mu_init``.
    abar : (1,)
        Of the input filter's coefficient.
    Sinv : (2, R, R)
        Of the prior precisions ``Sinv2`` (encoder proposal).
    """

    mT: np.ndarray
    nT: np.ndarray
    h: np.ndarray
    a: np.ndarray
    Wu: np.ndarray
    Lz: np.ndarray
    L0: np.ndarray
    P: np.ndarray
    LP: np.ndarray
    k: np.ndarray
    G: np.ndarray
    B: np.ndarray
    rinv: np.ndarray
    WT: np.ndarray
    b: np.ndarray
    Wv: np.ndarray
    gain: np.ndarray
    sigma: np.ndarray
    mu: np.ndarray
    abar: np.ndarray
    Sinv: np.ndarray


class GradLayout(NamedTuple):
    """Offset of each :class:`Grads` block in a buffer row, and the row's length.

    Fields
    ------
    mT, nT, h, a, Wu, Lz, L0, P, LP, k, G, B, rinv, WT, b, Wv, gain, sigma, mu, abar, Sinv : int
        Start of the block of that name (blocks follow one another in this order).
    size : int
        Length of a row, one past the last block.
    """

    mT: int
    nT: int
    h: int
    a: int
    Wu: int
    Lz: int
    L0: int
    P: int
    LP: int
    k: int
    G: int
    B: int
    rinv: int
    WT: int
    b: int
    Wv: int
    gain: int
    sigma: int
    mu: int
    abar: int
    Sinv: int
    size: int


def grad_shapes(N, R, D, U, Uv):
    """Shape of each :class:`Grads` block, a dict in field order."""
    return {"mT": (R, N), "nT": (R, N), "h": (N,), "a": (R,), "Wu": (N, U), "Lz": (R, R), "L0": (R, R),
            "P": (2, R, R), "LP": (2, R, R), "k": (2,), "G": (R, R), "B": (D, R), "rinv": (D,),
            "WT": (R, D), "b": (D,), "Wv": (D, Uv), "gain": (D,), "sigma": (D,), "mu": (R,), "abar": (1,),
            "Sinv": (2, R, R)}


@functools.lru_cache(maxsize=64)
def grad_layout(N, R, D, U, Uv):
    """The :class:`GradLayout` of a model's sizes."""
    offsets = [0]
    for shape in grad_shapes(N, R, D, U, Uv).values():
        offsets.append(offsets[-1] + int(np.prod(shape)))
    return GradLayout(*offsets)


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def grad_views(row, lay, R, N, D, U, Uv):
    """The :class:`Grads` views of ``row`` (lay.size,) laid out by ``lay`` (a :class:`GradLayout`)."""
    return Grads(row[lay.mT:lay.nT].reshape((R, N)), row[lay.nT:lay.h].reshape((R, N)), row[lay.h:lay.a],
                 row[lay.a:lay.Wu], row[lay.Wu:lay.Lz].reshape((N, U)), row[lay.Lz:lay.L0].reshape((R, R)),
                 row[lay.L0:lay.P].reshape((R, R)), row[lay.P:lay.LP].reshape((2, R, R)),
                 row[lay.LP:lay.k].reshape((2, R, R)), row[lay.k:lay.G], row[lay.G:lay.B].reshape((R, R)),
                 row[lay.B:lay.rinv].reshape((D, R)), row[lay.rinv:lay.WT], row[lay.WT:lay.b].reshape((R, D)),
                 row[lay.b:lay.Wv], row[lay.Wv:lay.gain].reshape((D, Uv)), row[lay.gain:lay.sigma],
                 row[lay.sigma:lay.mu], row[lay.mu:lay.abar], row[lay.abar:lay.Sinv],
                 row[lay.Sinv:lay.size].reshape((2, R, R)))


# ---- thread-local copies

@numba.njit(fastmath=FASTMATH, cache=CACHE)
def local_proposal(prop):
    """A copy of ``prop`` (:class:`ProposalArrays`) for one thread.

    Every array a kernel binds (passes to a function, slices) touches its
    reference count; threads touching the count of one shared array contend
    for its cache line and serialise. The proposal's set-up is small, so each
    sequence's thread works on its own copy. The encoder's per-step arrays are
    not copied: a thread reads only its own sequence's rows, binding them once
    per sequence.
    """
    return ProposalArrays(prop.B.copy(), prop.rinv.copy(), prop.G.copy(), prop.P2.copy(), prop.LP2.copy(),
                          prop.k2.copy(), prop.Sinv2.copy(), prop.emu, prop.eprec)
