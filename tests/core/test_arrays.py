"""The in-memory gradient source: its losses, gradients and Gauss-Newton terms agree with the plain network
functions, its mini-batch epoch with a full-batch step, and its random split is seeded and complete."""

import numpy as np
import pytest

from xrann.core.arrays import ArraySource, loss_factor, random_split
from xrann.core.network import initialize, loss_and_gradients
from xrann.core.optimizers import SGD, Adam
from xrann.core.workspace import GradientWorkspace, augment_inputs


def _problem(sizes=(3, 4, 2), bias=True, n_samples=25, seed=0):
    rng = np.random.default_rng(seed)
    network = initialize(sizes, rng=rng, bias=bias)
    for parameter in network.parameters:  # away from the symmetric initial point
        parameter += rng.normal(0, 0.5, parameter.shape)
    x, y = rng.random((n_samples, sizes[0])), rng.random((n_samples, sizes[-1]))
    x_val, y_val = rng.random((9, sizes[0])), rng.random((9, sizes[-1]))
    return network, x, y, x_val, y_val


def _flat(network, gradients):
    """``gradients`` (ordered like ``network.parameters``) in the flat workspace layout."""
    workspace = GradientWorkspace(network.sizes, bias=network.biases is not None)
    for view, gradient in zip(workspace.gradients(), gradients, strict=True):
        view[...] = gradient
    return workspace.gradient.copy()


@pytest.mark.parametrize("loss", ["mse", "sse"])
@pytest.mark.parametrize("bias", [True, False])
def test_loss_and_gradient_match_the_network(loss, bias):
    network, x, y, _, _ = _problem(bias=bias)
    source = ArraySource(network.sizes, x, y, bias=bias, loss=loss)
    parameters = source.flatten(network)
    expected_loss, expected = loss_and_gradients(network, x, y, loss=loss)
    value, gradient = source.loss_and_gradient(parameters)
    assert value == pytest.approx(expected_loss, rel=1e-12)
    assert source.loss(parameters) == pytest.approx(expected_loss, rel=1e-12)
    assert gradient.dtype == parameters.dtype and gradient.shape == parameters.shape
    np.testing.assert_allclose(gradient, _flat(network, expected), rtol=1e-10, atol=1e-14)
    # the gradient is a new array: a later call does not overwrite it
    kept = gradient.copy()
    source.loss_and_gradient(parameters + 0.1)
    np.testing.assert_array_equal(gradient, kept)


@pytest.mark.parametrize("loss", ["mse", "sse"])
def test_gauss_newton_terms_give_the_gradient_and_the_jacobian_product(loss):
    network, x, y, _, _ = _problem(sizes=(2, 3, 2), n_samples=12)
    source = ArraySource(network.sizes, x, y, loss=loss)
    parameters = source.flatten(network)
    value, jtj, jtr = source.gauss_newton(parameters)
    expected_loss, gradient = source.loss_and_gradient(parameters)
    assert value == pytest.approx(expected_loss, rel=1e-12)
    assert jtj.dtype == jtr.dtype == np.float64 and jtj.shape == (parameters.size,) * 2
    np.testing.assert_allclose(2 * jtr, gradient, rtol=1e-10, atol=1e-14)
    # c * J.T @ J with J the finite-difference Jacobian of the residuals (one per sample and output)
    c = 1 / y.size if loss == "mse" else 1.0

    def residuals(w):
        source.workspace.parameters[...] = w
        return (source.workspace.predict(x) - y).ravel()

    step, jacobian = 1e-6, np.empty((y.size, parameters.size))
    for index in range(parameters.size):
        shifted = parameters.copy()
        shifted[index] += step
        upper = residuals(shifted)
        shifted[index] -= 2 * step
        jacobian[:, index] = (upper - residuals(shifted)) / (2 * step)
    np.testing.assert_allclose(jtj, c * jacobian.T @ jacobian, rtol=1e-6, atol=1e-10)


