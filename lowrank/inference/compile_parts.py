"""What the children of :mod:`.warmup` run: one part of the kernels compiled, and cached, each.

The parts (:data:`.warmup.PARTS`) split the kernels by what a call needs, so
that a Gaussian fit does not wait for the encoder, and two children share
the work on two cores. Each compiles with a tiny model every kernel its
part's calls reach from Python: all configurations share one compiled
signature (options reach the kernels as integer codes).
"""
import sys

import numpy as np
from numba.core import event

from ..kernels.smc_args import records
from ..model import ModelOptions, init_params
from ..model.encoder import EncoderOptions
from . import elbo as E
from . import warmup
from .encoder import Encoding, encode, encode_adjoint, layout

_GAUSSIAN = dict(n_units=4, rank=2, n_obs=3, activation="relu", readout="units")
_ENCODER = EncoderOptions(kernel_sizes=(2, 1), channels=(2,))


def _filter():
    """The particle filter, the draws and the optimal proposal's set-up."""
    opts = ModelOptions(**_GAUSSIAN)
    E.elbo(init_params(opts, 0), np.zeros((1, 2, 3)), options=opts, n_particles=2, proposal="optimal",
           grad=False)


def _gradient():
    """The reverse mode alone, on records of zeros (ancestors 0), and the optimal proposal's
    adjoint: no forward pass compiled here."""
    opts = ModelOptions(**_GAUSSIAN)
    p = init_params(opts, 0)
    call = E.prepare_call(p, np.zeros((1, 2, 3)), options=opts, n_particles=2, proposal="optimal")
    rec = records(1, 2, 2, 2)
    for a in (rec.Z, rec.F, rec.logW):
        a[...] = 0.0
    rec.anc[...] = 0
    rec.fail[...] = -1
    E.backward(call.args, rec, call.params, call.opts)


def _tiny_encoder():
    lay = layout(_ENCODER, 1, 1)
    return np.zeros(lay.size), np.zeros((1, 2, 1)), np.array([2]), lay


def _encoder():
    """The encoder network."""
    theta, y, lengths, _ = _tiny_encoder()
    encode(theta, _ENCODER, y, lengths, 1)


def _encoder_gradient():
    """The encoder network's reverse mode, on activations of zeros: no forward pass compiled here."""
    theta, y, lengths, lay = _tiny_encoder()
    z = np.zeros((1, 2, 1))
    hidden = np.zeros((1, 2, int(lay.ch_off[-1])))
    e = Encoding(z, z, z + 1.0, z + 1.0, hidden, hidden.copy(), lay)
    encode_adjoint(theta, _ENCODER, y, lengths, e, z, z)


def _fixed_points():
    """The fixed-point enumerator's kernels (both of its levels run, so both are compiled)."""
    from ..fixed_points import find_fixed_points

    rng = np.random.default_rng(0)
    M, N = rng.standard_normal((2, 4, 3))
    find_fixed_points(M, N, np.zeros(4), np.full(3, 0.5), method="enumerate")


_COMPILE = {"filter": _filter, "gradient": _gradient, "encoder": _encoder, "encoder_gradient": _encoder_gradient,
            "fixed_points": _fixed_points}


class _Announce(event.Listener):
    """Prints the name of each of lowrank's kernels as its compile starts (for the parent's progress)."""

    def on_start(self, ev):
        func = getattr(ev.data.get("dispatcher"), "py_func", None)
        if func is not None and func.__module__.startswith("lowrank."):
            print(warmup.KERNEL_LINE + func.__name__, flush=True)

    def on_end(self, ev):
        pass


def compile_part(part):
    """Compile (and cache) one part of the kernels (:data:`.warmup.PARTS`)."""
    warmup.mark_done()                # a child never spawns children
    if part not in _COMPILE:
        sys.exit(f"unknown part {part!r}; expected one of {sorted(_COMPILE)}")
    event.register("numba:compile", _Announce())
    _COMPILE[part]()
