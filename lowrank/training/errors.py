"""The documented failure of a fit: :class:`FitError`."""
from __future__ import annotations

__all__ = ["FitError"]


class FitError(FloatingPointError):
    """A fit that failed while computing, after it started (a non-finite ELBO, gradient or update,
    degenerate SMC, or any error once updates were made).

    It is a ``FloatingPointError``, so code that caught that before still does. The original
    exception is ``cause`` (and ``__cause__``).

    Parameters
    ----------
    message : str
    iteration, history, best_params, cause
        As the attributes below (keyword only).

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

    Examples
    --------
    A fit that diverges raises it (``on_nonfinite="stop"`` ends the fit on its best parameters
    instead); its best parameters can be put back:

    >>> model = lowrank.LowRankRNN(n_units=8, rank=2, n_obs=3, seed=0)
    >>> try:
    ...     model.fit(np.full((2, 20, 3), 1e300), n_iter=5, window=None, verbose=0)
    ... except lowrank.FitError as exc:
    ...     print("failed at update", exc.iteration, "because of", type(exc.cause).__name__)
    ...     model.params = exc.best_params
    failed at update 0 because of SMCDegeneracyError
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
