"""What the children of :mod:`.warmup` run: one part of the kernels compiled, and cached, each."""
import numpy as np

from ..kernels.smc_args import records
from ..model import ModelOptions, init_params
from ..model.encoder import EncoderOptions
from . import elbo as E
from . import warmup
from .encoder import prepare_encoder


def compile_part(part):
    """Compile (and cache) one part of the kernels with a tiny encoder model: ``"forward"``
    (the filter, the encoder network both ways, the draws) or ``"backward"`` (the reverse mode)."""
    warmup.mark_done()                # a child never spawns children
    opts = ModelOptions(n_units=4, rank=2, n_obs=3, activation="relu",
                        encoder=EncoderOptions(kernel_sizes=(2, 1), channels=(2,)))
    p = init_params(opts, 0)
    y = np.zeros((1, 2, 3))
    if part == "forward":
        E.elbo(p, y, options=opts, n_particles=2, proposal="encoder", grad=False)
        prepare_encoder()
        return
    # The reverse mode alone, on records of zeros (ancestors 0): no forward pass compiled here.
    call = E.prepare_call(p, y, options=opts, n_particles=2, proposal="encoder")
    rec = records(1, 2, 2, 2)
    for a in (rec.Z, rec.F, rec.logW):
        a[...] = 0.0
    rec.anc[...] = 0
    rec.fail[...] = -1
    E.backward(call.args, rec, call.params, call.opts)
