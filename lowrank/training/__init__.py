"""Training: the fit, its loop, optimisers, minibatches and checkpoints (DESIGN §2).

``fit(model, y, ...)`` (:mod:`.fit`) is the functional entry (``LowRankRNN.fit``
delegates to it): it validates the settings (:mod:`.settings`), builds the
loss (:mod:`.loss`: minibatches from :mod:`.batches`, held-out data) and hands
it to the training loop (:mod:`.trainer`), which reports on stderr
(:mod:`.progress`) and writes resumable checkpoints (:mod:`.resume`,
:mod:`.checkpoint`). :mod:`.optim` holds Adam and RAdam, :mod:`.history` what
a fit records and returns.
"""
from .errors import FitError
from .fit import fit
from .history import FitResult, History
from .optim import Adam, RAdam

__all__ = ["fit", "FitError", "FitResult", "History", "Adam", "RAdam"]
