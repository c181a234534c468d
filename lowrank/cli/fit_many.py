"""``lowrank fit-many``: many seeds (x settings) of one recording, here or on a Dask cluster.

The run folder ``out`` holds ``fit-<setting>-seed-<seed>.npz`` per fit (written as
each fit finishes, with its provenance and its table row), ``table.csv`` and
``table.json``, ``best.npz`` (the highest best held-out ELBO, or final training ELBO
without held-out data) and ``plan.json`` (what is fitted: the data's fingerprint,
the same sha256 a fit records, the model, the fit settings and the settings
list). Rerunning with the same ``out`` and plan skips the fits whose model file
was written under this plan; a folder of another plan is refused unless
``force=True``, which reruns every fit (files of the old plan are never adopted).
A fit cut short by Ctrl-C is not a finished fit: it is not written, and the run
stops with ``KeyboardInterrupt``.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import warnings
from typing import NamedTuple, Optional

import numpy as np

from .._files import atomic_write
from ..options import encoder_names, option, options_for
from .files import as_path, check_folder, load_recording, same_file
from .parser import add_force, add_options, given
from .plan import check_plan, plan_fit

__all__ = ["FitManyOutcome", "fit_many_recording", "register", "run_command", "RUN_FILES"]

#: The files a run writes in its folder besides the fits.
RUN_FILES = ("plan.json", "table.csv", "table.json", "best.npz")


class FitManyOutcome(NamedTuple):
    """What :func:`fit_many_recording` returns.

    Attributes
    ----------
    table : list of dict
        One row per fit (every setting x seed, finished before or now), in order.
    best : dict or None
        The row of the model written to ``best.npz`` (None when no fit has a finite ELBO).
    out : str
        The run folder.
    ran, skipped : int
        Fits computed by this call, and fits found finished in ``out`` and not rerun.
    failed : list of dict
        The rows with an error.
    """

    table: list
    best: Optional[dict]
    out: str
    ran: int
    skipped: int
    failed: list

    def __repr__(self):
        return (f"FitManyOutcome({len(self.table)} fits in {self.out!r}: {self.ran} run, {self.skipped} skipped, "
                f"{len(self.failed)} failed)")


# ---- the run folder --------------------------------------------------------------------------------

def _check_not_an_output(data, out):
    """Refuse a data file that is one of the files the run writes in ``out`` (it would be overwritten)."""
    out = as_path("out", out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out!r} is a file; give a folder for the fits")
    if isinstance(data, (str, os.PathLike)) and os.path.isdir(out):
        name = os.path.basename(os.fspath(data))
        inside = same_file(os.path.dirname(os.path.abspath(os.fspath(data))), out)
        if inside and (name in RUN_FILES or (name.startswith("fit-") and name.endswith(".npz"))):
            raise ValueError(f"the data file {os.fspath(data)!r} is one of the files the run writes in "
                             f"--out {out!r}; copy it elsewhere or give another folder")
    return out


def _run_folder(out, plan, force):
    """Check the run folder against ``plan``; returns ``(out, plan id)``."""
    plan_file = os.path.join(out, "plan.json")
    check_folder("out", plan_file)
    text = json.dumps(plan, indent=2, sort_keys=True)
    if os.path.exists(plan_file) and not force:
        try:
            with open(plan_file) as fh:
                old = json.load(fh)
        except (OSError, ValueError):
            old = None
        if old != json.loads(text):
            diff = sorted(k for k in set(plan) | set(old or {}) if (old or {}).get(k) != plan.get(k))
            raise ValueError(f"--out {out!r} holds fits of another plan (differs in: {', '.join(diff) or 'plan.json'}); "
                             f"give another folder, or pass force=True to replace them")
    atomic_write(plan_file, lambda fh: fh.write(text.encode()))
    return out, hashlib.sha256(text.encode()).hexdigest()[:16]


def _fit_file(out, setting, seed):
    return os.path.join(out, f"fit-{setting:03d}-seed-{seed}.npz")


def _finished_row(path, plan_id):
    """The table row saved in a finished fit's model file of this plan, or None."""
    from ..io import read_model
    if not os.path.exists(path):
        return None
    try:
        row = read_model(path).extra.get("fit_many/row")
        row = None if row is None else json.loads(str(row[()]))
    except (ValueError, TypeError, KeyError):
        return None
    if row is None or row.pop("plan", None) != plan_id:
        return None                                # another plan's file (e.g. before --force): rerun it
    return row


