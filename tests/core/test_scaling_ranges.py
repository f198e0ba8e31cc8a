"""Ranges float64 cannot scale are caught in the scaler, naming the column and its range (numpy only).

Without these checks a driver spanning ±1e308 scales to NaN, and the fit reports a diverged training and
advises a lower learning rate, where the cause is the driver's range.
"""

import warnings

import numpy as np
import pytest

from xrann.core.scaling import ConstantFeatureWarning, MinMaxScaler

NAMES = ["driver 't2m'", "driver 'huge'"]


def _fit(column, feature_range=(0.0, 1.0)):
    samples = np.column_stack([np.linspace(270.0, 300.0, len(column)), column])
    return MinMaxScaler.fit(samples, feature_range, names=NAMES)


@pytest.mark.parametrize(
    ("column", "feature_range", "message"),
    [
        # max - min is inf
        ([-1e308, 0.0, 1e308], (0.0, 1.0), r"driver 'huge' ranges over \[-1e\+308, 1e\+308\], whose width overflows float64"),
        ([-np.finfo(np.float64).max, np.finfo(np.float64).max], (0.0, 1.0), r"driver 'huge' ranges over \[-1.79769e\+308, 1.79769e\+308\], whose width overflows"),
        # a finite width whose scale factor overflows: the target's [0.1, 0.9] maps back beyond float64
        ([-8e307, 8e307], (0.1, 0.9), r"driver 'huge' ranges over \[-8e\+307, 8e\+307\], too wide to map onto \(0.1, 0.9\) and back"),
        ([0.0, 1.7e308], (0.1, 0.9), r"driver 'huge' ranges over \[0, 1.7e\+308\], too wide to map onto"),
        # non-finite extremes
        ([0.0, np.inf], (0.0, 1.0), r"driver 'huge' has non-finite extremes \[0, inf\] over the training samples"),
        ([-np.inf, 0.0], (0.0, 1.0), r"driver 'huge' has non-finite extremes \[-inf, 0\]"),
        ([0.0, np.nan], (0.0, 1.0), r"driver 'huge' has non-finite extremes \[nan, nan\]"),
    ],
)
def test_unscalable_range_names_the_column_and_its_range(column, feature_range, message):
    with pytest.raises(ValueError, match=message) as raised:
        _fit(np.array(column), feature_range)
    assert "Rescale it" in str(raised.value) or "finite samples only" in str(raised.value)


def test_from_extremes_checks_the_same_ranges():
    with pytest.raises(ValueError, match=r"target 'nee' ranges over \[-1e\+308, 1e\+308\], whose width overflows"):
        MinMaxScaler.from_extremes(np.array([-1e308]), np.array([1e308]), (0.1, 0.9), names=["target 'nee'"])
    with pytest.raises(ValueError, match=r"column 1 has non-finite extremes \[nan, 1\]"):
        MinMaxScaler.from_extremes(np.array([0.0, np.nan]), np.array([1.0, 1.0]))


def test_the_widest_ranges_that_fit_scale_exactly_and_map_back_finitely():
    big = np.finfo(np.float64).max / 2
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        scaler = _fit(np.array([-big, 0.0, big * 0.999]))
        scaled = scaler.transform(np.array([[280.0, -big], [280.0, big * 0.999]]))
        np.testing.assert_allclose(scaled[:, 1], [0.0, 1.0])
        assert np.isfinite(scaler.inverse_transform(np.array([[0.0, 0.0], [1.0, 1.0]]))).all()
        target = _fit(np.array([0.0, 1e307]), (0.1, 0.9))
        assert np.isfinite(target.inverse_transform(np.array([[0.0, 0.0], [1.0, 1.0]]))).all()


@pytest.mark.parametrize("column", [[1e-310, 2e-310], [0.0, 5e-324], [-3e-320, 3e-320]])
def test_subnormal_only_ranges_are_constant_not_an_overflow(column):
    with pytest.warns(ConstantFeatureWarning, match="driver 'huge' is constant"):
        scaler = _fit(np.array(column))
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        scaled = scaler.transform(np.array([[280.0, column[0]], [280.0, column[1]]]))
    np.testing.assert_allclose(scaled[:, 1], [0.0, 0.0], atol=1e-300)


def test_a_huge_constant_column_is_constant_not_an_error():
    with pytest.warns(ConstantFeatureWarning, match="driver 'huge' is constant"):
        scaler = _fit(np.array([1e308, 1e308]))
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        np.testing.assert_array_equal(scaler.transform(np.array([[280.0, 1e308]]))[:, 1], [0.0])


def test_ordinary_ranges_pass_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaler = _fit(np.array([-1e300, 1e300]), (0.1, 0.9))
    np.testing.assert_allclose(scaler.transform(np.array([[270.0, -1e300], [300.0, 1e300]])), [[0.1, 0.1], [0.9, 0.9]])


@pytest.mark.parametrize("feature_range", [(1.0, 0.0), (0.0, np.inf), (np.nan, 1.0)])
def test_feature_range_must_be_increasing_and_finite(feature_range):
    with pytest.raises(ValueError, match="feature_range must be increasing finite numbers"):
        MinMaxScaler.fit(np.array([[0.0], [1.0]]), feature_range)
