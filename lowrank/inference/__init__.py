"""Inference at the numpy level: the SMC objective and the posterior.

- :mod:`.elbo`       check the inputs, pack the kernels' arguments, run the
                     compiled forward and backward passes, package the result
- :mod:`.encoder`    the encoder proposal's Gaussian and its adjoint (numpy level)
- :mod:`.posterior`  filtering, smoothing, the held-out score and prediction
"""
