"""Fits in lockstep (the machinery of ``fit_many(device="cuda")``), run here on the CPU: each fit's
numbers are those of the same fit run alone, fits that stop early leave the barrier, failures stay
with their fit; and the device checks."""
import numpy as np
import pytest

import lowrank
from lowrank.inference.device import CUDAUnavailableError, device_kernels
from lowrank.model.params import to_flat
from lowrank.training.lockstep import Lockstep


def _data():
    return lowrank.teachers.get("oscillator", seed=0).dataset(seed=0).y[:12, :30]


def _fit(seed, n_iter, device="cpu", **kw):
    m = lowrank.LowRankRNN(6, 2, 20, activation="tanh", seed=seed)
    m.fit(_data(), window=None, batch_size=4, n_iter=n_iter, lr=1e-2, eval_every=2, heldout=0.25, verbose=0,
          seed=seed, device=device, **kw)
    return m


def test_lockstep_fits_equal_fits_alone():
    specs = [(1, 5), (2, 3), (3, 6)]            # different lengths: fits leave the barrier at different steps
    done = []
    hub = Lockstep("cpu")
    models = hub.run([lambda dev, s=s, n=n: _fit(s, n, dev) for s, n in specs], on_done=done.append)
    assert len(done) == 3 and {id(m) for m in done} == {id(m) for m in models}
    for (s, n), m in zip(specs, models):
        alone = _fit(s, n)
        np.testing.assert_array_equal(to_flat(m.params, m.options), to_flat(alone.params, alone.options))
        np.testing.assert_array_equal(m.history_.train_elbo, alone.history_.train_elbo)
    # 6 updates + held-out evaluations of the longest fit, not the 14 updates of all three
    assert hub.batches < 6 + 6 + 3


def test_a_failing_fit_does_not_stop_the_others():
    def bad(dev):
        return _fit(4, 3, dev, proposal="encoder", encoder_lr=-1.0)

    hub = Lockstep("cpu")
    with pytest.raises(ValueError, match="encoder_lr"):
        hub.run([lambda dev: _fit(1, 3, dev), bad])


def test_device_checks(monkeypatch):
    y = _data()
    m = lowrank.LowRankRNN(6, 2, 20, seed=0)
    with pytest.raises(ValueError, match="device must be one of"):
        lowrank.smc.elbo(m, y, device="gpu")
    with pytest.raises(ValueError, match="device must be one of"):
        m.fit(y, n_iter=1, verbose=0, device="tpu")
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "numba_cuda" else real(name, *a))
    with pytest.raises(CUDAUnavailableError, match=r'pip install "lowrank\[cuda\]"'):
        device_kernels("cuda")
    with pytest.raises(CUDAUnavailableError, match="numba-cuda"):
        lowrank.fit_many(dict(n_units=6, rank=2, n_obs=20), y, seeds=2, n_iter=1, device="cuda")


def test_no_gpu_is_a_clear_error():
    """numba-cuda installed but no GPU (this machine without the simulator): the error says so."""
    import importlib.util
    import os
    if importlib.util.find_spec("numba_cuda") is None or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("needs numba-cuda without the simulator")
    from numba import cuda
    if cuda.is_available():
        pytest.skip("a GPU is present")
    m = lowrank.LowRankRNN(6, 2, 20, seed=0)
    with pytest.raises(CUDAUnavailableError, match="no usable NVIDIA GPU"):
        m.sample(2, 5, device="cuda")


def test_command_line_device_errors_are_one_line(tmp_path, capsys):
    import importlib.util
    import os
    from lowrank.cli import main
    if importlib.util.find_spec("numba_cuda") is None or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("needs numba-cuda without the simulator")
    from numba import cuda
    if cuda.is_available():
        pytest.skip("a GPU is present")
    np.save(tmp_path / "y.npy", _data())
    for argv in (["fit", str(tmp_path / "y.npy"), "--device", "cuda", "--iters", "1", "--out", str(tmp_path / "m.npz")],
                 ["fit-many", str(tmp_path / "y.npy"), "--seeds", "2", "--device", "cuda", "--iters", "1",
                  "--out", str(tmp_path / "runs")],
                 ["fit-many", str(tmp_path / "y.npy"), "--seeds", "2", "--device", "cuda", "--jobs", "2",
                  "--out", str(tmp_path / "runs2")]):
        assert main(argv) != 0
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and ("no usable NVIDIA GPU" in err or "do not apply" in err), err


def test_a_failing_coordinator_releases_every_fit():
    """An error in the coordinating thread (here: on_done) reaches every waiting fit, and run() returns."""
    def boom(_):
        raise RuntimeError("on_done failed")

    hub = Lockstep("cpu")
    with pytest.raises(RuntimeError, match="on_done failed"):
        hub.run([lambda dev: _fit(1, 2, dev), lambda dev: _fit(2, 40, dev)], on_done=boom)
