"""One path from a recording and the table's settings to what a fit needs, for ``fit`` and ``fit-many``.

:func:`plan_fit` splits the settings by the option table's groups, reads what the
data decides (``n_obs``, ``n_inputs``, ``n_units`` for a units read-out), applies
the data options (correlated noise, un-smoothing), gives the model an encoder when
the settings ask for one, and checks the model and the fit settings before any
compute, so that a bad value fails once, with its name, not in every fit.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from ..options import encoder_names, fit_names, model_names, option

__all__ = ["FitPlan", "plan_fit", "DEFAULT_UNITS", "check_plan"]

#: n_units of a fit when none is given and the read-out is latent (the library itself has no default).
DEFAULT_UNITS = 128


class FitPlan(NamedTuple):
    """What a fit of a recording needs.

    Attributes
    ----------
    model : dict
        ``LowRankRNN`` arguments (without ``seed``).
    fit : dict
        ``lowrank.fit`` settings that were given (the others take the library's defaults).
    y, u, mask
        The data to fit (``y`` un-smoothed when asked), its inputs and missing-data mask.
    """

    model: dict
    fit: dict
    y: object
    u: Optional[np.ndarray]
    mask: Optional[np.ndarray]


def _check_data_options(rec, s):
    hann, below, corr = s.get("data_hann"), s.get("unsmooth_below"), s.get("correlated_noise", False)
    if hann is not None and not (corr or below is not None):
        raise ValueError("--data-hann only applies with --correlated-noise or --unsmooth-below")
    if below is not None and hann is None:
        raise ValueError("--unsmooth-below needs --data-hann: the Hann window that smoothed the recording")
    if below is not None and s.get("likelihood", "gaussian") != "gaussian":
        raise ValueError("--unsmooth-below applies to continuous recordings (Gaussian likelihood), not counts")
    if rec.mask is not None and (corr or below is not None):
        raise ValueError(f"the data in {rec.source} has a mask (missing values), which --correlated-noise and "
                         "--unsmooth-below cannot take: they filter or mix the channels")


def _encoder(s):
    fields = {option(n).field: s[n] for n in encoder_names() if n in s}
    proposal = s.get("proposal")
    if fields:
        from ..model.encoder import EncoderOptions
        try:
            EncoderOptions(**fields)
        except (TypeError, ValueError) as exc:
            names = ", ".join(option(f"encoder_{k}").flag for k in fields)
            raise type(exc)(f"the encoder flags ({names}): {exc}") from None
    if fields and proposal not in (None, "encoder"):
        raise ValueError(f"--encoder-* flags configure the encoder proposal; they do not go with "
                         f"--proposal {proposal}")
    return fields if (fields or proposal == "encoder") else None


def plan_fit(rec, settings):
    """The :class:`FitPlan` of recording ``rec`` (:class:`~.files.Recording`) under ``settings``
    (option names of ``lowrank fit``; those not given take the command's defaults)."""
    s = settings
    _check_data_options(rec, s)
    y, D = rec.y, rec.n_obs
    model = {n: s[n] for n in model_names() if n in s and s[n] is not None}
    model.setdefault("rank", option("rank").command_default)
    if "n_units" not in model:
        model["n_units"] = D if model.get("readout") == "units" else DEFAULT_UNITS
    model.update(n_obs=D, n_inputs=0 if rec.u is None else rec.u.shape[-1], encoder=_encoder(s))
    if s.get("correlated_noise"):
        from ..metrics import hann_noise_gain
        from ..model.noise_basis import residual_noise_basis
        gain = hann_noise_gain(s["data_hann"]) if s.get("data_hann") else 1.0
        model["noise_basis"] = residual_noise_basis(y, model["rank"], smoothing_gain=gain)
    if s.get("unsmooth_below") is not None:
        from ..metrics import hann_unsmooth
        try:
            y = hann_unsmooth(y, s["data_hann"], max_freq=s["unsmooth_below"], axis=y.ndim - 2)
        except ValueError as exc:
            raise ValueError(f"--unsmooth-below {s['unsmooth_below']:g} with --data-hann {s['data_hann']}: {exc}") \
                from None
    fit = {n: s[n] for n in fit_names() if n in s}
    return FitPlan(model, fit, y, rec.u, rec.mask)


def check_plan(model_kwargs, fit_kwargs, mask=None, checkpoint=None):
    """Build the model's options and check the fit settings (nothing is computed); returns the options."""
    from ..rnn import LowRankRNN
    from ..training.settings import check_settings
    opts = LowRankRNN(**model_kwargs).options
    proposal = fit_kwargs.get("proposal")
    if mask is not None and proposal is None and opts.default_proposal == "optimal":
        proposal = "bootstrap"
    if mask is not None and proposal == "optimal":
        raise ValueError("--proposal optimal needs every observation of a step; with missing values (a mask) "
                         "use --proposal bootstrap or encoder")
    check_settings(opts, checkpoint=checkpoint, **dict(fit_kwargs, proposal=proposal))
    return opts
