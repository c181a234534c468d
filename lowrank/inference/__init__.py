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


def drop_stale_numba_cache(sources, caches, stamp):
    """Delete cached Numba kernels when any of ``sources`` changed since the last call.

    Numba's on-disk cache is keyed on the source file of each cached function
    only: editing a callee in another module (``activations.py``, say) would
    leave the kernels that inline it stale and silently wrong. So the caches
    are keyed on a hash of every source they may depend on instead.

    Parameters
    ----------
    sources : list of str
        Source files whose contents key the cache.
    caches : list of (str, str)
        ``(folder, prefix)``: cached kernels ``<prefix>*.nbi`` / ``*.nbc`` in
        ``folder`` are deleted when the hash changes ("" for every file).
    stamp : str
        File holding the hash of the last sources seen.
    """
    h = hashlib.sha256()
    for path in sorted(sources):
        with open(path, "rb") as fh:
            h.update(os.path.basename(path).encode() + b"\0" + fh.read())
    digest = h.hexdigest()
    if os.path.exists(stamp):
        with open(stamp) as fh:
            if fh.read().strip() == digest:
                return False
    for folder, prefix in caches:
        if os.path.isdir(folder):
            for f in os.listdir(folder):
                if f.startswith(prefix) and f.endswith((".nbi", ".nbc")):
                    os.remove(os.path.join(folder, f))
    os.makedirs(os.path.dirname(stamp), exist_ok=True)
    with open(stamp, "w") as fh:
        fh.write(digest)
    return True


def _drop_stale_numba_cache():
    from ..config import CACHE

    if not CACHE or os.environ.get("NUMBA_CACHE_DIR"):
        return
    here = os.path.dirname(os.path.abspath(__file__))
    package = os.path.dirname(here)
    # model/dynamics.py's simulation kernel inlines activations.phi: same key, same fate.
    dynamics = os.path.join(package, "model", "dynamics.py")
    sources = ([os.path.join(here, f) for f in os.listdir(here) if f.endswith(".py")]
               + [os.path.join(package, "config.py"), dynamics])
    caches = [(os.path.join(here, "__pycache__"), ""),
              (os.path.join(package, "model", "__pycache__"), "dynamics.")]
    try:
        drop_stale_numba_cache(sources, caches, os.path.join(here, "__pycache__", "lowrank_sources.sha256"))
    except OSError:
        pass  # read-only install or a concurrent start: Numba still works, just recompiles


_drop_stale_numba_cache()

from .resampling import RESAMPLE_CODE, ess, logsumexp, resample  # noqa: E402
