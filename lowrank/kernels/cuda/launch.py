"""Host wrappers of the CUDA SMC kernels: copy to the device, launch, copy back.

:func:`smc_forward_cuda` and :func:`smc_backward_cuda` take the CPU kernels'
structures (:mod:`lowrank.kernels.smc_args`) and fill ``rec`` / ``gbuf`` /
``dsteps`` as :func:`~lowrank.kernels.smc_forward.smc_forward` and
:func:`~lowrank.kernels.smc_backward.smc_backward` do.

Device-resident data. Every array field of ``seqs``, ``draws``, a *stacked*
``model``/``prop`` and the outputs may be a numba device array instead of a
numpy array: device arrays are used in place, numpy arrays are copied over
for the call. So a trainer uploads its data once (``upload(seqs)``), keeps
the device :class:`Records` of :func:`device_records` between the forward
and the backward pass, and copies back only what it reads. Outputs given as
numpy arrays are filled by copying back after the launch.

Populations: with ``model_of`` (S,) int64, ``model`` and ``prop`` are
stacked (:mod:`.stack`) and sequence ``s`` runs under model ``model_of[s]``.
Without it they are one model's, stacked here as a population of one.

Launch shape: one block per sequence, ``threads_per_block(K)`` threads.
"""
import numpy as np
from numba import cuda

from ..smc_args import GradLayout, Records
from .backward import BackwardScratch, reverse_kernel
from .blockreduce import MAX_THREADS
from .device import MAX_RANK
from .forward import ForwardScratch, filter_kernel
from .stack import single

MIN_THREADS = 32   # a warp: the block's shared loops (over units, channels) have at least that many lanes


def threads_per_block(K):
    """The block size for K particles: the smallest power of two ≥ max(K, MIN_THREADS)."""
    n = 1
    while n < max(K, MIN_THREADS):
        n *= 2
    if n > MAX_THREADS:
        raise ValueError(f"the CUDA kernels run at most {MAX_THREADS} particles per sequence; got K={K}")
    return n


def is_device_array(a):
    """Whether ``a`` is a numba device array (real or simulated)."""
    return hasattr(a, "copy_to_host")


