"""Every file lowrank writes is replaced atomically: a writer killed at any moment leaves the old
file or the new one, never a torn one, and its temporaries are cleaned up by the next write."""
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

import lowrank
from lowrank.cli import main

TMP_SUFFIX = ".lowrank-tmp"

# Saves versions k = start, start + 1, ... of one ~4 MB model to the same path, forever.
WRITER = r"""
import sys
import numpy as np
import lowrank
path, start = sys.argv[1], int(sys.argv[2])
model = lowrank.LowRankRNN(100_000, 2, 5, seed=0)
base_b = model.params.b
print("ready", flush=True)
k = start
while True:
    model.params = model.params._replace(b=np.full(5, float(k)))
    model.save(path)
    k += 1
"""


def _temporaries(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(TMP_SUFFIX))


@pytest.mark.slow
def test_a_writer_killed_at_random_moments_never_leaves_a_torn_model(tmp_path):
    path = tmp_path / "model.npz"
    reference = lowrank.LowRankRNN(100_000, 2, 5, seed=0)
    reference.params = reference.params._replace(b=np.zeros(5))
    reference.save(path)                                        # version 0
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(lowrank.__file__)))
    rng = np.random.default_rng(20240613)
    start, seen_torn_writes, newest = 1, 0, 0
    for _ in range(20):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(start)], stdout=subprocess.PIPE,
                                env=env, cwd=tmp_path)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        seen_torn_writes += bool(_temporaries(tmp_path))        # killed in the middle of a write
        loaded = lowrank.LowRankRNN.load(path)                  # always a whole file ...
        k = loaded.params.b[0]
        np.testing.assert_array_equal(loaded.params.b, np.full(5, k))
        assert k == int(k) and newest <= k < start + 10_000     # ... one of the versions written ...
        for name in ("m", "n", "h", "a", "L_z", "W", "sigma"):  # ... and all of that version
            np.testing.assert_array_equal(getattr(loaded.params, name), getattr(reference.params, name))
        newest, start = int(k), start + 10_000
    assert seen_torn_writes >= 1, "no kill landed during a write: the test proved nothing"
    reference.save(path)                                        # the next write cleans up
    assert _temporaries(tmp_path) == []


def test_stale_temporaries_are_removed_by_the_next_write(tmp_path):
    path = tmp_path / "m.npz"
    dead = tmp_path / f".m.npz.{2**22 + 12345}.abc{TMP_SUFFIX}"            # above any pid_max: no such process
    ours = tmp_path / f".m.npz.{os.getpid()}.def{TMP_SUFFIX}"              # an earlier failed write of ours
    live = tmp_path / f".m.npz.1.ghi{TMP_SUFFIX}"                          # pid 1 runs: maybe writing now
    other = tmp_path / f".other.npz.{2**22 + 12345}.jkl{TMP_SUFFIX}"       # another destination's
    for p in (dead, ours, live, other):
        p.write_bytes(b"half a file")
    lowrank.LowRankRNN(5, 1, 2).save(path)
    assert not dead.exists() and not ours.exists()
    assert live.exists() and other.exists()
    assert lowrank.LowRankRNN.load(path).options.n_units == 5


def test_new_files_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        lowrank.LowRankRNN(5, 1, 2).save(tmp_path / "m.npz")
        assert stat.S_IMODE(os.stat(tmp_path / "m.npz").st_mode) == 0o644
        os.chmod(tmp_path / "m.npz", 0o600)
        lowrank.LowRankRNN(5, 1, 2).save(tmp_path / "m.npz")               # a replaced file keeps its mode
        assert stat.S_IMODE(os.stat(tmp_path / "m.npz").st_mode) == 0o600
    finally:
        os.umask(old)


def _failing_halfway(fname, *args, **kwargs):
    """A writer (``np.savez``, ``Figure.savefig``) that dies halfway: a full disk."""
    if isinstance(fname, (str, os.PathLike)):
        with open(fname, "wb") as fh:
            return _failing_halfway(fh)
    fname.write(b"PK\x03\x04 the first bytes of a file that never gets finished")
    raise OSError(28, "No space left on device")


def test_cli_data_outputs_are_written_atomically(tmp_path, capsys, monkeypatch):
    out, fresh = tmp_path / "data.npz", tmp_path / "fresh.npz"
    assert main(["simulate", "--trials", "2", "--steps", "10", "--out", str(out)]) == 0
    before = out.read_bytes()
    monkeypatch.setattr(np, "savez", _failing_halfway)
    assert main(["simulate", "--trials", "3", "--steps", "10", "--out", str(fresh)]) != 0
    assert "No space left on device" in capsys.readouterr().err
    assert not fresh.exists()                                   # no torn file where there was none ...
    rc = main(["simulate", "--trials", "3", "--steps", "10", "--out", str(out), "--force"])
    assert rc != 0 and "No space left on device" in capsys.readouterr().err
    assert out.read_bytes() == before                           # ... and the old file where there was one
    assert _temporaries(tmp_path) == []


@pytest.mark.slow
def test_cli_figures_are_written_atomically(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure
    p, png, fresh = tmp_path / "bistable.npz", tmp_path / "fp.png", tmp_path / "fresh.png"
    lowrank.teachers.get("bistable").model.save(p)
    assert main(["fixed-points", str(p), "--plot", str(png)]) == 0
    before = png.read_bytes()
    monkeypatch.setattr(Figure, "savefig", lambda self, fname, **kw: _failing_halfway(fname))
    assert main(["fixed-points", str(p), "--plot", str(fresh)]) != 0
    assert "No space left on device" in capsys.readouterr().err
    assert not fresh.exists()
    rc = main(["fixed-points", str(p), "--plot", str(png), "--force"])
    assert rc != 0 and "No space left on device" in capsys.readouterr().err
    assert png.read_bytes() == before and _temporaries(tmp_path) == []
