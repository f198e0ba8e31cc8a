"""The package's layers: imports point one way, the core is numpy only, and no function imports the package's own modules.

Layers, lowest first (a module may import only from its own layer or below):

0. ``xrann.core``: numpy only
1. ``xrann.data`` and ``xrann.datasets``: the xarray/dask layer and the built-in data
2. ``xrann.model`` and ``xrann.repr``: the fitted model and its file
3. ``xrann.fit``: one gradient source per mode, ensembles, settings
4. ``xrann.predict``
5. ``xrann.metrics``, then ``xrann.evaluation`` / ``xrann.importance``, ``xrann.response``, ``xrann.crossval``
6. ``xrann.accessor``, ``xrann.cli``, ``xrann.plot``, ``xrann.sklearn`` and the package's ``__init__``
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "xrann"

LAYERS: dict[str, int] = {
    "xrann.core": 0,
    "xrann.data": 1,
    "xrann.datasets": 1,
    "xrann._version": 1,
    "xrann.features": 1,
    "xrann.repr": 2,
    "xrann.model": 2,
    "xrann.fit": 3,
    "xrann.predict": 4,
    "xrann.metrics": 5,
    "xrann.regions": 5,
    "xrann.targets": 5,
    "xrann.evaluation": 6,
    "xrann.importance": 6,
    "xrann.response": 7,
    "xrann.crossval": 7,
    "xrann.shapley": 7,
    "xrann.attribution": 7,
    "xrann.folds": 7,
    "xrann.search": 7,
    "xrann.plot": 8,
    "xrann.accessor": 8,
    "xrann.sklearn": 8,
    "xrann.cli": 9,
    "xrann.__main__": 10,
    "xrann": 10,
}
#: third-party packages the numpy-only core must never import
FORBIDDEN_IN_CORE = ("xarray", "dask", "pandas", "cf_xarray", "distributed", "netCDF4")


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    best = max((key for key in LAYERS if module == key or module.startswith(key + ".")), key=len)
    return LAYERS[best]


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(path: pathlib.Path, module: str | None = None) -> list[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` of every runtime import in a file.

    A module-level ``__getattr__`` (lazy attributes for optional dependencies) does not count as a function.
    """
    module = _module_name(path) if module is None else module
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue  # annotations only, never executed
            inside = in_function or (
                isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and child.name != "__getattr__"
            )
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                    names = [target] if child.module else [f"{target}.{alias.name}" for alias in child.names]
                else:
                    names = [child.module or ""]
                found.extend((name, child.lineno, in_function) for name in names)
            visit(child, inside)

    visit(tree, False)
    return found


FILES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: _module_name(p))
def test_imports_point_down_the_layers(path):
    module = _module_name(path)
    own = _layer(module)
    for imported, line, _ in _imports(path):
        if imported == "xrann" or imported.startswith("xrann."):
            assert _layer(imported) <= own, (
                f"{module} (layer {own}) imports {imported} (layer {_layer(imported)}) at line {line}: "
                "a lower layer must not depend on a higher one; move the function down a layer."
            )


@pytest.mark.parametrize("path", FILES, ids=lambda p: _module_name(p))
def test_no_function_local_imports_of_the_package(path):
    for imported, line, in_function in _imports(path):
        if in_function:
            assert not (imported == "xrann" or imported.startswith("xrann.")), (
                f"{_module_name(path)} imports {imported} inside a function (line {line}); function-local imports "
                "are for optional third-party libraries only: a cycle means a misplaced function."
            )


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").rglob("*.py")), ids=lambda p: _module_name(p))
def test_core_imports_numpy_only(path):
    for imported, line, _ in _imports(path):
        top = imported.split(".")[0]
        assert top not in FORBIDDEN_IN_CORE, f"{_module_name(path)} imports {imported} at line {line}; the core is numpy only."


def test_every_module_has_a_layer():
    for path in FILES:
        _layer(_module_name(path))  # raises ValueError (max of nothing) for a module no layer covers


def test_the_checker_catches_a_violation(tmp_path):
    """The rules above see a core module importing xarray, a higher layer, and a function-local import."""
    fake = tmp_path / "network.py"
    fake.write_text("import xarray\nfrom ..fit import settings\n\ndef f():\n    from ..data import blocks\n")
    imports = _imports(fake, module="xrann.core.network")
    assert ("xarray", 1, False) in imports
    assert ("xrann.fit", 2, False) in imports
    assert ("xrann.data", 5, True) in imports
    assert _layer("xrann.fit") > _layer("xrann.core.network")
