"""Variational SMC: the ELBO of a low-rank RNN and its hand-written gradient.

The public home of :func:`elbo` (``lowrank.smc.elbo``); the implementation
is :mod:`lowrank.inference.elbo`, the conventions are in ``docs/smc.md``.
"""
from .inference.elbo import SMCDegeneracyError, SMCResult, elbo, prepare, valid_proposals

__all__ = ["elbo", "SMCResult", "SMCDegeneracyError", "prepare", "valid_proposals"]
