"""Library-wide settings for the compiled kernels.

``FASTMATH`` is the set of LLVM fast-math flags given to every ``numba.njit``
kernel. It deliberately omits ``nnan`` and ``ninf``: a log-sum-exp over
all ``-inf`` log-weights must stay ``-inf`` (and be reported), not turn
into NaN.
"""
import os

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Cache compiled kernels on disk so a second Python process starts fast.
# Set LOWRANK_NUMBA_CACHE=0 to switch it off (e.g. on read-only installs).
CACHE = os.environ.get("LOWRANK_NUMBA_CACHE", "1") != "0"
