"""Exact and sampled interventional Shapley values of the numpy core, checked against a brute-force reference."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from xrann.core.network import initialize
from xrann.core.shapley import (
    MAX_EXACT_PLAYERS,
    FunctionCoalitions,
    NetworkCoalitions,
    coalition_weights,
    exact_shapley,
    gray_code_flips,
    interventional_shapley,
    player_groups,
    sampled_shapley,
)


def brute_force_shapley(predict, x, background):
    """Shapley values straight from the definition: every subset, every background row, one point at a time."""
    n, d = x.shape
    result = np.zeros((n, d))
    for point in range(n):
        rows = background if background.ndim == 2 else background[point]

        def value(subset):
            z = rows.copy()
            z[:, list(subset)] = x[point, list(subset)]
            return float(np.mean(predict(z)))

        for i in range(d):
            others = [j for j in range(d) if j != i]
            for size in range(d):
                weight = math.factorial(size) * math.factorial(d - size - 1) / math.factorial(d)
                for subset in itertools.combinations(others, size):
                    result[point, i] += weight * (value(subset + (i,)) - value(subset))
    return result


@pytest.fixture(scope="module")
def network():
    net = initialize((4, 5, 3, 1), rng=np.random.default_rng(1))
    rng = np.random.default_rng(2)
    for weight in net.weights:
        weight *= 3.0
    for bias in net.biases:
        bias[:] = rng.normal(size=bias.shape)
    return net


def test_gray_code_visits_every_coalition_once():
    masks = [0]
    for player in gray_code_flips(5):
        masks.append(masks[-1] ^ (1 << int(player)))
    assert sorted(masks) == list(range(32))


def test_weights_sum_to_one_over_coalitions():
    p = 6
    weights = coalition_weights(p)
    assert math.isclose(sum(math.comb(p - 1, s) * weights[s] for s in range(p)), 1.0)


@pytest.mark.parametrize("per_point", [False, True])
def test_exact_matches_brute_force_on_a_tiny_network(network, per_point):
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(6, 4))
    background = rng.uniform(size=(6, 3, 4)) if per_point else rng.uniform(size=(5, 4))
    expected = brute_force_shapley(lambda z: network.predict(z)[:, 0], x, background)
    fast, base = exact_shapley(NetworkCoalitions(network.weights, network.biases, x, background, player_groups(4, None)), 4)
    slow, base_slow = exact_shapley(FunctionCoalitions(lambda z: network.predict(z), x, background, player_groups(4, None)), 4)
    np.testing.assert_allclose(fast, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(slow, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(base, base_slow, rtol=0, atol=1e-14)
    # efficiency: the values add up to the prediction minus the base value
    np.testing.assert_allclose(fast.sum(axis=1) + base, network.predict(x)[:, 0], rtol=1e-12)


def test_symmetry_dummy_and_groups():
    def f(z):  # x0 and x1 interchangeable, x3 ignored
        return np.sin(z[:, 0] + z[:, 1]) + z[:, 0] * z[:, 1] + z[:, 2] ** 2

    rng = np.random.default_rng(4)
    x = rng.uniform(size=(5, 4))
    x[:, 1] = x[:, 0]
    background = rng.uniform(size=(7, 4))
    background = np.concatenate([background, background[:, [1, 0, 2, 3]]])  # symmetric in x0 and x1
    values, base = exact_shapley(FunctionCoalitions(f, x, background, player_groups(4, None)), 4)
    np.testing.assert_allclose(values[:, 0], values[:, 1], atol=1e-13)
    np.testing.assert_allclose(values[:, 3], 0.0, atol=1e-13)
    grouped, _ = exact_shapley(FunctionCoalitions(f, x, background, player_groups(4, [[0, 1], [2], [3]])), 3)
    np.testing.assert_allclose(grouped.sum(axis=1), values.sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(grouped[:, 1], values[:, 2], atol=1e-12)  # x2 enters additively


def test_sampling_estimates_within_their_standard_error(network):
    rng = np.random.default_rng(5)
    x = rng.uniform(size=(40, 4))
    background = rng.uniform(size=(8, 4))
    groups = player_groups(4, None)
    exact, base = exact_shapley(NetworkCoalitions(network.weights, network.biases, x, background, groups), 4)
    walker = NetworkCoalitions(network.weights, network.biases, x, background, groups)
    estimate, error, base_sampled = sampled_shapley(walker, 4, 30, np.random.default_rng(0))
    np.testing.assert_allclose(base_sampled, base)
    np.testing.assert_allclose(estimate.sum(axis=1), exact.sum(axis=1), atol=1e-12)  # efficiency per order
    z = np.abs(estimate - exact) / np.maximum(error, 1e-15)
    assert np.mean(z < 3) > 0.95
    assert error.max() > 0


def test_too_many_players_and_bad_groups_raise():
    walker = FunctionCoalitions(lambda z: z.sum(1), np.ones((1, 2)), np.zeros((1, 2)), player_groups(2, None))
    with pytest.raises(ValueError, match=r"more than the 14 players allowed; use method='sampling'"):
        exact_shapley(walker, MAX_EXACT_PLAYERS + 1)
    with pytest.raises(ValueError, match=r"must split the columns 0..2"):
        player_groups(3, [[0], [0, 1]])
    with pytest.raises(ValueError, match="n_pairs=1 must be an integer of at least 2"):
        sampled_shapley(walker, 2, 1, np.random.default_rng(0))


@pytest.mark.parametrize("method", ["exact", "sampling"])
def test_players_equal_to_the_background_are_skipped_exactly(network, method):
    rng = np.random.default_rng(6)
    x = rng.uniform(size=(7, 4))
    background = rng.uniform(size=(7, 2, 4))
    background[:, :, 3] = x[:, None, 3]  # driver 3 sits at its background value (a static map vs its climatology)
    values, base, error = interventional_shapley(network, x, background, method=method, n_pairs=4)
    expected = brute_force_shapley(lambda z: network.predict(z)[:, 0], x, background)
    np.testing.assert_allclose(values[:, 3], 0.0, atol=0)
    np.testing.assert_allclose(values.sum(axis=1) + base, network.predict(x)[:, 0], rtol=1e-12)
    if method == "exact":
        np.testing.assert_allclose(values, expected, atol=1e-12)
    same, same_base, _ = interventional_shapley(network, x[:, :], np.broadcast_to(x[:, None, :], (7, 2, 4)), method=method, n_pairs=4)
    np.testing.assert_allclose(same, 0.0, atol=0)  # nothing moves: all zero, base = prediction
    np.testing.assert_allclose(same_base, network.predict(x)[:, 0], rtol=1e-12)
