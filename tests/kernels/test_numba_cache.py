"""The Numba cache is keyed on every source a cached kernel may inline (lowrank.inference)."""
from lowrank.kernels._cache import drop_stale_numba_cache


def test_cache_dropped_only_when_a_source_changes(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "activations.py").write_text("x = 1\n")
    (src / "dynamics.py").write_text("y = 2\n")
    inf_cache, model_cache = tmp_path / "inf", tmp_path / "model"
    inf_cache.mkdir()
    model_cache.mkdir()
    stamp = str(inf_cache / "stamp.sha256")

    def populate():
        for f in ("smc_forward.k-1.py311.nbi", "smc_forward.k-1.py311.1.nbc"):
            (inf_cache / f).write_text("")
        for f in ("dynamics.sim-50.py311.1.nbc", "rnn.other-3.py311.1.nbc"):
            (model_cache / f).write_text("")

    sources = [str(src / "activations.py"), str(src / "dynamics.py")]
    caches = [(str(inf_cache), ""), (str(model_cache), "dynamics.")]
    populate()
    assert drop_stale_numba_cache(sources, caches, stamp)          # first sight: no stamp yet
    assert sorted(p.name for p in inf_cache.iterdir()) == ["stamp.sha256"]
    assert sorted(p.name for p in model_cache.iterdir()) == ["rnn.other-3.py311.1.nbc"]
    populate()
    assert not drop_stale_numba_cache(sources, caches, stamp)      # unchanged sources: cache kept
    assert len(list(inf_cache.iterdir())) == 3
    (src / "activations.py").write_text("x = 3\n")                 # a callee changed
    assert drop_stale_numba_cache(sources, caches, stamp)
    assert not (model_cache / "dynamics.sim-50.py311.1.nbc").exists()
    assert (model_cache / "rnn.other-3.py311.1.nbc").exists()


def test_the_stamp_covers_every_source_a_kernel_imports():
    # A kernel that imports a constant from outside lowrank/kernels/ (the option codes of
    # lowrank/model/codes.py, say) has it frozen into its cached machine code: the stamp
    # must hash that file too, or editing it would leave the cache stale.
    import ast
    import pathlib

    import lowrank
    from lowrank.kernels._cache import kernel_sources

    root = pathlib.Path(lowrank.__file__).parent
    covered = {pathlib.Path(p).resolve() for p in kernel_sources()}
    missing = []
    for path in sorted((root / "kernels").glob("*.py")):     # the disk-cached CPU kernels
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2 and node.module:
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
                target = base.joinpath(*node.module.split("."))
                src = target.with_suffix(".py") if target.with_suffix(".py").exists() else target / "__init__.py"
                if src.resolve() not in covered:
                    missing.append(f"{path.name} imports {node.module} ({src.relative_to(root)})")
    assert missing == []
    assert (root / "model" / "codes.py").resolve() in covered
