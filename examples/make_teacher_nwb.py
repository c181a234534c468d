"""Write an NWB file of spikes from the built-in Poisson teacher, for trying the spike on-ramp.

    python examples/make_teacher_nwb.py --out teacher.nwb [--trials 200] [--bin-size 0.02] [--seed 0]

The teacher ``oscillator_poisson`` (a rank-2 network read out as Poisson
counts from 40 units) gives counts per bin; each count becomes that many
spike *times*, drawn uniformly within its bin, so binning them again at the
same bin size (``lowrank.data.read_nwb(path, bin_size)``) gives back exactly
the teacher's counts. The file holds:

- the Units table: 40 units with their spike times (seconds);
- the trials table: one row per trial (``start_time``, ``stop_time``; trials
  follow each other with a 0.5 s gap) and a text column ``block`` ("A" for
  the first half of the trials, "B" for the second);
- ``processing["behavior"]``: a TimeSeries ``latents`` with the teacher's
  true 2-D latent state at every bin centre, the "behaviour" a decoder of
  fitted latents can be scored against.

Runs in seconds. The file is written atomically (a temporary beside it, then
a rename). Needs pynwb: ``pip install "lowrank[nwb]"``.
"""
from __future__ import annotations

import argparse
import datetime
import os
import shutil
import sys
import tempfile

import numpy as np

import lowrank
from lowrank._files import atomic_write

GAP = 0.5        # seconds between trials


def teacher_spikes(n_trials=200, bin_size=0.02, seed=0):
    """The teacher's data set as spike times.

    Returns
    -------
    spike_times : list of (n_spikes_i,) arrays, one per unit, sorted, seconds
    trial_times : (n_trials, 2) start and stop times
    latents : (n_trials, T, 2) true latents; counts : (n_trials, T, 40) the counts they came from
    """
    data = lowrank.teachers.get("oscillator_poisson", seed=seed).dataset(n_trials=n_trials, seed=seed)
    counts = data.y.astype(np.int64)
    n, T, D = counts.shape
    starts = np.arange(n) * (T * bin_size + GAP)
    rng = np.random.default_rng(seed + 1)
    # Bin k of trial i is [starts[i] + k Δ, starts[i] + (k + 1) Δ). Spikes keep 1e-6 bins away from the
    # edges, where bin_spikes' rounding tolerance (1e-9 bins) could move them, so they bin back exactly.
    trial_of = np.repeat(np.arange(n), T)
    k_of = np.tile(np.arange(T), n)
    spike_times = []
    for d in range(D):
        c = counts[:, :, d].ravel()
        frac = np.repeat(k_of, c) + rng.uniform(1e-6, 1.0 - 1e-6, size=int(c.sum()))
        spike_times.append(np.sort(np.repeat(starts[trial_of], c) + frac * bin_size))
    trial_times = np.stack([starts, starts + T * bin_size], axis=1)
    return spike_times, trial_times, data.z, counts


def write_teacher_nwb(path, n_trials=200, bin_size=0.02, seed=0):
    """Write the teacher's spikes, trials and latents to the NWB file ``path``; returns the counts."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    spike_times, trial_times, latents, counts = teacher_spikes(n_trials, bin_size, seed)
    nwb = NWBFile(session_description="spikes of lowrank's oscillator_poisson teacher",
                  identifier=f"lowrank-oscillator_poisson-seed{seed}",
                  session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    for t in spike_times:
        nwb.add_unit(spike_times=t)
    nwb.add_trial_column("block", "A for the first half of the trials, B for the second")
    for i, (s, e) in enumerate(trial_times):
        nwb.add_trial(start_time=float(s), stop_time=float(e), block="A" if i < n_trials / 2 else "B")
    T = latents.shape[1]
    centres = (trial_times[:, :1] + (np.arange(T)[None] + 0.5) * bin_size).ravel()
    behavior = nwb.create_processing_module("behavior", "the teacher's true latent state")
    behavior.add(TimeSeries(name="latents", data=latents.reshape(-1, latents.shape[2]), unit="a.u.",
                            timestamps=centres, description="true latents at the bin centres"))
    # pynwb writes to a path; write it in a private folder, then move the bytes in atomically.
    with tempfile.TemporaryDirectory() as tmp:
        staged = os.path.join(tmp, "teacher.nwb")
        with NWBHDF5IO(staged, "w") as io:
            io.write(nwb)
        with open(staged, "rb") as src:
            atomic_write(path, lambda fh: shutil.copyfileobj(src, fh))
    return counts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="teacher.nwb")
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--bin-size", type=float, default=0.02, help="seconds per bin (default 0.02)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    counts = write_teacher_nwb(args.out, args.trials, args.bin_size, args.seed)
    print(f"wrote {args.out}: {counts.shape[2]} units, {counts.shape[0]} trials of {counts.shape[1]} bins "
          f"({args.bin_size} s), {int(counts.sum())} spikes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
