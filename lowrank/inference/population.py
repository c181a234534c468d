"""Many ELBO calls at once: a population of models (seeds, settings) in one kernel launch.

:func:`elbo_many` takes a list of :func:`~lowrank.inference.elbo.elbo` calls
(keyword arguments, each with its own model, data and random numbers) and
returns each call's result, as :func:`~.elbo.elbo` would. On the CPU it runs
them one after the other. On the GPU (``device="cuda"``) the calls that share
a configuration and shapes (the kernels' codes, rank, units, channels,
inputs, steps, particles) run together: their sequences are concatenated, the
models' arrays stacked with a leading model axis, and one forward launch
(then one backward launch) covers every (model, sequence, particle). A GPU
is too big for one fit of the paper's sizes (10 sequences × 10 particles);
twenty fits in lockstep begin to fill it.

Each call is prepared on the host exactly as a lone call would be (checks,
draws from its own seed or Generator, its encoder's output), so every result
equals that of the same call made alone, on either device.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..kernels.smc_args import Draws, Records, Sequences
from .device import check_device, cuda_launch
from .elbo import (backward_buffers, check_records, elbo, finish_call, finish_gradient, gradient_blocks,
                   prepare_call)

__all__ = ["elbo_many", "stack_calls"]


def elbo_many(calls, device="cpu"):
    """Results of many :func:`~lowrank.inference.elbo.elbo` calls.

    Parameters
    ----------
    calls : list of dict
        Keyword arguments of ``elbo`` (``model``, ``y`` and any others but
        ``device``), one dict per call. A ``seed`` that is a Generator is
        drawn from in list order.
    device : {"cpu", "cuda"}

    Returns
    -------
    list
        Per call, its ``SMCResult``, or the exception it raised (bad input,
        ``SMCDegeneracyError``): one failed call does not stop the others.

    Examples
    --------
    >>> model = lowrank.LowRankRNN(n_units=8, rank=2, n_obs=3, seed=0)
    >>> y = model.sample(n_trials=2, n_steps=20, seed=1).y
    >>> out = lowrank.smc.elbo_many([dict(model=model, y=y, seed=0), dict(model=model, y=y[:, :0], seed=0)])
    >>> type(out[0]).__name__, type(out[1]).__name__          # the second call's error is returned
    ('SMCResult', 'ValueError')
    >>> float(out[0].value) == float(lowrank.smc.elbo(model, y, seed=0).value)
    True
    """
    if check_device(device) == "cpu":
        return [_catch(elbo, **c) for c in calls]
    launch = cuda_launch()
    out = [None] * len(calls)
    prepared = []
    for i, c in enumerate(calls):
        call = _catch(prepare_call, **c)
        if isinstance(call, Exception):
            out[i] = call
        else:
            prepared.append((i, call))
    for group in _groups(prepared):
        try:
            _run_group(launch, group, out)
        except Exception as exc:        # a launch that failed fails its group's calls, not the others
            for i, _ in group:
                out[i] = exc
    return out


def _catch(fn, **kw):
    try:
        return fn(**kw)
    except Exception as exc:            # the caller gets it as this call's result
        return exc


def _key(call):
    """What calls must share to run in one launch."""
    a = call.args
    shapes = tuple(np.shape(x) for x in a.model[:-2] if x is not a.model.mu_init) + \
        tuple(np.shape(x) for x in a.prop[:-2])
    return (tuple(a.codes), a.draws.eps.shape[1:], a.seqs.u.shape[2], shapes)


def _groups(prepared):
    groups = defaultdict(list)
    for i, call in prepared:
        groups[_key(call)].append((i, call))
    return list(groups.values())


def stack_calls(launch, calls):
    """The stacked kernel arguments ``(codes, seqs, draws, model, prop)`` of prepared ``calls`` (sharing
    :func:`_key`; host arrays), the model index of every sequence, and each call's slice of the sequence
    axis. ``launch`` is :mod:`lowrank.kernels.cuda`."""
    args = [c.args for c in calls]
    cat = lambda xs: np.ascontiguousarray(np.concatenate(xs, axis=0))  # noqa: E731
    seqs = Sequences(*(cat([getattr(a.seqs, f) for a in args]) for f in Sequences._fields))
    draws = Draws(*(cat([getattr(a.draws, f) for a in args]) for f in Draws._fields))
    model = launch.stack_models([a.model for a in args])
    prop = launch.stack_proposals([a.prop for a in args])
    sizes = [a.seqs.y.shape[0] for a in args]
    model_of = np.repeat(np.arange(len(args), dtype=np.int64), sizes)
    ends = np.cumsum(sizes)
    slices = [slice(int(e - n), int(e)) for e, n in zip(ends, sizes)]
    return (args[0].codes, seqs, draws, model, prop), model_of, slices


def _run_group(launch, group, out):
    """Forward for every call of the group in one launch, then backward for those that want gradients.

    The common case of training (every call wants its gradient and none fails) keeps the inputs and
    the records on the device between the two launches; only ``ell`` and ``fail`` (and the particles,
    when asked for) come back after the forward pass."""
    calls = [c for _, c in group]
    stacked, model_of, slices = stack_calls(launch, calls)
    dev = [stacked[0]] + [launch.upload(x) for x in stacked[1:]]
    dmodel_of = launch.upload_array(model_of)
    S, T, K, R = stacked[2].eps.shape
    drec = launch.device_records(S, T, K, R)
    launch.smc_forward_cuda(*dev, drec, model_of=dmodel_of)
    wanted = ("ell", "fail") if not any(c.with_particles for c in calls) else Records._fields
    rec = Records(*(getattr(drec, f).copy_to_host() if f in wanted else None for f in Records._fields))
    ok = []
    for (i, call), sl in zip(group, slices):
        r = Records(*(None if x is None else x[sl] for x in rec))
        try:
            check_records(call.args, r)
        except FloatingPointError as exc:
            out[i] = exc
            continue
        ok.append((i, call, r))
    want = [(i, call, r) for i, call, r in ok if call.grad]
    if len(want) == len(group):
        grads = _backward(launch, want, dev, drec, dmodel_of, slices)       # all on the device
    else:
        grads = _backward_group(launch, [(i, c, r) for i, c, r in want], drec, slices, group) if want else {}
    for i, call, r in ok:
        out[i] = finish_call(call, r, grads.get(i, (None, None)))


def _backward_group(launch, want, drec, slices, group):
    """``{index: (Params, flat)}`` of the calls in ``want`` (a subset of the group), in one backward launch
    of their own sequences."""
    stacked, model_of, sub = stack_calls(launch, [c for _, c, _ in want])
    pos = {i: sl for (i, _), sl in zip(group, slices)}
    full = Records(*(x.copy_to_host() for x in drec))
    rec = Records(*(np.ascontiguousarray(np.concatenate([x[pos[i]] for i, _, _ in want], axis=0)) for x in full))
    return _backward(launch, want, stacked, rec, model_of, sub)


def _backward(launch, want, stacked, rec, model_of, slices):
    """One backward launch over ``stacked`` (the calls of ``want``, in order, at ``slices``); their gradients."""
    first = want[0][1]
    lay, _, dsteps = backward_buffers(first.args, first.params, first.opts)
    S = stacked[2].eps.shape[0]
    gbuf, dsteps = np.empty((S, lay.size)), np.zeros((S,) + dsteps.shape[1:])
    launch.smc_backward_cuda(*stacked, rec, lay, gbuf, dsteps, model_of=model_of)
    return {i: finish_gradient(call, *gradient_blocks(call.args, call.params, call.opts, lay, gbuf[sl], dsteps[sl]))
            for (i, call, _), sl in zip(want, slices)}
