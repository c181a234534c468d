"""The command line, run as a user would."""
import subprocess
import sys

import numpy as np
import pytest

import lowrank
from lowrank.cli import main


def test_version_via_module():
    out = subprocess.run([sys.executable, "-m", "lowrank", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"lowrank {lowrank.__version__}"


def test_simulate_writes_arrays(tmp_path, capsys):
    out = tmp_path / "data.npz"
    assert main(["simulate", "--teacher", "oscillator", "--trials", "20", "--steps", "200", "--seed", "0",
                 "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f["y"].shape == (20, 200, 20) and f["z"].shape == (20, 200, 2) and "u" not in f.files
    assert main(["simulate", "--teacher", "ring", "--trials", "8", "--out", str(out), "--force"]) == 0
    with np.load(out) as f:
        assert f["u"].shape == (8, 60, 2)


def test_sample_and_info(tmp_path, capsys):
    p = tmp_path / "m.npz"
    lowrank.LowRankRNN(10, 2, 3, activation="tanh").save(p)
    assert main(["info", str(p)]) == 0
    assert "activation           tanh" in capsys.readouterr().out
    g = tmp_path / "gen.npz"
    assert main(["sample", str(p), "--steps", "30", "--trials", "2", "--out", str(g)]) == 0
    with np.load(g) as f:
        assert f["y"].shape == (2, 30, 3)


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    assert main(["simulate", "--steps", "0", "--out", str(tmp_path / "x.npz")]) == 2
    assert "argument --n-steps/--steps: must be an integer >= 1; got 0" in capsys.readouterr().err


@pytest.mark.slow
def test_fixed_points_and_evaluate_commands(tmp_path, capsys):
    from lowrank import teachers
    p = tmp_path / "bistable.npz"
    teachers.get("bistable").model.save(p)
    assert main(["fixed-points", str(p)]) == 0
    out = capsys.readouterr().out
    assert out.count(" stable ") == 2 and out.count(" saddle ") == 1
    assert main(["fixed-points", str(p), "--json"]) == 0
    import json
    assert len(json.loads(capsys.readouterr().out)["z"]) == 3
    t = teachers.get("oscillator")
    mp, dp = tmp_path / "osc.npz", tmp_path / "rec.npy"
    t.model.save(mp)
    np.save(dp, t.model.sample(1, 600, seed=0).y[0])
    assert main(["evaluate", str(mp), str(dp), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["dh"] < 0.2 and np.isfinite(res["dstsp"])


def _small_fit_args(tmp_path, n_obs):
    """A short tanh recording saved to tmp_path, and `lowrank fit` arguments for a 5-update fit of it."""
    y = lowrank.LowRankRNN(10, 2, n_obs, activation="tanh", seed=1).sample(n_trials=1, n_steps=300, seed=2).y[0]
    data = tmp_path / "rec.npy"
    np.save(data, y)
    out = tmp_path / "m.npz"
    args = ["fit", str(data), "--units", "10", "--rank", "2", "--activation", "tanh", "--iters", "5",
            "--window", "20", "--quiet", "--heldout", "0", "--out", str(out), "--force"]
    return y, out, args


def test_fit_on_a_file_with_augment_noise(tmp_path, capsys):
    y, out, args = _small_fit_args(tmp_path, 3)
    assert main(args + ["--augment-noise", "0.5"]) == 0
    noisy = lowrank.LowRankRNN.load(out).params
    assert main(args) == 0
    plain = lowrank.LowRankRNN.load(out).params
    assert not np.array_equal(noisy.W, plain.W)     # the noise reached the fit
    assert main(args + ["--augment-noise", "-1"]) == 2
    assert "argument --augment-noise: must be a finite number >= 0" in capsys.readouterr().err


def test_fit_with_correlated_noise(tmp_path, capsys):
    y, out, args = _small_fit_args(tmp_path, 4)
    args = args + ["--correlated-noise"]
    assert main(args + ["--data-hann", "15"]) == 0
    m = lowrank.LowRankRNN.load(out)
    want = lowrank.residual_noise_basis(y, 2, smoothing_gain=lowrank.metrics.hann_noise_gain(15))
    np.testing.assert_allclose(m.noise_basis, want)
    assert main(args[:-1] + ["--data-hann", "15"]) == 2
    assert "--data-hann only applies with --correlated-noise" in capsys.readouterr().err
    assert main(args + ["--likelihood", "poisson"]) == 2



def test_fit_with_unsmooth_below_fits_the_unsmoothed_recording(tmp_path, capsys):
    y, out, args = _small_fit_args(tmp_path, 3)
    assert main(args + ["--data-hann", "15", "--unsmooth-below", "0.1"]) == 0
    got = lowrank.LowRankRNN.load(out).params
    want = lowrank.LowRankRNN(n_units=10, rank=2, n_obs=3, activation="tanh", seed=0)
    want.fit(lowrank.metrics.hann_unsmooth(y, 15, max_freq=0.1), n_iter=5, window=20, batch_size=10,
             n_particles=10, lr=1e-3, heldout=None, seed=0, verbose=0)
    for name in ("W", "m", "n", "sigma"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want.params, name))
    assert main(args + ["--unsmooth-below", "0.1"]) == 2
    assert "--unsmooth-below needs --data-hann" in capsys.readouterr().err
    assert main(args + ["--data-hann", "15", "--unsmooth-below", "0.2"]) == 2
    err = capsys.readouterr().err
    assert "--unsmooth-below 0.2" in err and "reaches frequencies the 15-point Hann window removes" in err


def test_plot_options_write_images(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    from lowrank import teachers
    p = tmp_path / "bistable.npz"
    teachers.get("bistable").model.save(p)
    png = tmp_path / "fp.png"
    assert main(["fixed-points", str(p), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    t = teachers.get("oscillator")
    mp, dp, ev = tmp_path / "osc.npz", tmp_path / "rec.npy", tmp_path / "ev.png"
    t.model.save(mp)
    np.save(dp, t.model.sample(1, 300, seed=0).y[0])
    assert main(["evaluate", str(mp), str(dp), "--plot", str(ev)]) == 0
    assert ev.read_bytes()[:4] == b"\x89PNG"
    y, out, args = _small_fit_args(tmp_path, 3)
    hist = tmp_path / "hist.png"
    assert main(args + ["--plot", str(hist)]) == 0
    assert hist.read_bytes()[:4] == b"\x89PNG"
    assert f"wrote {hist}" in capsys.readouterr().out


def test_plot_option_without_matplotlib_fails_before_fitting(tmp_path, capsys, hide_matplotlib):
    y, out, args = _small_fit_args(tmp_path, 3)
    assert main(args + ["--plot", str(tmp_path / "h.png")]) == 2
    assert "pip install 'lowrank[plot]'" in capsys.readouterr().err
    assert not out.exists()


def _counts_file(tmp_path, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.poisson(0.3, (6, 30, 5)).astype(np.int64)
    path = tmp_path / "counts.npz"
    np.savez(path, y=y)
    return y, path


def test_fit_counts_with_the_encoder_proposal(tmp_path, capsys):
    """``lowrank fit counts.npz --likelihood poisson --readout units --proposal encoder`` and its flags."""
    y, data = _counts_file(tmp_path)
    out = tmp_path / "m.npz"
    base = ["fit", str(data), "--likelihood", "poisson", "--readout", "units", "--rank", "2", "--iters", "3",
            "--window", "0", "--quiet", "--out", str(out), "--force"]
    assert main(base + ["--proposal", "encoder", "--encoder-kernels", "5,1", "--encoder-channels", "4",
                        "--encoder-padding", "acausal", "--encoder-padding-mode", "reflect",
                        "--encoder-init-scale", "0.5", "--encoder-constant-var"]) == 0
    m = lowrank.LowRankRNN.load(out)
    enc = m.options.encoder
    assert (enc.kernel_sizes, enc.channels, enc.padding, enc.padding_mode, enc.init_scale, enc.constant_var) == (
        (5, 1), (4,), "acausal", "reflect", 0.5, True)
    assert m.options.default_proposal == "encoder" and m.params.enc.size > 0
    # an --encoder-* flag alone gives the model an encoder (and its proposal)
    assert main(base + ["--encoder-kernels", "3,1", "--encoder-channels", "2"]) == 0
    assert lowrank.LowRankRNN.load(out).options.encoder.kernel_sizes == (3, 1)
    capsys.readouterr()
    assert main(base + ["--proposal", "bootstrap", "--encoder-kernels", "3,1", "--encoder-channels", "2"]) == 2
    assert "--encoder-* flags configure the encoder proposal" in capsys.readouterr().err
    assert main(base + ["--proposal", "encoder", "--encoder-kernels", "3,1"]) == 2
    err = capsys.readouterr().err
    assert "--encoder-kernel-sizes" in err and "channels must have one entry fewer than kernel_sizes" in err
    assert main(base + ["--encoder-kernels", "3,x"]) == 2
    assert "must be integers separated by commas" in capsys.readouterr().err
    assert main(base + ["--teacher", "oscillator_poisson"]) == 2
    assert "--teacher picks the demo's data" in capsys.readouterr().err


def test_spiking_demo_takes_the_librarys_defaults_for_spike_counts(tmp_path, capsys):
    out = tmp_path / "demo.npz"
    assert main(["fit", "--teacher", "oscillator_poisson", "--iters", "2", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    m, _ = lowrank.LowRankRNN.load(out, with_extra=True)
    s = m.provenance_["settings"]
    assert m.options.encoder is None and s["proposal"] == "bootstrap"
    assert (s["n_particles"], s["init"], s["lr"]) == (64, "data", 3e-3)


def test_spiking_demo_uses_the_teachers_read_out_and_the_encoder(tmp_path, capsys):
    out = tmp_path / "demo.npz"
    assert main(["fit", "--teacher", "oscillator_poisson", "--iters", "2", "--particles", "4", "--quiet",
                 "--encoder-kernels", "3,1", "--encoder-channels", "4", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "'oscillator_poisson' teacher's data set" in text and "spike counts of 40 units" in text
    m = lowrank.LowRankRNN.load(out)
    o = m.options
    assert (o.likelihood, o.readout, o.units_readout_from, o.n_units, o.rank) == ("poisson", "units", "rates", 40, 2)
    assert o.encoder is not None and o.default_proposal == "encoder"
