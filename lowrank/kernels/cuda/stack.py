"""Populations: several models of the same shapes stacked for one launch.

A stacked :class:`~lowrank.kernels.smc_args.ModelArrays` has a leading model
axis M on every field but ``mu_init`` (the scalars ``gconst``, ``abar``
become (M,) arrays); ``mu_init`` (S, R) holds every sequence's initial mean,
the models' rows concatenated. A stacked
:class:`~lowrank.kernels.smc_args.ProposalArrays` has the axis on every
field but the per-sequence ``emu``, ``eprec`` (S, T, R), concatenated the
same way. Sequence ``s`` of a launch uses model ``model_of[s]``.
"""
import numpy as np

from ..smc_args import ModelArrays, ProposalArrays

_PER_SEQUENCE_MODEL = ("mu_init",)
_PER_SEQUENCE_PROPOSAL = ("emu", "eprec")


def _stack(items, cls, per_sequence):
    fields = {}
    for name in cls._fields:
        parts = [getattr(x, name) for x in items]
        if name in per_sequence:
            fields[name] = np.ascontiguousarray(np.concatenate(parts, axis=0))
        else:
            fields[name] = np.ascontiguousarray(np.stack([np.asarray(p, dtype=np.float64) for p in parts]))
    return cls(**fields)


def stack_models(models):
    """One stacked :class:`ModelArrays` of a list of them (same shapes); ``mu_init`` concatenated."""
    return _stack(models, ModelArrays, _PER_SEQUENCE_MODEL)


def stack_proposals(props):
    """One stacked :class:`ProposalArrays` of a list of them (same shapes); ``emu``, ``eprec`` concatenated."""
    return _stack(props, ProposalArrays, _PER_SEQUENCE_PROPOSAL)


def model_index(sizes):
    """``model_of`` (S,) int64 for models with ``sizes[i]`` sequences each, in order."""
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)


def single(model, prop):
    """``model``, ``prop`` of one model as a stack of one (the M = 1 population)."""
    return stack_models([model]), stack_proposals([prop])
