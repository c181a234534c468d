"""The option table (lowrank.options) is the one source of every setting: the library's
defaults, every command's flags and aliases, and the TOML keys of --config and --settings."""
import argparse
import dataclasses
import inspect
import pathlib
import re

import pytest

import lowrank
from lowrank import options as T
from lowrank.cli import build_parser
from lowrank.cli.config import read_toml
from lowrank.model.encoder import EncoderOptions
from lowrank.model.options import ModelOptions
from lowrank.training.settings import check_settings

COMMANDS = ("simulate", "fit", "fit-many", "sample", "evaluate", "posterior")
OPTIONS_PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "user_guide" / "command_line.md"


def _subparser(command):
    p = build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def _library_defaults():
    """The library's own defaults, read from the functions and classes (not from the table)."""
    from lowrank.inference.posterior import posterior
    fit = check_settings(ModelOptions(n_units=4, rank=2, n_obs=3))._asdict()
    # documented normalisations of check_settings: None -> the model's proposal, lr_end -> lr,
    # eval_particles -> n_particles
    fit.update(proposal=None, lr_end=None, eval_particles=None)
    model = {f.name: f.default for f in dataclasses.fields(ModelOptions)}
    enc = {f"encoder_{f.name}": f.default for f in dataclasses.fields(EncoderOptions)}
    sig = {name: {k: p.default for k, p in inspect.signature(f).parameters.items()}
           for name, f in [("posterior", posterior), ("sample", lowrank.LowRankRNN.sample),
                           ("evaluate", lowrank.evaluate), ("fit_many", lowrank.fit_many),
                           ("dataset", lowrank.teachers.get("oscillator").dataset)]}
    return fit, model, enc, sig


def _library_default(o, command, lib):
    fit, model, enc, sig = lib
    if o.group == "fit":
        return fit[o.name]
    if o.group == "model":
        return model.get(o.name, T.REQUIRED) if o.name not in ("rank", "n_units") else T.REQUIRED
    if o.group == "encoder":
        return enc[o.name]
    if o.group == "posterior":
        return sig["posterior"][o.name]
    if o.group == "sample":
        return sig["sample"][o.name]
    if o.group == "simulate":
        return sig["dataset"][o.name]
    if o.group == "evaluate":
        return sig["evaluate"][o.name]
    if o.name in ("seeds", "base_seed"):
        return sig["fit_many"][o.name]
    return o.default          # command-only options (data, run, many): the table is their only home


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_its_flag_aliases_and_the_library_default(command):
    lib = _library_defaults()
    s = _subparser(command)
    flags = {f: a for a in s._actions for f in a.option_strings}
    for o in T.options_for(command).values():
        for flag in (o.flag,) + o.aliases:
            assert flag in flags, f"{command}: {flag} missing"
            assert flags[flag].dest == o.name
        assert flags[o.flag].default is argparse.SUPPRESS      # not given: the library's default applies
        lib_default = _library_default(o, command, lib)
        assert lib_default == o.default, f"{command} {o.name}: table {o.default!r} != library {lib_default!r}"
        if o.default is T.REQUIRED:             # the documented exception: the command line's own default
            assert o.cli_default is not None or o.nullable
            assert "library requires" in o.default_note


def test_flags_are_the_library_names_with_dashes():
    for o in T.TABLE:
        assert o.flag == "--" + o.name.replace("_", "-")


def _sample_value(o):
    if o.choices:
        return o.choices[-1]
    return {"int": 3, "float": 0.5, "bool": True, "ints": [3, 1], "floats": [0.5, 0.9], "str": "x",
            "path": "p.npz"}[o.kind]


def test_the_same_keys_are_accepted_by_config_and_settings(tmp_path):
    both = set(T.options_for("fit")) & set(T.options_for("fit-many"))
    for name in sorted(both):
        o = T.options_for("fit")[name]
        v = _sample_value(o)
        text = f"{name} = {_toml(v)}\n"
        (tmp_path / "a.toml").write_text(text)
        fit = read_toml(tmp_path / "a.toml", "fit").values
        many = read_toml(tmp_path / "a.toml", "fit-many").values
        assert fit == many and name in fit
        if name in T.setting_names():
            (tmp_path / "b.toml").write_text(f"[[setting]]\n{text}")
            assert read_toml(tmp_path / "b.toml", "fit-many").settings == [fit]
        for alias in o.aliases:                                    # older spellings as keys too
            (tmp_path / "c.toml").write_text(f"{alias.lstrip('-')} = {_toml(v)}\n")
            assert read_toml(tmp_path / "c.toml", "fit").values == fit


