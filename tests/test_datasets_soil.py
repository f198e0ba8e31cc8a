"""The soil toy: its data and its lesson (training data must span the conditions predicted)."""

import numpy as np
import xarray as xr

import xrann


def test_soil_toy_tables():
    moist = xrann.datasets.soil_toy()
    assert moist.sizes == {"site": 3}
    assert moist["soil_moisture"].values.tolist() == [58, 34, 58]
    assert moist["grain_size"].values.tolist() == [1.3, 1.3, 0.3]
    assert moist["co2_flux"].values.tolist() == [166, 100, 100]
    assert moist["soil_moisture"].attrs["units"] == "%" and moist["grain_size"].attrs["units"] == "mm"
    dry = xrann.datasets.soil_toy(dry=True)
    assert dry["co2_flux"].values.tolist() == [166, 100, 100, 5, 12]
    sites = xrann.datasets.soil_toy_sites()
    assert list(zip(sites["soil_moisture"].values, sites["grain_size"].values)) == [
        (22, 0.7), (80, 2.3), (40, 0.3), (15, 0.1), (2, 0.1), (80, 0.3)
    ]
    assert "co2_flux" not in sites


def test_soil_grid_spans_the_response_surface():
    grid = xrann.datasets.soil_grid()
    assert grid["soil_moisture"].dims == ("moisture", "grain")
    assert float(grid.moisture.min()) == 0 and float(grid.moisture.max()) == 100
    assert float(grid.grain.min()) == 0 and float(grid.grain.max()) == 2.5


def test_the_lesson_of_the_toy():
    sites = xrann.datasets.soil_toy_sites()
    dry_sites = [3, 4]  # (15 %, 0.1 mm) and (2 %, 0.1 mm)
    moist_model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, progress=False)
    moist_only = sites.ann.predict(moist_model).values
    assert np.all(np.abs(moist_only[dry_sites] - 100) < 20), moist_only
    dry_model = xrann.datasets.soil_toy(dry=True).ann.fit(target="co2_flux", seed=0, progress=False)
    with_dry = sites.ann.predict(dry_model).values
    assert np.all(with_dry[dry_sites] < 40), with_dry
    # both fit their training sites
    np.testing.assert_allclose(xrann.datasets.soil_toy().ann.predict(moist_model).values, [166, 100, 100], atol=1)


def test_the_lesson_holds_for_other_seeds():
    sites = xrann.datasets.soil_toy_sites()
    for seed in range(1, 6):
        moist = sites.ann.predict(xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=seed, progress=False)).values
        dry = sites.ann.predict(xrann.datasets.soil_toy(dry=True).ann.fit(target="co2_flux", seed=seed, progress=False)).values
        assert (moist[[3, 4]] > 60).all() and (dry[[3, 4]] < 40).all(), (seed, moist, dry)


def test_response_surface_on_the_grid_keeps_grid_coordinates():
    model = xrann.datasets.soil_toy(dry=True).ann.fit(target="co2_flux", seed=0, progress=False)
    grid = xrann.datasets.soil_grid(11, 6)
    surface = grid.ann.predict(model)
    assert surface.dims == ("moisture", "grain")
    xr.testing.assert_identical(surface.coords.to_dataset(), grid["soil_moisture"].coords.to_dataset())


def test_the_original_recipe_is_reachable_and_teaches_the_same_lesson():
    # patience=None: every one of the 1500 iterations, as the notebook ran them (no stopping on the training loss)
    recipe = dict(optimizer="sgd", learning_rate=1.0, bias=False, init="uniform", epochs=1500, patience=None,
                  batch_size=None, loss="sse", seed=0, progress=False)
    sites = xrann.datasets.soil_toy_sites()
    moist_model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", **recipe)
    assert moist_model.core.biases is None and len(moist_model.history["loss"]) == 1500
    assert moist_model.hyperparameters["optimizer"] == "sgd" and moist_model.hyperparameters["init"] == "uniform"
    moist_only = sites.ann.predict(moist_model).values
    with_dry = sites.ann.predict(xrann.datasets.soil_toy(dry=True).ann.fit(target="co2_flux", **recipe)).values
    assert (moist_only[[3, 4]] > 60).all() and (with_dry[[3, 4]] < 40).all(), (moist_only, with_dry)
