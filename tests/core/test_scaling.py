"""Min-max scaling: exact maps, round trips, constant columns."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from xrann.core.scaling import ConstantFeatureWarning, MinMaxScaler, _is_constant


def test_maps_training_range_onto_feature_range():
    samples = np.array([[0.0, 100.0], [5.0, 300.0], [10.0, 200.0]])
    scaler = MinMaxScaler.fit(samples, feature_range=(0.1, 0.9))
    scaled = scaler.transform(samples)
    np.testing.assert_allclose(scaled.min(axis=0), [0.1, 0.1])
    np.testing.assert_allclose(scaled.max(axis=0), [0.9, 0.9])
    np.testing.assert_allclose(scaled[1], [0.5, 0.9])


@given(arrays(np.float64, (7, 3), elements=st.floats(-1e6, 1e6)))
def test_inverse_transform_round_trips(samples):
    assume(not _is_constant(samples.min(axis=0), samples.max(axis=0)).any())
    scaler = MinMaxScaler.fit(samples)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(samples)), samples, rtol=1e-9, atol=1e-6)


def test_constant_column_warns_names_it_and_does_not_divide_by_zero():
    samples = np.array([[1.0, 3.0], [2.0, 3.0]])
    with pytest.warns(ConstantFeatureWarning, match="driver 'soil' is constant"):
        scaler = MinMaxScaler.fit(samples, names=["driver 'temp'", "driver 'soil'"])
    with np.errstate(all="raise"):
        scaled = scaler.transform(np.array([[1.5, 3.0], [1.5, 4.0]]))
    np.testing.assert_allclose(scaled, [[0.5, 0.0], [0.5, 1.0]])


def test_dtype_request_and_bad_range():
    scaler = MinMaxScaler.fit(np.array([[0.0], [1.0]]))
    assert scaler.transform(np.array([[0.5]]), dtype="float32").dtype == np.float32
    with pytest.raises(ValueError, match="feature_range must be increasing"):
        MinMaxScaler.fit(np.array([[0.0], [1.0]]), feature_range=(1.0, 0.0))


def test_a_range_at_rounding_level_counts_as_constant():
    with pytest.warns(ConstantFeatureWarning):
        scaler = MinMaxScaler.fit(np.array([[0.0], [5e-324]]))
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        np.testing.assert_array_equal(scaler.transform(np.array([[0.0]])), [[0.0]])
    with pytest.warns(ConstantFeatureWarning):
        MinMaxScaler.fit(np.array([[1e6], [1e6 + 1e-12]]))
