"""The command line never loses a fit, never destroys an input, never coerces silently, and turns
every failure into one line and an exit status (2 bad input, 1 failure during compute, 130 interrupted).

Fits are replaced by fakes (monkeypatching ``lowrank.training.fit``, which ``LowRankRNN.fit`` calls)
wherever the test is about what surrounds the fit, so these tests run in seconds.
"""
import io as _io
import json
import os
import zipfile

import numpy as np
import pytest

import lowrank
import lowrank.training
from lowrank.cli import main


def run(capsys, *argv):
    """``main(argv)`` -> (status, stdout, stderr); a SystemExit or KeyboardInterrupt escaping is a failure."""
    try:
        rc = main([str(a) for a in argv])
    except (KeyboardInterrupt, SystemExit) as exc:
        pytest.fail(f"main raised {type(exc).__name__} instead of returning an exit status")
    c = capsys.readouterr()
    return rc, c.out, c.err


def assert_one_line_error(err, command):
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"lowrank {command}: error: "), err
    return lines[0]


@pytest.fixture
def recording(tmp_path):
    """A small (300, 3) recording saved as .npy."""
    y = lowrank.LowRankRNN(10, 2, 3, activation="tanh", seed=1).sample(n_trials=1, n_steps=300, seed=2).y[0]
    path = tmp_path / "rec.npy"
    np.save(path, y)
    return path


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "m.npz"
    lowrank.LowRankRNN(10, 2, 3, activation="tanh", seed=3).save(path)
    return path


def fit_args(data, out, *extra):
    return ["fit", data, "--units", "10", "--rank", "2", "--activation", "tanh", "--iters", "5", "--window", "20",
            "--quiet", "--out", out, *extra]


@pytest.fixture
def no_fit(monkeypatch):
    """Make any fit a test failure: for checks that must happen before computing."""
    calls = []

    def fake(model, y, inputs=None, **kw):
        calls.append(kw)
        raise AssertionError("the fit ran although the command should have stopped before computing")

    monkeypatch.setattr(lowrank.training, "fit", fake)
    return calls


@pytest.fixture
def capture_fit(monkeypatch):
    """Record the arguments of the fit and the model it gets, and run a 2-update real fit instead."""
    real = lowrank.training.fit
    seen = {}

    def fake(model, y, inputs=None, **kw):
        seen.update(kw, options=model.options)
        return real(model, y, inputs, **dict(kw, n_iter=2, verbose=0))

    monkeypatch.setattr(lowrank.training, "fit", fake)
    return seen


# ---- 2. a finished fit is never thrown away ------------------------------------------------------------

def _diverging_fit(best_shift, with_best=True, error=None):
    def fake(model, y, inputs=None, **kw):
        p = model.params
        best = p._replace(b=p.b + best_shift)
        model.params = p._replace(b=p.b + 100.0)          # the "last good" parameters
        cause = error or lowrank.smc.SMCDegeneracyError("every particle weight is zero at iteration 7")
        raise lowrank.FitError(str(cause), iteration=7, cause=cause,
                               history=lowrank.training.History(*(np.arange(7.0),) * 5, stop_reason="nonfinite"),
                               best_params=best if with_best else None)
    return fake


def test_diverging_fit_writes_its_best_parameters_and_exits_1(tmp_path, recording, capsys, monkeypatch):
    monkeypatch.setattr(lowrank.training, "fit", _diverging_fit(1.0))
    out = tmp_path / "m.npz"
    rc, _, err = run(capsys, *fit_args(recording, out))
    assert rc == 1
    line = assert_one_line_error(err, "fit")
    assert "the fit failed after 7 updates: every particle weight is zero at iteration 7" in line
    assert f"wrote the best parameters to {out}" in line
    init = lowrank.LowRankRNN(10, 2, 3, activation="tanh", seed=0).params
    model, extra = lowrank.LowRankRNN.load(out, with_extra=True)
    np.testing.assert_array_equal(model.params.b, init.b + 1.0)
    assert str(extra["history/stop_reason"]) == "nonfinite"
    assert len(extra["history/train_elbo"]) == 7


def test_a_really_diverging_fit_still_writes_its_parameters(tmp_path, recording, capsys):
    out = tmp_path / "m.npz"
    rc, _, err = run(capsys, *fit_args(recording, out, "--lr", "1e6", "--iters", "50"))
    assert rc == 1
    line = err.strip().splitlines()[-1]                   # after any warnings (one line each)
    assert line.startswith("lowrank fit: error: the fit failed after ") and f"parameters to {out}" in line
    assert "Traceback" not in err
    params = lowrank.LowRankRNN.load(out).params
    assert all(np.all(np.isfinite(x)) for x in params)


