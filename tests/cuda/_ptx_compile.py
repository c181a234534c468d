"""Compile the CUDA kernels to PTX for a real GPU (sm_90) without one: run as a script,
with the simulator off. The simulator runs kernels as Python and checks no types;
this runs numba-cuda's typing, lowering and NVVM on the kernels' real signature.

Without a driver, numba-cuda still asks for the current device's compute
capability and for NVRTC's list of architectures: both are answered here
(private hooks of numba-cuda 0.30). Exit status 0: compiled; 77: the CUDA
toolkit's NVVM is missing (the caller skips); anything else: a failure.
"""
import os
import sys
import types

import numba
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# the repository (this checkout's lowrank), tests/ (its conftest's random models), then this folder
sys.path[:0] = [os.path.dirname(os.path.dirname(HERE)), os.path.dirname(HERE), HERE]


def offline_cuda():
    """Answer numba-cuda's device queries for a GPU of compute capability 9.0."""
    import numba.cuda.cuda_paths as cuda_paths
    import numba.cuda.cudadrv.nvrtc as nvrtc
    import numba.cuda.dispatcher as dispatcher
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0))
    nvrtc.get_supported_ccs = lambda: [(7, 5), (8, 0), (8, 6), (8, 9), (9, 0)]
    cuda_paths._get_nvrtc_path = lambda: ("offline", "/nonexistent/libnvrtc.so")


def signatures():
    """The numba types of each kernel's arguments, from a small packed problem."""
    from factories import random_params
    from _cuda_cases import build, pairwise_cover
    from lowrank.kernels.cuda import backward, forward, launch
    from lowrank.kernels.cuda.simulate import latents_kernel
    from lowrank.kernels.cuda.stack import single
    from lowrank.kernels.smc_args import GradLayout, grad_layout, records
    args, opts, params = build(pairwise_cover(0)[0], 1, random_params)
    S, T, K, R = args.draws.eps.shape
    N, D, U = opts.n_units, opts.n_obs, opts.n_inputs
    model, prop = single(args.model, args.prop)
    common = (launch.kernel_codes(args.codes), args.seqs, args.draws, model, prop, records(S, T, K, R))
    model_of = np.zeros(S, dtype=np.int64)
    fwork = forward.ForwardScratch(np.empty((S, N)), np.empty((S, D)), np.empty((S, D)), np.empty(S))
    lay = GradLayout(*map(int, grad_layout(N, R, D, U, params.W_v.shape[1])))
    bwork = backward.BackwardScratch(*fwork, np.empty((S, lay.size, K)), np.empty((S, R, K)),
                                     np.empty((S, 3, U, K)), np.empty((S, 2 * R, K)))
    a2, a3, a1 = np.empty((2, 2)), np.empty((2, 2, 2)), np.empty(2)
    return {
        forward.filter_kernel: common + (model_of, fwork),
        backward.reverse_kernel: common + (lay, np.empty((S, lay.size)), np.empty((S, T, 2 * R)), model_of, bwork),
        latents_kernel: (a2, a3, a3, a2, a2, a1, a1, a2, a2, 0.5, 1, a3),
    }


def toolkit_missing(exc):
    """Whether ``exc`` says a library or file of the toolkit is missing (not that a kernel is wrong)."""
    name = type(exc).__name__
    return isinstance(exc, OSError) or "NotFound" in name or name == "CudaSupportError"


def main():
    from numba import cuda
    offline_cuda()
    for kernel, values in signatures().items():
        sig = tuple(numba.typeof(v) for v in values)
        try:
            ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0))
        except Exception as exc:   # noqa: BLE001 - sorted into "toolkit missing" and "kernel broken"
            if toolkit_missing(exc):
                print(f"the CUDA toolkit's NVVM or libdevice is not available: {exc}")
                sys.exit(77)
            raise
        print(kernel.py_func.__name__, len(ptx))


if __name__ == "__main__":
    main()
