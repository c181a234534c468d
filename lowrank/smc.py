"""Variational SMC: the ELBO of a low-rank RNN and its hand-written gradient.

The public home of :func:`elbo` (``lowrank.smc.elbo``) and of
:func:`elbo_many` (many calls, on the GPU as one population); the
implementation is :mod:`lowrank.inference.elbo`, the conventions are in
``docs/smc.md``. ``device="cuda"`` without numba-cuda or a GPU raises
:class:`CUDAUnavailableError`.
"""
from .inference.device import CUDAUnavailableError
from .inference.elbo import SMCDegeneracyError, SMCResult, elbo, prepare, valid_proposals
from .inference.population import elbo_many

__all__ = ["elbo", "elbo_many", "SMCResult", "SMCDegeneracyError", "CUDAUnavailableError", "prepare",
           "valid_proposals"]