def upload(structure):
    """The NamedTuple ``structure`` with its numpy arrays copied to the device (others kept)."""
    return type(structure)(*(cuda.to_device(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
                             for x in structure))


def upload_array(a):
    """``a`` copied to the device (C-contiguous)."""
    return cuda.to_device(np.ascontiguousarray(a))


def device_records(S, T, K, R):
    """Uninitialised device :class:`Records` (the kernels write what the CPU pass writes)."""
    return Records(cuda.device_array((S, T, K, R)), cuda.device_array((S, T, K, R)),
                   cuda.device_array((S, T, K), dtype=np.int64), cuda.device_array((S, T, K)),
                   cuda.device_array((S, T), dtype=np.int8), cuda.device_array((S, T)),
                   cuda.device_array(S, dtype=np.int64))


def kernel_codes(codes):
    """``codes`` with plain int and float fields (one compiled signature whatever the caller's types)."""
    return type(codes)(*(int(x) for x in codes[:-2]), float(codes.tau), float(codes.bin_width))


def population(model, prop, model_of, S):
    """``(model, prop, model_of)`` as the kernels take them: stacked, with a device ``model_of``."""
    if model_of is None:
        model, prop = single(model, prop)
        model_of = np.zeros(S, dtype=np.int64)
    elif len(model.mT.shape) != 3:
        raise ValueError("with model_of, model and prop must be stacked (lowrank.kernels.cuda.stack_models, "
                         f"stack_proposals); got model.mT of shape {model.mT.shape}")
    if isinstance(model_of, np.ndarray):
        model_of = np.ascontiguousarray(model_of, dtype=np.int64)
        M = model.mT.shape[0]
        if model_of.shape != (S,) or model_of.min() < 0 or model_of.max() >= M:
            raise ValueError(f"model_of must be ({S},) indices of the {M} stacked models; got shape "
                             f"{model_of.shape}, values in [{model_of.min()}, {model_of.max()}]")
    R = model.a.shape[1]
    if R > MAX_RANK:
        raise ValueError(f"the CUDA kernels support rank up to {MAX_RANK}; got rank {R}")
    return upload(model), upload(prop), cuda.to_device(model_of) if isinstance(model_of, np.ndarray) else model_of


def outputs_on_device(structure, make):
    """``structure`` itself if all its arrays are on the device, else fresh ones from ``make()``."""
    if all(is_device_array(x) for x in structure):
        return structure
    return make()


def copy_back(host, device):
    """Copy each device array of ``device`` into the numpy array at the same place of ``host``."""
    for h, d in zip(host, device):
        if h is not d:
            d.copy_to_host(h)


def smc_forward_cuda(codes, seqs, draws, model, prop, rec, model_of=None):
    """The particle filter of :func:`lowrank.kernels.smc_forward.smc_forward` on the GPU.

    Parameters
    ----------
    codes, seqs, draws, model, prop : as the CPU kernel (numpy or device arrays, see the module docstring)
    rec : Records
        Output, numpy or device arrays: ``Z, F`` (S, T, K, R), ``anc``, ``logW`` (S, T, K),
        ``resampled``, ``ell`` (S, T), ``fail`` (S,).
    model_of : (S,) int64, optional
        Model of each sequence for a stacked ``model``/``prop``.
    """
    S, T, K, R = draws.eps.shape
    model, prop, model_of = population(model, prop, model_of, S)
    seqs, draws = upload(seqs), upload(draws)
    out = outputs_on_device(rec, lambda: device_records(S, T, K, R))
    N, D = model.h.shape[1], seqs.y.shape[2]
    work = ForwardScratch(cuda.device_array((S, N)), cuda.device_array((S, D)), cuda.device_array((S, D)),
                          cuda.device_array(S))
    filter_kernel[S, threads_per_block(K)](kernel_codes(codes), seqs, draws, model, prop, out, model_of, work)
    copy_back(rec, out)


def smc_backward_cuda(codes, seqs, draws, model, prop, rec, lay, gbuf, dsteps, model_of=None):
    """The reverse mode of :func:`lowrank.kernels.smc_backward.smc_backward` on the GPU.

    Parameters
    ----------
    codes, seqs, draws, model, prop, model_of : as :func:`smc_forward_cuda`
    rec : Records
        As filled by the forward pass (numpy or device arrays).
    lay : GradLayout
        Offsets of the named blocks in a row of ``gbuf``.
    gbuf : (S, lay.size)
        Output: sequence s's contribution to every block.
    dsteps : (S, T, 2R), or (S, 0, 2R) without the encoder proposal
        Output: adjoints of the encoder's means and precisions (untouched past
        a sequence's length).

    Scratch: ``S · K · lay.size`` floats of per-particle gradient rows.
    """
    S, T, K, R = draws.eps.shape
    model, prop, model_of = population(model, prop, model_of, S)
    seqs, draws, rec = upload(seqs), upload(draws), upload(rec)
    d_gbuf = gbuf if is_device_array(gbuf) else cuda.device_array(gbuf.shape)
    d_dsteps = dsteps if is_device_array(dsteps) else cuda.to_device(dsteps)
    N, D, U = model.h.shape[1], seqs.y.shape[2], seqs.v.shape[2]
    work = BackwardScratch(cuda.device_array((S, N)), cuda.device_array((S, D)), cuda.device_array((S, D)),
                           cuda.device_array(S), cuda.device_array((S, lay.size, K)), cuda.device_array((S, R, K)),
                           cuda.device_array((S, 3, U, K)), cuda.device_array((S, 2 * R, K)))
    reverse_kernel[S, threads_per_block(K)](kernel_codes(codes), seqs, draws, model, prop, rec,
                                            GradLayout(*map(int, lay)), d_gbuf, d_dsteps, model_of, work)
    copy_back((gbuf, dsteps), (d_gbuf, d_dsteps))
