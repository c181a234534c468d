"""The parameter container and the one map between constrained parameters
and the unconstrained flat vector that optimisers and gradients see.

Constrained blocks (what the model equations use) and their transforms:

========  =================  ==============================================
block     shape              unconstrained coordinates
========  =================  ==============================================
m         (N, R)             identity
n         (N, R)             identity
h         (N,)               identity
a         (R,)               logit(a) per dimension, or one logit if shared
W_u       (N, U)             identity
L_z       (R, R)             lower-triangular Cholesky factor of Σ_z: log of
                             the diagonal, then (full only) the strict lower
                             triangle row by row
mu0       (R,)               identity
L_0       (R, R)             as ``L_z``, for Σ_0
W         (D, R) or (0, R)   identity (latent read-out only)
b         (D,)               identity
W_v       (D, U) or (D, 0)   identity (latent read-out with input term only)
gain      (D,) or (0,)       identity (units read-out only)
sigma     (D,) or (0,)       log (Gaussian likelihood only)
enc       (P,) or (0,)       identity (the encoder proposal's network,
                             ``lowrank.model.encoder``; models with one only)
========  =================  ==============================================

Unused blocks are zero-size arrays, so every model has the same fields and
kernels take the same arguments whatever the options.
"""
from __future__ import annotations

from typing import NamedTuple

import autograd.numpy as anp
import numpy as np

from .encoder import init_encoder, n_encoder_params
from .options import ModelOptions

BLOCKS = ("m", "n", "h", "a", "W_u", "L_z", "mu0", "L_0", "W", "b", "W_v", "gain", "sigma", "enc")


class Params(NamedTuple):
    """Constrained parameters of a low-rank RNN: float64 arrays, the blocks of the model's equations
    (docs/design.md §1). Blocks a model does not use are zero-size arrays.

    Parameters
    ----------
    m, n : ndarray, shape (N, R)
        The connectivity's factors, ``J = m nᵀ``.
    h : ndarray, shape (N,)
        Thresholds.
    a : ndarray, shape (R,)
        Leak per latent dimension, in (0, 1).
    W_u : ndarray, shape (N, U)
        Input weights.
    L_z, L_0 : ndarray, shape (R, R)
        Lower-triangular Cholesky factors of the transition and initial-state covariances.
    mu0 : ndarray, shape (R,)
        Initial-state mean.
    W : ndarray, shape (D, R) or (0, R)
        Latent read-out weights (latent read-out only).
    b : ndarray, shape (D,)
        Read-out bias.
    W_v : ndarray, shape (D, U) or (D, 0)
        Read-out input weights (latent read-out with ``readout_input``).
    gain : ndarray, shape (D,) or (0,)
        Per-unit gain (units read-out only).
    sigma : ndarray, shape (D,) or (0,)
        Observation noise standard deviations (Gaussian likelihood only).
    enc : ndarray, shape (P,) or (0,)
        The encoder proposal's weights (models with an encoder only).

    Examples
    --------
    >>> p = lowrank.LowRankRNN(n_units=8, rank=2, n_obs=3, seed=0).params
    >>> p.m.shape, p.L_z.shape, p.W.shape, p.gain.shape
    ((8, 2), (2, 2), (3, 2), (0,))
    >>> p2 = p._replace(a=np.full(2, 0.5))         # a changed copy (a NamedTuple)
    >>> lowrank.LowRankRNN.from_params(p2, lowrank.ModelOptions(n_units=8, rank=2, n_obs=3)).params.a
    array([0.5, 0.5])
    """

    m: np.ndarray
    n: np.ndarray
    h: np.ndarray
    a: np.ndarray
    W_u: np.ndarray
    L_z: np.ndarray
    mu0: np.ndarray
    L_0: np.ndarray
    W: np.ndarray
    b: np.ndarray
    W_v: np.ndarray
    gain: np.ndarray
    sigma: np.ndarray
    # A default keeps code written before the encoder (no ``enc``) working.
    enc: np.ndarray = np.zeros(0)

    def copy(self):
        return Params(*(np.array(x, dtype=np.float64, copy=True) for x in self))


def block_shapes(opts: ModelOptions):
    """Shapes of the constrained blocks, a dict in ``BLOCKS`` order."""
    N, R, D, U = opts.n_units, opts.rank, opts.n_obs, opts.n_inputs
    latent = opts.readout == "latent"
    return {
        "m": (N, R), "n": (N, R), "h": (N,), "a": (R,), "W_u": (N, U),
        "L_z": (R, R), "mu0": (R,), "L_0": (R, R),
        "W": (D, R) if latent else (0, R),
        "b": (D,),
        "W_v": (D, U) if (latent and opts.readout_input) else (D, 0),
        "gain": (0,) if latent else (D,),
        "sigma": (D,) if opts.likelihood == "gaussian" else (0,),
        "enc": (n_encoder_params(opts.encoder, D, R),),
    }


