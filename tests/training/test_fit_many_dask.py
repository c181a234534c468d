"""fit_many on a real dask.distributed cluster: same numbers as loky, faults, thread budgets.

The clusters are local, made of worker *processes* (started and closed here);
the kernels are compiled (or loaded from the on-disk cache) in this process
first, so fresh workers only load them.
"""
import os
import signal
import time

import numpy as np
import pytest

import lowrank
from lowrank import teachers

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

SPEC = dict(n_units=8, rank=2, n_obs=20, activation="relu", readout="latent")
KW = dict(seeds=4, window=None, n_iter=6, n_particles=3, batch_size=5, heldout=0.2, eval_every=3)


def small_data():
    return teachers.get("oscillator", seed=0).dataset(n_trials=20, n_steps=30, seed=0).y


@pytest.fixture(scope="module")
def reference():
    """The fits run here, one after another: the numbers every backend must reproduce (warms the cache)."""
    return lowrank.fit_many(SPEC, small_data(), n_jobs=1, **KW)


@pytest.fixture(scope="module")
def cluster(reference):
    # worker-saturation 1.0: a worker holds exactly nthreads tasks, so a killed worker takes only its own fit.
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                      silence_logs=40) as cl, distributed.Client(cl) as client:
            yield cl, client


def same_fits(a, b, rows=None):
    rows = range(len(a.table)) if rows is None else rows
    for i in rows:
        assert a.table[i]["seed"] == b.table[i]["seed"]
        for x, z in zip(a.models[i].params, b.models[i].params):
            assert np.array_equal(x, z)
        assert np.array_equal(a.histories[i].train_elbo, b.histories[i].train_elbo)
        assert np.array_equal(a.histories[i].val_elbo, b.histories[i].val_elbo, equal_nan=True)


def test_dask_gives_the_numbers_of_loky_and_of_one_job(reference, cluster):
    _, client = cluster
    y = small_data()
    on_dask = lowrank.fit_many(SPEC, y, backend="dask", client=client, **KW)
    assert all(row["error"] is None for row in on_dask.table)
    same_fits(on_dask, reference)
    on_loky = lowrank.fit_many(SPEC, y, n_jobs=2, **KW)
    same_fits(on_loky, reference)
    # The current client is found without being passed; a scheduler address opens (and closes) its own.
    seen = []
    again = lowrank.fit_many(SPEC, y, backend="dask", seeds=[reference.table[0]["seed"]],
                             on_result=lambda i, row, m, h: seen.append((i, row["seed"], m is not None)),
                             **{k: v for k, v in KW.items() if k != "seeds"})
    same_fits(again, reference, rows=[0])
    assert seen == [(0, reference.table[0]["seed"], True)]
    by_address = lowrank.fit_many(SPEC, y, backend="dask", client=client.scheduler.address, **KW)
    same_fits(by_address, reference)


def test_dask_argument_errors(cluster):
    y = small_data()
    with pytest.raises(ValueError, match="n_jobs applies to the joblib backends"):
        lowrank.fit_many(SPEC, y, backend="dask", n_jobs=2, seeds=1)
    with pytest.raises(ValueError, match="client applies to backend='dask' only"):
        lowrank.fit_many(SPEC, y, client="tcp://nowhere:1", seeds=1)
    with pytest.raises(TypeError, match="client must be a distributed.Client"):
        lowrank.fit_many(SPEC, y, backend="dask", client=3, seeds=1)


def killer(marker, victim, at=2):
    """A fit callback that kills its own worker process once the fit of seed ``victim`` reaches update ``at``.

    With a ``marker`` path it does so once (it leaves the file behind); without, every time.
    """
    def callback(i, model, info):
        if model.seed == victim and i == at:
            if marker is not None:
                if os.path.exists(marker):
                    return None
                open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return None
    return callback


def test_a_killed_worker_loses_nothing_its_fit_is_rerun(reference, cluster, tmp_path):
    _, client = cluster
    victim = reference.table[1]["seed"]
    marker = tmp_path / "killed-once"
    res = lowrank.fit_many(SPEC, small_data(), backend="dask", client=client,
                           callback=killer(str(marker), victim), **KW)
    assert marker.exists()                                         # the worker did die mid-fit
    assert [row["error"] for row in res.table] == [None] * 4       # ... and its fit was rerun elsewhere
    same_fits(res, reference)
    client.wait_for_workers(2, timeout=120)                        # the nanny restarts the dead worker


def test_a_fit_that_keeps_killing_its_worker_is_reported_and_the_others_returned(reference, cluster):
    cl, client = cluster
    victim = reference.table[2]["seed"]
    scheduler = cl.scheduler
    before = scheduler.allowed_failures
    scheduler.allowed_failures = 0                                 # the first death gives up on the fit
    # Two copies of the 4 fits: 8 tasks > 2 x the cluster's threads, so the scheduler queues them and a
    # worker normally holds only the fit it runs. (A fit assigned to the worker when it died counts that
    # death too, so on an unlucky schedule it can be lost with the victim; it is then reported the same way.)
    try:
        with pytest.warns(RuntimeWarning, match="of 8 fits failed") as caught:
            res = lowrank.fit_many(SPEC, small_data(), backend="dask", client=client,
                                   settings=[{"callback": killer(None, victim)}, {"lr": 1e-3}], **KW)
    finally:
        scheduler.allowed_failures = before
    lost = res.table[2]
    assert lost["error_type"] == "KilledWorker" and lost["seed"] == victim
    assert res.models[2] is None and res.histories[2] is None and np.isnan(lost["final_elbo"])
    failed = [i for i, row in enumerate(res.table) if row["error"] is not None]
    assert str(caught[0].message).startswith(f"{len(failed)} of 8 fits failed")
    assert all(res.table[i]["error_type"] == "KilledWorker" for i in failed)
    assert len(failed) <= 3                                       # every fit that finished is returned
    same_fits(res, reference, rows=[i for i in (0, 1, 3) if i not in failed])
    client.wait_for_workers(2, timeout=120)


def test_threaded_workers_run_one_fit_at_a_time_with_the_workers_thread_budget(reference, tmp_path):
    """Two fits sent to one worker with 2 threads: never at once in one process, each with 2 Numba threads."""
    log = tmp_path / "log"

    def record(i, model, info):
        import numba
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()} {model.seed} {time.monotonic()} {numba.get_num_threads()}\n")

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cl, distributed.Client(cl) as client:
        res = lowrank.fit_many(SPEC, small_data(), backend="dask", client=client, callback=record, **KW)
    same_fits(res, reference)
    rows = [line.split() for line in log.read_text().splitlines()]
    assert {r[3] for r in rows} == {"2"}
    spans = {}
    for pid, seed, t, _ in rows:
        lo, hi = spans.get((pid, seed), (float(t), float(t)))
        spans[(pid, seed)] = (min(lo, float(t)), max(hi, float(t)))
    spans = sorted(spans.values())
    assert len(spans) == 4
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))      # the fits' updates never interleave