def test_diverging_fit_without_best_parameters_writes_the_last_good_ones(tmp_path, recording, capsys,
                                                                            monkeypatch):
    monkeypatch.setattr(lowrank.training, "fit", _diverging_fit(1.0, with_best=False,
                                                                 error=FloatingPointError("non-finite ELBO")))
    out = tmp_path / "m.npz"
    rc, _, err = run(capsys, *fit_args(recording, out))
    assert rc == 1
    assert f"wrote the last good parameters to {out}" in assert_one_line_error(err, "fit")
    init = lowrank.LowRankRNN(10, 2, 3, activation="tanh", seed=0).params
    np.testing.assert_array_equal(lowrank.LowRankRNN.load(out).params.b, init.b + 100.0)


@pytest.mark.parametrize("flag", ["--out", "--checkpoint", "--plot"])
def test_unwritable_outputs_are_refused_before_computing(tmp_path, recording, capsys, no_fit, flag):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    bad = blocker / "sub" / "x.png"
    args = fit_args(recording, tmp_path / "m.npz") + [flag, bad]
    rc, _, err = run(capsys, *args)
    assert rc == 2 and not no_fit
    line = assert_one_line_error(err, "fit")
    assert flag in line and "cannot create its folder" in line
    assert not (tmp_path / "m.npz").exists()


def test_output_folders_are_created(tmp_path, recording, capsys, capture_fit):
    out = tmp_path / "new" / "deeper" / "m.npz"
    rc, _, err = run(capsys, *fit_args(recording, out))
    assert rc == 0, err
    assert lowrank.LowRankRNN.load(out).options.n_units == 10


# ---- 3. outputs never silently destroy inputs --------------------------------------------------------

def test_output_equal_to_an_input_is_refused(tmp_path, model_file, recording, capsys, no_fit):
    before = model_file.read_bytes()
    rc, _, err = run(capsys, "sample", model_file, "--out", model_file, "--force")
    assert rc == 2 and "is the input file" in assert_one_line_error(err, "sample")
    link = tmp_path / "link.npz"
    link.symlink_to(model_file)
    rc, _, err = run(capsys, "sample", model_file, "--out", link, "--force")
    assert rc == 2 and "is the input file" in assert_one_line_error(err, "sample")
    hard = tmp_path / "hard.npz"
    os.link(model_file, hard)
    rc, _, err = run(capsys, "sample", hard, "--out", tmp_path / "." / "m.npz", "--force")
    assert rc == 2
    assert model_file.read_bytes() == before
    rec_before = recording.read_bytes()
    rc, _, err = run(capsys, *fit_args(recording, recording, "--force"))
    assert rc == 2 and "--out" in assert_one_line_error(err, "fit")
    assert recording.read_bytes() == rec_before


def test_checkpoint_may_be_the_file_resumed(tmp_path, recording, capsys):
    ck = tmp_path / "ck.npz"
    rc, _, err = run(capsys, *fit_args(recording, tmp_path / "a.npz", "--iters", "4", "--checkpoint", ck))
    assert rc == 0, err
    rc, _, err = run(capsys, *fit_args(recording, tmp_path / "b.npz", "--iters", "4", "--checkpoint", ck,
                                       "--resume", ck))
    assert rc == 0, err                                    # continuing a fit needs no --force
    rc, _, err = run(capsys, *fit_args(recording, ck, "--iters", "4", "--resume", ck, "--force"))
    assert rc == 2 and "is the input file --resume" in assert_one_line_error(err, "fit")


def test_existing_output_is_replaced_only_with_force(tmp_path, capsys):
    out = tmp_path / "data.npz"
    out.write_bytes(b"precious")
    rc, _, err = run(capsys, "simulate", "--trials", "2", "--steps", "10", "--out", out)
    assert rc == 2
    assert "--force" in assert_one_line_error(err, "simulate")
    assert out.read_bytes() == b"precious"
    rc, _, err = run(capsys, "simulate", "--trials", "2", "--steps", "10", "--out", out, "--force")
    assert rc == 0, err
    with np.load(out) as f:
        assert f["y"].shape[:2] == (2, 10)
    assert main(["simulate", "--help"]) == 0
    assert "replaced only with --force" in capsys.readouterr().out.replace("\n", " ")


