"""Many independent fits at once (restarts, seeds, hyperparameter settings): the machinery of
``lowrank.fit_many``.

The estimator class (``lowrank.LowRankRNN``) is an argument, given by the
public :func:`lowrank.fit_many` (``lowrank.rnn``), so this training-layer
module imports nothing above it: a worker builds ``estimator(seed=...,
**model_kwargs)`` and calls its ``fit``; a finished fit becomes
``estimator.from_params(...)``.

Backends
--------
``backend="loky"`` (the default) and the other joblib backends run the fits
in joblib workers on this machine (loky: processes, which are safe with all
of Numba's threading layers). Each worker's Numba thread count is set so
that workers × threads does not exceed the cores.

``backend="dask"`` runs them on a ``dask.distributed`` cluster: a
``Client`` the caller made (a ``LocalCluster``, ``Client("tcp://host:8786")``,
a dask-jobqueue ``SLURMCluster``), the current one, or a scheduler address
(a client is then opened and closed by the call). The fits are submitted with
``client.submit``, one task per fit, rather than through joblib's dask
backend, because that keeps the two things this module must control in
plain sight:

* **Numba in worker threads.** A Dask worker runs its tasks as threads of one
  process, and Numba's default ``workqueue`` threading layer aborts when two
  threads of a process launch parallel regions at once (``omp`` and ``tbb``
  are safe, but neither is guaranteed to be installed). So every fit takes a
  per-process lock: a worker process runs one fit at a time, whatever its
  ``nthreads``, and that fit gets the worker's whole thread budget as Numba
  threads (``threads_per_job`` overrides it; never more than
  ``NUMBA_NUM_THREADS``). The budget is the worker's own ``nthreads``, not
  the cores of the machine that called ``fit_many``. Many fits are
  therefore best spread as many single-threaded worker *processes*
  (``LocalCluster(n_workers=cores, threads_per_worker=1)``, one SLURM task
  per core); a few big fits as fewer processes with more threads each. The
  kernels are deterministic whatever the thread count, so none of this
  changes the numbers.
* **Faults.** A worker that dies in the middle of a fit (killed, out of
  memory, its node gone) loses that fit only: the scheduler reruns it on
  another worker, up to ``distributed.scheduler.allowed-failures`` times
  (3 by default), after which its row in the table records the error
  (``KilledWorker``). Results are gathered as they finish, so every fit
  that finished is returned. An exception raised *by* a fit (bad settings,
  a diverged update) is a result, not a fault: it is recorded, not retried
  (it would fail again the same way).

``device="cuda"`` trains every fit in lockstep on one GPU instead
(:class:`lowrank.training.lockstep.Lockstep`): each fit runs in a thread of
this process with its own optimiser, schedule and early stop, and at every
step their ELBO calls are gathered and run together, one kernel launch for
all fits of one configuration (:func:`lowrank.inference.population.elbo_many`).

Data over 4 MiB go to the cluster once, as a task of their own (not sent with every fit, and
recomputed from the scheduler's copy if the workers holding them die); smaller data travel with
each fit, which saves a round trip.

Determinism
-----------
Every fit gets its own child seed from
``numpy.random.SeedSequence(base_seed).spawn``, and the kernels are
deterministic whatever the thread count, so the results depend neither on
``n_jobs`` nor on the backend.

A fit that fails (an error in its settings, a diverged update, degenerate
SMC, a lost worker) does not take the others down: its row in the table
records the error, its model is the best parameters it reached (or None),
and a warning says how many failed.
"""
from __future__ import annotations

import os
import threading
import time
import uuid
import warnings
from typing import NamedTuple, Optional

import numpy as np


class FitManyResult(NamedTuple):
    """Result of :func:`fit_many`.

    Attributes
    ----------
    models : list of LowRankRNN or None
        One fitted model per (setting, seed), in ``table`` order. For a fit
        that failed: a model with the best parameters it reached when the
        error carries them (a non-finite value: ``FloatingPointError.best_params``,
        possibly the starting parameters), else None.
    histories : list of History or None
        Each fit's history (``model.history_``; for a failed fit the error's
        ``history``, or None).
    table : list of dict
        One row per fit: ``index, setting, seed, n_iter, final_elbo,
        best_heldout_elbo, seconds, error_type, error`` plus the setting's
        overrides (an override named like a column, e.g. ``n_iter``, as
        ``setting_n_iter``; ``n_iter`` is the updates done). ``error_type``
        and ``error`` (the exception's class name and message) are None for a
        fit that completed.
    """

    models: list
    histories: list
    table: list

    def best(self, key="best_heldout_elbo"):
        """The model with the highest ``key`` in the table (NaN counts as worst)."""
        vals = np.array([row.get(key, np.nan) if m is not None else np.nan
                         for row, m in zip(self.table, self.models)], dtype=float)
        if np.all(np.isnan(vals)):
            raise ValueError(f"no fit has a finite {key!r} (failed fits: "
                             f"{sum(row['error'] is not None for row in self.table)} of {len(self.table)})")
        return self.models[int(np.nanargmax(vals))]