def test_validation_loss_is_the_mse_of_the_validation_samples_whatever_the_training_loss():
    network, x, y, x_val, y_val = _problem()
    for loss in ("mse", "sse"):
        source = ArraySource(network.sizes, x, y, x_val, y_val, loss=loss)
        assert (source.n_train, source.n_validation) == (25, 9)
        expected = float(np.mean((network.predict(x_val) - y_val) ** 2))
        assert source.validation_loss(source.flatten(network)) == pytest.approx(expected, rel=1e-12)
    without = ArraySource(network.sizes, x, y)
    assert without.n_validation == 0 and np.isnan(without.validation_loss(without.flatten(network)))
    empty = ArraySource(network.sizes, x, y, x_val[:0], y_val[:0])
    assert empty.n_validation == 0 and empty.val_inputs is None


def test_augmented_inputs_are_used_as_given():
    network, x, y, x_val, y_val = _problem()
    plain = ArraySource(network.sizes, x, y, x_val, y_val)
    augmented = ArraySource(network.sizes, augment_inputs(x), y, augment_inputs(x_val), y_val, augmented=True)
    parameters = plain.flatten(network)
    assert augmented.loss(parameters) == plain.loss(parameters)
    assert augmented.validation_loss(parameters) == plain.validation_loss(parameters)
    np.testing.assert_array_equal(augmented.loss_and_gradient(parameters)[1], plain.loss_and_gradient(parameters)[1])


def test_float32_source_stays_float32():
    network, x, y, x_val, y_val = _problem()
    source = ArraySource(network.sizes, x, y, x_val, y_val, dtype="float32")
    parameters = source.flatten(network)
    assert source.inputs.dtype == source.targets.dtype == source.val_inputs.dtype == parameters.dtype == np.float32
    value, gradient = source.loss_and_gradient(parameters)
    assert gradient.dtype == np.float32
    assert value == pytest.approx(loss_and_gradients(network, x, y)[0], rel=1e-5)


def test_flatten_copies_and_the_source_does_not_keep_the_callers_parameters():
    network, x, y, _, _ = _problem()
    source = ArraySource(network.sizes, x, y)
    parameters = source.flatten(network)
    parameters[:] = 0.0
    assert not np.array_equal(source.flatten(network), parameters)
    before = parameters.copy()
    source.loss_and_gradient(parameters)
    source.gauss_newton(parameters)
    source.validation_loss(parameters)
    np.testing.assert_array_equal(parameters, before)


def test_a_minibatch_epoch_of_one_batch_is_a_full_batch_step():
    network, x, y, _, _ = _problem()
    source = ArraySource(network.sizes, x, y)
    by_batches, by_step = source.flatten(network), source.flatten(network)
    loss_before = source.loss(by_batches)
    mean_loss = source.minibatch_epoch(by_batches, Adam(0.05), batch_size=1000, rng=np.random.default_rng(0), epoch=0)
    result = Adam(0.05).step(by_step, source)
    assert mean_loss == pytest.approx(result.loss, rel=1e-12) and result.loss == pytest.approx(loss_before, rel=1e-12)
    np.testing.assert_allclose(by_batches, by_step, rtol=1e-12, atol=1e-15)


def test_a_minibatch_epoch_visits_every_sample_once_and_reports_the_mean_batch_loss():
    network, x, y, _, _ = _problem(n_samples=23)
    source = ArraySource(network.sizes, x, y)
    parameters = source.flatten(network)
    loss_before = source.loss(parameters)
    # a vanishing learning rate: each batch sees the starting weights, so the mean of the batches is the full loss
    mean_loss = source.minibatch_epoch(parameters, SGD(1e-12), batch_size=5, rng=np.random.default_rng(0), epoch=0)
    assert mean_loss == pytest.approx(loss_before, rel=1e-9)
    # parameters are updated in place, the same way for the same generator
    first, second = source.flatten(network), source.flatten(network)
    for parameters in (first, second):
        optimizer, rng = Adam(0.05), np.random.default_rng(3)
        losses = [source.minibatch_epoch(parameters, optimizer, 5, rng, epoch) for epoch in range(20)]
        assert losses[-1] < losses[0]
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, source.flatten(network))
    # a larger batch size later gets a larger workspace
    source.minibatch_epoch(first, Adam(0.05), batch_size=20, rng=np.random.default_rng(0), epoch=0)
    assert source._minibatch_workspace.block_size == 20


def test_loss_factor():
    assert loss_factor(4, 1, "mse") == 0.25 and loss_factor(5, 2, "mse") == 0.1
    assert loss_factor(4, 3, "sse") == 1.0
    with pytest.raises(ValueError, match="loss='mae' is not known"):
        loss_factor(4, 1, "mae")


