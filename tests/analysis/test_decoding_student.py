"""Decoding a teacher's true latents from a fitted student's posterior latents (issue 15, item 4)."""
import numpy as np

import lowrank


def test_student_posterior_latents_decode_the_teachers_latents():
    teacher = lowrank.teachers.get("oscillator", seed=0)
    data = teacher.dataset(seed=0)
    y_train, y_test, z_test = data.y[:160], data.y[160:], data.z[160:]
    student = lowrank.LowRankRNN(n_units=20, rank=2, n_obs=20, readout="units", seed=1)
    student.fit(y_train, window=None, n_iter=600, lr=1e-2, lr_end=1e-3, seed=1, verbose=0)
    latents = student.posterior(y_test, n_particles=100, seed=2).smooth_mean
    dec = lowrank.decode(latents, z_test, lags=0, cv=5)
    # the student's latent coordinates are an unknown linear map of the teacher's: decode them back
    assert np.all(dec.r2 >= 0.9), dec.r2
    # and a decoder from unrelated latents does not
    shuffled = latents[np.random.default_rng(0).permutation(len(latents))]
    assert np.all(lowrank.decode(shuffled, z_test, lags=0, cv=5).r2 < 0.3)