def _child_seeds(seeds, base_seed):
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise ValueError(f"seeds must be a positive count or a list of seeds; got {seeds}")
        children = np.random.SeedSequence(base_seed).spawn(int(seeds))
        return [int(c.generate_state(1)[0]) for c in children]
    seeds = list(seeds)
    if not seeds or not all(isinstance(s, (int, np.integer)) for s in seeds):
        raise ValueError(f"seeds must be a positive count or a non-empty list of integers; got {seeds!r}")
    return [int(s) for s in seeds]


def _model_kwargs(estimator, model_spec):
    if isinstance(model_spec, estimator):
        kw = model_spec.options.to_dict()
        if model_spec.noise_basis is not None:
            kw["noise_basis"] = model_spec.noise_basis
        return kw
    if isinstance(model_spec, dict):
        kw = dict(model_spec)
        kw.pop("seed", None)
        estimator(**kw).options   # a bad specification fails here, once, not in every worker
        return kw
    raise TypeError(f"model_spec must be a dict of LowRankRNN arguments or a LowRankRNN; "
                    f"got {type(model_spec).__name__}")


class _Outcome(NamedTuple):
    """What a worker sends back (picklable): the fit's options, parameters and history, or its error."""

    index: int
    options: Optional[dict]
    params: object
    history: object
    seconds: float
    noise_basis: Optional[np.ndarray]
    error: Optional[tuple]
    provenance: Optional[dict] = None


def _one_fit(estimator, index, model_kwargs, seed, y, inputs, fit_kwargs, threads):
    import numba

    if threads:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    start = time.perf_counter()
    model, opts = None, None
    try:
        model = estimator(seed=seed, **model_kwargs)          # a setting may override the model's arguments
        opts = model.options.to_dict()
        model.fit(y, inputs=inputs, seed=seed, verbose=0, **fit_kwargs)
    except Exception as exc:        # recorded in the table; KeyboardInterrupt still stops everything
        return _Outcome(index, opts, getattr(exc, "best_params", None), getattr(exc, "history", None),
                        time.perf_counter() - start, None if model is None else model.noise_basis,
                        (type(exc).__name__, str(exc)))
    return _Outcome(index, opts, model.params, model.history_, time.perf_counter() - start, model.noise_basis, None,
                    getattr(model, "provenance_", None))


def _row(index, setting, seed, overrides, out: _Outcome):
    """The table row of one fit."""
    hist = out.history
    train = np.asarray(hist.train_elbo if hist is not None else [], dtype=float)
    held = np.append(np.asarray(hist.val_elbo, dtype=float), hist.final_val_elbo) if hist is not None else np.array([])
    error_type, error = out.error if out.error is not None else (None, None)
    row = dict(index=index, setting=setting, seed=seed, n_iter=int(len(train)),
               final_elbo=float(train[-1]) if train.size else float("nan"),
               best_heldout_elbo=float(np.nanmax(held)) if np.isfinite(held).any() else float("nan"),
               seconds=float(out.seconds), error_type=error_type, error=error)
    # a setting's own value of a column name (n_iter: the updates asked for) goes in as setting_<name>
    row.update({(f"setting_{k}" if k in row else k): v for k, v in overrides.items()})
    return row


_FIT_LOCK = threading.Lock()      # one fit at a time per process on Dask workers (module docstring)


def _model_keys(estimator=None):
    """Names a setting may override in the model specification (the model's arguments but ``seed``):
    the option table's model options and what the data or a caller decides."""
    from ..options import model_names
    return list(model_names()) + ["n_obs", "n_inputs", "noise_basis", "encoder"]


def _split_setting(estimator, setting, model_kwargs, fit_kwargs):
    """(model kwargs, fit kwargs) of one setting: its ``estimator`` arguments override the model's."""
    keys = set(_model_keys(estimator))
    return ({**model_kwargs, **{k: v for k, v in setting.items() if k in keys}},
            {**fit_kwargs, **{k: v for k, v in setting.items() if k not in keys}})


