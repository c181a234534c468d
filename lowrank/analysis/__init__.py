"""Analyses: a fitted model and data in, numbers out.

- :mod:`.evaluation`   generated vs recorded data: ``D_stsp`` and ``D_H`` (``lowrank.evaluate``)
- :mod:`.cosmoothing`  held-out neurons' rates from the held-in ones, in bits per spike
                       (``lowrank.co_smoothing``)
- :mod:`.recovery`     teacher–student comparisons: what a fit recovered of a known network

What takes arrays only (``D_stsp``, spike statistics, the ridge decoder
``lowrank.decode``) lives in :mod:`lowrank.metrics`; these modules call it.
"""
from .cosmoothing import CoSmoothing, co_smoothing, heldin_model
from .evaluation import Evaluation, evaluate
from .recovery import Recovery, compare_to_teacher

__all__ = ["CoSmoothing", "Evaluation", "Recovery", "co_smoothing", "compare_to_teacher", "evaluate",
           "heldin_model"]
