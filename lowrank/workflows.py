"""The command line's work as plain Python functions (the public names of earlier versions).

They live in the :mod:`lowrank.cli` package, one module per command; this module
keeps their old import path::

    from lowrank import workflows
    out = workflows.fit_recording("rec.npy", rank=3, n_units=256, n_iter=5000, out="m.npz")
    ev = workflows.evaluate_recording("m.npz", "rec.npy", smooth_hann=15)
"""
from .cli.evaluate import evaluate_recording
from .cli.files import Recording, check_outputs, load_inputs, load_model, load_recording
from .cli.fit import DEMO, FitOutcome, demo_description, fit_demo, fit_recording
from .cli.fit_many import FitManyOutcome, fit_many_recording
from .cli.inspect import fixed_points_of, model_info
from .cli.plan import DEFAULT_UNITS
from .cli.posterior import posterior_latents
from .cli.simulate import sample_model, simulate_teacher

__all__ = ["Recording", "FitOutcome", "load_recording", "load_model", "check_outputs", "simulate_teacher",
           "sample_model", "model_info", "fixed_points_of", "fit_recording", "fit_demo", "evaluate_recording",
           "demo_description", "load_inputs", "posterior_latents", "DEMO", "DEFAULT_UNITS", "fit_many_recording",
           "FitManyOutcome"]
