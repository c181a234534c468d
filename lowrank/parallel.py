"""Many independent fits at once (restarts, seeds, hyperparameter settings).

Fits run in joblib workers (default ``loky`` processes, which are safe with
Numba's threading layers; pass ``backend="dask"`` inside a
``dask.distributed`` client context to spread them over a cluster). Each
worker's Numba thread count is set so that workers × threads does not exceed
the cores. Every fit gets its own child seed from
``numpy.random.SeedSequence(base_seed).spawn``, and the kernels are
deterministic whatever the thread count, so the results do not depend on
``n_jobs``.
"""
from __future__ import annotations

import os
import time
from typing import NamedTuple

import numpy as np


class FitManyResult(NamedTuple):
    """Result of :func:`fit_many`.

    Attributes
    ----------
    models : list of LowRankRNN
        One fitted model per (setting, seed), in ``table`` order.
    histories : list of History
        Each fit's history (``model.history_``).
    table : list of dict
        One row per fit: ``index, setting, seed, n_iter, final_elbo,
        best_heldout_elbo, seconds`` plus the setting's overrides.
    """

    models: list
    histories: list
    table: list

    def best(self, key="best_heldout_elbo"):
        """The model with the highest ``key`` in the table (NaN counts as worst)."""
        vals = np.array([row.get(key, np.nan) for row in self.table], dtype=float)
        vals = np.where(np.isnan(vals), -np.inf, vals)
        return self.models[int(np.argmax(vals))]


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


def _model_kwargs(model_spec):
    from .rnn import LowRankRNN
    if isinstance(model_spec, LowRankRNN):
        kw = model_spec.options.to_dict()
        if model_spec.noise_basis is not None:
            kw["noise_basis"] = model_spec.noise_basis
        return kw
    if isinstance(model_spec, dict):
        kw = dict(model_spec)
        kw.pop("seed", None)
        return kw
    raise TypeError(f"model_spec must be a dict of LowRankRNN arguments or a LowRankRNN; got {type(model_spec).__name__}")


def _one_fit(index, model_kwargs, seed, y, inputs, fit_kwargs, threads):
    import numba

    from .rnn import LowRankRNN
    if threads:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    start = time.perf_counter()
    model = LowRankRNN(seed=seed, **model_kwargs)
    model.fit(y, inputs=inputs, seed=seed, verbose=0, **fit_kwargs)
    seconds = time.perf_counter() - start
    return index, model.options.to_dict(), model.params, model.history_, seconds, model.noise_basis


def fit_many(model_spec, y, inputs=None, *, seeds=5, base_seed=0, settings=None, n_jobs=-1,
             threads_per_job=None, backend="loky", verbose=0, **fit_kwargs) -> FitManyResult:
    """Run independent fits in parallel.

    Parameters
    ----------
    model_spec : dict or LowRankRNN
        Arguments of :class:`~lowrank.LowRankRNN` (its ``seed`` is replaced by
        each fit's child seed), or a model whose options (and
        ``noise_basis``) are copied.
    y : ndarray
        Data, as for ``LowRankRNN.fit``: (n_trials, T, D) or (T, D).
    inputs : ndarray, optional
    seeds : int or list of int, default 5
        A count (child seeds spawned from ``base_seed``) or explicit seeds.
        Each seed initialises the model and drives its fit.
    base_seed : int
    settings : list of dict, optional
        Overrides of ``fit_kwargs`` (e.g. ``[{"lr": 1e-3}, {"lr": 3e-3}]``);
        every setting is run with every seed.
    n_jobs : int, default -1
        joblib workers (-1: one per core).
    threads_per_job : int, optional
        Numba threads in each worker; default ``max(1, cores // workers)``.
    backend : str, default "loky"
        joblib backend; "dask" runs on a ``dask.distributed`` cluster.
    verbose : int
        joblib's verbosity.
    **fit_kwargs
        Passed to ``LowRankRNN.fit`` (``verbose`` is forced to 0 in workers).

    Returns
    -------
    FitManyResult
    """
    import joblib

    from .rnn import LowRankRNN
    model_kwargs = _model_kwargs(model_spec)
    child = _child_seeds(seeds, base_seed)
    settings = [dict()] if settings is None else [dict(s) for s in settings]
    fit_kwargs.pop("verbose", None)
    jobs = [(i * len(child) + j, k, s) for i, k in enumerate(settings) for j, s in enumerate(child)]
    cores = os.cpu_count() or 1
    workers = cores if n_jobs in (None, -1) else max(1, int(n_jobs))
    workers = min(workers, len(jobs))
    threads = threads_per_job or max(1, cores // workers)
    if workers == 1 and backend == "loky":
        out = [_one_fit(idx, model_kwargs, s, y, inputs, {**fit_kwargs, **k}, threads) for idx, k, s in jobs]
    else:
        out = joblib.Parallel(n_jobs=workers, backend=backend, verbose=verbose)(
            joblib.delayed(_one_fit)(idx, model_kwargs, s, y, inputs, {**fit_kwargs, **k}, threads)
            for idx, k, s in jobs)
    out.sort(key=lambda r: r[0])
    models, histories, table = [], [], []
    from .model.options import ModelOptions
    for (idx, k, s), (_, opts, params, hist, seconds, basis) in zip(jobs, out):
        models.append(LowRankRNN.from_params(params, ModelOptions.from_dict(opts), seed=s, noise_basis=basis))
        histories.append(hist)
        train = np.asarray(hist.train_elbo, dtype=float)
        held = np.append(np.asarray(hist.val_elbo, dtype=float), hist.final_val_elbo)
        table.append(dict(index=idx, setting=settings.index(k), seed=s, n_iter=int(len(train)),
                          final_elbo=float(train[-1]) if train.size else float("nan"),
                          best_heldout_elbo=float(np.nanmax(held)) if np.isfinite(held).any() else float("nan"),
                          seconds=float(seconds), **k))
    return FitManyResult(models=models, histories=histories, table=table)
