"""Restricting a core to some of its outputs: the same numbers as those columns of the full core."""

import numpy as np
import pytest

from xrann.core.ensemble import EnsembleCore
from xrann.core.linear import LinearMap
from xrann.core.network import initialize


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("sizes", [(3, 4, 3), (2, 5, 4, 2)])
def test_a_network_restricted_to_outputs_predicts_those_columns(sizes, bias):
    network = initialize(sizes, rng=np.random.default_rng(0), bias=bias)
    inputs = np.random.default_rng(1).random((500, sizes[0]))
    full = network.predict(inputs)
    for columns in ([0], [sizes[-1] - 1], list(range(sizes[-1]))[::-1]):
        part = network.select_outputs(columns)
        assert part.sizes == (*sizes[:-1], len(columns))
        np.testing.assert_allclose(part.predict(inputs), full[:, columns], rtol=1e-13, atol=1e-15)
        # the hidden layers are shared, never copied or changed
        assert all(a is b for a, b in zip(part.weights[:-1], network.weights[:-1]))
    np.testing.assert_array_equal(network.predict(inputs), full)


def test_linear_and_ensemble_cores_restricted_to_outputs():
    rng = np.random.default_rng(2)
    linear = LinearMap(rng.random((3, 2)), rng.random(2))
    inputs = rng.random((10, 3))
    np.testing.assert_allclose(linear.select_outputs([1]).predict(inputs), linear.predict(inputs)[:, [1]], rtol=1e-14)
    members = [initialize((3, 4, 2), rng=np.random.default_rng(seed)) for seed in range(3)]
    ensemble = EnsembleCore(members, "bootstrap")
    part = ensemble.select_outputs([0])
    assert part.kind == "bootstrap" and len(part.members) == 3
    np.testing.assert_allclose(part.predict(inputs), ensemble.predict(inputs)[:, [0]], rtol=1e-13)
