"""numba.cuda twins of the CPU SMC kernels (an optional extra: needs numba-cuda).

Never imported by :mod:`lowrank` or :mod:`lowrank.kernels`; importing this
package imports ``numba.cuda``. Under ``NUMBA_ENABLE_CUDASIM=1`` (set before
numba is imported) the kernels run in numba's CUDA simulator.

Modules, one job each:

- :mod:`.device`       per-thread device functions: activations, read-out, link and likelihood terms
- :mod:`.step_inputs`  what a step's particles share (input drive, read-out offset, residual), per block
- :mod:`.blockreduce`  block-wide reductions over particles (log-sum-exp, ESS, prefix sums) and resampling
- :mod:`.smallmat`     (R, R) Cholesky factor, triangular solves, Cholesky adjoint
- :mod:`.propose`      one particle's move and weight under each proposal
- :mod:`.forward`      the forward pass (:func:`~.forward.filter_kernel`)
- :mod:`.backward`     its reverse mode (:func:`~.backward.reverse_kernel`)
- :mod:`.simulate`     the latent dynamics from given noise
- :mod:`.stack`        populations of models for one launch (``stack_models``, ``stack_proposals``)
- :mod:`.launch`       host wrappers: ``smc_forward_cuda``, ``smc_backward_cuda``, device-resident data

Results equal the CPU kernels' on the same draws to rounding (the device
uses plain ``math`` functions and tree reductions), and repeated launches
are bit-identical (fixed reduction orders, no atomics).
"""
from .launch import device_records, smc_backward_cuda, smc_forward_cuda, threads_per_block, upload, upload_array
from .simulate import simulate_latents_cuda
from .stack import model_index, stack_models, stack_proposals

__all__ = ["smc_forward_cuda", "smc_backward_cuda", "simulate_latents_cuda", "stack_models", "stack_proposals",
           "model_index", "upload", "upload_array", "device_records", "threads_per_block"]
