"""Model summaries: the one-line repr and the notebook HTML repr."""

import html
import re

import pytest

import xrann


@pytest.fixture(scope="module")
def toy_model():
    ds = xrann.datasets.soil_toy(dry=True)
    ds["grain_size"].attrs["long_name"] = "grain <size> & texture"
    return ds.ann.fit(target="co2_flux", seed=0, epochs=50, validation=0.4, progress=False)


def test_text_repr_single_and_ensemble(toy_model, grid):
    text = repr(toy_model)
    assert text.startswith("<xrann.Model ann: co2_flux ~ soil_moisture, grain_size; layers 2 -> 4 -> 1; 3 training samples;")
    assert re.search(r"final loss [0-9.e+-]+, best validation loss [0-9.e+-]+>$", text)
    ensemble = grid.ann.fit(target="nee", drivers=["t2m", "swdown"], seed=0, epochs=5, members=2, progress=False)
    assert repr(ensemble).startswith("<xrann.Model ann ensemble of 2 (bootstrap): nee ~ t2m, swdown; layers 2 -> 4 -> 1;")
    assert "\n" not in repr(ensemble)
    linear = grid.ann.fit(target="nee", drivers=["t2m"], method="linear")
    assert "layers linear" in repr(linear) and "best validation" not in repr(linear)


def test_html_repr_sections_and_content(toy_model):
    page = toy_model._repr_html_()
    assert page.startswith("<div class='xrann-model'>") and page.endswith("</div>")
    for title in ("Architecture", "Target (co2_flux)", "Drivers (2)", "Samples", "Losses (scaled target, MSE)", "Version"):
        assert f"<summary>{title}</summary>" in page
    assert page.count("<details") == 6 and page.count("</details>") == 6
    low, high = toy_model.driver_ranges["soil_moisture"]
    assert "<td>soil_moisture</td><td>%</td><td>soil moisture</td>" f"<td>{low:.4g}</td><td>{high:.4g}</td>" in page
    assert "<td>training</td><td>3</td>" in page and "<td>validation</td><td>2</td>" in page
    assert "best validation loss" in page and "2 -&gt; 4 -&gt; 1" in page


def test_html_repr_escapes_text(toy_model):
    page = toy_model._repr_html_()
    assert html.escape("grain <size> & texture") in page
    assert "<size>" not in page
