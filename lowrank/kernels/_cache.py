"""Keeping Numba's on-disk cache honest across edits of inlined callees.

Numba keys a cached kernel on its own source file only. The SMC kernels
inline functions from sibling modules (``activations.phi`` into
``smc_forward``, say), so editing a callee would leave the callers' cached
machine code stale and silently wrong. :func:`drop_stale_kernels` runs once,
when :mod:`lowrank.kernels` is first imported and before any kernel is
compiled or loaded: it hashes every source of this package (and the few
sources outside it that kernels import, :data:`OUTSIDE_SOURCES`) and removes
the cached kernels when the hash differs from the stamp of the last run.
"""
import hashlib
import os

from ..config import CACHE


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


# The sources outside this folder that kernels read at compile time (Numba freezes their
# module-level constants into the machine code), relative to the package root:
# the fast-math flags, the option codes, the encoder's layout and leaky-ReLU slope.
OUTSIDE_SOURCES = ("config.py", os.path.join("model", "codes.py"), os.path.join("model", "encoder.py"))


def kernel_sources():
    """The files whose contents the compiled kernels depend on: this folder's sources and
    :data:`OUTSIDE_SOURCES` (``config.py``, ``model/codes.py``, ``model/encoder.py``)."""
    here = os.path.dirname(os.path.abspath(__file__))
    package = os.path.dirname(here)
    return ([os.path.join(here, f) for f in os.listdir(here) if f.endswith(".py")]
            + [os.path.join(package, f) for f in OUTSIDE_SOURCES])


def sources_digest():
    """SHA-256 over :func:`kernel_sources` (names and contents), as hex."""
    h = hashlib.sha256()
    for path in sorted(kernel_sources()):
        with open(path, "rb") as fh:
            h.update(os.path.basename(path).encode() + b"\0" + fh.read())
    return h.hexdigest()


def cache_folder():
    """Where the kernels' compiled code is cached: this folder's ``__pycache__``, or
    ``NUMBA_CACHE_DIR``; None when caching is off."""
    if not CACHE:
        return None
    custom = os.environ.get("NUMBA_CACHE_DIR")
    return custom or os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")


def drop_stale_kernels():
    """Apply :func:`drop_stale_numba_cache` to this package's kernels.

    Every cached kernel lives in this folder, so one stamp over
    :func:`kernel_sources` covers them all.
    """
    if not CACHE or os.environ.get("NUMBA_CACHE_DIR"):
        return
    folder = cache_folder()
    try:
        drop_stale_numba_cache(kernel_sources(), [(folder, "")], os.path.join(folder, "lowrank_sources.sha256"))
    except OSError:
        pass  # read-only install or a concurrent start: Numba still works, just recompiles