def _write_table(out, table):
    import csv
    import io
    keys = []
    for row in table:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    atomic_write(os.path.join(out, "table.csv"), lambda fh: fh.write(buf.getvalue().encode()))
    text = json.dumps([{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
                       for row in table], indent=2, default=str)
    atomic_write(os.path.join(out, "table.json"), lambda fh: fh.write(text.encode()))


def _num(v):
    return float("nan") if v is None else float(v)


def _write_best(out, table):
    """Copy the best fit's model to ``best.npz``; its row, or None when no fit has a finite ELBO."""
    import shutil
    key = "best_heldout_elbo" if any(np.isfinite(_num(r["best_heldout_elbo"])) for r in table if r["file"]) \
        else "final_elbo"
    candidates = [r for r in table if r["file"] and np.isfinite(_num(r[key]))]
    if not candidates:
        return None
    best = max(candidates, key=lambda r: _num(r[key]))
    with open(os.path.join(out, best["file"]), "rb") as fh_in:
        atomic_write(os.path.join(out, "best.npz"), lambda fh: shutil.copyfileobj(fh_in, fh))
    return {**best, "chosen_by": key}


# ---- settings -------------------------------------------------------------------------------------

def _override(base_model, setting):
    """A setting in ``lowrank.fit_many``'s terms: the encoder fields become one ``encoder`` dict."""
    enc = {option(k).field: v for k, v in setting.items() if k in encoder_names()}
    out = {k: v for k, v in setting.items() if k not in encoder_names()}
    if enc:
        out["encoder"] = {**(base_model.get("encoder") or {}), **enc}
    return out


def _check_settings(plan, settings):
    """Every setting's model and fit checked before any fit runs."""
    from ..training.parallel import _model_keys
    keys = set(_model_keys())
    for i, st in enumerate(settings):
        try:
            check_plan({**plan.model, **{k: v for k, v in st.items() if k in keys}},
                       {**plan.fit, **{k: v for k, v in st.items() if k not in keys}}, plan.mask)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"setting {i} {st}: {exc}") from None


class _Progress:
    """``fit-many: 3/10 done, 2 running, 0 failed, ETA 1m20s`` on stderr as each fit finishes."""

    def __init__(self, total, workers, verbose):
        self.total, self.workers, self.verbose = total, workers, verbose
        self.done = self.failed = 0
        self.start = time.perf_counter()
        self.line(first=True)

    def line(self, first=False):
        if not self.verbose or not self.total:
            return
        left = self.total - self.done
        running = min(self.workers, left)
        eta = ""
        if self.done and left:
            s = (time.perf_counter() - self.start) / self.done * left
            eta = f", ETA {int(s // 60)}m{int(s % 60):02d}s"
        print(f"fit-many: {self.done}/{self.total} done, {running} running, {self.failed} failed{eta}",
              file=sys.stderr, flush=True)

    def fit_done(self, failed):
        self.done += 1
        self.failed += bool(failed)
        self.line()


def _backend(jobs, scheduler, threads, device):
    if scheduler is not None and jobs is not None:
        raise ValueError("jobs and scheduler exclude each other: jobs runs the fits on this machine, "
                         "scheduler on a Dask cluster")
    if device != "cpu" and (scheduler is not None or jobs is not None or threads is not None):
        raise ValueError(f"device={device!r} trains every fit in lockstep in this process: scheduler, jobs and "
                         f"threads do not apply")
    if scheduler is not None:
        return dict(backend="dask", client=scheduler), 1
    if device != "cpu":
        return dict(device=device), 1
    return dict(n_jobs=-1 if jobs is None else jobs), (os.cpu_count() or 1) if jobs is None else jobs


# ---- the run ---------------------------------------------------------------------------------------

