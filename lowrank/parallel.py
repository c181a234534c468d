"""Many independent fits at once (restarts, seeds, hyperparameter settings).

Fits run in joblib workers (default ``loky`` processes, which are safe with
Numba's threading layers; pass ``backend="dask"`` inside a
``dask.distributed`` client context to spread them over a cluster). Each
worker's Numba thread count is set so that workers × threads does not exceed
the cores. Every fit gets its own child seed from
``numpy.random.SeedSequence(base_seed).spawn``, and the kernels are
deterministic whatever the thread count, so the results do not depend on
``n_jobs``.

A fit that fails (an error in its settings, a diverged update, degenerate
SMC) does not take the others down: its row in the table records the error,
its model is the best parameters it reached (or None), and a warning says
how many failed.
"""
from __future__ import annotations

import os
import time
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
        overrides. ``error_type`` and ``error`` (the exception's class name
        and message) are None for a fit that completed.
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
        LowRankRNN(**kw)          # a bad specification fails here, once, not in every worker
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


def _one_fit(index, model_kwargs, seed, y, inputs, fit_kwargs, threads):
    import numba

    from .rnn import LowRankRNN
    if threads:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    start = time.perf_counter()
    model = LowRankRNN(seed=seed, **model_kwargs)
    opts = model.options.to_dict()
    try:
        model.fit(y, inputs=inputs, seed=seed, verbose=0, **fit_kwargs)
    except Exception as exc:        # recorded in the table; KeyboardInterrupt still stops everything
        return _Outcome(index, opts, getattr(exc, "best_params", None), getattr(exc, "history", None),
                        time.perf_counter() - start, model.noise_basis, (type(exc).__name__, str(exc)))
    return _Outcome(index, opts, model.params, model.history_, time.perf_counter() - start, model.noise_basis, None)


def _row(index, setting, seed, overrides, out: _Outcome):
    """The table row of one fit."""
    hist = out.history
    train = np.asarray(hist.train_elbo if hist is not None else [], dtype=float)
    held = np.append(np.asarray(hist.val_elbo, dtype=float), hist.final_val_elbo) if hist is not None else np.array([])
    error_type, error = out.error if out.error is not None else (None, None)
    return dict(index=index, setting=setting, seed=seed, n_iter=int(len(train)),
                final_elbo=float(train[-1]) if train.size else float("nan"),
                best_heldout_elbo=float(np.nanmax(held)) if np.isfinite(held).any() else float("nan"),
                seconds=float(out.seconds), error_type=error_type, error=error, **overrides)


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
    model_kwargs = _model_kwargs(model_spec)
    child = _child_seeds(seeds, base_seed)
    settings = [dict()] if settings is None else [dict(s) for s in settings]
    fit_kwargs.pop("verbose", None)
    jobs = [(i * len(child) + j, k, s) for i, k in enumerate(settings) for j, s in enumerate(child)]
    cores = os.cpu_count() or 1
    workers = cores if n_jobs in (None, -1) else max(1, int(n_jobs))
    workers = min(workers, len(jobs))
    threads = threads_per_job or max(1, cores // workers)
    calls = [(idx, model_kwargs, s, y, inputs, {**fit_kwargs, **k}, threads) for idx, k, s in jobs]
    if workers == 1 and backend == "loky":
        out = [_one_fit(*c) for c in calls]
    else:
        import joblib
        out = joblib.Parallel(n_jobs=workers, backend=backend, verbose=verbose)(
            joblib.delayed(_one_fit)(*c) for c in calls)
    out.sort(key=lambda r: r.index)
    return _collect(jobs, settings, out)


def _collect(jobs, settings, out):
    """The :class:`FitManyResult` of the workers' outcomes (in job order); warns about failed fits."""
    from .model.options import ModelOptions
    from .rnn import LowRankRNN
    models, histories, table = [], [], []
    for (idx, k, s), o in zip(jobs, out):
        models.append(None if o.params is None else
                      LowRankRNN.from_params(o.params, ModelOptions.from_dict(o.options), seed=s,
                                             noise_basis=o.noise_basis))
        histories.append(o.history)
        table.append(_row(idx, settings.index(k), s, k, o))
    failed = [row for row in table if row["error"] is not None]
    if failed:
        warnings.warn(f"{len(failed)} of {len(table)} fits failed (see the table's error column); the first, "
                      f"fit {failed[0]['index']}: {failed[0]['error_type']}: {failed[0]['error']}",
                      RuntimeWarning, stacklevel=3)
    return FitManyResult(models=models, histories=histories, table=table)
