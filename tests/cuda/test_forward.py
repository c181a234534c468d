"""The CUDA forward pass against the CPU kernel, on the same draws, over a pairwise cover
of the configurations."""
import numpy as np
import pytest

from lowrank.kernels.smc_args import records
from lowrank.kernels.smc_forward import smc_forward
from _cuda_cases import assert_records_equal, build, case_id, pairwise_cover

CASES = pairwise_cover(seed=0)


def run_both(gpu, args):
    cpu_rec, gpu_rec = records(*args.draws.eps.shape), records(*args.draws.eps.shape)
    smc_forward(*args, cpu_rec)
    gpu.smc_forward_cuda(*args, gpu_rec)
    return cpu_rec, gpu_rec


@pytest.mark.parametrize("i", range(len(CASES)), ids=[f"{i}:{case_id(c)}" for i, c in enumerate(CASES)])
def test_forward_matches_cpu(i, gpu, make_model):
    args, _, _ = build(CASES[i], 100 + i, make_model)
    cpu_rec, gpu_rec = run_both(gpu, args)
    assert np.all(cpu_rec.fail == -1)
    assert_records_equal(cpu_rec, gpu_rec, args.seqs.lengths)
