"""Every setting of a model and a fit, described once.

:data:`TABLE` is the one list of options. Each :class:`Option` has a name (the
library's keyword argument), a kind, a default, a check, a help text and the
commands that take it. Everything else is derived from it:

- the library's validation of ``fit``'s settings (:func:`lowrank.training.settings.check_settings`
  calls :meth:`Option.check`);
- every command's flags: ``--`` and the name with dashes (``--n-particles``),
  with the older spellings (``--particles``) kept as aliases (:mod:`lowrank.cli.parser`);
- one TOML format for ``lowrank fit --config`` and ``lowrank fit-many
  --config/--settings`` (:func:`lowrank.cli.config.read_toml`): the keys are the names,
  with dashes or underscores, or an alias;
- the keys a ``fit-many`` setting may vary (:func:`setting_names`);
- the documentation's table of defaults in ``docs/user_guide/command_line.md``
  (:func:`markdown_table`, checked by a test; ``python -m lowrank.options --write FILE`` updates it).

A command's default equals the library's, except where the library has none
(``rank``, ``n_units``): there ``cli_default`` says what the command line takes, and
``default_note`` why.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple, Optional

from ._checks import check_bool, check_choice, check_float, check_int
from .inference.device import DEVICES
from .model.codes import PROPOSAL_CODE
from .model.encoder import ENCODER_ACTIVATIONS, PADDING_MODES, PADDINGS
from .model.options import ACTIVATIONS, LIKELIHOODS, LINKS, NOISE_TYPES, READOUTS, UNITS_READOUT_FROM

__all__ = ["Option", "TABLE", "REQUIRED", "options_for", "option", "setting_names", "model_names",
           "encoder_names", "fit_names", "markdown_table", "PROPOSALS", "RESAMPLERS",
           "OPTIMIZERS", "SMOOTHERS", "INITS"]

PROPOSALS = tuple(PROPOSAL_CODE)
RESAMPLERS = ("systematic", "stratified", "multinomial", "none")      # the default first
OPTIMIZERS = ("adam", "radam")
INITS = ("data", "random")
SMOOTHERS = ("backward", "ancestry")
ON_NONFINITE = ("raise", "stop")


class _Required:
    def __repr__(self):
        return "REQUIRED"


#: The default of an option the library requires (``rank``, ``n_units``).
REQUIRED = _Required()

FIT_COMMANDS = ("fit", "fit-many")


class Option(NamedTuple):
    """One setting.

    Attributes
    ----------
    name : str
        The library's keyword argument; the flag is ``--`` + name with dashes.
    kind : {"int", "float", "str", "bool", "ints", "floats", "path"}
        ``ints``/``floats``: a sequence (comma-separated on the command line, a list in TOML).
    default : object
        The library's default (:data:`REQUIRED` where it has none).
    help : str
    group : {"model", "encoder", "fit", "data", "run", "many", "posterior", "evaluate"}
        ``model``: a ``LowRankRNN`` argument; ``encoder``: an ``EncoderOptions`` field
        (``field``); ``fit``: a ``lowrank.fit`` setting; the others belong to commands.
    commands : tuple of str
        The commands that take it as a flag.
    low, high, low_open, high_open : bounds of a number
    choices : tuple of str, optional
    nullable : bool
        None is allowed (it means "not set": the library's rule applies).
    zero_is_none : bool
        On the command line and in TOML, 0 stands for None (``--window 0``: whole trials).
    aliases : tuple of str
        Older flag spellings, kept (also accepted as TOML keys).
    cli_default : object
        The command line's default where the library has none (else the library's).
    default_note : str
        How the default is decided when it is not a plain value (shown in help and the documentation).
    field : str
        The ``EncoderOptions`` field of an ``encoder`` option.
    by_likelihood : tuple of (str, object) pairs
        Defaults that depend on the model's likelihood (:meth:`default_for`), e.g. more particles and
        updates for spike counts, whose single bins say little.
    """

    name: str
    kind: str
    default: object
    help: str
    group: str = "fit"
    commands: tuple = FIT_COMMANDS
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    high_open: bool = False
    choices: Optional[tuple] = None
    nullable: bool = False
    zero_is_none: bool = False
    aliases: tuple = ()
    cli_default: object = None
    default_note: str = ""
    field: str = ""
    by_likelihood: tuple = ()

    def default_for(self, likelihood):
        """The default for a model with this likelihood (``"gaussian"``, ``"poisson"``)."""
        return dict(self.by_likelihood).get(likelihood, self.default)

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")

    @property
    def command_default(self):
        """What the command line uses when the flag is not given."""
        return self.cli_default if self.default is REQUIRED else self.default

    def check(self, value, where=None):
        """``value`` checked and normalised, as the library takes it; errors name ``where``
        (default: the name)."""
        where = self.name if where is None else where
        if value is None:
            if self.nullable or self.default is None:
                return None
            raise TypeError(f"{where} must be {self.describe(article=True)}; got None")
        return _CHECKS[self.kind](self, value, where)

    def convert(self, value, where=None):
        """A value from the command line or a TOML file (0 stands for None where ``zero_is_none``)."""
        if self.zero_is_none and isinstance(value, numbers.Real) and not isinstance(value, bool) and value == 0:
            return None
        return self.check(value, where)

    def describe(self, article=False):
        """The expected value in words, e.g. ``integer >= 1`` or ``one of relu, tanh`` (with ``article``:
        ``an integer >= 1``)."""
        if article:
            text = self.describe()
            return text if text.startswith("one of") else ("an " if text[0] in "aeiou" else "a ") + text
        if self.choices:
            return "one of " + ", ".join(self.choices)
        kind = {"int": "integer", "float": "finite number", "str": "string", "bool": "true or false",
                "ints": "list of integers", "floats": "list of numbers", "path": "file path"}[self.kind]
        if self.low is not None and self.high is not None:
            kind += f" in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        elif self.low is not None:
            kind += f" {'>' if self.low_open else '>='} {self.low:g}"
        return kind + (" (0: none)" if self.zero_is_none else "")

    def default_text(self):
        """The default as the help text and the documentation show it."""
        text = self.default_note or _value_text(self.command_default)
        for likelihood, value in self.by_likelihood:
            text += f"; {likelihood}: {_value_text(value)}"
        return text


def _value_text(d):
    if d is None:
        return "none"
    if isinstance(d, bool):
        return "on" if d else "off"
    if isinstance(d, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in d)
    return f"{d:g}" if isinstance(d, float) else str(d)


def _check_int(o, value, where):
    return check_int(where, value, None if o.low is None else int(o.low) + (1 if o.low_open else 0))


def _check_float(o, value, where):
    return check_float(where, value, low=o.low, high=o.high, low_open=o.low_open, high_open=o.high_open)


def _check_str(o, value, where):
    if o.choices:
        return check_choice(where, value, o.choices)
    if not isinstance(value, str):
        raise TypeError(f"{where} must be a string; got {type(value).__name__} {value!r}")
    return value


def _check_seq(o, value, where):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{where} must be {o.describe(article=True)}; got {type(value).__name__} {value!r}")
    one = _check_int if o.kind == "ints" else _check_float
    return tuple(one(o, v, f"{where}[{i}]") for i, v in enumerate(value))


def _check_path(o, value, where):
    import os
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise TypeError(f"{where} must be a path (str or PathLike); got {type(value).__name__}")


_CHECKS = {"int": _check_int, "float": _check_float, "str": _check_str,
           "bool": lambda o, v, w: check_bool(w, v), "ints": _check_seq, "floats": _check_seq,
           "path": _check_path}


# Spike counts: a bin says little (0.09 spikes on average in the paper's data), so a fit starts from the data
# (a random start finds the rotation of an oscillation on some seeds only), with more particles and windows
# that hold a cycle or two; the learning rate stays small so as not to lose that start (docs/experiments/spikes.md).
_SPIKES = {name: (("poisson", value),) for name, value in
           dict(n_particles=64, window=100, n_iter=2000, lr=3e-3, lr_end=3e-4).items()}


def _model(name, kind, default, help, **kw):
    return Option(name, kind, default, help, group="model", **kw)


def _enc(field, kind, help, alias=None, **kw):
    from .model.encoder import EncoderOptions
    default = getattr(EncoderOptions(), field)
    return Option(f"encoder_{field}", kind, default, "encoder proposal: " + help, group="encoder", field=field,
                  aliases=(alias,) if alias else (), **kw)


_POS = dict(low=0, low_open=True)
_NONNEG = dict(low=0)

TABLE = (
    # ---- the model (LowRankRNN) ----
    _model("rank", "int", REQUIRED, "rank R of the connectivity", cli_default=3, low=1,
           default_note="3 (the library requires it)"),
    _model("n_units", "int", REQUIRED, "units N", low=1, nullable=True, aliases=("--units",),
           default_note="D with --readout units, else 128 (the library requires it)"),
    _model("activation", "str", "relu", "unit nonlinearity", choices=ACTIVATIONS),
    _model("readout", "str", "latent", "what the observations read: the latents, or the first D units",
           choices=READOUTS),
    _model("likelihood", "str", "gaussian", "observation model (poisson: spike counts)", choices=LIKELIHOODS),
    _model("link", "str", "softplus", "Poisson link function", choices=LINKS),
    _model("units_readout_from", "str", "currents", "units read-out: the units' currents or rates",
           choices=UNITS_READOUT_FROM),
    _model("readout_input", "bool", False, "add W_v v_t to the latent read-out mean"),
    _model("bin_width", "float", 1.0, "Poisson bin width", **_POS),
    _model("shared_leak", "bool", False, "one leak for all latent dimensions"),
    _model("filter_inputs", "bool", False, "feed the inputs low-pass filtered with the leak"),
    _model("noise", "str", "diag", "transition noise covariance", choices=NOISE_TYPES),
    _model("init_noise", "str", "diag", "initial-state covariance", choices=NOISE_TYPES),
    # ---- the encoder proposal's network (EncoderOptions; any of them gives the model an encoder) ----
    _enc("kernel_sizes", "ints", "kernel size of each layer, the last the output's", "--encoder-kernels", low=1),
    _enc("channels", "ints", "channels of the hidden layers, one fewer than kernels", low=1),
    _enc("activation", "str", "hidden-layer nonlinearity", choices=ENCODER_ACTIVATIONS),
    _enc("padding", "str", "steps each output sees: causal (past), acausal (centred), windowed, lookahead",
         choices=PADDINGS),
    _enc("padding_mode", "str", "values outside a sequence", choices=PADDING_MODES),
    _enc("init_scale", "float", "initial encoder standard deviation", **_POS),
    _enc("constant_var", "bool", "one learned variance per latent dimension instead of one per step"),
    _enc("precision_scale", "float", "multiplies the encoder's precisions in the proposal (below 1 tempers it)",
         **_POS),
    # ---- the fit (lowrank.fit) ----
    Option("n_particles", "int", 10, "particles K", low=1, aliases=("--particles",),
           by_likelihood=_SPIKES["n_particles"]),
    Option("proposal", "str", None, "SMC proposal", choices=PROPOSALS,
           default_note="the model's: encoder with an encoder, else optimal for a linear-Gaussian read-out, "
                        "else bootstrap (bootstrap with missing data)"),
    Option("resample", "str", "systematic", "resampling scheme", choices=RESAMPLERS),
    Option("ess_threshold", "float", None, "resample only when the ESS falls below this fraction of K",
           low=0, high=1, low_open=True),
    Option("batch_size", "int", 10, "sequences per update", low=1),
    Option("window", "int", 50, "training window length (0 or None: whole trials; the default "
           "on trials no longer than it: whole trials)", low=1, nullable=True, zero_is_none=True, by_likelihood=_SPIKES["window"]),
    Option("drop_last", "bool", False, "whole trials: drop each epoch's incomplete last batch"),
    Option("augment_noise", "float", None, "std of white noise added to each training batch (smoothed "
           "recordings; Gaussian likelihood)", **_NONNEG),
    Option("n_iter", "int", None, "number of updates", low=1, aliases=("--iters",),
           default_note="1000 (or n_epochs x batches per epoch)", by_likelihood=_SPIKES["n_iter"]),
    Option("n_epochs", "int", None, "number of epochs instead of n_iter", low=1),
    Option("batches_per_epoch", "int", None, "batches per epoch (with n_epochs)", low=1),
    Option("init", "str", "data", "starting point of a new model: data (principal components of the "
           "training data and a regression of the dynamics on them) or random (the seeded initialisation); "
           "a fitted, loaded or assigned model always starts from its parameters", choices=INITS),
    Option("optimizer", "str", "adam", "optimiser", choices=OPTIMIZERS),
    Option("lr", "float", 1e-3, "initial learning rate", **_POS, by_likelihood=_SPIKES["lr"]),
    Option("lr_end", "float", None, "final learning rate, reached by exponential decay", **_POS,
           default_note="lr (no decay)", by_likelihood=_SPIKES["lr_end"]),
    Option("encoder_lr", "float", None, "learning rate of the encoder's weights", **_POS,
           default_note="lr / 10"),
    Option("betas", "floats", (0.9, 0.999), "Adam's beta1, beta2", low=0, high=1, high_open=True),
    Option("adam_eps", "float", 1e-8, "Adam's epsilon", **_POS),
    Option("clip_grad_norm", "float", None, "rescale the gradient to at most this norm", **_POS),
    Option("eval_every", "int", 50, "held-out evaluation period in updates", low=1),
    Option("eval_particles", "int", None, "particles of the held-out evaluations", low=1,
           default_note="n_particles"),
    Option("heldout", "float", None, "fraction of the data held out for monitoring and choosing the best "
           "parameters (0: none)", low=0, high=1, low_open=True, high_open=True, nullable=True,
           zero_is_none=True),
    Option("restore_best", "bool", False, "end a completed fit on the best parameters, not the last"),
    Option("on_nonfinite", "str", "raise", "after a non-finite update: raise, or stop on the best parameters",
           choices=ON_NONFINITE),
    Option("checkpoint_every", "int", None, "checkpoint period in updates", low=1, commands=("fit",)),
    # ---- running a fit ----
    Option("seed", "int", 0, "seed of the initialisation and the fit", group="run",
           commands=("fit", "posterior", "evaluate", "sample", "simulate"), **_NONNEG),
    Option("device", "str", "cpu", "where the particle filter runs (cuda: needs the cuda extra and a GPU; "
           "fit-many: every fit in lockstep)", group="run", choices=DEVICES),
    Option("checkpoint", "path", None, "checkpoint file, written when the fit stops (and every "
           "--checkpoint-every updates)", group="run", commands=("fit",)),
    Option("resume", "path", None, "continue from this checkpoint (may equal --checkpoint)", group="run",
           commands=("fit",)),
    # ---- the data (the command line's reading of a recording) ----
    Option("bin_size", "float", None, "bin width in seconds for an .nwb file's spike times (required for "
           ".nwb)", group="data", commands=("fit", "fit-many", "posterior", "evaluate"), **_POS),
    Option("correlated_noise", "bool", False, "full-covariance observation noise shaped like the data beyond "
           "its top R directions (latent Gaussian read-out)", group="data"),
    Option("data_hann", "int", None, "the recording was smoothed with this Hann window (with "
           "--correlated-noise or --unsmooth-below)", group="data", low=1),
    Option("unsmooth_below", "float", None, "with --data-hann: undo the smoothing below this frequency "
           "(cycles per step) before fitting", group="data", **_POS),
    # ---- many fits ----
    Option("seeds", "int", 5, "number of seeds (child seeds of --base-seed)", group="many",
           commands=("fit-many",), low=1),
    Option("base_seed", "int", 0, "the seeds are its children", group="many", commands=("fit-many",), **_NONNEG),
    Option("jobs", "int", None, "parallel fits on this machine", group="many", commands=("fit-many",), low=1,
           default_note="one per core"),
    Option("scheduler", "str", None, "run on a Dask cluster at this address, e.g. tcp://host:8786",
           group="many", commands=("fit-many",)),
    Option("threads", "int", None, "Numba threads per fit", group="many", commands=("fit-many",), low=1,
           default_note="cores / jobs, or each Dask worker's threads"),
    # ---- posterior ----
    Option("n_particles", "int", 100, "particles K", group="posterior", commands=("posterior",), low=1,
           aliases=("--particles",)),
    Option("proposal", "str", None, "SMC proposal", group="posterior", commands=("posterior",),
           choices=PROPOSALS, default_note="the model's"),
    Option("smoother", "str", "backward", "backward: reweight every step's particles; ancestry: trace the "
           "final particles' ancestors", group="posterior", commands=("posterior",), choices=SMOOTHERS),
    # ---- sample, simulate ----
    Option("n_trials", "int", 1, "number of trials", group="sample", commands=("sample",), low=1,
           aliases=("--trials",)),
    Option("n_steps", "int", 100, "steps per trial", group="sample", commands=("sample",), low=1,
           aliases=("--steps",)),
    Option("noise_scale", "float", 1.0, "scale of the latent noise (0: noise-free)", group="sample",
           commands=("sample",), **_NONNEG),
    Option("n_trials", "int", None, "number of trials", group="simulate", commands=("simulate",), low=1,
           aliases=("--trials",), default_note="the teacher's"),
    Option("n_steps", "int", None, "steps per trial", group="simulate", commands=("simulate",), low=1,
           aliases=("--steps",), default_note="the teacher's"),
    # ---- evaluate ----
    Option("smooth_hann", "int", None, "Hann window applied to the generated data", group="evaluate",
           commands=("evaluate",), low=1),
    Option("burn_in", "float", 0.25, "steps run and discarded before the compared series, as a fraction of T",
           group="evaluate", commands=("evaluate",), **_NONNEG),
    Option("context", "int", 50, "steps at the start of the recording that set the generated series' initial "
           "state (0: the model's initial-state distribution)", group="evaluate", commands=("evaluate",),
           **_NONNEG),
)


def options_for(command):
    """``{name: Option}`` of a command (``"fit"``, ``"fit-many"``, ``"posterior"``, ...)."""
    return {o.name: o for o in TABLE if command in o.commands}


def option(name, group=None):
    """The option ``name`` (of ``group`` where a name has two rows, e.g. ``n_particles``)."""
    rows = [o for o in TABLE if o.name == name and (group is None or o.group == group)]
    if not rows:
        raise KeyError(name)
    return rows[0]


def _names(*groups):
    return tuple(o.name for o in TABLE if o.group in groups)


def model_names():
    """The ``LowRankRNN`` arguments in the table."""
    return _names("model")


def encoder_names():
    return _names("encoder")


def fit_names():
    """The ``lowrank.fit`` settings."""
    return _names("fit")


def setting_names():
    """What a ``fit-many`` setting may vary: the model, its encoder and the fit's settings."""
    return _names("model", "encoder", "fit")


