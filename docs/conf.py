"""Sphinx configuration for the xrann documentation.

Build (warnings are errors; the notebooks in ``examples/`` are executed)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build needs no network: intersphinx is off, and every figure is made by
executing the notebooks on the built-in datasets.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # document this checkout's xrann

import xrann  # noqa: E402

project = "xrann"
author = "xrann developers"
copyright = "xrann developers"
version = release = xrann.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # a MathJax copy shipped in the docs extra, served from _static: equations render offline
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
templates_path = ["_templates"]
# ``examples`` is a symlink to the repository's examples/ folder, so the notebooks
# live in one place; only the notebooks in it are pages.
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints", "examples/*.py", "examples/*.md", "README.md"]
default_role = "py:obj"

# -- API reference ---------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # numpydoc sections carry the types
autodoc_member_order = "bysource"
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- notebooks -------------------------------------------------------------
nb_execution_mode = os.environ.get("XRANN_DOCS_EXECUTE", "force")
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_in_temp = True  # files a notebook writes never land in the source tree
nb_execution_show_tb = True
nb_merge_streams = True
# Kernels start with a profile of their own (in the build's temp dir) whose only setting drops ipykernel's
# "Kernel is running over TCP without encryption" warning, printed once per notebook: the build's kernels
# listen on localhost only. Every other kernel message still shows.
_IPYTHONDIR = Path(tempfile.mkdtemp(prefix="xrann-docs-ipython-"))
(_IPYTHONDIR / "profile_default").mkdir()
(_IPYTHONDIR / "profile_default" / "ipython_kernel_config.py").write_text(
    "import logging\n\n\n"
    "class _LocalTcpIsFine(logging.Filter):\n"
    "    def filter(self, record):\n"
    "        return 'running over TCP without encryption' not in record.getMessage()\n\n\n"
    "logging.getLogger('IPKernelApp').addFilter(_LocalTcpIsFine())\n"
)
os.environ["IPYTHONDIR"] = str(_IPYTHONDIR)
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- HTML ------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"xrann {release}"
html_static_path = ["_static"]
html_css_files = ["xrann.css"]
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# pages without sub-pages would show an empty "Section Navigation" column
html_sidebars = {
    page: [] for page in (
        "index", "install", "quickstart", "network", "extra_dims", "several_targets", "crossval", "model_format",
        "reliability", "changelog", "examples/*",
    )
}


def _repository_links(app, docname: str, source: list[str]) -> None:
    """Notebooks link pages as the repository lays them out, so the links work when a notebook is opened
    in Jupyter: siblings as ``dask_cluster.ipynb``, docs pages as ``../docs/network.md``. ``docs/examples``
    is a symlink (MyST resolves links from the notebook's real folder), so here those links become
    ``{doc}`` references from the docs root."""
    if docname.startswith("examples/"):
        source[0] = re.sub(r'\[([^][\n"\\]+)\]\(\.\./docs/([\w/-]+)\.md\)', r"{doc}`\1 </\2>`", source[0])
        source[0] = re.sub(r'\[([^][\n"\\]+)\]\(([\w-]+)\.ipynb\)', r"{doc}`\1 </examples/\2>`", source[0])


def setup(app) -> None:
    app.connect("source-read", _repository_links)
