"""The model: options, the parameter container and its transforms, the estimator class."""
from .options import ModelOptions
from .params import Params, init_params, to_flat, from_flat, grad_to_flat, n_params
from .rnn import LowRankRNN, Sample
