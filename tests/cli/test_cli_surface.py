"""One path from a file to a fit: fit-many, evaluate and posterior read data as fit does, and
fail as documented (each test here failed before the option table and the cli package)."""
import json
import os

import numpy as np
import pytest

import lowrank
from lowrank.cli import main
from lowrank.io import read_model

TINY = ["--rank", "1", "--n-units", "6", "--n-iter", "3", "--window", "10", "--batch-size", "2", "--quiet"]


def _data(tmp_path, name="d.npz", *, mask=True, fill=np.nan, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(4, 20, 3))
    m = np.ones_like(y, bool)
    m[:, :8, 0] = False
    if mask:
        y = np.where(m, y, fill)
        np.savez(tmp_path / name, y=y, mask=m)
    else:
        np.savez(tmp_path / name, y=np.where(m, y, 0.0))
    return tmp_path / name


def _params(path):
    return np.concatenate([np.ravel(a) for a in read_model(str(path)).params])


def _fit_many(data, out, *extra):
    return main(["fit-many", str(data), "--seeds", "1", "--jobs", "1", "--out", str(out), *TINY, *extra])


def test_fit_many_honours_the_mask(tmp_path):
    masked = _data(tmp_path, "a.npz", fill=np.nan)
    masked_other = _data(tmp_path, "b.npz", fill=1e6)
    zeros = _data(tmp_path, "c.npz", mask=False)
    for name, data in (("a", masked), ("b", masked_other), ("c", zeros)):
        assert _fit_many(data, tmp_path / name) == 0
    a, b, c = (_params(tmp_path / n / "best.npz") for n in "abc")
    np.testing.assert_array_equal(a, b)            # what the masked entries hold does not matter
    assert not np.array_equal(a, c)                # and they are not fitted as observed zeros


def test_evaluate_refuses_a_mask_and_takes_one_trial(tmp_path, capsys):
    data = _data(tmp_path)
    assert main(["fit", str(data), *TINY, "--out", str(tmp_path / "m.npz")]) == 0
    assert main(["evaluate", str(tmp_path / "m.npz"), str(data)]) == 2
    assert "mask" in capsys.readouterr().err
    y = np.random.default_rng(1).normal(size=(1, 300, 3))
    np.save(tmp_path / "one.npy", y)                    # the layout lowrank simulate and sample write
    assert main(["evaluate", str(tmp_path / "m.npz"), str(tmp_path / "one.npy"), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out.strip().splitlines()[-1])) == {"dstsp", "dh"}


def _interrupt_at(monkeypatch, iteration):
    from lowrank.training import trainer
    step = trainer.Trainer.step

    def interrupted(self, i):
        if i == iteration:
            raise KeyboardInterrupt
        return step(self, i)
    monkeypatch.setattr(trainer.Trainer, "step", interrupted)


def test_ctrl_c_in_fit_many_exits_130_and_keeps_no_cut_short_fit(tmp_path, monkeypatch, capsys):
    data = _data(tmp_path)
    _interrupt_at(monkeypatch, 1)
    assert _fit_many(data, tmp_path / "runs") == 130
    assert "interrupted" in capsys.readouterr().err
    assert not [f for f in os.listdir(tmp_path / "runs") if f.startswith("fit-")]
    monkeypatch.undo()
    assert _fit_many(data, tmp_path / "runs") == 0
    assert "1 run now, 0 already finished" in capsys.readouterr().out


def test_force_to_a_new_plan_never_adopts_the_old_plans_files(tmp_path, monkeypatch, capsys):
    data = _data(tmp_path)
    assert _fit_many(data, tmp_path / "runs") == 0                       # plan A: 3 updates
    _interrupt_at(monkeypatch, 0)
    assert _fit_many(data, tmp_path / "runs", "--n-iter", "4", "--force") == 130   # plan B, cut short
    monkeypatch.undo()
    capsys.readouterr()
    assert _fit_many(data, tmp_path / "runs", "--n-iter", "4") == 0
    assert "1 run now, 0 already finished" in capsys.readouterr().out
    rows = json.loads((tmp_path / "runs" / "table.json").read_text())
    assert [r["n_iter"] for r in rows] == [4]