def test_random_split_is_seeded_disjoint_and_complete():
    train, held_out = random_split(50, 0.2, np.random.default_rng(0))
    assert len(train) == 40 and len(held_out) == 10
    assert (np.diff(train) > 0).all() and (np.diff(held_out) > 0).all()
    np.testing.assert_array_equal(np.sort(np.concatenate([train, held_out])), np.arange(50))
    again = random_split(50, 0.2, np.random.default_rng(0))
    np.testing.assert_array_equal(again[1], held_out)
    assert not np.array_equal(random_split(50, 0.2, np.random.default_rng(1))[1], held_out)


@pytest.mark.parametrize(("n_samples", "fraction"), [(10, 0.01), (10, 0.99), (1, 0.5)])
def test_random_split_refuses_an_empty_side(n_samples, fraction):
    with pytest.raises(ValueError, match=rf"too few samples for validation_fraction={fraction}: {n_samples} samples"):
        random_split(n_samples, fraction, np.random.default_rng(0))


def _weighted_problem(n_outputs: int = 1):
    rng = np.random.default_rng(3)
    net = initialize((3, 4, n_outputs), rng=rng)
    x, y = rng.random((57, 3)), rng.random((57, n_outputs))
    weights = rng.random(57) * 3.0
    weights /= weights.mean()
    return net, x, y, weights


def test_weighted_gradient_matches_finite_differences():
    net, x, y, weights = _weighted_problem(2)
    source = ArraySource(net.sizes, x, y, weights=weights)
    parameters = source.flatten(net)
    residual = np.asarray(net.predict(x)) - y
    loss, gradient = source.loss_and_gradient(parameters)
    assert np.isclose(loss, np.sum(weights[:, None] * residual**2) / y.size)
    step = 1e-6
    numeric = np.empty_like(parameters)
    for i in range(parameters.size):
        up, down = parameters.copy(), parameters.copy()
        up[i] += step
        down[i] -= step
        numeric[i] = (source.loss(up) - source.loss(down)) / (2 * step)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-9)


def test_weighted_gauss_newton_is_jt_w_j():
    net, x, y, weights = _weighted_problem(2)
    source = ArraySource(net.sizes, x, y, weights=weights)
    parameters = source.flatten(net)
    loss, jtj, jtr = source.gauss_newton(parameters)
    # the Jacobian of the residuals by central differences, one row per (sample, output)
    step = 1e-6
    columns = []
    for i in range(parameters.size):
        up, down = parameters.copy(), parameters.copy()
        up[i] += step
        down[i] -= step
        source.workspace.parameters[...] = up
        high = source.workspace.predict(x)
        source.workspace.parameters[...] = down
        low = source.workspace.predict(x)
        columns.append(((high - low) / (2 * step)).reshape(-1))
    jacobian = np.stack(columns, axis=1)
    source.workspace.parameters[...] = parameters
    residual = (source.workspace.predict(x) - y).reshape(-1)
    w = np.repeat(weights, 2)
    factor = 1.0 / y.size
    np.testing.assert_allclose(jtj, factor * jacobian.T @ (w[:, None] * jacobian), rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(jtr, factor * jacobian.T @ (w * residual), rtol=1e-5, atol=1e-10)
    assert np.isclose(loss, factor * np.sum(w * residual**2))


def test_weighted_minibatches_and_validation_loss():
    net, x, y, weights = _weighted_problem()
    source = ArraySource(net.sizes, x[:40], y[:40], x[40:], y[40:], weights=weights[:40], val_weights=weights[40:])
    parameters = source.flatten(net)
    residual = np.asarray(net.predict(x[40:])) - y[40:]
    expected = np.sum(weights[40:, None] * residual**2) / weights[40:].sum()
    assert np.isclose(source.validation_loss(parameters), expected)
    # one batch holding every sample makes the same step as the full-batch gradient
    full = parameters.copy()
    _, gradient = source.loss_and_gradient(full)
    mean_loss = source.minibatch_epoch(parameters, SGD(0.1), 40, np.random.default_rng(0), 0)
    np.testing.assert_allclose(parameters, full - 0.1 * gradient, rtol=1e-10, atol=1e-12)
    assert np.isclose(mean_loss, source.loss(full))
