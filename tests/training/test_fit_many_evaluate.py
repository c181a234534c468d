"""fit_many (joblib) and the evaluation protocol."""
import numpy as np
import pytest

import lowrank
from lowrank import teachers

SPEC = dict(n_units=20, rank=2, n_obs=20, activation="relu", readout="units")


def small_data():
    return teachers.get("oscillator", seed=0).dataset(n_trials=30, n_steps=40, seed=0).y


def test_fit_many_same_results_for_one_and_two_jobs():
    y = small_data()
    kw = dict(seeds=2, window=None, n_iter=15, n_particles=4, batch_size=5)
    a = lowrank.fit_many(SPEC, y, n_jobs=1, **kw)
    b = lowrank.fit_many(SPEC, y, n_jobs=2, **kw)
    assert [r["seed"] for r in a.table] == [r["seed"] for r in b.table]
    assert a.table[0]["seed"] != a.table[1]["seed"]
    for ma, mb in zip(a.models, b.models):
        for x, z in zip(ma.params, mb.params):
            assert np.array_equal(x, z)
    for ha, hb in zip(a.histories, b.histories):
        assert np.array_equal(ha.train_elbo, hb.train_elbo)
    # child seeds come from SeedSequence.spawn: reproducible from base_seed
    children = np.random.SeedSequence(0).spawn(2)
    assert [r["seed"] for r in a.table] == [int(c.generate_state(1)[0]) for c in children]


def test_fit_many_settings_grid_and_errors():
    y = small_data()
    res = lowrank.fit_many(SPEC, y, seeds=[3], settings=[{"lr": 1e-3}, {"lr": 1e-2}], n_jobs=1,
                           window=None, n_iter=5, n_particles=3, batch_size=5)
    assert [r["lr"] for r in res.table] == [1e-3, 1e-2] and len(res.models) == 2
    assert res.best(key="final_elbo") in res.models
    with pytest.raises(ValueError, match="seeds must be a positive count"):
        lowrank.fit_many(SPEC, y, seeds=0)
    with pytest.raises(TypeError, match="model_spec must be a dict"):
        lowrank.fit_many([1, 2], y, seeds=1)


def test_fit_many_records_a_failed_fit_and_keeps_the_others():
    y = small_data()
    # A good setting, one that diverges (FloatingPointError with best_params) and an invalid one (ValueError).
    kw = dict(seeds=[3], settings=[{"lr": 1e-2}, {"lr": 1e3}, {"n_particles": 0}], window=None, n_iter=4,
              n_particles=3, batch_size=5)
    results = []
    for n_jobs in (1, 2):
        with pytest.warns(RuntimeWarning, match="2 of 3 fits failed"):
            results.append(lowrank.fit_many(SPEC, y, n_jobs=n_jobs, **kw))
    a, b = results
    ok, diverged, invalid = a.table
    assert ok["error"] is None and ok["error_type"] is None and ok["n_iter"] == 4 and np.isfinite(ok["final_elbo"])
    assert diverged["error_type"] == "FitError" and "iteration" in diverged["error"]
    assert invalid["error_type"] == "ValueError" and "n_particles" in invalid["error"]
    assert invalid["n_iter"] == 0 and np.isnan(invalid["final_elbo"])
    assert a.models[2] is None and a.histories[2] is None
    assert a.models[1] is not None and a.histories[1].stop_reason == "nonfinite"
    assert all(np.all(np.isfinite(x)) for x in a.models[1].params)
    assert a.best(key="final_elbo") is a.models[0]
    # Same results whatever the number of workers.
    def strip(table):
        return [{k: ("nan" if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items() if k != "seconds"}
                for row in table]
    assert strip(a.table) == strip(b.table)
    for ma, mb in zip(a.models[:2], b.models[:2]):
        for x, z in zip(ma.params, mb.params):
            assert np.array_equal(x, z)


def test_fit_many_keeps_the_noise_basis():
    y = small_data()[:, :, :4]
    S = lowrank.residual_noise_basis(y, 2)
    spec = dict(n_units=12, rank=2, n_obs=4, activation="tanh", noise_basis=S)
    kw = dict(seeds=[5], window=None, n_iter=4, n_particles=3, batch_size=5, n_jobs=1)
    res = lowrank.fit_many(spec, y, **kw)
    np.testing.assert_array_equal(res.models[0].noise_basis, S)
    again = lowrank.fit_many(lowrank.LowRankRNN(12, 2, 4, activation="tanh", noise_basis=S), y, **kw)
    np.testing.assert_array_equal(again.models[0].noise_basis, S)
    np.testing.assert_array_equal(again.models[0].params.W, res.models[0].params.W)
    plain = lowrank.fit_many({k: v for k, v in spec.items() if k != "noise_basis"}, y, **kw)
    assert plain.models[0].noise_basis is None
    assert not np.array_equal(plain.models[0].params.W, res.models[0].params.W)


def test_evaluate_with_noise_basis_generates_in_data_space():
    """The protocol through a correlated-noise model: generated data carry S's covariance."""
    rng = np.random.default_rng(0)
    D = 4
    S = np.eye(D) + 0.5 * rng.standard_normal((D, D))
    m = lowrank.LowRankRNN(10, 2, D, activation="tanh", seed=1, noise_basis=S)
    y = m.sample(1, 2000, seed=2).y[0]
    ev = lowrank.evaluate(m, y, zscore=False, seed=0)
    np.testing.assert_allclose(np.cov(ev.generated.T), np.cov(y.T), atol=0.15 * np.abs(np.cov(y.T)).max())
    plain = lowrank.LowRankRNN.from_params(m.params, m.options)
    assert lowrank.evaluate(plain, y, seed=0).dstsp > lowrank.evaluate(m, y, seed=0).dstsp


def test_evaluate_protocol_on_teacher():
    t = teachers.get("oscillator", seed=0)
    y = t.model.sample(1, 3000, seed=1).y[0]
    own = lowrank.evaluate(t.model, y, seed=0)
    assert own.generated.shape == y.shape
    assert own.dh < 0.1
    # a model with the wrong dynamics is further away on both metrics
    wrong = lowrank.LowRankRNN(20, 2, 20, readout="units", seed=0)
    bad = lowrank.evaluate(wrong, y, seed=0)
    assert bad.dh > own.dh and bad.dstsp > own.dstsp
    # deterministic by seed; Hann smoothing changes the generated series
    assert lowrank.evaluate(t.model, y, seed=0).dstsp == own.dstsp
    assert not np.allclose(lowrank.evaluate(t.model, y, smooth_hann=15, seed=0).generated, own.generated)
    with pytest.raises(ValueError, match="context must be between 0"):
        lowrank.evaluate(t.model, y, context=10**6)