def fit_many_recording(data, *, out="runs", force=False, settings=None, verbose=1, **options):
    """Fit many seeds (x settings) to a recording; write each model, a table and ``best.npz`` to ``out``.

    Parameters
    ----------
    data : path or ndarray
        As for :func:`lowrank.cli.fit.fit_recording`: ``.npy``, ``.npz`` (``y``, ``u``,
        ``mask``), ``.nwb`` (with ``bin_size``); the same reading, mask and inputs as ``fit``.
    out : path
        The run folder (module docstring).
    force : bool
        Replace a folder of another plan (rerun every fit).
    settings : path or list of dict, optional
        A TOML file (:mod:`lowrank.cli.config`: ``[[setting]]`` tables and/or a ``[grid]``)
        or a list of dicts of option names; every setting runs with every seed.
    verbose : int
        1: a progress line on stderr as each fit finishes (done, running, failed, ETA).
    **options
        Options of ``lowrank fit-many`` by name: those of ``lowrank fit`` (the same
        defaults) and ``seeds`` (5), ``base_seed``, ``jobs`` (one worker per core),
        ``scheduler`` (a Dask scheduler address), ``threads``, ``device``.

    Returns
    -------
    FitManyOutcome
    """
    from ..training.parallel import _child_seeds
    from .fit import _checked
    s = _checked(options, "fit-many")
    out = _check_not_an_output(data, out)
    setting_list = _settings_list(settings)
    rec = load_recording(data, bin_size=s.get("bin_size"))
    plan = plan_fit(rec, s)
    overrides = [_override(plan.model, st) for st in setting_list]
    _check_settings(plan, overrides)
    record = dict(data=rec.fingerprint(), model={k: v for k, v in plan.model.items() if k != "noise_basis"},
                  noise_basis=None if plan.model.get("noise_basis") is None else
                  hashlib.sha256(np.ascontiguousarray(plan.model["noise_basis"]).tobytes()).hexdigest(),
                  fit=plan.fit, settings=setting_list, base_seed=s.get("base_seed", 0),
                  masked=rec.mask is not None)
    out, plan_id = _run_folder(out, json.loads(json.dumps(record, default=str)), force)
    backend, workers = _backend(s.get("jobs"), s.get("scheduler"), s.get("threads"), s.get("device", "cpu"))
    if s.get("device", "cpu") != "cpu":
        from ..inference.device import device_kernels
        device_kernels(s["device"])                # a missing numba-cuda or GPU: one line, before any fit
    child = _child_seeds(s.get("seeds", option("seeds").default), s.get("base_seed", 0))
    rows = {} if force else {(k, c): r for k in range(len(setting_list)) for c in child
                             if (r := _finished_row(_fit_file(out, k, c), plan_id)) is not None}
    skipped = len(rows)
    progress = _Progress(len(setting_list) * len(child) - skipped, workers, verbose)
    interrupted = _run(plan, overrides, child, rows, out, plan_id, backend, s.get("threads"), progress)
    table = _table(out, setting_list, child, rows)
    if interrupted:
        raise KeyboardInterrupt
    best = _write_best(out, table)
    failed = [row for row in table if row["error"] is not None]
    return FitManyOutcome(table, best, out, len(table) - skipped, skipped, failed)


def _settings_list(settings):
    if settings is None:
        return [{}]
    if isinstance(settings, (str, os.PathLike)):
        from .config import read_toml
        conf = read_toml(settings, "fit-many", data_key=False)
        if conf.values:
            raise ValueError(f"{os.fspath(settings)}: top-level settings belong in --config; --settings takes "
                             f"[[setting]] tables and a [grid]")
        if conf.settings is None:
            raise ValueError(f"{os.fspath(settings)}: defines no setting (add [[setting]] tables or a [grid])")
        return conf.settings
    table = options_for("fit-many")
    return [{k: table[k].check(v, f"settings[{i}].{k}") if k in table else _unknown(k)
             for k, v in dict(st).items()} for i, st in enumerate(settings)]


def _unknown(key):
    raise ValueError(f"unknown setting {key!r}")


