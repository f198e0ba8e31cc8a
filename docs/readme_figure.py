"""Regenerate the README figure from the soil toy tutorial.

Executes ``examples/soil_toy.ipynb`` and writes the figure of the cell tagged
``readme-figure`` (the two response surfaces) to
``docs/_static/soil_toy_response.png``, so the README shows exactly what the
tutorial draws. Run from anywhere: ``python docs/readme_figure.py``.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

import nbclient
import nbformat

DOCS = Path(__file__).resolve().parent
NOTEBOOK = DOCS.parent / "examples" / "soil_toy.ipynb"
FIGURE = DOCS / "_static" / "soil_toy_response.png"


def main() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with tempfile.TemporaryDirectory() as workdir:
        nbclient.NotebookClient(notebook, timeout=300, resources={"metadata": {"path": workdir}}).execute()
    for cell in notebook.cells:
        if "readme-figure" in cell.metadata.get("tags", []):
            images = [output["data"]["image/png"] for output in cell.outputs if "image/png" in output.get("data", {})]
            FIGURE.write_bytes(base64.b64decode(images[-1]))
            print(f"wrote {FIGURE} from {NOTEBOOK.name}")
            return
    raise SystemExit(f"no cell tagged 'readme-figure' with a figure in {NOTEBOOK}")


if __name__ == "__main__":
    main()