def markdown_table(command="fit"):
    """The documentation's table of a command's options: flag (aliases), default, meaning.

    Parameters
    ----------
    command : str, default "fit"
        A command of the table (``fit``, ``fit-many``, ``sample``, ...).

    Returns
    -------
    str
        A Markdown table, one row per option.
    """
    rows = ["| flag | default | meaning |", "|---|---|---|"]
    for o in options_for(command).values():
        flag = ", ".join(f"`{f}`" for f in (o.flag,) + o.aliases)
        rows.append(f"| {flag} | {o.default_text()} | {o.help} |")
    return "\n".join(rows)


def replace_markdown_table(text, command="fit"):
    """``text`` with the part between ``<!-- options:COMMAND -->`` and ``<!-- /options:COMMAND -->``
    replaced by :func:`markdown_table`; ValueError without both markers."""
    start, end = f"<!-- options:{command} -->", f"<!-- /options:{command} -->"
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise ValueError(f"the text has no {start} ... {end} markers")
    return text[:i + len(start)] + "\n" + markdown_table(command) + "\n" + text[j:]


def _main(argv=None):
    """``python -m lowrank.options``: print the table of ``fit``'s options; ``--write FILE`` puts it
    between the markers of FILE instead (``docs/user_guide/command_line.md``)."""
    import argparse

    from ._files import atomic_write
    p = argparse.ArgumentParser(prog="python -m lowrank.options", description=_main.__doc__.splitlines()[0])
    p.add_argument("--write", metavar="FILE", default=None, help="update the table between FILE's markers")
    args = p.parse_args(argv)
    if args.write is None:
        print(markdown_table("fit"))
        return 0
    with open(args.write, encoding="utf-8") as fh:
        text = replace_markdown_table(fh.read(), "fit")
    atomic_write(args.write, lambda fh: fh.write(text.encode("utf-8")))
    print(f"wrote the options table of {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
