"""The public ``device="cuda"`` paths under the simulator: ``lowrank.smc.elbo``, ``fit``, ``sample``,
``elbo_many`` and the lockstep ``fit_many`` give the CPU's numbers."""
import numpy as np
import pytest

import lowrank
from lowrank.inference.population import elbo_many
from lowrank.model.params import to_flat

CASES = [dict(kw=dict(activation="tanh"), proposal="optimal"),
         dict(kw=dict(readout="units", likelihood="poisson", n_units=4, encoder=dict(kernel_sizes=(3, 1),
                                                                                    channels=(2,))),
              proposal="encoder"),
         dict(kw=dict(readout="units", likelihood="poisson", units_readout_from="rates", n_units=4, link="exp"),
              proposal="bootstrap")]


def _model(kw, seed=3):
    base = dict(n_units=5, rank=2, n_obs=3, seed=seed)
    base.update(kw)
    return lowrank.LowRankRNN(**base)


@pytest.mark.parametrize("case", CASES, ids=[c["proposal"] for c in CASES])
def test_elbo_on_the_gpu_equals_the_cpu(gpu, case):
    m = _model(case["kw"])
    y = m.sample(2, 5, seed=1).y
    a = lowrank.smc.elbo(m, y, n_particles=3, proposal=case["proposal"], seed=2)
    b = lowrank.smc.elbo(m, y, n_particles=3, proposal=case["proposal"], seed=2, device="cuda")
    assert b.value == pytest.approx(a.value, rel=1e-10)
    np.testing.assert_allclose(b.grad_flat, a.grad_flat, rtol=1e-9, atol=1e-12)


def test_elbo_many_stacks_models_and_keeps_failures_apart(gpu):
    models = [_model(CASES[2]["kw"], seed=s) for s in (1, 2)]
    y = models[0].sample(2, 4, seed=0).y
    calls = [dict(model=m, y=y, n_particles=3, proposal="bootstrap", seed=s) for s, m in enumerate(models)]
    calls.append(dict(model=models[0], y=y[..., :2], n_particles=3, proposal="bootstrap"))     # bad input
    out = elbo_many(calls, device="cuda")
    assert isinstance(out[2], ValueError)
    for c, r in zip(calls[:2], out[:2]):
        alone = lowrank.smc.elbo(**c)
        assert r.value == pytest.approx(alone.value, rel=1e-10)
        np.testing.assert_allclose(r.grad_flat, alone.grad_flat, rtol=1e-9, atol=1e-12)
    # mixed wants: one call without its gradient (its partner's backward runs alone), particles back
    calls = [dict(calls[0], return_particles=True), dict(calls[1], grad=False)]
    out = elbo_many(calls, device="cuda")
    alone = [lowrank.smc.elbo(**c) for c in calls]
    assert out[1].grad_flat is None and out[1].value == pytest.approx(alone[1].value, rel=1e-10)
    np.testing.assert_allclose(out[0].grad_flat, alone[0].grad_flat, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out[0].particles, alone[0].particles, rtol=1e-10, atol=1e-13)
    np.testing.assert_array_equal(out[0].ancestors, alone[0].ancestors)


def test_sample_on_the_gpu_equals_the_cpu(gpu):
    m = _model(dict(activation="relu"))
    a, b = m.sample(2, 6, seed=4), m.sample(2, 6, seed=4, device="cuda")
    np.testing.assert_allclose(b.z, a.z, rtol=1e-12, atol=1e-14)


def test_fit_and_lockstep_fit_many_equal_the_cpu(gpu):
    """To rounding amplified by Adam: an update divides by the gradient's running RMS, so a parameter
    whose gradient is near zero moves by the relative rounding of that gradient (atol 1e-9 after 3 updates)."""
    y = _model(CASES[2]["kw"], seed=0).sample(4, 5, seed=0).y
    spec = dict(n_units=4, rank=2, n_obs=3, readout="units", likelihood="poisson", link="exp",
                units_readout_from="rates")
    kw = dict(window=None, batch_size=2, n_iter=3, n_particles=3, lr=1e-2, eval_every=2, heldout=0.25)
    one = lowrank.LowRankRNN(seed=5, **spec).fit(y, verbose=0, device="cuda", **kw)
    ref = lowrank.LowRankRNN(seed=5, **spec).fit(y, verbose=0, **kw)
    np.testing.assert_allclose(to_flat(one.params, one.options), to_flat(ref.params, ref.options), rtol=1e-7, atol=1e-9)
    settings = [{"lr": 1e-2}, {"lr": 3e-3, "n_iter": 2}]       # the second setting stops earlier
    gpu_res = lowrank.fit_many(spec, y, seeds=2, settings=settings, device="cuda", **kw)
    cpu_res = lowrank.fit_many(spec, y, seeds=2, settings=settings, n_jobs=1, **kw)
    assert [r["n_iter"] for r in gpu_res.table] == [3, 3, 2, 2]
    for a, b, ra, rb in zip(gpu_res.models, cpu_res.models, gpu_res.table, cpu_res.table):
        assert ra["error"] is None and rb["error"] is None
        np.testing.assert_allclose(to_flat(a.params, a.options), to_flat(b.params, b.options), rtol=1e-7, atol=1e-9)
        assert ra["best_heldout_elbo"] == pytest.approx(rb["best_heldout_elbo"], rel=1e-10)
