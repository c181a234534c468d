"""Where the kernels run: ``device="cpu"`` (the Numba CPU kernels) or ``"cuda"`` (their
``numba.cuda`` twins in :mod:`lowrank.kernels.cuda`, an optional extra).

The CUDA twins take the same named structures and fill the same records as the
CPU kernels, from the same host-drawn random numbers, so a caller switches
device by switching functions. Asking for ``"cuda"`` without numba-cuda or
without a usable GPU raises :class:`CUDAUnavailableError` saying what is
missing; there is no silent fallback to the CPU.
"""
from __future__ import annotations

import importlib.util
from typing import Callable, NamedTuple

from .._checks import check_choice

__all__ = ["DEVICES", "CUDAUnavailableError", "Kernels", "check_device", "device_kernels", "cuda_launch"]

DEVICES = ("cpu", "cuda")


class CUDAUnavailableError(RuntimeError):
    """``device="cuda"`` was asked for, but numba-cuda or a usable GPU is missing.

    ``device="cuda"`` never falls back to the CPU by itself; a caller that wants that catches this.

    Examples
    --------
    >>> def elbo_anywhere(model, y):
    ...     try:
    ...         return lowrank.smc.elbo(model, y, device="cuda")
    ...     except lowrank.smc.CUDAUnavailableError:        # no numba-cuda, or no GPU
    ...         return lowrank.smc.elbo(model, y)
    >>> model = lowrank.LowRankRNN(n_units=8, rank=2, n_obs=3, seed=0)
    >>> elbo_anywhere(model, model.sample(2, 20, seed=1).y).elbo.shape
    (2,)
    """


class Kernels(NamedTuple):
    """One device's kernels, with the CPU kernels' signatures.

    Fields
    ------
    forward : ``(codes, seqs, draws, model, prop, rec)``, see :func:`lowrank.kernels.smc_forward.smc_forward`
    backward : ``(codes, seqs, draws, model, prop, rec, lay, gbuf, dsteps)``, see
        :func:`lowrank.kernels.smc_backward.smc_backward`
    simulate : ``(z0, eps, v, mT, nT, h, a, W_u, L_z, noise_scale, act) -> z``, see
        :func:`lowrank.kernels.simulate.simulate_latents`
    """

    forward: Callable
    backward: Callable
    simulate: Callable


def check_device(device):
    """``device`` checked: one of :data:`DEVICES`."""
    return check_choice("device", device, DEVICES)


def cuda_launch():
    """The CUDA kernels' package (:mod:`lowrank.kernels.cuda`: host wrappers, stacking), or
    :class:`CUDAUnavailableError`."""
    if importlib.util.find_spec("numba_cuda") is None:
        raise CUDAUnavailableError('device="cuda" needs numba-cuda, which is not installed: '
                                   'pip install "lowrank[cuda]"')
    from numba import cuda
    if not cuda.is_available():
        raise CUDAUnavailableError('device="cuda" found no usable NVIDIA GPU (numba.cuda.is_available() is False: '
                                   'no GPU, or no NVIDIA driver; numba.cuda.detect() says more)')
    from ..kernels import cuda as kernels
    return kernels


def device_kernels(device) -> Kernels:
    """The :class:`Kernels` of ``device`` (``"cpu"`` or ``"cuda"``)."""
    if check_device(device) == "cpu":
        from ..kernels.simulate import simulate_latents
        from ..kernels.smc_backward import smc_backward
        from ..kernels.smc_forward import smc_forward
        return Kernels(smc_forward, smc_backward, simulate_latents)
    launch = cuda_launch()
    return Kernels(launch.smc_forward_cuda, launch.smc_backward_cuda, launch.simulate_latents_cuda)
