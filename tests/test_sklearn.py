"""The scikit-learn estimator: the estimator contract, pipelines, model selection, and the shared numpy core."""

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

import xrann  # noqa: E402
from xrann.sklearn import SigmoidNetRegressor  # noqa: E402


@pytest.fixture(scope="module")
def regression_data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(300, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.05 * rng.normal(size=300)
    return X, y


def test_passes_check_estimator():
    failures = [
        (result["check_name"], repr(result["exception"]))
        for result in check_estimator(SigmoidNetRegressor(), on_fail=None)
        if result["status"] == "failed"
    ]
    assert failures == []


def test_exported_lazily_from_xrann():
    assert xrann.SigmoidNetRegressor is SigmoidNetRegressor
    with pytest.raises(AttributeError, match="no attribute 'NotAThing'"):
        xrann.NotAThing  # noqa: B018


def test_same_network_as_the_accessor():
    """On the same samples and seed, the estimator and ``ds.ann.fit`` train identical networks."""
    ds = xrann.datasets.soil_toy(dry=True)
    model = ds.ann.fit(target="co2_flux", drivers=["soil_moisture", "grain_size"], seed=3, epochs=300, progress=False)
    X = np.column_stack([ds["soil_moisture"].values, ds["grain_size"].values])
    estimator = SigmoidNetRegressor(epochs=300, random_state=3).fit(X, ds["co2_flux"].values)
    for fitted, expected in zip(estimator.network_.parameters, model.core.parameters):
        np.testing.assert_array_equal(fitted, expected)
    sites = xrann.datasets.soil_toy_sites()
    X_sites = np.column_stack([sites["soil_moisture"].values, sites["grain_size"].values])
    np.testing.assert_array_equal(estimator.predict(X_sites), sites.ann.predict(model).values)
    assert estimator.loss_curve_ == list(model.history["loss"].values)


def test_learned_attributes(regression_data):
    X, y = regression_data
    estimator = SigmoidNetRegressor(hidden=(8,), validation_fraction=0.2, patience=30, random_state=0).fit(X, y)
    assert estimator.n_features_in_ == 3 and estimator.n_outputs_ == 1
    assert len(estimator.validation_loss_curve_) == estimator.n_iter_ == len(estimator.loss_curve_)
    assert 0 <= estimator.best_epoch_ < estimator.n_iter_
    assert estimator.predict(X).shape == (300,)
    assert estimator.score(X, y) > 0.9
    assert estimator.get_params()["hidden"] == (8,)


def test_multi_output(regression_data):
    X, y = regression_data
    Y = np.column_stack([y, -2 * y + 1])
    estimator = SigmoidNetRegressor(hidden=(8,), random_state=0).fit(X, Y)
    predicted = estimator.predict(X)
    assert predicted.shape == (300, 2) and estimator.network_.sizes == (3, 8, 2)
    assert estimator.score(X, Y) > 0.9


def test_pipeline_cross_val_score_and_grid_search(regression_data):
    X, y = regression_data
    pipeline = make_pipeline(StandardScaler(), SigmoidNetRegressor(hidden=(6,), epochs=400, random_state=0))
    scores = cross_val_score(pipeline, X, y, cv=KFold(3, shuffle=True, random_state=0), scoring="r2")
    assert scores.shape == (3,) and scores.min() > 0.8
    search = GridSearchCV(
        SigmoidNetRegressor(epochs=300, random_state=0), {"hidden": [(1,), (8,)]}, cv=3, scoring="r2"
    ).fit(X, y)
    assert search.best_params_ == {"hidden": (8,)}
    assert search.best_score_ > 0.8


def test_bad_parameters_raise_on_fit(regression_data):
    X, y = regression_data
    with pytest.raises(ValueError, match="optimizer='nesterov' is not known"):
        SigmoidNetRegressor(optimizer="nesterov").fit(X, y)
    with pytest.raises(ValueError, match="validation_fraction=1.5 must be a number in"):
        SigmoidNetRegressor(validation_fraction=1.5).fit(X, y)
    with pytest.raises(ValueError, match="every layer needs at least one node"):
        SigmoidNetRegressor(hidden=(0,)).fit(X, y)
