"""lowrank.workflows from Python: the functions the command line runs, with plain arguments."""
import numpy as np
import pytest

import lowrank
import lowrank.training
from lowrank import workflows


@pytest.fixture
def y():
    return lowrank.LowRankRNN(10, 2, 3, activation="tanh", seed=1).sample(n_trials=1, n_steps=300, seed=2).y[0]


def test_fit_recording_takes_arrays_and_matches_the_library(y, tmp_path):
    res = workflows.fit_recording(y, rank=2, n_units=10, activation="tanh", n_iter=3, window=20, verbose=0)
    assert res.out is None and res.n_iter == 3 and res.stop_reason == "completed"
    want = lowrank.LowRankRNN(10, 2, 3, activation="tanh", seed=0).fit(y, n_iter=3, window=20, verbose=0)
    for a, b in zip(res.model.params, want.params):
        np.testing.assert_array_equal(a, b)
    out = tmp_path / "m.npz"
    res = workflows.fit_recording(y, rank=2, n_units=10, activation="tanh", n_iter=3, window=20, verbose=0, out=out)
    assert res.out == str(out) and lowrank.LowRankRNN.load(out).options == want.options
    with pytest.raises(ValueError, match="already exists; pass --force"):
        workflows.fit_recording(y, rank=2, n_units=10, n_iter=3, out=out)


def test_a_failed_fit_is_saved_and_reraised(y, tmp_path, monkeypatch):
    def diverge(model, y, inputs=None, **kw):
        raise lowrank.FitError("non-finite gradient at iteration 2", iteration=2,
                               best_params=model.params._replace(b=np.full(3, 7.0)))

    monkeypatch.setattr(lowrank.training, "fit", diverge)
    out = tmp_path / "m.npz"
    with pytest.raises(lowrank.FitError) as info:
        workflows.fit_recording(y, rank=2, n_units=10, out=out, verbose=0)
    exc = info.value
    assert (exc.saved_to, exc.saved_what, exc.saved_best, exc.iteration) == (str(out), "best", True, 2)
    np.testing.assert_array_equal(lowrank.LowRankRNN.load(out).params.b, np.full(3, 7.0))


def test_errors_before_computing_write_nothing(y, tmp_path):
    out = tmp_path / "m.npz"
    with pytest.raises(ValueError, match="window=1000 is longer"):
        workflows.fit_recording(y, rank=2, n_units=10, window=1000, out=out)
    assert not out.exists()


def test_check_outputs(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "sub" / "b.npz"
    a.write_bytes(b"x")
    assert workflows.check_outputs({"out": b, "plot": None}, {"data": a}) == {"out": str(b)}
    assert b.parent.is_dir() and not b.exists()
    with pytest.raises(ValueError, match="is the input file"):
        workflows.check_outputs({"out": a}, {"data": a}, force=True)
    with pytest.raises(ValueError, match="same file as"):
        workflows.check_outputs({"out": b, "checkpoint": b})
    with pytest.raises(ValueError, match="already exists"):
        workflows.check_outputs({"out": a})
    assert workflows.check_outputs({"out": a}, force=True) == {"out": str(a)}
    with pytest.raises(TypeError, match="out must be a path"):
        workflows.check_outputs({"out": 3})


def test_load_recording(tmp_path, y):
    np.savez(tmp_path / "d.npz", y=y[None], u=np.ones((1, 300, 2)))
    rec = workflows.load_recording(tmp_path / "d.npz")
    assert rec.y.shape == (1, 300, 3) and rec.u.shape == (1, 300, 2) and rec.y.dtype == np.float64
    np.savez(tmp_path / "e.npz", y=y, u=np.ones((299, 2)))
    with pytest.raises(ValueError, match="must have shape"):
        workflows.load_recording(tmp_path / "e.npz")
    with pytest.raises(TypeError, match="must be real"):
        workflows.load_recording(y + 1j)


def test_evaluate_recording_passes_the_inputs_of_an_npz(tmp_path):
    t = lowrank.teachers.get("ring")
    d = t.dataset(n_trials=1)
    t.model.save(tmp_path / "ring.npz")
    np.save(tmp_path / "y.npy", d.y[0])
    np.savez(tmp_path / "yu.npz", y=d.y[0], u=d.u[0])
    with pytest.raises(ValueError, match="n_inputs=2: give the recording as a .npz"):
        workflows.evaluate_recording(tmp_path / "ring.npz", tmp_path / "y.npy")
    got = workflows.evaluate_recording(tmp_path / "ring.npz", tmp_path / "yu.npz", context=10)
    want = lowrank.evaluate(t.model, d.y[0], d.u[0], context=10)
    assert (got.dstsp, got.dh) == (want.dstsp, want.dh)
