"""Same seed, same numbers, whatever NUMBA_NUM_THREADS is (run in subprocesses)."""
import hashlib
import os
import subprocess
import sys

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