def _run(plan, overrides, child, rows, out, plan_id, backend, threads, progress):
    """Run the fits not in ``rows`` (grouped by the seeds they lack); True when one was interrupted."""
    from ..rnn import fit_many
    groups = {}
    for k in range(len(overrides)):
        todo = tuple(c for c in child if (k, c) not in rows)
        if todo:
            groups.setdefault(todo, []).append(k)
    for todo, ks in groups.items():
        def save(i, row, model, history, ks=ks):
            k = ks[row["setting"]]
            if history is not None and history.stop_reason == "interrupted":
                raise KeyboardInterrupt                # cut short: not a finished fit, and the run stops
            row = {**row, "setting": k}
            rows[(k, row["seed"])] = row
            if model is not None:
                extra = {} if history is None else history.to_extra()
                model.save(_fit_file(out, k, row["seed"]),
                           extra={**extra, "fit_many/row": np.array(json.dumps({**row, "plan": plan_id}))})
            progress.fit_done(row["error"] is not None)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)    # the failures are returned, not warned
                fit_many(plan.model, plan.y, plan.u, seeds=list(todo), settings=[overrides[k] for k in ks],
                         threads_per_job=threads, on_result=save, mask=plan.mask, **backend, **plan.fit)
        except KeyboardInterrupt:
            return True
    return False


def _table(out, setting_list, child, rows):
    table = []
    for k in range(len(setting_list)):
        for c in child:
            if (k, c) not in rows:
                continue
            row = dict(rows[(k, c)])
            row["file"] = os.path.basename(_fit_file(out, k, c)) if os.path.exists(_fit_file(out, k, c)) else None
            row["index"] = len(table)
            table.append(row)
    _write_table(out, table)
    return table


# ---- the command -------------------------------------------------------------------------------------

EPILOG = (
    "Every seed (child seeds of --base-seed) is fitted with every setting of --settings, a TOML file of "
    "[[setting]] tables and/or a [grid] of lists (keys: the option names, as in --config; window = 0: whole "
    "trials). --out is a folder: one model file per fit, written as it finishes, table.csv, table.json and "
    "best.npz (highest best held-out ELBO, else final training ELBO). Rerunning with the same --out skips the "
    "fits already finished; a folder of another plan (data, flags, settings) is refused without --force, which "
    "reruns every fit. Exit status 1 when any fit failed (the others are still written), 130 when interrupted.")


def register(sub):
    s = sub.add_parser("fit-many", help="fit many seeds (and settings) to data, here or on a Dask cluster",
                       epilog=EPILOG)
    s.add_argument("data", nargs="?", default=None,
                   help=".npy (T, D) or (trials, T, D), .npz with y (optional inputs u, mask), or .nwb spike "
                        "times (with --bin-size)")
    add_options(s, "fit-many")
    s.add_argument("--settings", default=None, metavar="GRID.toml", help="settings to run with every seed")
    s.add_argument("--config", default=None, metavar="TOML",
                   help="settings file: any option above as 'name = value' (and [[setting]]/[grid] tables); "
                        "options on the command line win")
    s.add_argument("--quiet", action="store_true", help="no progress line")
    s.add_argument("--out", default="runs", metavar="FOLDER", help="the run folder (default runs)")
    add_force(s)
    s.set_defaults(func=run_command)


def run_command(args, config, config_settings=None):
    """``lowrank fit-many``: ``config`` is the ``--config`` file's values (or empty)."""
    from .messages import one_line
    s = {**config, **given(args, "fit-many")}
    data = s.pop("data", None) if args.data is None else args.data
    if data is None:
        raise ValueError("give the data file (DATA, or data = \"...\" in --config)")
    if args.settings is not None and config_settings is not None:
        raise ValueError("give the settings in --settings or in --config's [[setting]]/[grid] tables, not both")
    res = fit_many_recording(data, out=args.out, force=args.force, verbose=0 if args.quiet else 1,
                             settings=args.settings if args.settings is not None else config_settings, **s)
    print(f"{len(res.table)} fits in {res.out}: {res.ran} run now, {res.skipped} already finished; "
          f"wrote table.csv and table.json")
    if res.best is not None:
        print(f"best: setting {res.best['setting']} seed {res.best['seed']} ({res.best['chosen_by']} "
              f"{res.best[res.best['chosen_by']]:.4f}); wrote {os.path.join(res.out, 'best.npz')}")
    if res.failed:
        first = res.failed[0]
        print(f"lowrank fit-many: error: {len(res.failed)} of {len(res.table)} fits failed (the first, setting "
              f"{first['setting']} seed {first['seed']}: {first['error_type']}: {one_line(first['error'])}); "
              f"rerun the same command to retry those without a model file", file=sys.stderr)
        return 1
    return 0
