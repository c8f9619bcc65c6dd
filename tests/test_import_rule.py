"""The import rule between the four packages (docs/architecture.md, "Package APIs").

Data flows one way: eo_tasks -> zoo -> hyperrep -> hyperzoo; a package never imports one
above it, not even inside a function. Across packages a module imports only exported names,
and from the package that exports them: a name is exported by a package or subpackage when
its ``__init__.py`` lists it in the ``_EXPORTS`` dict (names imported on first use through
``eo_tasks.lazy_exports``) or in a literal ``__all__``; ``from eo_tasks.train import
TrainConfig`` is allowed, ``from eo_tasks.train.config import TrainConfig`` and
``import zoo.worker`` are not. scripts/ and benchmarks/ import the packages by the same rule;
tests/ may import internals. The exports are read from the ``__init__`` files' source, not by
importing them, so a package that fails to import still gets a clear list of offenders.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("eo_tasks", "zoo", "hyperrep", "hyperzoo")  # in the order data flows
IMPORTERS = ("scripts", "benchmarks")
# (file, module) pairs that reach into another package's module on purpose, each with its reason
INTERNAL_ON_PURPOSE = {
    # the benchmark switches the trainer's module-level MEMORY_FORMAT: only the module itself has it
    ("benchmarks/train_memory_format.py", "eo_tasks.train.loop"),
}


def read_exports(init: Path) -> set[str]:
    """Names an ``__init__.py`` exports: the keys of its ``_EXPORTS`` dict literal and the
    strings of its ``__all__`` list (a starred entry there is the ``_EXPORTS`` keys again)."""
    names: set[str] = set()
    for node in ast.parse(init.read_text(), str(init)).body:
        if not isinstance(node, ast.Assign):
            continue
        targets = {t.id for t in node.targets if isinstance(t, ast.Name)}
        if "_EXPORTS" in targets and isinstance(node.value, ast.Dict):
            names |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
        if "__all__" in targets and isinstance(node.value, (ast.List, ast.Tuple)):
            names |= {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
    return names


def exporters() -> dict[str, set[str]]:
    """Every package and subpackage of the four, by dotted name, with what it exports."""
    return {".".join(init.parent.relative_to(ROOT).parts): read_exports(init)
            for pkg in PACKAGES for init in sorted((ROOT / pkg).rglob("__init__.py"))}


def modules() -> list[tuple[Path, str]]:
    """Every module checked, with the package it belongs to ("" for scripts and benchmarks)."""
    found = [(f, pkg) for pkg in PACKAGES for f in sorted((ROOT / pkg).rglob("*.py"))]
    return found + [(f, "") for d in IMPORTERS for f in sorted((ROOT / d).rglob("*.py"))]


def imports(tree: ast.AST) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every absolute import anywhere in the tree; ``import a.b``
    imports module ``a.b`` itself (names empty)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names]
    return found


def offences(exported: dict[str, set[str]]) -> list[str]:
    found = []
    for path, own in modules():
        rel = path.relative_to(ROOT).as_posix()
        for line, module, names in imports(ast.parse(path.read_text(), rel)):
            top = module.split(".")[0]
            if top not in PACKAGES or top == own:
                continue
            where = f"{rel}:{line}: {module}"
            if own and PACKAGES.index(top) > PACKAGES.index(own):
                found.append(f"{where}: {own} must not import {top}, which is built on it")
            elif {(rel, module), *((rel, f"{module}.{n}") for n in names)} & INTERNAL_ON_PURPOSE:
                continue
            elif module not in exported:
                found.append(f"{where}: a module, not a package; import from {top}'s exports")
            elif not names and module != top:
                found.append(f"{where}: import the names it exports instead")
            else:
                missing = [n for n in names if n not in exported[module]]
                if missing:
                    found.append(f"{where}: does not export {', '.join(missing)}")
    return found


def test_cross_package_imports_use_exported_names_and_flow_one_way():
    exported = exporters()
    assert exported["eo_tasks.train"] and exported["zoo"], "exports must be read from the __init__ files"
    bad = offences(exported)
    assert not bad, "imports that break the rule (docs/architecture.md):\n" + "\n".join(bad)


def test_the_checker_catches_an_internal_import_and_an_upward_one(tmp_path, monkeypatch):
    # a package tree with one module that breaks each rule, checked by the same code
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text((ROOT / pkg / "__init__.py").read_text())
    (tmp_path / "eo_tasks" / "train").mkdir()
    (tmp_path / "eo_tasks" / "train" / "__init__.py").write_text((ROOT / "eo_tasks/train/__init__.py").read_text())
    (tmp_path / "zoo" / "bad.py").write_text(
        "from eo_tasks.train.config import TrainConfig\nfrom eo_tasks.train import TrainConfig, Nope\n"
        "import eo_tasks.train.loop\n\n\ndef later():\n    from hyperrep import HyperRep\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    bad = offences(exporters())
    assert [b.split(": ")[0] for b in bad] == ["zoo/bad.py:1", "zoo/bad.py:2", "zoo/bad.py:3", "zoo/bad.py:7"], bad
    assert "Nope" in bad[1] and "built on it" in bad[3]


def test_every_export_resolves_to_what_it_names():
    """Each exported name imports, and is not shadowed by a submodule of the same name (the
    import system sets a loaded submodule as the package's attribute, hiding the export)."""
    broken = []
    for package, names in exporters().items():
        pkg = importlib.import_module(package)
        for sub in pkgutil.walk_packages(pkg.__path__, f"{package}."):
            importlib.import_module(sub.name)  # load everything first, as a long session would
        for name in sorted(names):
            try:
                value = getattr(pkg, name)
            except Exception as err:  # noqa: BLE001 (any failure is a broken export)
                broken.append(f"{package}.{name}: {type(err).__name__}: {err}")
                continue
            if inspect.ismodule(value):
                broken.append(f"{package}.{name}: is the submodule {value.__name__}, not the exported object")
        # a package that exports nothing has no __all__; one that does lists exactly what was read
        assert sorted(getattr(pkg, "__all__", [])) == sorted(names), f"{package}: __all__ is not its exports"
    assert not broken, "\n".join(broken)
