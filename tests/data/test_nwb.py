"""lowrank.data.read_nwb on NWB files written here with pynwb."""
import datetime
import subprocess
import sys
import os
import re

import numpy as np
import pytest

from lowrank.data import bin_spikes, read_nwb

pynwb = pytest.importorskip("pynwb")

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "make_teacher_nwb.py")

# Three units (the second without spikes), three trials of 1.0, 0.5 and 1.0 s with a condition each.
SPIKES = [np.array([0.05, 0.31, 0.3, 1.2, 2.0, 2.55, 2.999]), np.array([]), np.array([0.0, 0.1, 2.0, 3.0])]
TRIALS = [(0.0, 1.0, "left", 1.5), (1.0, 1.5, "right", -2.0), (2.0, 3.0, "left", 0.0)]


def _write(path, *, trials=True, behaviour=True, units=True):
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import Position, SpatialSeries
    nwb = NWBFile(session_description="test", identifier="test",
                  session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    if units:
        for i, t in enumerate(SPIKES):
            nwb.add_unit(spike_times=t, id=10 + i)
    if trials:
        nwb.add_trial_column("side", "which side")
        nwb.add_trial_column("contrast", "stimulus contrast")
        for s, e, side, c in TRIALS:
            nwb.add_trial(start_time=s, stop_time=e, side=side, contrast=c)
    if behaviour:
        mod = nwb.create_processing_module("behavior", "behaviour")
        pos = Position(name="position")
        t = np.arange(0.0, 3.2, 0.01)                           # 100 Hz, linear in time: interpolation is exact
        pos.add_spatial_series(SpatialSeries(name="xy", data=np.stack([t, 2 * t], 1), reference_frame="origin",
                                             timestamps=t))
        mod.add(pos)
        mod.add(TimeSeries(name="speed", data=5.0 + 0.0 * t[:150], unit="m/s", rate=100.0, starting_time=0.0))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return str(path)


@pytest.fixture
def nwb_file(tmp_path):
    return _write(tmp_path / "rec.nwb")


def test_counts_match_bin_spikes_with_ragged_trials(nwb_file):
    r = read_nwb(nwb_file, 0.1)
    want = bin_spikes(SPIKES, 0.1, trials=[t[:2] for t in TRIALS])
    assert isinstance(r.y, list) and [a.shape for a in r.y] == [(10, 3), (5, 3), (10, 3)]
    for a, b in zip(r.y, want):
        np.testing.assert_array_equal(a, b)
    assert not any(a[:, 1].any() for a in r.y)                 # the unit without spikes: zeros
    assert r.y[0][:, 0].tolist() == [1, 0, 0, 2, 0, 0, 0, 0, 0, 0]          # 0.3 is on the edge 3 * 0.1
    assert r.y[2][:, 0].tolist()[-1] == 1 and r.y[2][:, 2].sum() == 1  # 3.0 is trial 3's stop: excluded
    assert r.unit_ids.tolist() == [10, 11, 12]
    assert r.bin_size == 0.1 and r.u is None and r.behavior == {}
    np.testing.assert_allclose(r.trial_times, [t[:2] for t in TRIALS])


def test_unit_subset_in_the_order_given(nwb_file):
    r = read_nwb(nwb_file, 0.1, units=[12, 10])
    assert r.unit_ids.tolist() == [12, 10]
    np.testing.assert_array_equal(r.y[0][:, 0], read_nwb(nwb_file, 0.1).y[0][:, 2])
    with pytest.raises(ValueError, match="units: no unit with id 7"):
        read_nwb(nwb_file, 0.1, units=[7])
    with pytest.raises(TypeError, match="units must be a list of unit ids"):
        read_nwb(nwb_file, 0.1, units=["a"])


def test_conditions_as_inputs(nwb_file):
    r = read_nwb(nwb_file, 0.1, conditions=["side", "contrast"])
    assert r.input_names == ["side=left", "side=right", "contrast"]
    assert [a.shape for a in r.u] == [(10, 3), (5, 3), (10, 3)]
    np.testing.assert_array_equal(r.u[1], np.tile([0.0, 1.0, -2.0], (5, 1)))
    assert read_nwb(nwb_file, 0.1, conditions=True).input_names == r.input_names
    with pytest.raises(ValueError, match="no column 'colour'"):
        read_nwb(nwb_file, 0.1, conditions="colour")


def test_behaviour_interpolated_at_bin_centres(nwb_file):
    r = read_nwb(nwb_file, 0.1, behavior=["position", "speed"])
    centres = [s + (np.arange(n) + 0.5) * 0.1 for (s, _, _, _), n in zip(TRIALS, (10, 5, 10))]
    for got, c in zip(r.behavior["position"], centres):
        np.testing.assert_allclose(got, np.stack([c, 2 * c], 1), atol=1e-12)
    # speed was sampled for 1.5 s only: later bins are NaN, never extrapolated.
    assert np.all(r.behavior["speed"][0] == 5.0) and np.all(np.isnan(r.behavior["speed"][2]))
    assert r.behavior["speed"][1].shape == (5, 1)
    # The series may be named itself instead of its container.
    np.testing.assert_array_equal(read_nwb(nwb_file, 0.1, behavior="xy").behavior["xy"][0], r.behavior["position"][0])
    with pytest.raises(ValueError, match=r"no TimeSeries named 'pupil' .*found: \['position', 'speed', 'xy'\]"):
        read_nwb(nwb_file, 0.1, behavior="pupil")


def test_continuous_without_trials(tmp_path):
    path = _write(tmp_path / "cont.nwb", trials=False)
    r = read_nwb(path, 0.5, trials=None, behavior="position")
    np.testing.assert_array_equal(r.y, bin_spikes(SPIKES, 0.5))
    assert r.y.shape == (7, 3) and r.trial_times.tolist() == [[0.0, 3.5]]
    assert r.behavior["position"].shape == (7, 2)
    with pytest.raises(ValueError, match="has no trials table; pass trials=False"):
        read_nwb(path, 0.5)
    assert read_nwb(path, 0.5, trials=False).y.shape == (7, 3)
    with pytest.raises(ValueError, match="conditions .* trials=False"):
        read_nwb(path, 0.5, trials=False, conditions=True)


def test_bad_files_and_arguments(tmp_path, nwb_file):
    with pytest.raises(FileNotFoundError):
        read_nwb(tmp_path / "none.nwb", 0.1)
    junk = tmp_path / "junk.nwb"
    junk.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="junk.nwb could not be read as an NWB file"):
        read_nwb(junk, 0.1)
    with pytest.raises(ValueError, match="has no Units table"):
        read_nwb(_write(tmp_path / "nounits.nwb", units=False), 0.1)
    with pytest.raises(ValueError, match="bin_size"):
        read_nwb(nwb_file, 0.0)
    with pytest.raises(ValueError, match="trial 1 .* shorter than one bin"):
        read_nwb(nwb_file, 0.6)
    with pytest.raises(TypeError, match="trials must be True"):
        read_nwb(nwb_file, 0.1, trials="yes")
    with pytest.raises(TypeError, match="path must be a path"):
        read_nwb(3, 0.1)


