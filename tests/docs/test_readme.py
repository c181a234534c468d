"""The README's Python example runs (with fewer updates) and says what it shows; the README names
the documentation's build command and quotes no measured figures (they live in the documentation,
generated from the benchmarks and the examples)."""
import pathlib
import re

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_python_example_runs(tmp_path, monkeypatch, capsys):
    (code,) = _python_blocks(README)
    assert "n_iter=500" in code
    monkeypatch.chdir(tmp_path)                  # it writes m.npz
    scope = {}
    exec(compile(code.replace("n_iter=500", "n_iter=10"), "README.md", "exec"), scope)
    assert scope["data"].y.shape == (200, 75, 20)                 # as its comment says
    assert scope["post"].smooth_mean.shape == (40, 75, 2)
    assert (tmp_path / "m.npz").exists()
    printed = capsys.readouterr().out.split("\n")
    assert np.isfinite(float(printed[0]))                          # the held-out ELBO per step


def test_the_readme_names_the_docs_build_and_quotes_no_figures():
    assert 'pip install ".[docs]" && python -m sphinx -W -b html docs docs/_build/html' in README
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    # a decimal number in the prose is a measured figure (the paper's year and ranks are integers)
    assert re.findall(r"\d+\.\d+", prose) == []
