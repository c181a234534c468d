"""Model options: the structural choices of a :class:`~lowrank.LowRankRNN`.

Options are validated once, here, and carried as a frozen dataclass. Kernels
never see strings: :func:`kernel_codes` turns the options into the small integers
named in :mod:`lowrank.model.codes`.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from .._checks import check_choice, check_int, check_positive_float
from .codes import ACTIVATION_CODE, LIKELIHOOD_CODE, LINK_CODE, READOUT_CODE
from .encoder import EncoderOptions

ACTIVATIONS = ("identity", "relu", "clipped_relu", "tanh")
READOUTS = ("latent", "units")
UNITS_READOUT_FROM = ("currents", "rates")
LIKELIHOODS = ("gaussian", "poisson")
LINKS = ("softplus", "exp")
NOISE_TYPES = ("full", "diag")



@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """Structural options of the low-rank RNN (see docs/design.md §1).

    Parameters
    ----------
    n_units : int
        Number of units ``N``.
    rank : int
        Rank ``R`` of the connectivity, ``1 <= R <= N``.
    n_obs : int
        Observed dimensions ``D``. For ``readout="units"`` the first ``D`` units
        are observed, so ``D <= N``.
    n_inputs : int
        Input dimensions ``U`` (0: no inputs).
    activation : {"identity", "relu", "clipped_relu", "tanh"}
        ``clipped_relu`` is ``phi(x) = relu(x + h) - relu(x)`` on the
        pre-activation ``x = M z + W_u v - h``: bounded, breakpoints at
        ``M z + W_u v = 0`` and ``= h``.
    readout : {"latent", "units"}
        ``latent``: mean ``W z + b (+ W_v v)``; ``units``: the first ``D``
        units' currents ``x = M z + W_u v`` (or rates ``phi(x - h)``), scaled
        by ``gain`` and shifted by ``b`` per unit.
    units_readout_from : {"currents", "rates"}
        Only for ``readout="units"``.
    readout_input : bool
        Add ``W_v v_t`` to the latent read-out mean.
    likelihood : {"gaussian", "poisson"}
    link : {"softplus", "exp"}
        Poisson link ``g``: counts ~ Poisson(g(mean) * bin_width).
    bin_width : float
        Poisson bin width ``Δ`` (> 0).
    shared_leak : bool
        One leak ``a`` for all latent dimensions instead of one per dimension.
    filter_inputs : bool
        Feed ``v_t`` = inputs low-pass filtered with the leak
        (``v_{t+1} = ā v_t + (1-ā) u_t``, ``v_0 = 0``, ``ā`` the mean leak)
        instead of ``v_t = u_t``.
    noise : {"full", "diag"}
        Transition noise covariance ``Σ_z = L_z L_zᵀ``, full or diagonal.
    init_noise : {"full", "diag"}
        Initial-state covariance ``Σ_0 = L_0 L_0ᵀ``, full or diagonal.
    encoder : EncoderOptions, dict, True or None
        The encoder proposal's network (``lowrank.model.encoder``), whose
        parameters are part of the model; ``True`` for the default network,
        a dict of ``EncoderOptions`` fields, or None for no encoder.

    Examples
    --------
    >>> opts = lowrank.ModelOptions(n_units=64, rank=2, n_obs=10, activation="clipped_relu")
    >>> opts.readout, opts.likelihood, opts.proposals
    ('latent', 'gaussian', ('bootstrap', 'optimal'))
    >>> lowrank.ModelOptions(n_units=4, rank=5, n_obs=3)
    Traceback (most recent call last):
    ...
    ValueError: rank must be between 1 and n_units=4; got rank=5
    """

    n_units: int
    rank: int
    n_obs: int
    n_inputs: int = 0
    activation: str = "relu"
    readout: str = "latent"
    units_readout_from: str = "currents"
    readout_input: bool = False
    likelihood: str = "gaussian"
    link: str = "softplus"
    bin_width: float = 1.0
    shared_leak: bool = False
    filter_inputs: bool = False
    noise: str = "diag"
    init_noise: str = "diag"
    encoder: Optional[EncoderOptions] = None

    def __post_init__(self):
        n_units = check_int("n_units", self.n_units, 1)
        rank = check_int("rank", self.rank, 1)
        if rank > n_units:
            raise ValueError(f"rank must be between 1 and n_units={n_units}; got rank={rank}")
        n_obs = check_int("n_obs", self.n_obs, 1)
        check_int("n_inputs", self.n_inputs, 0)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("readout", self.readout, READOUTS)
        check_choice("units_readout_from", self.units_readout_from, UNITS_READOUT_FROM)
        check_choice("likelihood", self.likelihood, LIKELIHOODS)
        check_choice("link", self.link, LINKS)
        check_choice("noise", self.noise, NOISE_TYPES)
        check_choice("init_noise", self.init_noise, NOISE_TYPES)
        if self.readout == "units" and n_obs > n_units:
            raise ValueError(
                f"n_obs must be <= n_units={n_units} for readout='units' (the first n_obs units are observed); got n_obs={n_obs}")
        if self.readout_input and self.readout != "latent":
            raise ValueError("readout_input=True needs readout='latent'")
        check_positive_float("bin_width", self.bin_width)
        for flag in ("readout_input", "shared_leak", "filter_inputs"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"{flag} must be True or False; got {getattr(self, flag)!r}")
        object.__setattr__(self, "encoder", _encoder_options(self.encoder))

    @property
    def linear_gaussian_readout(self):
        """True when ``y = B z + c + Gaussian noise`` (the optimal proposal applies)."""
        return self.likelihood == "gaussian" and (
            self.readout == "latent" or self.units_readout_from == "currents")

    @property
    def proposals(self):
        """Proposals this model supports: ``optimal`` needs a linear-Gaussian read-out,
        ``encoder`` a model with an encoder."""
        out = ("bootstrap", "optimal") if self.linear_gaussian_readout else ("bootstrap",)
        return out + ("encoder",) if self.encoder is not None else out

    @property
    def default_proposal(self):
        """``"encoder"`` for a model with an encoder (it was built to be used), else
        ``"optimal"`` where it applies (it is never worse than the bootstrap), else ``"bootstrap"``."""
        if self.encoder is not None:
            return "encoder"
        return "optimal" if self.linear_gaussian_readout else "bootstrap"

    def with_encoder(self, encoder=True):
        """These options with an encoder (``True``: the default network), or without one (None)."""
        return dataclasses.replace(self, encoder=encoder)

    def to_dict(self):
        d = dataclasses.asdict(self)
        # Without an encoder the dict is what earlier versions wrote, so they can still read the file.
        if self.encoder is None:
            del d["encoder"]
        else:
            d["encoder"] = self.encoder.to_dict()
        return d

    @classmethod
    def from_dict(cls, d):
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ValueError(f"unknown model options {sorted(unknown)}; valid: {sorted(fields)}")
        return cls(**d)


def _encoder_options(value):
    if value is None or isinstance(value, EncoderOptions):
        return value
    if value is True:
        return EncoderOptions()
    if value is False:
        return None
    if isinstance(value, dict):
        return EncoderOptions.from_dict(value)
    raise TypeError(f"encoder must be an EncoderOptions, a dict of its fields, True or None; got {type(value).__name__}")


def kernel_codes(opts: ModelOptions):
    """Integer codes for the kernels: (activation, readout, from_rates, likelihood, link)."""
    return (ACTIVATION_CODE[opts.activation], READOUT_CODE[opts.readout],
            int(opts.readout == "units" and opts.units_readout_from == "rates"),
            LIKELIHOOD_CODE[opts.likelihood], LINK_CODE[opts.link])
