"""Independent reference implementations used as test oracles.

``smc_numpy``: the forward pass of docs/smc.md in plain (autograd-)numpy, so
that ``autograd`` gives the gradient the hand-written kernels must match.
``kalman``: the exact log-likelihood of a linear-Gaussian model.
"""
