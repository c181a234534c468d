"""Training: the fit loop, optimisers, data handling and checkpoints (DESIGN §2).

``fit(model, y, ...)`` is the functional entry (``LowRankRNN.fit`` delegates
to it); :mod:`.optim` holds Adam and RAdam, :mod:`.data` the data layouts,
windows and batches, :mod:`.checkpoint` the resumable checkpoint files.
"""
from .fit import FitResult, History, fit
from .optim import Adam, RAdam

__all__ = ["fit", "FitResult", "History", "Adam", "RAdam"]