def _chol_size(R, kind):
    return R if kind == "diag" else R * (R + 1) // 2


def unconstrained_sizes(opts: ModelOptions):
    """Number of unconstrained coordinates of each block (dict in ``BLOCKS`` order)."""
    shapes = block_shapes(opts)
    sizes = {k: int(np.prod(s)) for k, s in shapes.items()}
    sizes["a"] = 1 if opts.shared_leak else opts.rank
    sizes["L_z"] = _chol_size(opts.rank, opts.noise)
    sizes["L_0"] = _chol_size(opts.rank, opts.init_noise)
    return sizes


def flat_slices(opts: ModelOptions):
    """Slice of the flat unconstrained vector occupied by each block."""
    out, start = {}, 0
    for k, s in unconstrained_sizes(opts).items():
        out[k] = slice(start, start + s)
        start += s
    return out


def n_params(opts: ModelOptions):
    return sum(unconstrained_sizes(opts).values())


def init_params(opts: ModelOptions, rng) -> Params:
    """Seeded initialisation.

    ``m, n ~ U(-1/√N, 1/√N)`` (the reference draws ``m`` from
    ``U(-1/√R, 1/√R)``, which starts clipped-ReLU units saturated; on the
    EEG benchmark that did not help); thresholds ``h ~ U(-1/√N, 1/√N)`` (ReLU, tanh,
    identity) or ``U(0, 2/√N)`` for clipped ReLU (its linear range ``[0, h]``
    must overlap the typical current ``|M z| ~ 1/√N``); leak 0.9; transition
    noise std 0.1; initial state ``N(0, I)``; read-out ``W ~ U(-1/√R, 1/√R)``,
    ``b = 0``, gain 1, observation noise std 1 (for z-scored data); the
    encoder (if any) by :func:`lowrank.model.encoder.init_encoder`, drawn
    last so that the other blocks do not depend on whether there is one.
    """
    rng = np.random.default_rng(rng)
    N, R, D, U = opts.n_units, opts.rank, opts.n_obs, opts.n_inputs
    shapes = block_shapes(opts)
    s = 1.0 / np.sqrt(N)
    p = {}
    p["m"] = rng.uniform(-s, s, (N, R))
    p["n"] = rng.uniform(-s, s, (N, R))
    if opts.activation == "clipped_relu":
        p["h"] = rng.uniform(0.0, 2 * s, N)
    else:
        p["h"] = rng.uniform(-s, s, N)
    p["a"] = np.full(R, 0.9)
    p["W_u"] = rng.uniform(-s, s, (N, U))
    p["L_z"] = 0.1 * np.eye(R)
    p["mu0"] = np.zeros(R)
    p["L_0"] = np.eye(R)
    p["W"] = rng.uniform(-1 / np.sqrt(R), 1 / np.sqrt(R), shapes["W"])
    p["b"] = np.zeros(D)
    p["W_v"] = rng.uniform(-s, s, shapes["W_v"])
    p["gain"] = np.ones(shapes["gain"])
    p["sigma"] = np.ones(shapes["sigma"])
    p["enc"] = init_encoder(opts.encoder, D, R, rng) if opts.encoder is not None else np.zeros(0)
    return Params(**{k: np.asarray(p[k], dtype=np.float64).reshape(shapes[k]) for k in BLOCKS})


def _tril_rows(R):
    """Row/column indices of the strict lower triangle, row by row."""
    rows, cols = np.tril_indices(R, -1)
    return rows, cols


def _chol_to_flat(L, kind):
    d = np.log(np.diag(L))
    if kind == "diag":
        return d
    r, c = _tril_rows(L.shape[0])
    return np.concatenate([d, L[r, c]])


def _chol_from_flat(v, R, kind):
    # autograd-friendly: build L by a fixed gather, no in-place writes.
    d = anp.exp(v[:R])
    if kind == "diag":
        return anp.diag(d)
    vals = anp.concatenate([v[R:], anp.zeros(1)])
    idx = np.full((R, R), len(vals) - 1)
    r, c = _tril_rows(R)
    idx[r, c] = np.arange(len(r))
    return vals[idx] + anp.diag(d)


