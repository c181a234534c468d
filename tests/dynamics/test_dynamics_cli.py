"""``lowrank dynamics`` and the dynamics figures."""
import json

import numpy as np
import pytest

from lowrank import teachers
from lowrank.cli import main
from lowrank.cli.dynamics import parse_sweep


def test_parse_sweep():
    u = parse_sweep("-1:1:5")
    assert u.shape == (5, 1) and u[0, 0] == -1 and u[-1, 0] == 1
    assert parse_sweep("0,1:1,1:3").shape == (3, 2)
    with pytest.raises(Exception, match="U0:U1:N"):
        parse_sweep("1:2")


def test_dynamics_command(tmp_path, capsys):
    path = tmp_path / "osc.npz"
    teachers.get("oscillator", seed=0).model.save(path)
    assert main(["dynamics", str(path), "--period", "2", "--json", "--n-starts", "4"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cycles"]["period"] == 2 and out["attractors"]["attractors"][0]["kind"] == "fixed_point"
    assert main(["dynamics", str(path), "--sweep=0:1:3"]) == 2          # no inputs: one error line
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "inputs" in err[0]


def test_phase_portrait_and_fixed_point_limits(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    from lowrank import plotting
    from lowrank.dynamics import find_cycles
    model = teachers.get("oscillator", seed=0).model
    ax = plotting.plot_phase_portrait(model, cycles=[find_cycles(model, 2)])
    plotting.save_figure(ax, tmp_path / "p.png")
    ax = plotting.plot_fixed_points(model)
    lo, hi = ax.get_xlim()
    std = np.sqrt(np.diag(model.params.L_0 @ model.params.L_0.T))[0]
    assert hi - lo >= 6 * std * 0.99 and len(ax.get_xticks()) <= 7
    plotting.save_figure(ax, tmp_path / "f.png")