def _worker_threads():
    """The thread budget of the Dask worker running this task (its ``nthreads``), or None outside one."""
    try:
        from distributed import get_worker
        worker = get_worker()
    except (ImportError, ValueError):
        return None
    state = getattr(worker, "state", None)
    return int(getattr(state, "nthreads", None) or getattr(worker, "nthreads", 1) or 1)


def _dask_fit(estimator, index, model_kwargs, seed, y, inputs, fit_kwargs, threads):
    """One fit in a Dask worker: alone in its process (the lock), with the worker's thread budget."""
    with _FIT_LOCK:
        return _one_fit(estimator, index, model_kwargs, seed, y, inputs, fit_kwargs, threads or _worker_threads())


def _lost(index, exc):
    """The outcome of a fit whose task failed outside the fit (a worker that died, a lost connection)."""
    return _Outcome(index, None, None, None, float("nan"), None, (type(exc).__name__, str(exc) or type(exc).__name__))


def _dask_client(client):
    """(client, whether this call opened it) for ``fit_many(backend="dask", client=...)``."""
    try:
        import distributed
    except ImportError:
        raise ValueError("backend='dask' needs dask.distributed: pip install 'lowrank[dask]'") from None
    if isinstance(client, distributed.Client):
        return client, False
    if isinstance(client, str):
        return distributed.Client(client), True
    if client is not None:
        raise TypeError(f"client must be a distributed.Client, a scheduler address (str) or None; "
                        f"got {type(client).__name__}")
    try:
        return distributed.get_client(), False
    except ValueError:
        raise ValueError("backend='dask' needs a dask.distributed cluster: create a distributed.Client "
                         "(e.g. Client(LocalCluster()) or Client('tcp://scheduler:8786')) before calling "
                         "fit_many, or pass client=<Client or scheduler address>") from None


_INLINE_BYTES = 4 << 20               # data up to this size travel with each Dask task instead


def _same(x):
    return x


def _data_task(client, array, key):
    """The data as a task on the cluster, sent once (its fits fetch it from the worker that holds it).

    Not ``client.scatter``: scattered data exist only on the workers that hold
    them, and when those die every fit that needs them is cancelled. A task's
    result is recomputed from the scheduler's copy instead.
    """
    if np.asarray(array).nbytes <= _INLINE_BYTES:
        return array                 # small: sent with each fit, which saves a round trip before the fits start
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ll]arge object.*")
        return client.submit(_same, array, key=key, pure=False)


def _run_dask(estimator, calls, y, inputs, client, on_done):
    """Submit one task per fit; hand each outcome to ``on_done`` as it arrives (in completion order)."""
    from distributed import as_completed
    client, opened = _dask_client(client)
    token = uuid.uuid4().hex[:8]
    futures = {}
    try:
        y_f, u_f = (None if a is None else _data_task(client, a, f"lowrank-data-{token}-{name}")
                    for name, a in (("y", y), ("inputs", inputs)))
        for idx, mkw, s, fkw, threads in calls:
            fut = client.submit(_dask_fit, estimator, idx, mkw, s, y_f, u_f, fkw, threads,
                                key=f"lowrank-fit-{token}-{idx}", pure=False)
            futures[fut] = idx
        for fut in as_completed(list(futures)):
            try:
                out = fut.result()
            except Exception as exc:               # the task, not the fit, failed: e.g. KilledWorker
                out = _lost(futures[fut], exc)
            on_done(out)
    except BaseException:
        if futures:
            client.cancel(list(futures))
        raise
    finally:
        futures.clear()
        if opened:
            client.close()


