"""The SMC's random numbers, drawn from a seed (docs/smc.md, "Draws").

Every random number of an ELBO call is drawn here, in Python, from a
``numpy.random.Generator``; the kernels only read them, so a seed gives
the same numbers whatever the thread count or device. In this order:

1. ``2m`` uniforms ``u = rng.random(2m)``, ``m = ⌈S·T·K·R / 2⌉``, turned
   into standard normals by the Box–Muller map
   (:mod:`lowrank.kernels.normals`: ``u[i]`` with ``u[m + i]`` gives
   normals ``i`` and ``m + i``); the first ``S·T·K·R`` of them, in C order,
   are ``eps`` (S, T, K, R);
2. ``unif = rng.random((S, T, K))``.

Box–Muller rather than numpy's ``standard_normal``: uniforms cost a fifth
of numpy's normals, and the map runs vectorised on every core.
"""
import numpy as np

from ..kernels.normals import box_muller
from ..kernels.smc_args import Draws
from .workspace import FRESH


def standard_normals(rng, shape, alloc=FRESH, name="normals"):
    """Standard normals of ``shape`` from ``rng`` (a ``numpy.random.Generator``), by step 1
    of the module docstring. ``alloc``: where the array comes from (:mod:`.workspace`)."""
    n = int(np.prod(shape, dtype=np.int64))
    m = (n + 1) // 2
    u = alloc.empty(name, (2 * m,))
    rng.random(out=u)
    box_muller(u)
    return u[:n].reshape(shape)


def smc_draws(seed, n_seq, T, K, R, alloc=FRESH):
    """The draws of an ELBO call: :class:`~lowrank.kernels.smc_args.Draws` ``eps``
    (n_seq, T, K, R) and ``unif`` (n_seq, T, K).

    Parameters
    ----------
    seed : int, None or numpy Generator
        ``numpy.random.default_rng(seed)`` draws them (a Generator is used, and advanced, as it is).
    n_seq, T, K, R : int
    alloc : optional
        Where the arrays come from (:mod:`.workspace`); by default new arrays.
    """
    rng = np.random.default_rng(seed)
    eps = standard_normals(rng, (n_seq, T, K, R), alloc, "draws.eps")
    unif = alloc.empty("draws.unif", (n_seq, T, K))
    rng.random(out=unif)
    return Draws(eps, unif)