# ---- 6. no silent coercions --------------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["--rank", "--iters", "--units", "--particles"])
def test_zero_counts_are_errors(tmp_path, recording, capsys, no_fit, flag):
    args = fit_args(recording, tmp_path / "m.npz") + [flag, "0"]
    rc, _, err = run(capsys, *args)
    assert rc == 2
    line = assert_one_line_error(err, "fit")
    assert "must be an integer >= 1; got 0" in line and (f"argument {flag}:" in line or f"/{flag}:" in line)


@pytest.mark.parametrize("kind", ["complex", "text"])
def test_complex_and_text_data_are_refused(tmp_path, recording, model_file, capsys, no_fit, kind):
    y = np.load(recording)
    bad = tmp_path / "bad.npy"
    np.save(bad, y + 1j if kind == "complex" else y.astype(str))
    rc, _, err = run(capsys, *fit_args(bad, tmp_path / "m2.npz"))
    assert rc == 2
    assert ("must be real" if kind == "complex" else "must be an array of real numbers") in \
        assert_one_line_error(err, "fit")
    rc, _, err = run(capsys, "evaluate", model_file, bad)
    assert rc == 2


def test_fit_defaults_are_the_librarys(tmp_path, recording, capsys, capture_fit):
    rc, _, err = run(capsys, "fit", recording, "--quiet", "--out", tmp_path / "m.npz")
    assert rc == 0, err
    from lowrank.options import option
    for k in ("n_particles", "window", "batch_size", "lr", "lr_end", "heldout", "eval_every", "augment_noise",
              "n_iter"):
        assert k not in capture_fit, k                 # not given: lowrank.fit applies its own default
    assert option("n_iter", "fit").default is None     # the library's rule: 1000 updates
    import dataclasses
    model_defaults = {f.name: f.default for f in dataclasses.fields(lowrank.ModelOptions)}
    o = capture_fit["options"]
    for k in ("activation", "readout", "likelihood", "link", "n_inputs"):
        assert getattr(o, k) == model_defaults[k], k
    assert (o.rank, o.n_units) == (3, 128)                   # the CLI's choice: the library has none
    helptext = lowrank.cli.build_parser()._subparsers._group_actions[0].choices["fit"].format_help()
    assert "rank 3 and 128" in helptext.replace("\n", " ")


# ---- 7. every load failure is one line and status 2 ---------------------------------------------------