def to_flat(params: Params, opts: ModelOptions) -> np.ndarray:
    """Constrained ``Params`` -> unconstrained flat vector (float64, ``n_params(opts)``)."""
    _check_constraints(params, opts)
    parts = []
    for k in BLOCKS:
        x = np.asarray(getattr(params, k), dtype=np.float64)
        if k == "a":
            x = np.log(x) - np.log1p(-x)
            x = x[:1] if opts.shared_leak else x
        elif k == "L_z":
            x = _chol_to_flat(x, opts.noise)
        elif k == "L_0":
            x = _chol_to_flat(x, opts.init_noise)
        elif k == "sigma":
            x = np.log(x)
        parts.append(np.ravel(x))
    return np.concatenate(parts)


def from_flat(theta, opts: ModelOptions) -> Params:
    """Unconstrained flat vector -> constrained ``Params``.

    Written with ``autograd.numpy`` so that reference implementations can be
    differentiated through it; with a plain ndarray it returns plain ndarrays.
    """
    theta = anp.asarray(theta) if not hasattr(theta, "_value") else theta
    if len(theta) != n_params(opts):
        raise ValueError(f"theta must have length n_params={n_params(opts)}; got {len(theta)}")
    shapes = block_shapes(opts)
    sl = flat_slices(opts)
    R = opts.rank
    out = {}
    for k in BLOCKS:
        v = theta[sl[k]]
        if k == "a":
            a = 1.0 / (1.0 + anp.exp(-v))
            out[k] = a * anp.ones(R) if opts.shared_leak else a
        elif k == "L_z":
            out[k] = _chol_from_flat(v, R, opts.noise)
        elif k == "L_0":
            out[k] = _chol_from_flat(v, R, opts.init_noise)
        elif k == "sigma":
            out[k] = anp.exp(v)
        else:
            out[k] = anp.reshape(v, shapes[k])
    return Params(**out)


def grad_to_flat(params: Params, grads: Params, opts: ModelOptions) -> np.ndarray:
    """Chain rule: gradient w.r.t. constrained blocks -> w.r.t. the flat vector.

    ``grads`` holds d(objective)/d(block) for every block, same shapes as
    ``params`` (the full R×R matrix for Cholesky factors; entries above the
    diagonal, and off the diagonal for ``diag`` noise, are ignored).
    """
    parts = []
    for k in BLOCKS:
        g = np.asarray(getattr(grads, k), dtype=np.float64)
        x = np.asarray(getattr(params, k), dtype=np.float64)
        if k == "a":
            g = g * x * (1.0 - x)
            g = np.array([g.sum()]) if opts.shared_leak else g
        elif k in ("L_z", "L_0"):
            kind = opts.noise if k == "L_z" else opts.init_noise
            gd = np.diag(g) * np.diag(x)
            if kind == "diag":
                g = gd
            else:
                r, c = _tril_rows(x.shape[0])
                g = np.concatenate([gd, g[r, c]])
        elif k == "sigma":
            g = g * x
        parts.append(np.ravel(g))
    return np.concatenate(parts)


def _check_constraints(params: Params, opts: ModelOptions):
    shapes = block_shapes(opts)
    for k in BLOCKS:
        x = np.asarray(getattr(params, k))
        if x.shape != shapes[k]:
            raise ValueError(f"parameter {k} must have shape {shapes[k]}; got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"parameter {k} contains NaN or inf")
    if np.any((params.a <= 0) | (params.a >= 1)):
        raise ValueError(f"leak a must lie in (0, 1); got {params.a}")
    if opts.shared_leak and np.ptp(params.a) > 0:
        raise ValueError(f"shared_leak=True needs equal leaks; got {params.a}")
    for k, kind in (("L_z", opts.noise), ("L_0", opts.init_noise)):
        L = getattr(params, k)
        if np.any(np.triu(L, 1) != 0) or np.any(np.diag(L) <= 0):
            raise ValueError(f"{k} must be lower-triangular with a positive diagonal")
        if kind == "diag" and np.any(np.tril(L, -1) != 0):
            raise ValueError(f"{k} must be diagonal for {'noise' if k == 'L_z' else 'init_noise'}='diag'")
    if opts.likelihood == "gaussian" and np.any(params.sigma <= 0):
        raise ValueError("sigma must be positive")


def check_params(params: Params, opts: ModelOptions) -> Params:
    """Validate shapes, finiteness and constraints; return float64 copies."""
    if not isinstance(params, Params):
        raise TypeError(f"params must be a lowrank Params; got {type(params).__name__}")
    p = Params(*(np.ascontiguousarray(x, dtype=np.float64) for x in params))
    _check_constraints(p, opts)
    return p