def fit_many(estimator, model_spec, y, inputs=None, *, seeds=5, base_seed=0, settings=None, n_jobs=-1,
             threads_per_job=None, backend="loky", client=None, on_result=None, verbose=0, device="cpu",
             **fit_kwargs) -> FitManyResult:
    """Run independent fits of ``estimator`` models in parallel: :func:`lowrank.fit_many`, whose
    documentation describes every other argument, with the estimator class given.

    ``estimator`` is a class (``lowrank.LowRankRNN``; it must pickle by reference for the
    process and Dask backends) built as ``estimator(seed=..., **model_kwargs)``, with a
    ``fit(y, inputs=..., seed=..., verbose=0, **fit_kwargs)`` that sets ``params`` and
    ``history_``, ``options`` (a ``ModelOptions``), ``noise_basis`` and a classmethod
    ``from_params(params, options, seed=..., noise_basis=...)``.
    """
    model_kwargs = _model_kwargs(estimator, model_spec)
    child = _child_seeds(seeds, base_seed)
    settings = [dict()] if settings is None else [dict(s) for s in settings]
    fit_kwargs.pop("verbose", None)
    if on_result is not None and not callable(on_result):
        raise TypeError(f"on_result must be callable or None; got {type(on_result).__name__}")
    if backend != "dask" and client is not None:
        raise ValueError(f"client applies to backend='dask' only; got backend={backend!r}")
    if backend == "dask" and n_jobs not in (None, -1):
        raise ValueError(f"n_jobs applies to the joblib backends; with backend='dask' the cluster's workers "
                         f"decide how many fits run at once (got n_jobs={n_jobs})")
    jobs = [(i * len(child) + j, k, s) for i, k in enumerate(settings) for j, s in enumerate(child)]
    split = [_split_setting(estimator, k, model_kwargs, fit_kwargs) for _, k, _ in jobs]
    out = []

    def done(o):
        out.append(o)
        if on_result is not None:
            idx, k, s = jobs[o.index]
            on_result(o.index, _row(o.index, o.index // len(child), s, k, o), _model_of(estimator, o, s), o.history)

    if device != "cpu":
        _check_lockstep(device, backend, client, n_jobs, threads_per_job)
        _run_lockstep(estimator, device, [(idx, mkw, s, fkw) for (idx, _, s), (mkw, fkw) in zip(jobs, split)], y,
                      inputs, done)
    elif backend == "dask":
        calls = [(idx, mkw, s, fkw, threads_per_job) for (idx, _, s), (mkw, fkw) in zip(jobs, split)]
        _run_dask(estimator, calls, y, inputs, client, done)
    else:
        cores = os.cpu_count() or 1
        workers = cores if n_jobs in (None, -1) else max(1, int(n_jobs))
        workers = min(workers, len(jobs))
        threads = threads_per_job or max(1, cores // workers)
        calls = [(estimator, idx, mkw, s, y, inputs, fkw, threads) for (idx, _, s), (mkw, fkw) in zip(jobs, split)]
        if workers == 1 and backend == "loky":
            results = (_one_fit(*c) for c in calls)
        else:
            import joblib
            results = joblib.Parallel(n_jobs=workers, backend=backend, verbose=verbose, return_as="generator")(
                joblib.delayed(_one_fit)(*c) for c in calls)
        for o in results:
            done(o)
    out.sort(key=lambda r: r.index)
    return _collect(estimator, jobs, settings, out)


def _check_lockstep(device, backend, client, n_jobs, threads_per_job):
    from ..inference.device import check_device, cuda_launch
    check_device(device)
    if backend != "loky" or client is not None or n_jobs not in (None, -1) or threads_per_job is not None:
        raise ValueError(f"device={device!r} trains the fits in lockstep in this process: backend, client, n_jobs "
                         f"and threads_per_job do not apply")
    cuda_launch()        # a missing numba-cuda or GPU is reported before any fit starts


def _run_lockstep(estimator, device, calls, y, inputs, done):
    """Every fit in a thread of this process, their ELBO calls batched (:class:`~lowrank.training.lockstep.Lockstep`)."""
    from .lockstep import Lockstep

    def job(idx, mkw, seed, fkw):
        return lambda member: _one_fit(estimator, idx, mkw, seed, y, inputs, dict(fkw, device=member), None)

    Lockstep(device).run([job(*c) for c in calls], on_done=done)


def _model_of(estimator, o, seed):
    """The model of one outcome (None when the fit has no parameters)."""
    from ..model.options import ModelOptions
    if o.params is None:
        return None
    model = estimator.from_params(o.params, ModelOptions.from_dict(o.options), seed=seed, noise_basis=o.noise_basis)
    if o.provenance is not None:
        model.provenance_ = o.provenance           # saved with the model: lowrank info shows it
    return model


def _collect(estimator, jobs, settings, out):
    """The :class:`FitManyResult` of the workers' outcomes (in job order); warns about failed fits."""
    models, histories, table = [], [], []
    for (idx, k, s), o in zip(jobs, out):
        models.append(_model_of(estimator, o, s))
        histories.append(o.history)
        table.append(_row(idx, idx // (len(jobs) // len(settings)), s, k, o))
    failed = [row for row in table if row["error"] is not None]
    if failed:
        warnings.warn(f"{len(failed)} of {len(table)} fits failed (see the table's error column); the first, "
                      f"fit {failed[0]['index']}: {failed[0]['error_type']}: {failed[0]['error']}",
                      RuntimeWarning, stacklevel=3)
    return FitManyResult(models=models, histories=histories, table=table)