def _toml(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(map(str, v)) + "]"
    return str(v)


def test_a_bad_value_names_the_key_and_the_file(tmp_path):
    (tmp_path / "a.toml").write_text('proposal = "nonsense"\n')
    with pytest.raises(ValueError, match=r"a\.toml: proposal must be one of"):
        read_toml(tmp_path / "a.toml", "fit")
    (tmp_path / "a.toml").write_text('n_iter = 0\n')
    with pytest.raises(ValueError, match=r"n_iter must be >= 1"):
        read_toml(tmp_path / "a.toml", "fit-many")
    (tmp_path / "a.toml").write_text('nonsense = 1\n')
    with pytest.raises(ValueError, match=r"unknown setting 'nonsense'.*n_iter"):
        read_toml(tmp_path / "a.toml", "fit")


def test_fit_takes_no_setting_tables(tmp_path):
    (tmp_path / "a.toml").write_text("[[setting]]\nlr = 0.1\n")
    with pytest.raises(ValueError, match="fit-many"):
        read_toml(tmp_path / "a.toml", "fit")


def test_the_library_validates_fit_settings_by_the_table():
    opts = ModelOptions(n_units=4, rank=2, n_obs=3)
    for name in T.fit_names():
        o = T.option(name, "fit")
        bad = "x" if o.kind != "str" else 3
        with pytest.raises((TypeError, ValueError), match=name):
            check_settings(opts, **{name: bad})
    with pytest.raises(TypeError, match="unknown fit setting 'n_iters'"):
        check_settings(opts, n_iters=3)


def test_the_documented_table_of_defaults_is_the_tables():
    text = OPTIONS_PAGE.read_text()
    m = re.search(r"<!-- options:fit -->\n(.*?)\n<!-- /options:fit -->", text, re.S)
    assert m, f"{OPTIONS_PAGE} lacks the generated table of lowrank fit's options"
    assert m.group(1).strip() == T.markdown_table("fit").strip(), \
        f"the options table of {OPTIONS_PAGE} is stale: regenerate it with python -m lowrank.options --write"


def test_choices_match_the_codes_they_name():
    from lowrank.inference.smoothing import SMOOTHERS
    from lowrank.model.codes import PROPOSAL_CODE, RESAMPLE_CODE
    from lowrank.training.optim import OPTIMIZERS
    assert set(T.PROPOSALS) == set(PROPOSAL_CODE)
    assert set(T.RESAMPLERS) == set(RESAMPLE_CODE)
    assert set(T.OPTIMIZERS) == set(OPTIMIZERS)
    assert T.SMOOTHERS == SMOOTHERS


def test_no_public_function_takes_more_than_16_parameters():
    import ast
    root = pathlib.Path(lowrank.__file__).parent
    wide = []
    for path in root.rglob("*.py"):
        for n in ast.walk(ast.parse(path.read_text())):
            if isinstance(n, ast.ClassDef) and n.name.startswith("_"):
                continue
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    (not n.name.startswith("_") or n.name == "__init__"):
                a = n.args
                names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
                count = len([x for x in names if x not in ("self", "cls")]) + bool(a.vararg) + bool(a.kwarg)
                if count > 16:
                    wide.append(f"{path.relative_to(root)}:{n.lineno} {n.name} ({count})")
    assert wide == []


def test_the_table_is_written_between_the_markers_only():
    text = "intro\n<!-- options:fit -->\nold table\n<!-- /options:fit -->\nafter\n"
    new = T.replace_markdown_table(text, "fit")
    assert new.startswith("intro\n<!-- options:fit -->\n| flag |") and new.endswith("<!-- /options:fit -->\nafter\n")
    assert "old table" not in new and T.markdown_table("fit") in new
    with pytest.raises(ValueError, match="markers"):
        T.replace_markdown_table("no markers here", "fit")