def test_missing_pynwb_names_the_extra(monkeypatch, nwb_file):
    monkeypatch.setitem(sys.modules, "pynwb", None)             # import pynwb now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "lowrank\[nwb\]"'):
        read_nwb(nwb_file, 0.1)


def test_the_teacher_example_round_trips(tmp_path):
    out = tmp_path / "sub" / "teacher.nwb"
    proc = subprocess.run([sys.executable, EXAMPLE, "--out", str(out), "--trials", "6", "--seed", "3"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "40 units, 6 trials of 75 bins" in proc.stdout
    sys.path.insert(0, os.path.dirname(EXAMPLE))
    try:
        from make_teacher_nwb import teacher_spikes
    finally:
        sys.path.pop(0)
    _, trial_times, latents, counts = teacher_spikes(6, 0.02, 3)
    r = read_nwb(out, 0.02, behavior="latents", conditions="block")
    np.testing.assert_array_equal(r.y, counts)                  # spikes drawn within bins bin back exactly
    np.testing.assert_allclose(r.behavior["latents"], latents, atol=1e-12)
    np.testing.assert_allclose(r.trial_times, trial_times)
    assert r.input_names == ["block=A", "block=B"] and r.u[:, 0, 0].tolist() == [1, 1, 1, 0, 0, 0]
    assert not [p for p in os.listdir(out.parent) if p != "teacher.nwb"]      # no temporaries left


# ---- the command line and workflows.load_recording ----------------------------------------------------

def test_load_recording_reads_nwb_and_needs_bin_size(nwb_file, tmp_path):
    from lowrank import workflows
    rec = workflows.load_recording(nwb_file, bin_size=0.1)
    assert isinstance(rec.y, list) and [a.shape for a in rec.y] == [(10, 3), (5, 3), (10, 3)]
    assert rec.y[0].dtype == np.float64 and rec.u is None
    one = workflows.load_recording(nwb_file, ndims=(2,), bin_size=0.5)    # evaluate's layout: continuous
    assert one.y.shape == (7, 3)
    with pytest.raises(ValueError, match=r"bin_size \(--bin-size\) is required for .nwb"):
        workflows.load_recording(nwb_file)
    np.save(tmp_path / "y.npy", np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"bin_size \(--bin-size\) applies to .nwb files"):
        workflows.load_recording(str(tmp_path / "y.npy"), bin_size=0.1)


def test_load_recording_without_pynwb_says_what_to_install(nwb_file, monkeypatch):
    from lowrank import workflows
    monkeypatch.setitem(sys.modules, "pynwb", None)
    with pytest.raises(ValueError, match=r'pip install "lowrank\[nwb\]"'):
        workflows.load_recording(nwb_file, bin_size=0.1)


def test_cli_fits_an_nwb_file(nwb_file, tmp_path, capsys):
    from lowrank.cli import main
    out = tmp_path / "m.npz"
    args = ["fit", nwb_file, "--bin-size", "0.1", "--likelihood", "poisson", "--readout", "units", "--rank", "1",
            "--window", "0", "--iters", "2", "--batch-size", "3", "--quiet", "--out", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    assert out.exists() and "fitted LowRankRNN(n_units=3" in capsys.readouterr().out


def test_cli_fit_many_reads_an_nwb_file(nwb_file, tmp_path, capsys):
    from lowrank.cli import main
    args = ["fit-many", nwb_file, "--bin-size", "0.1", "--likelihood", "poisson", "--readout", "units", "--rank",
            "1", "--window", "0", "--n-iter", "2", "--batch-size", "3", "--seeds", "1", "--jobs", "1", "--quiet",
            "--out", str(tmp_path / "runs")]
    assert main(args) == 0, capsys.readouterr().err
    assert (tmp_path / "runs" / "best.npz").exists()


@pytest.mark.parametrize("argv, match", [
    (["fit", "{nwb}", "--likelihood", "poisson"], r"--bin-size\) is required for .nwb files"),
    (["fit", "{npy}", "--bin-size", "0.1"], r"--bin-size\) applies to .nwb files"),
    (["fit", "--bin-size", "0.1"], "--bin-size needs a data file"),
    (["fit", "{nwb}", "--bin-size", "0"], "argument --bin-size: must be a finite number > 0"),
    (["fit", "{nwb}", "--bin-size", "5", "--likelihood", "poisson"], "trial 0 .* shorter than one bin"),
    (["evaluate", "{model}", "{nwb}"], r"--bin-size\) is required for .nwb files"),
])
def test_cli_bin_size_is_required_for_nwb_and_refused_otherwise(argv, match, nwb_file, tmp_path, capsys):
    from lowrank import LowRankRNN
    from lowrank.cli import main
    np.save(tmp_path / "y.npy", np.zeros((20, 3)))
    LowRankRNN(3, 1, 3, readout="units", likelihood="poisson").save(str(tmp_path / "m.npz"))
    argv = [a.format(nwb=nwb_file, npy=str(tmp_path / "y.npy"), model=str(tmp_path / "m.npz")) for a in argv]
    assert main(argv + ["--out" if argv[0] == "fit" else "--seed", str(tmp_path / "o.npz") if argv[0] == "fit"
                        else "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(match, err), err
