"""The gradient workspace: agrees with the plain functions and with finite differences, float32 stays float32."""

import numpy as np
import pytest

from xrann.core.arrays import ArraySource, minibatch_pass
from xrann.core.engine import Schedule, train
from xrann.core.network import initialize, loss_and_gradients, loss_scale
from xrann.core.optimizers import OPTIMIZERS, Adam, Optimizer, make_optimizer
from xrann.core.workspace import GradientWorkspace, augment_inputs, blocked_loss_and_gradients


def _perturbed(sizes, bias, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    network = initialize(sizes, rng=rng, bias=bias, dtype=dtype)
    for parameter in network.parameters:
        parameter += rng.normal(0, 0.5, parameter.shape).astype(dtype)
    return network, rng


@pytest.mark.parametrize("sizes", [(1, 1, 1), (7, 4, 1), (2, 5, 3, 1), (4, 3, 2)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("loss", ["mse", "sse"])
@pytest.mark.parametrize("block_size", [1, 7, 64])
def test_blocked_gradients_match_loss_and_gradients(sizes, bias, loss, block_size):
    network, rng = _perturbed(sizes, bias)
    x, y = rng.random((45, sizes[0])), rng.random((45, sizes[-1]))
    expected_loss, expected = loss_and_gradients(network, x, y, loss=loss)
    value, gradients = blocked_loss_and_gradients(network, x, y, loss=loss, block_size=block_size)
    assert value == pytest.approx(expected_loss, rel=1e-12)
    assert [g.shape for g in gradients] == [p.shape for p in network.parameters]
    for got, want in zip(gradients, expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


def test_float32_kernel_matches_float64_reference_and_never_upcasts():
    network, rng = _perturbed((7, 4, 1), True, dtype="float32")
    x, y = rng.random((5000, 7), dtype=np.float32), rng.random((5000, 1), dtype=np.float32)
    reference = initialize((7, 4, 1), rng=np.random.default_rng(0), dtype="float64")
    reference.set_parameters([p.astype(np.float64) for p in network.parameters])
    expected_loss, expected = loss_and_gradients(reference, x.astype(np.float64), y.astype(np.float64))
    value, gradients = blocked_loss_and_gradients(network, x, y, block_size=512)
    assert {g.dtype for g in gradients} == {np.dtype("float32")}
    assert value == pytest.approx(expected_loss, rel=1e-4)
    for got, want in zip(gradients, expected):
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=1e-6)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_states_and_parameters_stay_float32(name):
    rng = np.random.default_rng(1)
    source = ArraySource((3, 4, 1), rng.random((40, 3)), rng.random((40, 1)), dtype="float32")
    parameters = source.flatten(initialize((3, 4, 1), rng=np.random.default_rng(0), dtype="float32"))
    optimizer = make_optimizer(name)
    for epoch in range(3):
        if optimizer.minibatch:
            source.minibatch_epoch(parameters, optimizer, 8, rng, epoch)
        else:
            optimizer.step(parameters, source)
    assert parameters.dtype == np.float32 and np.isfinite(parameters).all()
    assert source.workspace.gradient.dtype == np.float32
    if type(optimizer).update is not Optimizer.update:  # a first-order method keeps its state in float32 too
        states = [value for value in vars(optimizer).values() if isinstance(value, list)]
        arrays = [array for state in states for array in state]
        assert arrays and {array.dtype for array in arrays} == {np.dtype("float32")}


def _plain_minibatch_training(network, x, y, epochs, batch_size, rng):
    """The textbook loop: fancy-indexed batches, list-of-arrays gradients and optimiser."""
    optimizer = Adam(0.01)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            _, gradients = loss_and_gradients(network, x[batch], y[batch])
            optimizer.update(network.parameters, gradients)


def test_train_takes_the_same_steps_as_the_textbook_loop():
    network, rng = _perturbed((3, 5, 1), True, seed=2)
    twin = network.copy()
    x, y = rng.random((300, 3)), rng.random((300, 1))
    source = ArraySource(network.sizes, x, y)
    parameters = source.flatten(network)
    train(source, parameters, Adam(0.01), Schedule(64, 4, None), rng=np.random.default_rng(9))
    source.workspace.parameters[...] = parameters
    source.workspace.store(network)
    _plain_minibatch_training(twin, x, y, epochs=4, batch_size=64, rng=np.random.default_rng(9))
    for fast, plain in zip(network.parameters, twin.parameters):
        np.testing.assert_allclose(fast, plain, rtol=1e-9, atol=1e-12)


def test_workspace_views_and_sum_squared_error():
    network, rng = _perturbed((2, 3, 1), True)
    workspace = GradientWorkspace(network.sizes, block_size=4)
    workspace.load(network)
    assert workspace.parameters.size == (2 + 1) * 3 + (3 + 1) * 1
    np.testing.assert_array_equal(workspace.network.biases[0], network.biases[0])
    x, y = rng.random((10, 2)), rng.random((10, 1))
    sse = workspace.sum_squared_error(augment_inputs(x), y)
    assert sse == pytest.approx(float(np.sum((network.predict(x) - y) ** 2)), rel=1e-12)
    workspace.parameters[:] = 0.0
    workspace.store(network)
    assert all((p == 0).all() for p in network.parameters)
    with pytest.raises(ValueError, match="layer sizes"):
        workspace.load(initialize((3, 3, 1), rng=rng))


def test_augment_inputs_and_loss_scale():
    augmented = augment_inputs(np.ones((2, 3), dtype=np.float64), dtype="float32")
    assert augmented.dtype == np.float32 and augmented.shape == (2, 4)
    np.testing.assert_array_equal(augmented[:, -1], 1.0)
    assert augment_inputs(np.ones((2, 3)), bias=False).shape == (2, 3)
    assert loss_scale(10, 2) == 0.1 and loss_scale(10, 2, "sse") == 2.0
    with pytest.raises(ValueError, match="loss='mae' is not known"):
        loss_scale(10, 1, "mae")


# --- finite differences and the other entry points of the workspace -----------------------------------------


def _loss_of_flat(workspace, inputs, targets, factor, parameters):
    workspace.parameters[...] = parameters
    return workspace.sum_squared_error(inputs, targets) * factor


@pytest.mark.parametrize("sizes", [(1, 1, 1), (3, 4, 1), (2, 5, 3, 1), (4, 3, 2)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("loss", ["mse", "sse"])
def test_flat_gradient_matches_finite_differences(sizes, bias, loss):
    network, rng = _perturbed(sizes, bias, seed=sum(sizes))
    n_samples = 13
    inputs, targets = augment_inputs(rng.random((n_samples, sizes[0])), bias=bias), rng.random((n_samples, sizes[-1]))
    workspace = GradientWorkspace(sizes, bias=bias, block_size=5)  # several blocks, the last one short
    workspace.load(network)
    scale = loss_scale(n_samples, sizes[-1], loss)
    factor = scale / 2  # the loss is factor * sse, its gradient scale * J.T r
    sse = workspace.accumulate(inputs, targets, scale)
    gradient, start = workspace.gradient.copy(), workspace.parameters.copy()
    assert sse * factor == pytest.approx(_loss_of_flat(workspace, inputs, targets, factor, start), rel=1e-12)
    step, numeric = 1e-6, np.empty_like(start)
    for index in range(start.size):
        shifted = start.copy()
        shifted[index] += step
        upper = _loss_of_flat(workspace, inputs, targets, factor, shifted)
        shifted[index] -= 2 * step
        lower = _loss_of_flat(workspace, inputs, targets, factor, shifted)
        numeric[index] = (upper - lower) / (2 * step)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-9)


def test_accumulate_into_out_adds_and_leaves_gradient_of_the_last_block():
    network, rng = _perturbed((2, 3, 1), True)
    workspace = GradientWorkspace(network.sizes, block_size=4)
    workspace.load(network)
    x, y = augment_inputs(rng.random((10, 2))), rng.random((10, 1))
    scale = loss_scale(10, 1)
    whole = workspace.accumulate(x, y, scale)
    expected = workspace.gradient.copy()
    total = np.ones_like(expected)
    first = workspace.accumulate(x[:6], y[:6], scale, out=total)
    second = workspace.accumulate(x[6:], y[6:], scale, out=total)
    assert first + second == pytest.approx(whole, rel=1e-12)
    np.testing.assert_allclose(total, 1.0 + expected, rtol=1e-12)


def test_batch_gradient_of_a_short_batch_after_a_long_one():
    network, rng = _perturbed((3, 4, 2), True)
    workspace = GradientWorkspace(network.sizes, block_size=16)
    workspace.load(network)
    x, y = rng.random((16, 3)), rng.random((16, 2))
    for n in (16, 5, 16, 1):
        sse = workspace.batch_gradient(augment_inputs(x[:n]), y[:n], loss_scale(n, 2))
        value, gradients = loss_and_gradients(network, x[:n], y[:n])
        assert sse / (2 * n) == pytest.approx(value, rel=1e-12)
        for got, want in zip(workspace.gradients(), gradients):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_predict_in_blocks_matches_the_network(dtype):
    network, rng = _perturbed((3, 4, 2), True, dtype=dtype)
    workspace = GradientWorkspace(network.sizes, dtype=dtype, block_size=7)
    workspace.load(network)
    x = rng.random((30, 3)).astype(dtype)
    predicted = workspace.predict(x)
    assert predicted.shape == (30, 2) and predicted.dtype == np.dtype(dtype)
    np.testing.assert_allclose(predicted, network.predict(x), rtol=1e-5 if dtype == "float32" else 1e-12)


def test_minibatch_pass_returns_the_summed_batch_losses_and_stops_at_a_divergence():
    network, rng = _perturbed((2, 3, 1), True)
    workspace = GradientWorkspace(network.sizes, block_size=8)
    workspace.load(network)
    x, y = augment_inputs(rng.random((20, 2))), rng.random((20, 1))
    before = workspace.parameters.copy()
    total = minibatch_pass(workspace, make_optimizer("sgd", 1e-12), x, y, batch_size=8, rng=np.random.default_rng(0), loss="mse")
    # with a tiny step the batch losses add up to the full-batch sum of squares: batches of 8, 8 and 4
    assert total == pytest.approx(workspace.sum_squared_error(x, y), rel=1e-9)
    assert not np.array_equal(workspace.parameters, before)
    workspace.parameters[0] = np.nan
    sgd = make_optimizer("sgd")
    assert np.isnan(minibatch_pass(workspace, sgd, x, y, batch_size=8, rng=np.random.default_rng(0), loss="mse"))
    assert sgd._scratch is None  # stopped before the first update
