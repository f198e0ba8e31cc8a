"""The fast numpy core: preallocated workspaces agree with the plain functions, float32 stays float32."""

import numpy as np
import pytest

from xrann.core.network import (
    GradientWorkspace,
    augment_inputs,
    blocked_loss_and_gradients,
    initialize,
    loss_and_gradients,
    loss_scale,
)
from xrann.core.optimizers import OPTIMIZERS, Adam, make_optimizer
from xrann.training import EarlyStopping, Schedule, TrainingHistory, minibatch_epoch, train


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
    workspace = GradientWorkspace((3, 4, 1), dtype="float32", block_size=8)
    workspace.load(initialize((3, 4, 1), rng=np.random.default_rng(0), dtype="float32"))
    rng = np.random.default_rng(1)
    x = augment_inputs(rng.random((40, 3)), dtype="float32")
    y = rng.random((40, 1)).astype(np.float32)
    optimizer = make_optimizer(name)
    for epoch in range(3):
        if optimizer.full_batch_only:
            workspace.accumulate(x, y, loss_scale(40, 1))
            optimizer.update([workspace.parameters], [workspace.gradient], loss=1.0 / (epoch + 1))
        else:
            minibatch_epoch(workspace, optimizer, x, y, batch_size=8, rng=rng)
    states = [value for value in vars(optimizer).values() if isinstance(value, list)]
    arrays = [array for state in states for array in state] + [workspace.parameters, workspace.gradient]
    assert arrays and {array.dtype for array in arrays} == {np.dtype("float32")}
    assert np.isfinite(workspace.parameters).all()


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
    train(network, x, y, optimizer=Adam(0.01), schedule=Schedule(64, 4, None), rng=np.random.default_rng(9))
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


def test_early_stopping_keeps_the_best_flat_weights():
    weights = np.array([0.0, 0.0])
    stopping = EarlyStopping(weights, patience=2, has_validation=True)
    history = TrainingHistory()
    for epoch, val_loss in enumerate([0.5, 0.3, 0.4, 0.35]):
        weights[:] = epoch
        stop = stopping.record(history, epoch, loss=1.0, val_loss=val_loss)
    assert stop and history.best_epoch == 1 and history.val_loss == [0.5, 0.3, 0.4, 0.35]
    stopping.restore(weights)
    np.testing.assert_array_equal(weights, [1.0, 1.0])
    without = EarlyStopping(weights, patience=2, has_validation=False)
    assert not without.record(history, 4, loss=1.0, val_loss=None)
