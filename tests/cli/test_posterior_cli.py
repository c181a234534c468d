"""``lowrank posterior`` and ``workflows.posterior_latents``: latents out, the output policy, bad input."""
import numpy as np
import pytest

import lowrank
from lowrank import workflows
from lowrank.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("post")
    model = lowrank.LowRankRNN(8, 2, 3, activation="tanh", seed=1)
    model.save(d / "m.npz")
    s = model.sample(3, 25, seed=2)
    np.save(d / "y.npy", s.y)
    np.savez(d / "yb.npz", y=s.y, behavior=s.z[..., 0])
    np.savez(d / "bad_behavior.npz", y=s.y, behavior=np.zeros((3, 24)))
    return d, model, s


def _one_error_line(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("lowrank posterior: error:"), err
    for w in words:
        assert w in err, err
    return err


def test_latents_out_match_the_library(files, tmp_path, capsys):
    d, model, s = files
    out, parts = tmp_path / "lat.npz", tmp_path / "parts.npz"
    assert main(["posterior", str(d / "m.npz"), str(d / "y.npy"), "--out", str(out), "--particles-out", str(parts),
                 "--n-particles", "30", "--seed", "4"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    want = model.posterior(s.y, n_particles=30, seed=4)
    with np.load(out) as f:
        assert f["smooth_mean"].shape == (3, 25, 2) and f["smooth_cov"].shape == (3, 25, 2, 2)
        np.testing.assert_array_equal(f["smooth_mean"], want.smooth_mean)
        np.testing.assert_array_equal(f["smooth_cov"], want.smooth_cov)
        np.testing.assert_array_equal(f["filter_mean"], want.filter_mean)
        np.testing.assert_array_equal(f["filter_cov"], want.filter_cov)
        assert str(f["smoother"]) == "backward" and int(f["n_particles"]) == 30 and int(f["seed"]) == 4
    with np.load(parts) as f:
        np.testing.assert_array_equal(f["particles"], want.particles)
        np.testing.assert_array_equal(f["smooth_weights"], want.smooth_weights)
        assert "smoothed" not in f.files
    # the same from Python, with the ancestry smoother and the bootstrap proposal
    post = workflows.posterior_latents(d / "m.npz", d / "y.npy", n_particles=30, seed=4, smoother="ancestry",
                                       proposal="bootstrap", out=tmp_path / "a.npz", particles_out=tmp_path / "pa.npz")
    assert post.smoother == "ancestry"
    with np.load(tmp_path / "pa.npz") as f:
        np.testing.assert_array_equal(f["smoothed"], post.smoothed)
    with np.load(tmp_path / "a.npz") as f:
        assert not np.array_equal(f["smooth_mean"], want.smooth_mean)


def test_output_policy(files, tmp_path, capsys):
    d, _, _ = files
    out = tmp_path / "lat.npz"
    out.write_bytes(b"old")
    args = ["posterior", str(d / "m.npz"), str(d / "y.npy"), "--out", str(out), "--n-particles", "5"]
    assert main(args) == 2
    _one_error_line(capsys, "--out", "already exists", "--force")
    assert out.read_bytes() == b"old"
    assert main(args + ["--force"]) == 0
    assert main(["posterior", str(d / "m.npz"), str(d / "yb.npz"), "--out", str(d / "yb.npz"), "--force"]) == 2
    _one_error_line(capsys, "input file")
    assert main(["posterior", str(d / "m.npz"), str(d / "y.npy"), "--out", str(tmp_path / "x.npz"),
                 "--particles-out", str(tmp_path / "x.npz")]) == 2
    _one_error_line(capsys, "same file")
    with pytest.raises(ValueError, match="already exists"):
        workflows.posterior_latents(d / "m.npz", d / "y.npy", out=out)


def test_bad_arguments(files, tmp_path, capsys):
    d, _, _ = files
    base = ["posterior", str(d / "m.npz"), str(d / "y.npy"), "--out", str(tmp_path / "o.npz")]
    for extra, words in [(["--n-particles", "0"], ["--n-particles"]), (["--smoother", "forward"], ["--smoother"]),
                         (["--seed", "-1"], ["--seed"]), (["--proposal", "encoder"], ["--proposal", "encoder"])]:
        assert main(base + extra) == 2, extra
        _one_error_line(capsys, *words)
    assert main(["posterior", str(d / "m.npz"), str(d / "bad_behavior.npz"), "--out", str(tmp_path / "o.npz")]) == 2
    _one_error_line(capsys, "behavior", "25 steps")
    assert main(["posterior", str(d / "m.npz"), str(tmp_path / "missing.npy"), "--out", str(tmp_path / "o.npz")]) == 2
    _one_error_line(capsys, "missing.npy")
    assert not (tmp_path / "o.npz").exists()
    with pytest.raises(ValueError, match="n_particles"):
        workflows.posterior_latents(d / "m.npz", d / "y.npy", n_particles=0, out=tmp_path / "o.npz")
    with pytest.raises(TypeError, match="smoother"):
        workflows.posterior_latents(d / "m.npz", d / "y.npy", smoother=2, out=tmp_path / "o.npz")
    with pytest.raises(ValueError, match="out must be a path"):
        workflows.posterior_latents(d / "m.npz", d / "y.npy", out=None)


def test_plot_with_behavior(files, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    d, _, _ = files
    img = tmp_path / "lat.png"
    assert main(["posterior", str(d / "m.npz"), str(d / "yb.npz"), "--out", str(tmp_path / "o.npz"), "--plot",
                 str(img), "--n-particles", "10"]) == 0
    assert img.read_bytes()[:4] == b"\x89PNG"
    from lowrank.plotting import plot_latents
    post = lowrank.LowRankRNN.load(d / "m.npz").posterior(np.load(d / "y.npy"), n_particles=10)
    fig = plot_latents(post, trial=1, behavior=np.zeros((3, 25)))
    assert len(fig.axes) == 3


def test_plot_without_matplotlib_fails_before_computing(files, tmp_path, capsys, hide_matplotlib):
    d, _, _ = files
    assert main(["posterior", str(d / "m.npz"), str(d / "y.npy"), "--out", str(tmp_path / "o.npz"), "--plot",
                 str(tmp_path / "p.png")]) == 2
    _one_error_line(capsys, "matplotlib")
    assert not (tmp_path / "o.npz").exists()


def test_posterior_reads_nwb_with_a_bin_size(tmp_path, capsys):
    """``lowrank posterior MODEL FILE.nwb --bin-size S``; --bin-size with an array file is refused."""
    pytest.importorskip("pynwb")
    import pathlib
    import runpy
    nwb = tmp_path / "t.nwb"
    script = pathlib.Path(__file__).resolve().parents[2] / "examples" / "make_teacher_nwb.py"
    runpy.run_path(str(script))["main"](["--out", str(nwb), "--trials", "4"])
    model = tmp_path / "m.npz"
    lowrank.LowRankRNN(40, 2, 40, readout="units", units_readout_from="rates", likelihood="poisson").save(model)
    out = tmp_path / "lat.npz"
    assert main(["posterior", str(model), str(nwb), "--bin-size", "0.02", "--n-particles", "8",
                 "--out", str(out)]) == 0
    with np.load(out) as z:
        assert z["smooth_mean"].shape[0] == 4
    npy = tmp_path / "y.npy"
    np.save(npy, np.zeros((2, 5, 40)))
    capsys.readouterr()
    assert main(["posterior", str(model), str(npy), "--bin-size", "0.02", "--out", str(tmp_path / "x.npz")]) == 2
    assert "--bin-size" in capsys.readouterr().err
