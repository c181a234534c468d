"""Saving and loading models: exact round trip, clear errors, no pickle."""
import json
import re

import numpy as np
import pytest

import lowrank
from lowrank import io


@pytest.mark.parametrize("kw", [dict(), dict(activation="clipped_relu", noise="full", n_inputs=2, readout_input=True),
                                dict(readout="units", units_readout_from="rates", likelihood="poisson", link="exp")])
def test_save_load_sample_bit_identical(tmp_path, kw):
    model = lowrank.LowRankRNN(9, 2, 4, seed=3, **kw)
    path = tmp_path / "m.npz"
    model.save(path, extra={"history_elbo": np.arange(3.0)})
    loaded = lowrank.LowRankRNN.load(path)
    assert loaded.options == model.options
    for a, b in zip(model.params, loaded.params):
        assert np.array_equal(a, b)
    u = np.ones((2, 20, 2)) if kw.get("n_inputs") else None
    s1, s2 = model.sample(2, 20, inputs=u, seed=1), loaded.sample(2, 20, inputs=u, seed=1)
    assert np.array_equal(s1.y, s2.y) and np.array_equal(s1.z, s2.z)
    _, extra = lowrank.LowRankRNN.load(path, with_extra=True)
    assert np.array_equal(extra["history_elbo"], np.arange(3.0))
    # readable without pickle
    with np.load(path, allow_pickle=False) as f:
        # diagonal models are written as version 1 (see test_noise_basis)
        assert json.loads(str(f["__metadata__"][()]))["format_version"] == 1


def _rewrite(path, out, drop=(), meta_update=None):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files if k not in drop}
    if meta_update:
        meta = json.loads(str(arrays["__metadata__"][()]))
        meta.update(meta_update)
        arrays["__metadata__"] = np.array(json.dumps(meta))
    with open(out, "wb") as fh:
        np.savez(fh, **arrays)


def test_newer_format_version_is_refused(tmp_path):
    p = tmp_path / "m.npz"
    lowrank.LowRankRNN(5, 1, 2).save(p)
    _rewrite(p, tmp_path / "new.npz", meta_update={"format_version": io.FORMAT_VERSION + 1})
    with pytest.raises(ValueError, match="newer"):
        lowrank.LowRankRNN.load(tmp_path / "new.npz")


def test_missing_arrays_and_foreign_files(tmp_path):
    p = tmp_path / "m.npz"
    lowrank.LowRankRNN(5, 1, 2).save(p)
    _rewrite(p, tmp_path / "miss.npz", drop=("n",))
    with pytest.raises(ValueError, match=r"missing parameter arrays \['n'\]"):
        lowrank.LowRankRNN.load(tmp_path / "miss.npz")
    np.savez(tmp_path / "other.npz", y=np.zeros(3))
    with pytest.raises(ValueError, match="not a lowrank model file"):
        lowrank.LowRankRNN.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        lowrank.LowRankRNN.load(tmp_path / "absent.npz")


@pytest.mark.parametrize("make", [lambda a: a, np.asfortranarray, lambda a: a.astype(">f8"),
                                  lambda a: a.astype(np.int16), lambda a: a[:0]])
def test_careful_readers_read_what_numpy_wrote(tmp_path, make):
    a = make(np.arange(24.0).reshape(4, 6) - 5)
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "a.npz", a=a, b=np.array("text"))
    for got in (io.read_npy(tmp_path / "a.npy"), io.open_npz(tmp_path / "a.npz").read("a")):
        assert got.dtype == a.dtype and got.shape == a.shape and np.array_equal(got, a)
    with io.open_npz(tmp_path / "a.npz") as z:
        assert z.files == ["a", "b"] and z.header("a") == (a.shape, a.dtype) and str(z.read("b")) == "text"
        with pytest.raises(ValueError, match="has shape"):
            z.read("a", shape=(1,))
        with pytest.raises(ValueError, match="no array 'c'"):
            z.read("c")


@pytest.mark.parametrize("block,index", [("h", (3,)), ("m", (2, 0)), ("sigma", (1,))])
def test_nan_parameter_names_the_file_and_block(tmp_path, block, index):
    p = tmp_path / "m.npz"
    lowrank.LowRankRNN(5, 1, 2).save(p)
    with np.load(p, allow_pickle=False) as f:
        arr = f[block].copy()
    arr[index] = np.nan
    bad = tmp_path / f"nan_{block}.npz"
    _rewrite(p, bad, drop=(block,))
    with np.load(bad, allow_pickle=False) as f:
        arrays = dict(f)
    with open(bad, "wb") as fh:
        np.savez(fh, **arrays, **{block: arr})
    pattern = re.escape(str(bad)) + rf": parameter block '{block}' contains NaN or inf \(1 of {arr.size} values, first nan at index " \
              rf"\({index[0]},"
    with pytest.raises(ValueError, match=pattern):
        io.read_model(bad)
    with pytest.raises(ValueError, match=pattern):
        lowrank.LowRankRNN.load(bad)


def test_a_model_with_nan_parameters_is_not_saved(tmp_path):
    model = lowrank.LowRankRNN(5, 1, 2)
    p = tmp_path / "m.npz"
    model.save(p)
    before = p.read_bytes()
    params = model.params._replace(h=np.where(np.arange(5) == 3, np.nan, model.params.h))
    with pytest.raises(ValueError, match=re.escape(str(p)) + r": not written: parameter block 'h' contains NaN or inf "
                                         r"\(1 of 5 values, first nan at index \(3,\)\)"):
        io.save_model(p, model.options, params)
    assert p.read_bytes() == before                       # the earlier file is left as it was


def test_nan_noise_basis_and_invalid_leak_name_the_file(tmp_path):
    p = tmp_path / "m.npz"
    lowrank.LowRankRNN(5, 1, 2, noise_basis=np.eye(2)).save(p)
    with np.load(p, allow_pickle=False) as f:
        arrays = dict(f)
    with open(tmp_path / "basis.npz", "wb") as fh:
        np.savez(fh, **dict(arrays, noise_basis=np.array([[1.0, np.inf], [0.0, 1.0]])))
    with pytest.raises(ValueError, match=r"basis\.npz: array 'noise_basis' contains NaN or inf"):
        lowrank.LowRankRNN.load(tmp_path / "basis.npz")
    with open(tmp_path / "leak.npz", "wb") as fh:
        np.savez(fh, **dict(arrays, a=np.array([1.5])))
    with pytest.raises(ValueError, match=r"leak\.npz: leak a must lie in \(0, 1\)"):
        lowrank.LowRankRNN.load(tmp_path / "leak.npz")
