"""Random small models of any configuration, for the tests.

``random_params(opts, rng)`` draws a small, well-conditioned model of any
configuration (scales chosen so particles neither collapse nor explode over
a few steps); ``random_inputs`` and ``make_options`` are the matching
helpers. A module of its own (not conftest.py), so that test modules in
folders with their own conftest.py can import it by a name that is not
shadowed: ``from factories import random_params``.
"""
from __future__ import annotations

import numpy as np

from lowrank.model.options import ModelOptions
from lowrank.model.encoder import init_encoder
from lowrank.model.params import Params, block_shapes


def make_options(**kw) -> ModelOptions:
    """ModelOptions from keyword arguments with small defaults."""
    base = dict(n_units=6, rank=2, n_obs=3)
    base.update(kw)
    return ModelOptions(**base)


def random_params(opts: ModelOptions, rng, *, noise_scale=(0.3, 0.7), sigma_range=(0.5, 1.0)) -> Params:
    """A random model for ``opts`` with all blocks generic (no zeros, no symmetries)."""
    rng = np.random.default_rng(rng)
    N, R, D, U = opts.n_units, opts.rank, opts.n_obs, opts.n_inputs
    shapes = block_shapes(opts)

    def chol(kind, diag_range, off):
        L = np.diag(rng.uniform(*diag_range, R))
        if kind == "full":
            L = L + np.tril(rng.normal(0.0, off, (R, R)), -1)
        return L

    if opts.shared_leak:
        a = np.full(R, rng.uniform(0.5, 0.95))
    else:
        a = rng.uniform(0.5, 0.95, R)
    if opts.activation == "clipped_relu":
        # thresholds positive and O(1) so the linear range [0, h] is actually visited
        h = rng.uniform(0.3, 1.2, N)
    else:
        h = rng.uniform(-0.5, 0.5, N)
    p = dict(
        m=rng.normal(0.0, 1.0, (N, R)),
        n=rng.normal(0.0, 1.0 / np.sqrt(N), (N, R)),
        h=h,
        a=a,
        W_u=rng.normal(0.0, 0.5, (N, U)),
        L_z=chol(opts.noise, noise_scale, 0.15),
        mu0=rng.normal(0.0, 0.5, R),
        L_0=chol(opts.init_noise, (0.5, 1.0), 0.2),
        W=rng.normal(0.0, 1.0 / np.sqrt(R), shapes["W"]),
        b=rng.normal(0.0, 0.3, D),
        W_v=rng.normal(0.0, 0.3, shapes["W_v"]),
        gain=rng.uniform(0.5, 1.5, shapes["gain"]),
        sigma=rng.uniform(*sigma_range, shapes["sigma"]),
        enc=init_encoder(opts.encoder, D, R, rng) if opts.encoder is not None else np.zeros(0),
    )
    return Params(**{k: np.asarray(v, dtype=np.float64).reshape(shapes[k]) for k, v in p.items()})


def random_inputs(opts: ModelOptions, n_seq, T, rng):
    """Inputs (n_seq, T, U), or None for a model without inputs."""
    if opts.n_inputs == 0:
        return None
    return np.random.default_rng(rng).normal(0.0, 1.0, (n_seq, T, opts.n_inputs))
