"""The core layer imports numpy only: no xarray, dask, pandas or cf_xarray.

``import xrann.core.network`` would first run ``xrann/__init__.py``, which imports xarray, so a fresh
interpreter loads ``xrann/core`` as a package of its own under an empty stand-in for ``xrann``.
"""

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

# found without importing xrann (whose __init__ imports xarray)
CORE = Path(importlib.util.find_spec("xrann").submodule_search_locations[0]) / "core"
MODULES = sorted(path.stem for path in CORE.glob("*.py") if path.stem != "__init__")
FORBIDDEN = ("xarray", "dask", "pandas", "cf_xarray")

CHECK = textwrap.dedent(
    """
    import importlib, importlib.util, json, sys, types
    from pathlib import Path

    core, modules, forbidden = Path(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
    parent = types.ModuleType("xrann")
    parent.__path__ = []  # a package with nothing in it: xrann/__init__.py never runs
    sys.modules["xrann"] = parent
    spec = importlib.util.spec_from_file_location("xrann.core", core / "__init__.py", submodule_search_locations=[str(core)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["xrann.core"] = package
    spec.loader.exec_module(package)
    for name in modules:
        module = importlib.import_module(f"xrann.core.{name}")
        assert module.__file__ == str(core / f"{name}.py"), module.__file__
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in forbidden)
    assert not loaded, f"the core imported {loaded}"
    assert "xrann.accessor" not in sys.modules and "xrann.data" not in sys.modules
    print(len(modules))
    """
)


def test_every_core_module_imports_without_xarray_dask_pandas_or_cf_xarray():
    assert {"network", "workspace", "optimizers", "second_order", "engine", "arrays", "progress"} <= set(MODULES)
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(CORE), json.dumps(MODULES), json.dumps(FORBIDDEN)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(MODULES))
