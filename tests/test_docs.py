"""The documentation: tutorial notebooks run, the public API is documented, the pages cover it.

The full Sphinx build (``python -m sphinx -W --keep-going -b html docs docs/_build/html``)
runs in ``.ci/run``; these tests catch the usual ways documentation rots, quickly:

* a tutorial notebook in ``examples/`` that no longer runs, or lost its figures;
* a public function, class or accessor method without a numpydoc docstring that has
  Parameters, Returns and Examples sections (the Examples themselves run as doctests);
* a public name missing from the API reference page, or a model-file variable or
  attribute missing from the model file format page.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import xrann

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
docscrape = pytest.importorskip("numpydoc.docscrape")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))


# -- tutorial notebooks -------------------------------------------------------


def test_there_are_tutorial_notebooks():
    names = {path.stem for path in NOTEBOOKS}
    assert {"soil_toy"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    with_outputs = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code" and cell.outputs]
    counted = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code" and cell.execution_count]
    assert with_outputs == [] and counted == [], f"{path.name}: clear the outputs of cells {with_outputs or counted}"
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# "), (
        f"{path.name} must open with a '# Title' markdown cell (it becomes the page title)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_and_draws_figures(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    figures = [output for output in outputs if "image/png" in output.get("data", {})]
    errors = [output for output in outputs if output.output_type == "error"]
    assert errors == []
    assert len(figures) >= 1, f"{path.name} drew no figure"


def test_every_notebook_is_a_page_of_the_docs():
    index = (DOCS / "index.md").read_text()
    missing = [path.stem for path in NOTEBOOKS if f"examples/{path.stem}" not in index]
    assert missing == [], f"add {missing} to a toctree in docs/index.md"


# -- the public API ------------------------------------------------------------


def _public_modules() -> list[str]:
    names = ["xrann"]
    for info in pkgutil.walk_packages(xrann.__path__, prefix="xrann."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def _is_own(module_name: str, obj) -> bool:
    return getattr(obj, "__module__", "").startswith("xrann") and (inspect.isfunction(obj) or inspect.isclass(obj))


def _public_objects() -> dict[str, object]:
    """Functions and classes in the ``__all__`` of every public module, by their defining path.

    Plus the public methods and properties of the classes exported by ``xrann`` itself
    (the accessor, `Model`, ...): the objects users meet first.
    """
    found: dict[str, object] = {}
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if _is_own(module_name, obj):
                found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    for name in xrann.__all__:
        cls = getattr(xrann, name)
        if not inspect.isclass(cls) or issubclass(cls, BaseException):
            continue
        for member_name, member in vars(cls).items():
            if member_name.startswith("_"):
                continue
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if inspect.isfunction(member) or isinstance(member, property):
                found[f"{cls.__module__}.{cls.__qualname__}.{member_name}"] = member
    return dict(sorted(found.items()))


PUBLIC = _public_objects()


def _signature_parameters(obj) -> list[str]:
    target = obj.fget if isinstance(obj, property) else obj
    if isinstance(obj, property):
        return []
    if inspect.isclass(obj):
        if issubclass(obj, BaseException) or getattr(obj, "_is_protocol", False):
            return []  # exceptions take a message; a Protocol's signature is typing's placeholder
        target = obj.__init__ if "__init__" in vars(obj) or dataclasses.is_dataclass(obj) else None
        if target is None or target is object.__init__:
            return []
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    return [name for name in signature.parameters if name not in ("self", "cls")]


def _returns_something(obj) -> bool:
    if inspect.isclass(obj):
        return False
    if isinstance(obj, property):
        return True
    annotation = inspect.signature(obj).return_annotation
    return annotation not in (None, "None")


def _documented_names(section) -> set[str]:
    names = set()
    for parameter in section:
        for name in parameter.name.split(","):
            names.add(name.strip().lstrip("*"))
    return names


@pytest.mark.parametrize("qualified_name", list(PUBLIC))
def test_public_object_has_numpydoc_docstring(qualified_name):
    obj = PUBLIC[qualified_name]
    raw = inspect.getdoc(obj.fget if isinstance(obj, property) else obj)
    assert raw, f"{qualified_name} has no docstring"
    doc = docscrape.NumpyDocString(raw)
    problems = []
    if not doc["Summary"]:
        problems.append("a one-line summary")
    parameters = [name.lstrip("*") for name in _signature_parameters(obj)]
    documented = _documented_names(doc["Parameters"]) | _documented_names(doc["Other Parameters"])
    if inspect.isclass(obj):
        documented |= _documented_names(doc["Attributes"])
    undocumented = [name for name in parameters if name not in documented]
    if undocumented:
        problems.append(f"Parameters entries for {undocumented}")
    if _returns_something(obj) and not (doc["Returns"] or doc["Yields"]):
        problems.append("a Returns section")
    if not any(">>>" in line for line in doc["Examples"]):
        problems.append("an Examples section with a runnable >>> example")
    assert problems == [], f"{qualified_name} needs " + "; ".join(problems)


def test_public_api_walk_finds_the_entry_points():
    assert {"xrann.accessor.AnnAccessor.fit", "xrann.accessor.AnnAccessor.predict", "xrann.model.open_model",
            "xrann.model.Model.to_netcdf", "xrann.datasets.soil.soil_toy", "xrann.core.network.loss_and_gradients"} <= set(PUBLIC)


def _api_page_entries() -> set[str]:
    """Fully qualified names listed in the autosummary tables of ``docs/api.rst``."""
    entries, module = set(), "xrann"
    for line in (DOCS / "api.rst").read_text().splitlines():
        current = re.match(r"\.\. currentmodule:: (\S+)", line.strip())
        if current:
            module = current.group(1)
        elif re.match(r"^   [A-Za-z_][\w.]*$", line) and not line.strip().startswith(":"):
            entries.add(f"{module}.{line.strip().lstrip('~')}")
    return entries


def _import_paths(obj) -> set[str]:
    """Every ``module.name`` under which a public module exports ``obj``."""
    paths = {f"{obj.__module__}.{obj.__qualname__}"}
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        paths |= {f"{module_name}.{name}" for name in getattr(module, "__all__", []) if getattr(module, name) is obj}
    return paths


def test_api_page_lists_every_public_object():
    entries = _api_page_entries()
    missing = []
    for qualified_name, obj in PUBLIC.items():
        owner_name, _, member_name = qualified_name.rpartition(".")
        is_member = isinstance(obj, property) or "." in obj.__qualname__
        if is_member and not owner_name.endswith("AnnAccessor"):
            continue  # methods of other classes appear on their class's page
        if is_member:
            paths = {f"{path}.{member_name}" for path in _import_paths(_owner(owner_name))}
        else:
            paths = _import_paths(obj)
        if not paths & entries:
            missing.append(min(paths, key=len))
    assert sorted(missing) == [], f"add {sorted(missing)} to an autosummary table in docs/api.rst"


def _owner(qualified_name: str):
    module_name, _, class_name = qualified_name.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)


# -- the model file format page ---------------------------------------------


def _model_files():
    sites = xrann.datasets.soil_toy(dry=True)
    network = sites.ann.fit(target="co2_flux", seed=0, epochs=5, validation=0.4, progress=False)
    linear = sites.ann.fit(target="co2_flux", seed=0, method="linear", progress=False)
    return [network.to_dataset(), linear.to_dataset()]


def test_model_format_page_documents_every_variable_and_attribute():
    page = (DOCS / "model_format.md").read_text()
    names = set()
    for model_ds in _model_files():
        names |= set(map(str, model_ds.variables)) | set(model_ds.attrs)
        names |= {re.sub(r"^core_(\w+?)_dim\d+$", "core_<name>_dim<i>", str(dim)) for dim in model_ds.dims}
        for variable in model_ds.variables.values():
            names |= set(variable.attrs)
    missing = sorted(name for name in names if f"`{name}`" not in page and name not in ("long_name",))
    assert missing == [], f"document {missing} in docs/model_format.md"


def test_model_format_page_describes_every_format_version():
    from xrann.model import FORMAT_VERSION

    page = (DOCS / "model_format.md").read_text()
    missing = [version for version in range(1, FORMAT_VERSION + 1) if f"\n- **{version}**" not in page]
    assert missing == [], f"describe format version(s) {missing} in the version history of docs/model_format.md"
