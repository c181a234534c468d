"""Dynamics of the noise-free latent map beyond fixed points (docs/design.md §5b).

* :func:`find_cycles`: every k-cycle of a rank-2 ``relu``/``clipped_relu``
  network, exactly, by a depth-first search over sequences of regions;
* :func:`sweep_inputs`: fixed points and their stability along a path of
  constant inputs, with branches, saddle-node and Hopf-like events;
* :func:`attractors`: where noise-free trajectories from random starts end
  (fixed point, periodic orbit, invariant closed curve or chaos).
"""
from .cycles import Cycles, CycleContinuum, find_cycles, latent_map, model_arrays

__all__ = ["Cycles", "CycleContinuum", "find_cycles", "latent_map", "model_arrays"]
from .sweep import Event, Sweep, sweep_inputs  # noqa: E402
from .attractors import Attractor, Attractors, attractors, lyapunov_exponent, rotation_number  # noqa: E402

__all__ += ["Event", "Sweep", "sweep_inputs", "Attractor", "Attractors", "attractors", "lyapunov_exponent",
            "rotation_number"]