def test_fit_many_refuses_to_overwrite_its_input(tmp_path, capsys):
    data = _data(tmp_path)
    assert _fit_many(data, tmp_path / "runs") == 0
    best = tmp_path / "runs" / "best.npz"
    before = best.read_bytes()
    assert main(["fit-many", str(best), "--out", str(tmp_path / "runs")]) == 2
    assert "one of the files the run writes" in capsys.readouterr().err
    assert best.read_bytes() == before


def test_a_bad_setting_is_refused_before_any_fit(tmp_path, capsys):
    data = _data(tmp_path)
    (tmp_path / "grid.toml").write_text('[[setting]]\nproposal = "nonsense"\n')
    assert _fit_many(data, tmp_path / "runs", "--settings", str(tmp_path / "grid.toml")) == 2
    assert "proposal must be one of" in capsys.readouterr().err
    (tmp_path / "grid.toml").write_text('[[setting]]\nproposal = "optimal"\n')   # not with a mask
    assert _fit_many(data, tmp_path / "runs2", "--settings", str(tmp_path / "grid.toml")) == 2
    assert "setting 0" in capsys.readouterr().err
    for out in ("runs", "runs2"):
        assert not (tmp_path / out).exists() or not [f for f in os.listdir(tmp_path / out) if f.startswith("fit-")]


def test_fit_many_models_carry_the_same_data_hash_as_fit(tmp_path, capsys):
    data = _data(tmp_path)
    assert _fit_many(data, tmp_path / "runs") == 0
    assert main(["fit", str(data), *TINY, "--out", str(tmp_path / "m.npz")]) == 0
    many = read_model(str(tmp_path / "runs" / "best.npz"))
    one = read_model(str(tmp_path / "m.npz"))
    prov_many = lowrank.io.provenance_of(many.metadata)
    prov_one = lowrank.io.provenance_of(one.metadata)
    assert prov_many and prov_many["data"]["y"]["sha256"] == prov_one["data"]["y"]["sha256"]
    plan = json.loads((tmp_path / "runs" / "plan.json").read_text())
    assert plan["data"]["sha256"] == prov_one["data"]["y"]["sha256"]
    capsys.readouterr()
    assert main(["info", str(tmp_path / "runs" / "best.npz")]) == 0
    assert prov_one["data"]["y"]["sha256"] in capsys.readouterr().out


def test_cuda_without_a_gpu_is_a_documented_one_line_error(tmp_path, capsys):
    from lowrank.inference.device import CUDAUnavailableError, device_kernels
    try:
        device_kernels("cuda")
        pytest.skip("this machine has a usable GPU")
    except CUDAUnavailableError:
        pass
    data = _data(tmp_path, mask=False)
    assert main(["fit", str(data), *TINY, "--device", "cuda", "--out", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert "unexpected" not in err and err.count("\n") == 1


def test_an_all_false_mask_is_refused(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", y=np.zeros((2, 10, 3)), mask=np.zeros((2, 10, 3), bool))
    assert main(["fit", str(tmp_path / "d.npz"), *TINY, "--out", str(tmp_path / "m.npz")]) == 2
    assert "nothing as observed" in capsys.readouterr().err
    m = lowrank.LowRankRNN(n_units=4, rank=1, n_obs=3)
    with pytest.raises(ValueError, match="nothing as observed"):
        m.fit(np.zeros((2, 10, 3)), mask=np.zeros(3, bool), n_iter=1)


def test_old_and_new_spellings_and_config_keys(tmp_path, capsys):
    data = _data(tmp_path, mask=False)
    (tmp_path / "a.toml").write_text("n_iter = 2\nparticles = 4\n")
    args = ["--rank", "1", "--units", "6", "--window", "10", "--quiet", "--config", str(tmp_path / "a.toml")]
    assert main(["fit", str(data), *args, "--out", str(tmp_path / "m.npz")]) == 0
    prov = lowrank.io.provenance_of(read_model(str(tmp_path / "m.npz")).metadata)["settings"]
    assert (prov["n_iter"], prov["n_particles"]) == (2, 4)
    assert main(["posterior", str(tmp_path / "m.npz"), str(data), "--particles", "5",
                 "--out", str(tmp_path / "l.npz")]) == 0
    assert main(["posterior", str(tmp_path / "m.npz"), str(data), "--n-particles", "5", "--force",
                 "--out", str(tmp_path / "l.npz")]) == 0
