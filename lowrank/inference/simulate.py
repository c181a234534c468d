"""Latent trajectories of a model run forward from given start states and noise."""
from __future__ import annotations

import numpy as np

from ..model.codes import ACTIVATION_CODE
from .device import device_kernels


def run_latents(params, options, start, eps, v, noise_scale=1.0, device="cpu"):
    """Latents ``z`` (B, T, R) of B independent chains.

    Parameters
    ----------
    params : Params
    options : ModelOptions
    start : (B, R) initial states ``z_0``.
    eps : (B, T, R) standard normals; row ``t`` drives step t → t+1 (the last is unused).
    v : (B, T, U) fed inputs.
    noise_scale : float
        Multiplies the latent noise (0: the noise-free dynamics).
    device : {"cpu", "cuda"}
    """
    p = params
    simulate = device_kernels(device).simulate
    return simulate(np.ascontiguousarray(start), np.ascontiguousarray(eps), np.ascontiguousarray(v),
                    np.ascontiguousarray(p.m.T), np.ascontiguousarray(p.n.T), p.h, p.a, p.W_u, p.L_z,
                    float(noise_scale), ACTIVATION_CODE[options.activation])