def _members(path):
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _write_members(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


def _npy_bytes(arr=None, header=None, data=b""):
    fh = _io.BytesIO()
    if header is None:
        np.save(fh, arr)
    else:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(data)
    return fh.getvalue()


def _with_metadata(good, out, change):
    m = _members(good)
    meta = json.loads(str(np.load(_io.BytesIO(m["__metadata__.npy"]))[()]))
    m["__metadata__.npy"] = _npy_bytes(np.array(change(meta)))
    _write_members(out, m)


def _corrupt_model(kind, good, path):
    data = good.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif kind == "crc":
        m = lowrank.LowRankRNN.load(good).params.m
        i = data.find(m.tobytes()[:32])
        assert i > 0
        path.write_bytes(data[:i + 5] + bytes([data[i + 5] ^ 0xFF]) + data[i + 6:])
    elif kind == "directory":
        path.mkdir()
    elif kind == "text":
        path.write_text("W = [[1, 2], [3, 4]]\n")
    elif kind == "json_list":
        _with_metadata(good, path, lambda meta: json.dumps([1, 2, 3]))
    elif kind == "json_invalid":
        _with_metadata(good, path, lambda meta: "{not json")
    elif kind == "no_options":
        _with_metadata(good, path, lambda meta: json.dumps({k: v for k, v in meta.items() if k != "options"}))
    elif kind == "bad_options":
        _with_metadata(good, path, lambda meta: json.dumps(dict(meta, options=dict(meta["options"], rank="two"))))
    elif kind == "zero_d_block":
        m = _members(good)
        m["b.npy"] = _npy_bytes(np.array(1.0))
        _write_members(path, m)
    elif kind == "huge_block":
        m = _members(good)
        m["m.npy"] = _npy_bytes(header={"descr": "<f8", "fortran_order": False, "shape": (10**8, 10**8)},
                                data=b"\0" * 64)
        _write_members(path, m)
    elif kind == "object_extra":
        m = _members(good)
        fh = _io.BytesIO()
        np.save(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        m["extra/evil.npy"] = fh.getvalue()
        _write_members(path, m)
    else:
        raise AssertionError(kind)


MODEL_DAMAGE = ["empty", "truncated", "crc", "directory", "text", "json_list", "json_invalid", "no_options",
                "bad_options", "zero_d_block", "huge_block", "object_extra"]


@pytest.mark.parametrize("kind", MODEL_DAMAGE)
def test_damaged_model_files_are_value_errors(tmp_path, model_file, kind):
    path = tmp_path / f"bad_{kind}.npz"
    _corrupt_model(kind, model_file, path)
    with pytest.raises(ValueError, match=str(path).replace("\\", "\\\\")):
        lowrank.LowRankRNN.load(path)
    if kind in ("empty", "truncated", "directory", "text", "json_list", "json_invalid"):
        with pytest.raises(ValueError, match="not a lowrank model file"):
            lowrank.io.read_metadata(path)


@pytest.mark.parametrize("kind", MODEL_DAMAGE)
def test_damaged_model_files_are_one_line_errors_in_the_cli(tmp_path, model_file, recording, capsys, kind):
    path = tmp_path / f"bad_{kind}.npz"
    _corrupt_model(kind, model_file, path)
    for argv in (["info", path], ["sample", path, "--out", tmp_path / "g.npz"], ["fixed-points", path],
                 ["evaluate", path, recording]):
        rc, _, err = run(capsys, *argv)
        assert rc == 2, (argv, err)
        assert str(path) in assert_one_line_error(err, argv[0])


def test_huge_declared_arrays_are_refused_before_allocating(tmp_path, model_file):
    # Shapes that match options claiming 10**8 units, in a file of a few kB: refused from the headers.
    path = tmp_path / "liar.npz"
    m = _members(model_file)
    meta = json.loads(str(np.load(_io.BytesIO(m["__metadata__.npy"]))[()]))
    meta["options"]["n_units"] = 10**8
    m["__metadata__.npy"] = _npy_bytes(np.array(json.dumps(meta)))
    for k, shape in (("m", (10**8, 2)), ("n", (10**8, 2)), ("h", (10**8,)), ("W_u", (10**8, 0))):
        m[f"{k}.npy"] = _npy_bytes(header={"descr": "<f8", "fortran_order": False, "shape": shape}, data=b"\0" * 8)
    _write_members(path, m)
    import tracemalloc
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="truncated or corrupt"):
            lowrank.LowRankRNN.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6


DATA_DAMAGE = ["missing", "empty", "truncated", "text", "pickle", "zero_d", "one_d", "nan", "directory",
               "npz_no_y", "npz_truncated", "npz_crc", "npz_zero_d", "npz_is_npy", "wrong_suffix"]


def _bad_data(kind, recording, tmp_path):
    y = np.load(recording)
    npz = kind.startswith("npz") or kind == "wrong_suffix"
    path = tmp_path / (f"d_{kind}.npz" if npz else f"d_{kind}.npy")
    if kind == "wrong_suffix":
        path = tmp_path / "d.csv"
        path.write_text("1,2,3\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(recording.read_bytes()[:1000])
    elif kind == "text":
        path.write_text("0.1 0.2 0.3\n0.4 0.5 0.6\n")
    elif kind == "pickle":
        np.save(path, np.array([{"y": 1}], dtype=object), allow_pickle=True)
    elif kind == "zero_d":
        np.save(path, np.array(3.0))
    elif kind == "one_d":
        np.save(path, y[:, 0])
    elif kind == "nan":
        y = y.copy()
        y[5, 1] = np.nan
        np.save(path, y)
    elif kind == "directory":
        path.mkdir()
    elif kind == "npz_no_y":
        np.savez(path, x=y)
    elif kind == "npz_zero_d":
        np.savez(path, y=np.array(2.0))
    elif kind == "npz_is_npy":
        path.write_bytes(recording.read_bytes())
    elif kind in ("npz_truncated", "npz_crc"):
        np.savez(path, y=y)
        data = path.read_bytes()
        if kind == "npz_truncated":
            data = data[:len(data) // 2]
        else:
            i = data.find(y.tobytes()[:32]) + 7
            data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind", DATA_DAMAGE)
def test_damaged_data_files_are_one_line_errors(tmp_path, recording, model_file, capsys, no_fit, kind):
    path = _bad_data(kind, recording, tmp_path)
    rc, _, err = run(capsys, *fit_args(path, tmp_path / "m2.npz"))
    assert rc == 2, err
    assert str(path) in assert_one_line_error(err, "fit")
    rc, _, err = run(capsys, "evaluate", model_file, path)
    assert rc == 2, err
    assert str(path) in assert_one_line_error(err, "evaluate")


def test_usage_errors_and_unexpected_errors_are_one_line(tmp_path, recording, capsys, monkeypatch):
    rc, _, err = run(capsys, "fit", "--no-such-flag")
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and "unrecognized arguments" in err

    def broken(model, y, inputs=None, **kw):
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(lowrank.training, "fit", broken)
    rc, _, err = run(capsys, *fit_args(recording, tmp_path / "m.npz"))
    assert rc == 1
    assert "RuntimeError: a bug over two lines" in assert_one_line_error(err, "fit")


# ---- 8. interruption ---------------------------------------------------------------------------------

def test_interrupted_fit_writes_its_best_parameters_and_exits_130(tmp_path, recording, capsys, monkeypatch):
    real = lowrank.training.fit

    def ctrl_c_at_iteration_3(model, y, inputs=None, **kw):
        def callback(i, m, info):
            if i == 3:
                raise KeyboardInterrupt
        return real(model, y, inputs, **dict(kw, callback=callback))

    monkeypatch.setattr(lowrank.training, "fit", ctrl_c_at_iteration_3)
    out = tmp_path / "m.npz"
    rc, stdout, _ = run(capsys, *fit_args(recording, out))
    assert rc == 130
    assert f"interrupted after 4 iterations; wrote the best parameters to {out}" in stdout
    _, extra = lowrank.LowRankRNN.load(out, with_extra=True)
    assert str(extra["history/stop_reason"]) == "interrupted"


def test_ctrl_c_outside_the_fit_exits_130(tmp_path, capsys, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(lowrank.teachers, "get", interrupted)
    rc, _, err = run(capsys, "simulate", "--out", tmp_path / "d.npz")
    assert rc == 130 and "interrupted" in err


def test_eval_every_reaches_the_fit(tmp_path, recording, capsys, capture_fit):
    rc, _, err = run(capsys, *fit_args(recording, tmp_path / "m.npz", "--heldout", "0.2", "--eval-every", "3"))
    assert rc == 0, err
    assert capture_fit["eval_every"] == 3 and capture_fit["heldout"] == 0.2


# ---- 9. messages that do not mislead -----------------------------------------------------------------

def test_missing_format_version_is_not_called_newer(tmp_path, model_file, capsys):
    path = tmp_path / "nover.npz"
    _with_metadata(model_file, path, lambda meta: json.dumps({k: v for k, v in meta.items()
                                                              if k != "format_version"}))
    with pytest.raises(ValueError) as info:
        lowrank.LowRankRNN.load(path)
    assert "newer" not in str(info.value) and "no format_version" in str(info.value)
    rc, _, err = run(capsys, "info", path)
    assert rc == 2 and "not a lowrank model file" in assert_one_line_error(err, "info")


def test_text_file_named_npy_is_not_called_pickled(tmp_path, model_file, capsys):
    path = tmp_path / "rec.npy"
    path.write_text("0.1 0.2 0.3\n")
    rc, _, err = run(capsys, "evaluate", model_file, path)
    line = assert_one_line_error(err, "evaluate")
    assert rc == 2 and "pickle" not in line and "is not a data file (.npy array)" in line


def test_window_errors_name_the_flag(tmp_path, recording, capsys):
    rc, _, err = run(capsys, *fit_args(recording, tmp_path / "m.npz", "--window", "1000"))
    line = assert_one_line_error(err, "fit")
    # the library's check, naming the setting by its name (the flag is --window, 0 for whole trials)
    assert rc == 2 and "window=1000 is longer" in line and "whole trials" in line


def test_evaluate_takes_context(tmp_path, capsys):
    t = lowrank.teachers.get("oscillator")
    mp, dp = tmp_path / "osc.npz", tmp_path / "rec.npy"
    t.model.save(mp)
    np.save(dp, t.model.sample(1, 400, seed=0).y[0])
    results = {}
    for c in ("0", "50", "10"):
        rc, out, err = run(capsys, "evaluate", mp, dp, "--json", "--context", c)
        assert rc == 0, err
        results[c] = json.loads(out)
    want = lowrank.evaluate(t.model, np.load(dp), context=10)
    assert results["10"] == {"dstsp": want.dstsp, "dh": want.dh}
    assert results["0"] != results["50"]
    rc, _, err = run(capsys, "evaluate", mp, dp, "--context", "401")
    assert rc == 2 and "--context must be between 0 and the recording's length 400" in \
        assert_one_line_error(err, "evaluate")
