"""Every compiled (Numba) function of lowrank: arrays, integer codes, and NamedTuples of them.

Modules, one job each:

- :mod:`.activations`   φ and its slopes by activation code
- :mod:`.resampling`    log-sum-exp, ESS, systematic/stratified/multinomial resampling
- :mod:`.transition`    transition mean ``a z + nᵀ φ(m z + W_u v − h)`` and its adjoint
- :mod:`.observation`   read-out means, Gaussian/Poisson log-likelihoods and adjoints
- :mod:`.proposal`      optimal-proposal set-up (P, L_P, Woodbury terms) and its adjoint
- :mod:`.smc_args`      the named structures the SMC kernels take (codes, data, draws,
                        parameters, proposal, records, the gradient buffer's layout)
- :mod:`.smc_forward`   the particle filter (one sequence per thread)
- :mod:`.smc_backward`  hand-written reverse mode of the filter
- :mod:`.threads`       one GIL-free kernel per thread over interleaved sequences
- :mod:`.simulate`      the latent dynamics run forward from given noise
- :mod:`.encoder`       the encoder proposal's convolutional network and its reverse mode
- :mod:`.encoder_proposal` the encoder proposal's particle moves and weights, and their adjoint
- :mod:`.normals`       standard normals from uniforms (Box–Muller), vectorised
- :mod:`.arrangement`   region enumeration of a hyperplane arrangement (fixed points)
- :mod:`.vmath`         branch-free exp/log/softplus and the Poisson log-likelihood, vectorised by LLVM

Randomness never originates here: callers draw every normal and uniform
(docs/design.md §4). The numpy-level entry points are
:func:`lowrank.smc.elbo`, :mod:`lowrank.inference.posterior` and
:mod:`lowrank.fixed_points`.
"""
from ._cache import drop_stale_kernels

drop_stale_kernels()
