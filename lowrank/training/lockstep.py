"""Fits in lockstep: many fits whose ELBO calls are gathered into one batched call per step.

On a GPU one fit of the paper's sizes fills a small fraction of the device,
but a seed study trains twenty fits of one configuration. :class:`Lockstep`
runs each fit in a thread of its own, with its own optimiser, learning-rate
schedule, held-out evaluations and early stop (the ordinary
:func:`lowrank.training.fit`), and hands every fit a *member* as its
``device``. A member's ``elbo`` call does not compute: it waits at a
barrier until every fit still running has asked, and the coordinating
thread (the caller's) then runs all the calls at once with
:func:`lowrank.inference.population.elbo_many` (one launch per step for
fits of one configuration) and hands back each result.

All compute happens in the coordinating thread, so the fits never compete for
the device or for the kernels' own thread pool (:mod:`lowrank.kernels.threads`,
which runs the draws and the encoder network, and on the CPU the sequences),
and each call draws from its own fit's Generator in a fixed order. A fit's
numbers are therefore those of the same fit run alone.
"""
from __future__ import annotations

import threading

from ..inference.population import elbo_many

__all__ = ["Lockstep"]


class _Member:
    """What one fit sees as its ``device``: an ``elbo`` that waits for the batched call."""

    def __init__(self, hub, key):
        self._hub, self._key = hub, key

    def elbo(self, **kw):
        return self._hub.request(self._key, kw)


class Lockstep:
    """Run fits in lockstep on ``device`` ("cpu" or "cuda").

    Parameters
    ----------
    device : {"cpu", "cuda"}
        Where the batched calls run (:func:`~lowrank.inference.population.elbo_many`).
    """

    def __init__(self, device):
        self.device = device
        self._cond = threading.Condition()
        self._pending, self._results, self._finished = {}, {}, []
        self._inflight = set()         # keys whose calls the coordinator has taken and not answered yet
        self._live = 0
        self._interrupt = None
        self.batches = 0           # batched calls made (one per lockstep step or evaluation)

    def request(self, key, kw):
        with self._cond:
            if self._interrupt is not None:
                raise self._interrupt
            self._pending[key] = kw
            self._cond.notify_all()
            self._cond.wait_for(lambda: key in self._results)
            out = self._results.pop(key)
        if isinstance(out, BaseException):
            raise out
        return out

    def run(self, jobs, on_done=None):
        """Run ``jobs`` (callables ``job(device) -> result``), each in a thread with a member as its
        device; ``on_done(result)`` is called in this thread as each finishes. Returns the results
        in job order (a job's exception is re-raised here, after all have stopped)."""
        results = [None] * len(jobs)
        threads = [threading.Thread(target=self._work, args=(i, job, results), daemon=True)
                   for i, job in enumerate(jobs)]
        self._live = len(jobs)
        for t in threads:
            t.start()
        try:
            self._coordinate(results, on_done)
        except BaseException as exc:       # Ctrl-C, or a failing on_done: no fit may wait for ever
            self._stop_all(exc)
            raise
        finally:
            for t in threads:
                t.join()
        for r in results:
            if isinstance(r, _Raised):
                raise r.exc
        return results

    def _work(self, i, job, results):
        try:
            results[i] = job(_Member(self, i))
        except BaseException as exc:      # handed to the caller by run()
            results[i] = _Raised(exc)
        with self._cond:
            self._live -= 1
            self._finished.append(i)
            self._cond.notify_all()

    def _coordinate(self, results, on_done):
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._finished or (self._live and len(self._pending) == self._live)
                                    or not self._live)
                finished, self._finished = self._finished, []
                batch = dict(self._pending) if self._live and len(self._pending) == self._live else {}
                for key in batch:
                    del self._pending[key]
                self._inflight = set(batch)
                live = self._live
            if on_done is not None:
                for i in finished:
                    if not isinstance(results[i], _Raised):
                        on_done(results[i])
            if batch:
                keys = sorted(batch)
                out = elbo_many([batch[k] for k in keys], self.device)
                self.batches += 1
                with self._cond:
                    self._results.update(zip(keys, out))
                    self._inflight = set()
                    self._cond.notify_all()
            elif not live and not finished:
                return

    def _stop_all(self, exc):
        """Every waiting fit, and every later call, gets ``exc`` (a fit stops on Ctrl-C as a lone fit would)."""
        with self._cond:
            self._interrupt = exc
            for key in list(self._pending) + list(self._inflight):
                self._results[key] = exc
            self._pending.clear()
            self._inflight = set()
            self._cond.notify_all()


class _Raised:
    __slots__ = ("exc",)

    def __init__(self, exc):
        self.exc = exc
