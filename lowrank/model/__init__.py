"""The model: options, the parameter container and its transforms, the equations
in plain numpy, and the correlated-noise basis. The estimator users meet,
:class:`lowrank.LowRankRNN`, lives in :mod:`lowrank.rnn` on top of these."""
from .options import ModelOptions
from .params import Params, from_flat, grad_to_flat, init_params, n_params, to_flat
