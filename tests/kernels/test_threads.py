"""Same seed, same numbers, whatever NUMBA_NUM_THREADS is (run in subprocesses)."""
import os
import subprocess
import sys

import numba

SCRIPT = r"""
import hashlib, numpy as np, lowrank
m = lowrank.LowRankRNN(64, 3, 8, activation='clipped_relu', n_inputs=2, filter_inputs=True, seed=1)
s = m.sample(7, 120, inputs=np.ones((7, 120, 2)), seed=5)
print(hashlib.sha256(s.z.tobytes() + s.y.tobytes()).hexdigest())
"""


def run_with_threads(n, script):
    env = dict(os.environ, NUMBA_NUM_THREADS=str(n))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_sample_identical_across_thread_counts():
    assert run_with_threads(1, SCRIPT) == run_with_threads(2, SCRIPT)


def test_no_kernel_of_an_elbo_call_opens_a_parallel_region():
    """The SMC step's kernels (draws, encoder, filter, reverse mode) run on :mod:`lowrank.kernels.threads`'
    pool, never in a ``prange`` loop: Numba's OpenMP threads spin for a while after a parallel region,
    and the sequences' threads that follow would share their cores with them."""
    import lowrank.kernels.encoder as encoder
    import lowrank.kernels.normals as normals
    import lowrank.kernels.smc_backward as backward
    import lowrank.kernels.smc_forward as forward

    dispatchers = [obj for mod in (normals, encoder, forward, backward) for obj in vars(mod).values()
                   if isinstance(obj, numba.core.registry.CPUDispatcher)]
    assert forward.filter_sequences in dispatchers and backward.differentiate_sequences in dispatchers
    assert [d.py_func.__name__ for d in dispatchers if d.targetoptions.get("parallel")] == []
