"""``bench/gpu.py --dry-run`` runs end to end in the simulator and writes its figures."""
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_gpu_benchmark_dry_run():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    out = subprocess.run([sys.executable, "bench/gpu.py", "--dry-run", "--config", "eeg_pop20"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "eeg_pop20" in out.stdout and "wrote" in out.stdout
    with open(os.path.join(ROOT, "bench", "results", "gpu_dry_run.json")) as fh:
        res = json.load(fh)
    (r,) = res["records"]
    assert res["dry_run"] and r["name"] == "eeg_pop20" and r["M"] == 2
    assert r["kernel_ms"] > 0 and r["step_ms"] > 0 and r["cpu_ms"] > 0
