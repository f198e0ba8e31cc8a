"""Model summaries: the one-line repr and the notebook HTML repr."""

import html
import re

import pytest

import xrann


@pytest.fixture(scope="module")
def toy_model():
    ds = xrann.datasets.soil_toy(dry=True)
    ds["grain_size"].attrs["long_name"] = "grain <size> & texture"
    # a selection holds out exactly sites 3 and 4 (a fraction would be drawn per site by hash)
    return ds.ann.fit(target="co2_flux", seed=0, epochs=50, validation={"site": [3, 4]}, progress=False)


def test_text_repr_single_and_ensemble(toy_model, grid):
    text = repr(toy_model)
    assert text.startswith("<xrann.Model ann: co2_flux ~ soil_moisture, grain_size; layers 2 -> 4 -> 1; 3 training samples;")
    # the optimiser "auto" chose, the epochs actually run, and whether training converged
    epochs = toy_model.history.sizes["epoch"]
    converged = "converged" if toy_model.history.attrs["converged"] else "not converged"
    assert f"; lm, {epochs} epochs, {converged}; final loss" in text
    assert re.search(r"final loss [0-9.e+-]+, best validation loss [0-9.e+-]+>$", text)
    ensemble = grid.ann.fit(target="nee", drivers=["t2m", "swdown"], seed=0, epochs=5, members=2, progress=False)
    assert repr(ensemble).startswith("<xrann.Model ann ensemble of 2 (bootstrap): nee ~ t2m, swdown; layers 2 -> 4 -> 1;")
    assert re.search(r"; lm, 5 epochs, [0-2] of 2 members converged; final loss", repr(ensemble))
    assert "\n" not in repr(ensemble)
    with pytest.warns(xrann.ConvergenceWarning):
        adam = grid.ann.fit(target="nee", drivers=["t2m"], seed=0, optimizer="adam", epochs=3, patience=None, progress=False)
    assert "; adam, 3 epochs, not converged; final loss" in repr(adam)
    linear = grid.ann.fit(target="nee", drivers=["t2m"], method="linear", validation=None)
    assert "layers linear" in repr(linear) and "best validation" not in repr(linear) and "epochs" not in repr(linear)


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
    # what "auto" resolved to, and how training ended
    assert "<td>optimizer</td><td>lm (optimizer=&#x27;auto&#x27;)</td>" in page
    assert "<td>learning rate</td><td>none (steps chosen by lm)</td>" in page
    assert "<td>batch size</td><td>full batch</td>" in page
    assert f"<td>epochs run</td><td>{toy_model.history.sizes['epoch']}</td>" in page
    assert "<td>converged</td><td>yes</td>" in page or "<td>converged</td><td>no</td>" in page
    assert f"<td>stopped</td><td>{html.escape(toy_model.history.attrs['stop_reason'])}</td>" in page


def test_html_repr_of_a_first_order_fit_shows_its_learning_rate_and_batches(grid):
    with pytest.warns(xrann.ConvergenceWarning):
        model = grid.ann.fit(
            target="nee", drivers=["t2m"], seed=0, optimizer="adam", batch_size=64, epochs=3, patience=None, progress=False
        )
    page = model._repr_html_()
    assert "<td>optimizer</td><td>adam</td>" in page
    assert "<td>learning rate</td><td>0.01</td>" in page and "<td>batch size</td><td>64</td>" in page
    assert "<td>epochs (limit)</td><td>3</td>" in page and "<td>converged</td><td>no</td>" in page


def test_html_repr_escapes_text(toy_model):
    page = toy_model._repr_html_()
    assert html.escape("grain <size> & texture") in page
    assert "<size>" not in page
