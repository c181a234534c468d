"""Provenance of fits (settings, seed, data fingerprint, version in the model file) and
``lowrank fit --config run.toml``."""
import hashlib

import numpy as np
import pytest

import lowrank
from lowrank.cli import main
from lowrank.training.provenance import data_fingerprint


def _sha(a):
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
    return hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest()


@pytest.fixture(scope="module")
def y():
    return lowrank.LowRankRNN(8, 2, 3, seed=3).sample(4, 12, seed=1).y


def test_fit_records_provenance_and_save_writes_it(y, tmp_path):
    m = lowrank.LowRankRNN(8, 2, 3, seed=5)
    assert getattr(m, "provenance_", None) is None
    m.fit(y, window=None, n_iter=2, batch_size=2, lr=1e-3, verbose=0)
    prov = m.provenance_
    assert prov["lowrank_version"] == lowrank.__version__ and prov["seed"] == 5
    assert prov["data"]["y"] == {"sha256": _sha(y), "shape": [4, 12, 3]}
    s = prov["settings"]
    assert s["n_iter"] == 2 and s["batch_size"] == 2 and s["window"] is None and s["proposal"] == "optimal"
    assert s["lr_end"] == 1e-3 and s["eval_particles"] == 10
    m.save(tmp_path / "m.npz")
    assert lowrank.LowRankRNN.load(tmp_path / "m.npz").provenance_ == prov
    from lowrank.io import read_metadata
    assert read_metadata(tmp_path / "m.npz")["provenance"] == prov
    # the functional fit records it too, with its own seed and the data as given
    m2 = lowrank.LowRankRNN(8, 2, 3, seed=5)
    lowrank.fit(m2, y[:3], window=None, n_iter=1, seed=9, verbose=0)
    assert m2.provenance_["seed"] == 9 and m2.provenance_["data"]["y"]["sha256"] == _sha(y[:3])


def test_files_without_provenance_still_load(tmp_path, capsys):
    m = lowrank.LowRankRNN(8, 2, 3)
    m.save(tmp_path / "plain.npz")
    assert "provenance" not in lowrank.io.read_metadata(tmp_path / "plain.npz")
    assert lowrank.LowRankRNN.load(tmp_path / "plain.npz").provenance_ is None
    assert main(["info", str(tmp_path / "plain.npz")]) == 0
    assert "sha256" not in capsys.readouterr().out


def test_data_fingerprint_covers_shape_and_bytes(y):
    assert data_fingerprint(y)["sha256"] == _sha(y)
    assert data_fingerprint(y.reshape(2, 24, 3))["sha256"] != data_fingerprint(y)["sha256"]
    z = y.copy()
    z[0, 0, 0] += 1e-12
    assert data_fingerprint(z)["sha256"] != data_fingerprint(y)["sha256"]
    lst = data_fingerprint([y[0], y[1, :5]])
    assert lst["shape"] == [[12, 3], [5, 3]]


def _fit_args(tmp_path, data, *extra):
    return ["fit", str(data), "--units", "6", "--rank", "2", "--window", "0", "--quiet",
            "--out", str(tmp_path / "m.npz"), *extra]


def test_config_file_sets_options_and_the_command_line_wins(y, tmp_path, capsys):
    data = tmp_path / "y.npy"
    np.save(data, y)
    cfg = tmp_path / "run.toml"
    cfg.write_text('iters = 3\nbatch-size = 2\nlr_end = 5e-4\nseed = 7\nparticles = 4\n')
    assert main(_fit_args(tmp_path, data, "--config", str(cfg), "--particles", "6")) == 0
    prov = lowrank.LowRankRNN.load(tmp_path / "m.npz").provenance_
    s = prov["settings"]
    assert s["n_iter"] == 3 and s["batch_size"] == 2 and s["lr_end"] == 5e-4 and s["n_particles"] == 6
    assert prov["seed"] == 7 and prov["data"]["y"]["sha256"] == _sha(y)
    assert main(["info", str(tmp_path / "m.npz")]) == 0
    out = capsys.readouterr().out
    assert _sha(y) in out and "fit n_iter" in out and f"fitted with lowrank  {lowrank.__version__}" in out
    # the data file and switches from the file too
    cfg.write_text(f'data = "{data}"\niters = 1\nunits = 6\nrank = 2\nwindow = 0\nquiet = true\nforce = true\n'
                   f'out = "{tmp_path / "m2.npz"}"\n')
    assert main(["fit", "--config", str(cfg)]) == 0
    assert lowrank.LowRankRNN.load(tmp_path / "m2.npz").options.n_units == 6


@pytest.mark.parametrize("text, words", [
    ("iterz = 3\n", ["unknown setting 'iterz'", "iters"]),
    ("iters = 0\n", ["iters", ">= 1"]),
    ("lr = \"fast\"\n", ["lr", "number"]),
    ("quiet = 1\n", ["quiet", "true or false"]),
    ("activation = \"sigmoid\"\n", ["activation", "must be one of"]),
    ("iters = \n", ["not a valid TOML"]),
    ("batch-size = 2\nbatch_size = 3\n", ["twice"]),
])
def test_bad_config_files(y, tmp_path, capsys, text, words):
    data = tmp_path / "y.npy"
    np.save(data, y)
    cfg = tmp_path / "run.toml"
    cfg.write_text(text)
    assert main(_fit_args(tmp_path, data, "--config", str(cfg))) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lowrank fit: error:") and "\n" not in err and "run.toml" in err, err
    for w in words:
        assert w in err, err
    assert not (tmp_path / "m.npz").exists()


def test_missing_config_file(tmp_path, capsys):
    assert main(["fit", "--config", str(tmp_path / "none.toml")]) == 2
    assert "none.toml" in capsys.readouterr().err
