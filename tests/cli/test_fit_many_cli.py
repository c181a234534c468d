"""lowrank fit-many: one model file per fit, the table, best.npz, resuming, the settings file."""
import json
import os

import numpy as np
import pytest

import lowrank
from lowrank import teachers
from lowrank.cli import main

FAST = ["--rank", "2", "--units", "8", "--iters", "4", "--particles", "3", "--window", "0", "--batch-size", "5",
        "--eval-every", "2", "--heldout", "0.2"]


@pytest.fixture
def data(tmp_path):
    y = teachers.get("oscillator", seed=0).dataset(n_trials=20, n_steps=30, seed=0).y
    path = tmp_path / "rec.npy"
    np.save(path, y)
    return str(path)


@pytest.fixture
def grid(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text('[[setting]]\nlr = 1e-3\n\n[grid]\nlr = [3e-3]\nn_particles = [3, 4]\n')
    return str(path)


def files(folder):
    return sorted(p for p in os.listdir(folder) if not p.startswith("."))


def test_fit_many_writes_models_table_and_best_and_resumes(tmp_path, data, grid, capsys):
    out = str(tmp_path / "runs")
    argv = ["fit-many", data, "--seeds", "2", "--settings", grid, "--jobs", "1", "--out", out] + FAST
    assert main(argv) == 0
    assert "6 fits in" in capsys.readouterr().out
    seeds = [int(c.generate_state(1)[0]) for c in np.random.SeedSequence(0).spawn(2)]
    fits = [f"fit-{k:03d}-seed-{s}.npz" for k in range(3) for s in seeds]
    assert files(out) == sorted(fits + ["best.npz", "plan.json", "table.csv", "table.json"])
    table = json.load(open(os.path.join(out, "table.json")))
    assert [(r["setting"], r["seed"]) for r in table] == [(k, s) for k in range(3) for s in seeds]
    assert [r["lr"] for r in table] == [1e-3] * 2 + [3e-3] * 4 and [r.get("n_particles") for r in table[2:]] == [3, 3, 4, 4]
    assert all(r["error"] is None and r["n_iter"] == 4 for r in table)
    header = open(os.path.join(out, "table.csv")).readline().strip().split(",")
    assert {"seed", "setting", "n_iter", "final_elbo", "best_heldout_elbo", "seconds", "error"} <= set(header)
    best = max(table, key=lambda r: r["best_heldout_elbo"])
    assert open(os.path.join(out, "best.npz"), "rb").read() == open(os.path.join(out, best["file"]), "rb").read()
    m = lowrank.LowRankRNN.load(os.path.join(out, fits[0]))
    assert m.options.rank == 2
    # Rerun: nothing to do. Lose one model and add a seed: only those are fitted, the rest kept as they were.
    before = open(os.path.join(out, fits[1]), "rb").read()
    assert main(argv) == 0
    assert "0 run now, 6 already finished" in capsys.readouterr().out
    os.remove(os.path.join(out, fits[0]))
    assert main(argv[:3] + ["3"] + argv[4:]) == 0
    assert "9 fits in" in (printed := capsys.readouterr().out) and "4 run now, 5 already finished" in printed
    table = json.load(open(os.path.join(out, "table.json")))
    assert len(table) == 9 and open(os.path.join(out, fits[1]), "rb").read() == before
    assert os.path.exists(os.path.join(out, fits[0]))
    # Another plan in the same folder needs --force.
    assert main(argv + ["--lr-end", "1e-4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lowrank fit-many: error: --out ") and "another plan (differs in: fit)" in err


def test_fit_many_resumes_what_a_killed_run_left(tmp_path, data):
    """The models are written as each fit finishes: a run that stops midway leaves them, and a rerun skips them."""
    out = str(tmp_path / "runs")
    argv = ["fit-many", data, "--seeds", "3", "--jobs", "1", "--out", out] + FAST
    assert main(argv) == 0
    first = json.load(open(os.path.join(out, "table.json")))
    for name in ("table.json", "table.csv", "best.npz", first[2]["file"]):
        os.remove(os.path.join(out, name))                        # as if killed during the third fit
    assert main(argv) == 0
    again = json.load(open(os.path.join(out, "table.json")))
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in again] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in first]


@pytest.mark.parametrize("text, message", [
    ("[[setting]]\nlrr = 1\n", "setting[1] has an unknown key 'lrr'"),
    ("[grid]\nlr = 1e-3\n", "grid.lr must be a non-empty list"),
    ("[grid]\nn_iter = [0]\n", "grid.n_iter must be >= 1"),
    ("[[setting]]\nrank = 'two'\n", "setting[1].rank must be an integer"),
    ("[params]\nlr = 1\n", "unknown table 'params'"),
    ("lr = [\n", "is not a valid TOML"),
    ("", "defines no setting"),
])
def test_fit_many_settings_file_errors_name_the_key(tmp_path, data, capsys, text, message):
    grid = tmp_path / "bad.toml"
    grid.write_text(text)
    assert main(["fit-many", data, "--settings", str(grid), "--out", str(tmp_path / "r")] + FAST) == 2
    err = capsys.readouterr().err
    assert err.startswith("lowrank fit-many: error: ") and message in err and err.count("\n") == 1


def test_fit_many_command_line_on_a_dask_scheduler(tmp_path, data, capsys):
    distributed = pytest.importorskip("distributed")
    out = str(tmp_path / "runs")
    here = ["fit-many", data, "--seeds", "2", "--jobs", "1", "--out", str(tmp_path / "here")] + FAST
    assert main(here) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cl:
        assert main(["fit-many", data, "--seeds", "2", "--scheduler", cl.scheduler_address, "--out", out] + FAST) == 0
    assert "2 run now" in capsys.readouterr().out
    for name in ("table.json",):
        a = json.load(open(os.path.join(out, name)))
        b = json.load(open(os.path.join(tmp_path / "here", name)))
        assert [{k: v for k, v in r.items() if k != "seconds"} for r in a] == \
            [{k: v for k, v in r.items() if k != "seconds"} for r in b]
    assert main(["fit-many", data, "--jobs", "2", "--scheduler", "tcp://x:1"] + FAST) == 2
    assert "jobs and scheduler exclude each other" in capsys.readouterr().err
