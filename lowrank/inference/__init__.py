"""Compiled kernels for inference (Numba). Plain arrays and integer codes only.

Modules, one job each:

- :mod:`.activations`  phi and its slopes by activation code
- :mod:`.resampling`   log-sum-exp, ESS, systematic/stratified/multinomial resampling
- :mod:`.transition`   transition mean ``a z + nᵀ phi(m z + W_u v - h)`` and its adjoint
- :mod:`.observation`  read-out means, Gaussian/Poisson log-likelihoods and adjoints
- :mod:`.proposal`     optimal-proposal set-up (P, L_P, Woodbury terms) and its adjoint
- :mod:`.smc_forward`  the particle filter (one sequence per thread)
- :mod:`.smc_backward` hand-written reverse mode of the filter

The public entry point is :func:`lowrank.smc.elbo`.
"""
import hashlib
import os


def _drop_stale_numba_cache():
    # Numba's on-disk cache is keyed on the source file of each cached
    # function only: editing a callee in another module (activations.py,
    # say) would leave the smc kernels' cache stale and silently wrong.
    # Key the whole package's cache on a hash of all its sources instead.
    from ..config import CACHE

    if not CACHE or os.environ.get("NUMBA_CACHE_DIR"):
        return
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        h = hashlib.sha256()
        for path in sorted([os.path.join(here, f) for f in os.listdir(here) if f.endswith(".py")]
                           + [os.path.join(os.path.dirname(here), "config.py")]):
            with open(path, "rb") as fh:
                h.update(os.path.basename(path).encode() + b"\0" + fh.read())
        digest = h.hexdigest()
        cache = os.path.join(here, "__pycache__")
        stamp = os.path.join(cache, "lowrank_sources.sha256")
        if os.path.exists(stamp):
            with open(stamp) as fh:
                if fh.read().strip() == digest:
                    return
        if os.path.isdir(cache):
            for f in os.listdir(cache):
                if f.endswith((".nbi", ".nbc")):
                    os.remove(os.path.join(cache, f))
        os.makedirs(cache, exist_ok=True)
        with open(stamp, "w") as fh:
            fh.write(digest)
    except OSError:
        pass  # read-only install or a concurrent start: Numba still works, just recompiles


_drop_stale_numba_cache()

from .resampling import RESAMPLE_CODE, ess, logsumexp, resample  # noqa: E402
