"""The documented failure of a fit: :class:`FitError`."""
from __future__ import annotations

__all__ = ["FitError"]


class FitError(FloatingPointError):
    """A fit that failed while computing, after it started (a non-finite ELBO, gradient or update,
    degenerate SMC, or any error once updates were made).

    It is a ``FloatingPointError``, so code that caught that before still does. The original
    exception is ``cause`` (and ``__cause__``).

    Attributes
    ----------
    iteration : int
        The iteration that failed (0-based); it equals the number of updates kept.
    history : History or None
        Those updates (``stop_reason="nonfinite"``, ``final_val_elbo`` the held-out ELBO of the
        kept parameters, NaN without held-out data).
    best_params : Params or None
        The best parameters so far (finite and valid), or the kept ones when there is no best yet.
    cause : BaseException or None
        What went wrong, e.g. a ``FloatingPointError`` or ``lowrank.smc.SMCDegeneracyError``.
    saved_to : str or None
        Where the command line (``lowrank fit``) wrote parameters after the failure, if it did.
    saved_what : {"best", "last good", "initial"} or None
        Which parameters it wrote.
    """

    def __init__(self, message, *, iteration=0, history=None, best_params=None, cause=None):
        super().__init__(message)
        self.iteration = int(iteration)
        self.history = history
        self.best_params = best_params
        self.cause = cause
        self.saved_to = None
        self.saved_what = None

    @property
    def saved_best(self):
        """True when the parameters written were the best ones."""
        return self.saved_what == "best"
