"""xrann.search: every setting on the same folds, the known-best setting found and refitted, bad grids fail first."""

import numpy as np
import pytest
import xarray as xr

import xrann
from xrann.search import SearchResult, search

pytestmark = pytest.mark.filterwarnings("ignore::xrann.ConvergenceWarning")


@pytest.fixture(scope="module")
def wave():
    """A target that rises and falls with its driver: one sigmoid node cannot follow it, six can."""
    rng = np.random.default_rng(0)
    driver = rng.random(240)
    ds = xr.Dataset(
        {"y": ("x", np.sin(2 * np.pi * driver) + rng.normal(0, 0.02, 240)), "a": ("x", driver)},
        coords={"group": ("x", np.arange(240) % 4)},
    )
    return ds


def test_search_picks_the_setting_known_to_be_best(wave):
    grid = {"hidden": [(1,), (6,)], "method": ["ann", "linear"]}
    found = search(wave, "y", ["a"], grid=grid, by=wave["group"], seed=0, epochs=60, validation=None, progress=False)
    assert isinstance(found, SearchResult)
    assert found.best_settings == {"hidden": (6,), "method": "ann"}
    table = found.scores
    assert table["rmse"].dims == ("setting", "fold") and table["rmse"].shape == (4, 4)
    assert table["hidden"].values.tolist() == ["(1,)", "(1,)", "(6,)", "(6,)"]
    assert table["settings"].values[2] == "hidden=(6,), method='ann'"
    assert table["held_out"].values.tolist() == ["0", "1", "2", "3"]
    np.testing.assert_allclose(table["mean_rmse"], table["rmse"].mean("fold"))
    assert table["rank"].values[2] == 1
    assert found.best_score == pytest.approx(float(table["mean_rmse"][2]))
    # the wave is learnt by six nodes, not by one or a line
    assert found.best_score < 0.1 < float(table["mean_rmse"][[0, 1, 3]].min())
    # every fit of a fold trained on the same samples: 3 of 4 groups
    assert (table["n_training"] == 180).all() and (table["n_samples"] == 60).all()
    # the best setting refitted on all the data
    assert found.best_model.hyperparameters["hidden"] == [6]
    assert found.best_model.sample_counts["training"] == 240


def test_a_fold_score_equals_cross_validate(wave):
    found = search(wave, "y", ["a"], grid={"hidden": [(2,)]}, by=wave["group"], seed=1, epochs=10, validation=None, refit=False, progress=False)
    cv = xrann.cross_validate(wave, "y", ["a"], by=wave["group"], hidden=(2,), seed=1, epochs=10, validation=None, progress=False)
    np.testing.assert_allclose(found.scores["rmse"].isel(setting=0), cv["rmse"])
    assert found.best_model is None


def test_r2_ranks_higher_as_better(wave):
    found = search(wave, "y", ["a"], grid={"method": ["linear", "ann"]}, by=wave["group"], scoring="r2", hidden=(6,), seed=0, epochs=60, validation=None, refit=False, progress=False)
    assert found.best_settings == {"method": "ann"} and "mean_r2" in found.scores


def test_distributed_client_gives_the_same_scores(wave):
    distributed = pytest.importorskip("distributed")
    settings = dict(grid={"hidden": [(1,), (2,)]}, by=wave["group"], seed=0, epochs=5, validation=None, refit=False, progress=False)
    local = search(wave, "y", ["a"], **settings)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None):
        on_client = search(wave, "y", ["a"], **settings)
    xr.testing.assert_allclose(on_client.scores, local.scores)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"grid": {"hiden": [(2,)]}}, TypeError, r"the search grid has unknown settings \['hiden'\]"),
        ({"grid": {"hidden": [(2,), (0,)]}}, ValueError, r"the search grid setting hidden=\(0,\) is invalid: .*hidden"),
        ({"grid": {"optimizer": ["lm", "newton"]}}, ValueError, r"setting optimizer='newton' is invalid: .*newton"),
        ({"grid": {"epochs": [5, "many"]}}, ValueError, r"setting epochs='many' is invalid"),
        ({"grid": {"hidden": []}}, ValueError, r"grid\['hidden'\] must be a non-empty list"),
        ({"grid": {"hidden": "(2,)"}}, ValueError, r"grid\['hidden'\] must be a non-empty list"),
        ({"grid": {}}, ValueError, r"grid must map setting names to lists"),
        ({"grid": {"hidden": [(2,)]}, "hidden": (3,)}, ValueError, r"\['hidden'\] are given both in the grid and as fixed settings"),
        ({"grid": {"hidden": [(2,)]}, "scoring": "accuracy"}, ValueError, r"scoring='accuracy' is not known"),
        ({"grid": {"hidden": [(2,)]}, "by": "space", "block": {"x": 5}}, ValueError, r"block"),
        ({"grid": {"hidden": [(2,)]}, "leave_out": 4}, ValueError, r"leave_out=4 must be smaller than the number of groups"),
    ],
)
def test_bad_grids_fail_before_any_fold_runs(wave, arguments, error, message, monkeypatch):
    monkeypatch.setattr(xrann.crossval, "fit_dataset", lambda *a, **k: pytest.fail("a fold ran"))
    with pytest.raises(error, match=message):
        search(wave, "y", ["a"], **({"by": wave["group"], "progress": False} | arguments))


def test_user_dataset_is_not_modified(wave):
    before = wave.copy(deep=True)
    search(wave, "y", ["a"], grid={"hidden": [(1,)]}, by=wave["group"], seed=0, epochs=2, progress=False)
    xr.testing.assert_identical(wave, before)
