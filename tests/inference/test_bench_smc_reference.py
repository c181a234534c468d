"""``bench/smc.py --reference``: the reference's step interleaved with ours and the ratio of the
medians recorded, with a stand-in for the reference's harness (the real one needs PyTorch and the
paper's code, ../shared/reference-step); without the environment it says so and times ours alone."""
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Prints what time_ref_step.py prints (one JSON line with ms_median) and logs how it was called.
FAKE_HARNESS = """import json, sys
with open(sys.argv[0] + ".calls", "a") as fh:
    fh.write(" ".join(sys.argv[1:]) + "\\n")
print("warming up")
print(json.dumps({"name": sys.argv[sys.argv.index("--config") + 1], "ms_median": 100.0}))
"""


def _run(tmp_path, env, *args):
    out = tmp_path / "smc.json"
    cmd = [sys.executable, "bench/smc.py", "--calls", "20", "--out", str(out), *args]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    with open(out) as fh:
        return res.stdout, {r["name"]: r for r in json.load(fh)}


def test_the_reference_step_is_interleaved_and_the_ratio_recorded(tmp_path):
    refenv, refdir = tmp_path / "refenv", tmp_path / "smc_ref"
    (refenv / "bin").mkdir(parents=True)
    os.symlink(sys.executable, refenv / "bin" / "python")
    (refdir / "vi_rnn").mkdir(parents=True)
    (refdir / "vi_rnn" / "vae.py").write_text("")
    script = tmp_path / "time_ref_step.py"
    script.write_text(FAKE_HARNESS)
    env = dict(os.environ, REFENV=str(refenv), SMC_REF_DIR=str(refdir), SMC_REF_SCRIPT=str(script))
    stdout, recs = _run(tmp_path, env, "--reference", "--config", "eeg", "--config", "spikes_bootstrap")
    eeg = recs["eeg"]
    inter = eeg["reference_interleaved"]
    assert inter["reference_config"] == eeg["reference_config"] == "eeg_opt_k10"
    assert inter["rounds_ms_reference"] == [100.0, 100.0] and eeg["reference_ms"] == [100.0, 100.0]
    assert len(inter["rounds_ms_lowrank"]) == 2 and all(t > 0 for t in inter["rounds_ms_lowrank"])
    ours = sorted(inter["rounds_ms_lowrank"])
    assert abs(eeg["reference_ratio"] - 100.0 / (0.5 * (ours[0] + ours[1]))) < 1e-9
    assert "ratio of medians" in stdout
    calls = (tmp_path / "time_ref_step.py.calls").read_text().splitlines()
    assert len(calls) == 2 and all(c.startswith("--config eeg_opt_k10 --threads ") for c in calls)
    # A configuration the reference does not mirror: nothing measured, nothing claimed.
    other = recs["spikes_bootstrap"]
    assert other["reference_config"] is None and other["reference_ms"] is None and other["reference_ratio"] is None


def test_without_the_reference_it_says_so_and_times_ours_alone(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REFENV", "SMC_REF_DIR", "SMC_REF_SCRIPT")}
    stdout, recs = _run(tmp_path, env, "--reference", "--config", "eeg")
    assert "the reference step is absent (REFENV and SMC_REF_DIR are not both set" in stdout
    assert recs["eeg"]["reference_ratio"] is None and recs["eeg"]["ms_median"] > 0
