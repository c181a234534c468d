"""``lowrank compile``: every part of the kernels compiled ahead of time, with progress, or a clear error."""
import io

import pytest

from lowrank.cli import compile_kernels, main
from lowrank.inference import warmup


@pytest.fixture
def fake_children(monkeypatch, tmp_path):
    """Children that 'compile' by reporting, then succeed except for the parts in ``failing``."""
    state = {"failing": set(), "asked": []}
    monkeypatch.setattr(warmup, "_ready", set())
    monkeypatch.setattr(warmup, "_child", False)
    monkeypatch.setattr(warmup, "cache_folder", lambda: str(tmp_path))
    monkeypatch.setattr(compile_kernels, "cache_folder", lambda: str(tmp_path))
    monkeypatch.setattr(warmup, "sources_digest", lambda: "abc")

    def children(parts):
        state["asked"].append(list(parts))
        status = warmup._Status(parts)
        for p in parts:
            status.start(p)
            status.kernel(p, "filter_sequences")
            status.finish(p, p not in state["failing"])
        return [p for p in parts if p not in state["failing"]]

    monkeypatch.setattr(warmup, "_compile_in_children", children)
    return state


def test_compiles_every_missing_part_with_progress(fake_children, capsys):
    assert main(["compile"]) == 0
    out, err = capsys.readouterr()
    assert fake_children["asked"] == [list(warmup.PARTS)]
    assert "compiled and cached particle filter, its reverse mode, encoder network" in out
    lines = err.splitlines()                       # not a terminal: the parts' starts and ends only
    assert len(lines) == 2 * len(warmup.PARTS) and f"{len(warmup.PARTS)}/{len(warmup.PARTS)} parts done" in lines[-1]
    assert all("filter_sequences" not in line for line in lines)
    warmup._ready.clear()                                          # a new process
    assert main(["compile", "--quiet"]) == 0                      # the markers: nothing left to do
    out, err = capsys.readouterr()
    assert "compiled and cached nothing" in out and "already cached" in out and err == ""
    assert len(fake_children["asked"]) == 1


def test_a_terminal_sees_each_kernel(fake_children):
    class Tty(io.StringIO):
        def isatty(self):
            return True
    stream = Tty()
    compiled, cached, _ = compile_kernels.compile_kernels(["filter"], stream=stream)
    assert compiled == ("filter",) and cached == ()
    assert "particle filter (filter_sequences)" in stream.getvalue()


def test_failures_are_one_line(fake_children, monkeypatch, capsys):
    assert main(["compile", "--parts", "filter,bogus"]) == 2
    assert "unknown part(s) bogus" in capsys.readouterr().err
    fake_children["failing"].add("gradient")
    assert main(["compile", "--parts", "filter,gradient", "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("lowrank compile: error: compiling its reverse mode failed") and "\n" not in err
    monkeypatch.setattr(compile_kernels, "cache_folder", lambda: None)
    assert main(["compile"]) == 2
    assert "LOWRANK_NUMBA_CACHE=0" in capsys.readouterr().err


def test_every_command_shows_a_compile_unless_quiet(monkeypatch, capsys):
    """A first ``lowrank posterior`` (say) compiles for tens of seconds: the command line says what."""
    from lowrank.cli import simulate

    def fake(args, values):                     # a command whose first call compiles a part
        warmup._reporter("compiling kernels: 1/1 parts done", True)
        return 0
    monkeypatch.setattr(simulate, "_simulate", fake)
    assert main(["simulate", "--out", "x.npz"]) == 0
    assert "1/1 parts done" in capsys.readouterr().err
    assert warmup._reporter is None                                 # restored afterwards
