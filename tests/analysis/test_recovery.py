"""Teacher–student recovery: fits with fixed seeds, checked against known answers.

These are the slowest tests of the suite (a fit each, tens of seconds): they
are the statistical claims of issue "training" and run with fixed seeds.
"""
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

import lowrank
from lowrank import teachers
from lowrank.analysis.recovery import compare_to_teacher
from lowrank.cli.fit import DEMO

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_gaussian_oscillator_recovery():
    """Frequency within 5 %, latent noise within 25 %, held-out ELBO within 0.05 nats/dim of the teacher's."""
    teacher = teachers.get("oscillator", seed=0)
    y = teacher.dataset(seed=0).y
    y_train, y_test = y[:DEMO["n_train"]], y[DEMO["n_train"]:]
    student = lowrank.LowRankRNN(20, 2, 20, activation="relu", readout="units", seed=1)
    student.fit(y_train, window=None, n_iter=DEMO["n_iter"], lr=DEMO["lr"], lr_end=DEMO["lr_end"],
                n_particles=10, verbose=0, seed=0)
    rec = compare_to_teacher(student, teacher, y_test, n_particles=10, seed=0)
    assert rec.frequency_error <= 0.05, rec.summary()
    assert rec.noise_error <= 0.25, rec.summary()
    assert rec.elbo_gap_per_dim <= 0.05, rec.summary()


def trial_spectra(x, smoothing=1.0):
    """Per unit: trial-averaged power spectrum (trial means removed), Gaussian-smoothed, normalised. (F, D)"""
    x = x - x.mean(axis=1, keepdims=True)
    p = (np.abs(np.fft.rfft(x, axis=1)) ** 2).mean(axis=0)
    p = gaussian_filter1d(p, smoothing, axis=0)
    return p / p.sum(axis=0)


def spectral_distance(a, b):
    pa, pb = trial_spectra(a), trial_spectra(b)
    return float(np.mean(np.sqrt(0.5 * np.sum((np.sqrt(pa) - np.sqrt(pb)) ** 2, axis=0))))


@pytest.mark.skipif(not (SHARED / "oscillator" / "continuous_data.npy").exists(),
                    reason=f"shared oscillator data not found at {SHARED / 'oscillator'}")
def test_shared_oscillator_spectra():
    """The paper's teacher data: generated trials' spectra within Hellinger 0.06 of the data's."""
    y = np.load(SHARED / "oscillator" / "continuous_data.npy").transpose(0, 2, 1).astype(np.float64)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    # the measure's own calibration, as stated in the issue: halves 0.021, white noise 0.60
    assert spectral_distance(y[idx[:100]], y[idx[100:]]) == pytest.approx(0.021, abs=0.003)
    assert spectral_distance(y, rng.standard_normal(y.shape)) == pytest.approx(0.60, abs=0.02)
    student = lowrank.LowRankRNN(20, 2, 20, activation="relu", readout="units", seed=1)
    student.fit(y, window=None, n_iter=2000, lr=1e-2, lr_end=1e-3, verbose=0, seed=0)
    gen = student.sample(len(y), y.shape[1], seed=5).y
    assert spectral_distance(y, gen) <= 0.06


def test_poisson_oscillator_mean_rates_with_bootstrap():
    """Counts from rates, bootstrap proposal: generated per-unit mean rates within 15 % of held-out data's."""
    teacher = teachers.get("oscillator_poisson", seed=0)
    y = teacher.dataset(seed=0).y
    y_train, y_test = y[:160], y[160:]
    student = lowrank.LowRankRNN(40, 2, 40, activation="relu", readout="units", units_readout_from="rates",
                                 likelihood="poisson", seed=1)
    student.fit(y_train, window=None, n_iter=2000, lr=2e-2, lr_end=2e-3, n_particles=16,
                proposal="bootstrap", verbose=0, seed=0)
    gen = student.sample(200, y.shape[1], seed=4).y
    rate_true, rate_gen = y_test.mean(axis=(0, 1)), gen.mean(axis=(0, 1))
    np.testing.assert_array_less(np.abs(rate_gen - rate_true) / rate_true, 0.15)


def _paper_teacher(d):
    """The paper's spiking teacher (../shared/data/spikes) as a LowRankRNN."""
    opts = lowrank.ModelOptions(n_units=40, rank=2, n_obs=40, readout="units", likelihood="poisson")
    p = lowrank.model.init_params(opts, 0)._replace(
        m=d["m"].astype(float), n=d["n"].astype(float), h=d["h"].astype(float), a=d["a"].astype(float),
        L_z=float(d["latent_noise_std"]) * np.eye(2), gain=np.full(40, float(d["gain"])),
        b=np.full(40, float(d["bias"])))
    return lowrank.LowRankRNN.from_params(p, opts)


def test_dynamics_kind_tells_a_noise_driven_spiral_from_a_limit_cycle():
    from lowrank.analysis.recovery import dynamics_kind
    spiral = dynamics_kind(teachers.get("oscillator", seed=0).model)
    assert spiral.kind == "1 stable fixed point" and not spiral.oscillates
    assert not spiral.limit_cycle_around_unstable
    assert spiral.describe() == spiral.kind                       # nothing to size
    path = SHARED / "spikes" / "oscillator_poisson.npz"
    if not path.exists():
        pytest.skip(f"the paper's spiking teacher is not at {path} (see ../shared/data/README.md)")
    cycle = dynamics_kind(_paper_teacher(np.load(path)))
    assert cycle.kind == "limit cycle around 1 unstable fixed point", cycle
    assert cycle.limit_cycle_around_unstable and cycle.amplitude > 0.1
    # The teacher's oscillation is its limit cycle: most of the spread of its noisy states.
    assert cycle.amplitude > 0.5 * cycle.spread, cycle
    assert cycle.describe().startswith(cycle.kind + " (noise-free amplitude ")


@pytest.mark.slow
def test_spike_counts_recover_the_papers_teacher_with_the_defaults():
    """A small version of bench/spikes.py: the library's defaults for spike counts (a start from the data, the
    bootstrap proposal with 64 particles, windows of 100) on 160 of the paper's trials, with 600 instead of
    2,000 updates: rates within 10 %, the teacher's frequency within 10 %, and noise-free dynamics that keep
    oscillating. Fixed seeds."""
    from lowrank.analysis.recovery import dominant_frequency, dynamics_kind
    path = SHARED / "spikes" / "oscillator_poisson.npz"
    if not path.exists():
        pytest.skip(f"the paper's spiking teacher is not at {path} (see ../shared/data/README.md)")
    d = np.load(path)
    y = d["y"][:160].astype(float)
    student = lowrank.LowRankRNN(40, 2, 40, readout="units", likelihood="poisson", seed=0)
    student.fit(y, n_iter=600, verbose=0)
    z = d["latents"].astype(float)
    true_rates = np.logaddexp(0, float(d["gain"]) * z @ d["m"].T + float(d["bias"])).mean(axis=(0, 1))
    rates = student.sample(200, 200, seed=1).mean.mean(axis=(0, 1))
    assert np.median(np.abs(rates - true_rates) / true_rates) <= 0.10
    f_true = dominant_frequency(_paper_teacher(d).sample(40, 2048, seed=2, obs_noise=False).y)
    f_fit = dominant_frequency(student.sample(40, 2048, seed=2, obs_noise=False).y)
    assert abs(f_fit - f_true) <= 0.10 * f_true, (f_fit, f_true)
    assert dynamics_kind(student).oscillates
