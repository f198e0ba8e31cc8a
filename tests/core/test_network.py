"""The numpy network: sigmoid, shapes, initialisation, backprop against finite differences."""

import numpy as np
import pytest

from xrann.core.network import (
    SigmoidNetwork,
    forward,
    initialize,
    layer_sizes,
    loss_and_gradients,
    mse_loss,
    sigmoid,
)


def test_sigmoid_is_stable_and_exact():
    values = np.array([-1e6, -745.0, -30.0, 0.0, 30.0, 745.0, 1e6])
    with np.errstate(all="raise"):
        result = sigmoid(values.copy())
    expected = np.array([0.0, 0.0, 1 / (1 + np.exp(30.0)), 0.5, 1 / (1 + np.exp(-30.0)), 1.0, 1.0])
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-15)
    assert ((result >= 0) & (result <= 1)).all()


def test_sigmoid_keeps_float32():
    assert sigmoid(np.zeros(3, dtype=np.float32)).dtype == np.float32


def test_layer_sizes_and_errors():
    assert layer_sizes(7, (4,)) == (7, 4, 1)
    assert layer_sizes(2, (8, 3), 2) == (2, 8, 3, 2)
    with pytest.raises(ValueError, match="without a hidden layer"):
        layer_sizes(2, ())
    with pytest.raises(ValueError, match="at least one node"):
        layer_sizes(2, (4, 0))


def test_same_seed_same_weights_and_uniform_recipe():
    a = initialize((3, 4, 1), rng=np.random.default_rng(42))
    b = initialize((3, 4, 1), rng=np.random.default_rng(42))
    c = initialize((3, 4, 1), rng=np.random.default_rng(43))
    for wa, wb, wc in zip(a.weights, b.weights, c.weights):
        np.testing.assert_array_equal(wa, wb)
        assert not np.array_equal(wa, wc)
    recipe = initialize((2, 4, 1), rng=np.random.default_rng(0), init="uniform", bias=False)
    assert recipe.biases is None
    assert all(((w >= 0) & (w < 1)).all() for w in recipe.weights)
    assert initialize((2, 4, 1), rng=np.random.default_rng(0), dtype="float32").dtype == np.float32
    with pytest.raises(ValueError, match="init='gauss' is not known"):
        initialize((2, 4, 1), rng=np.random.default_rng(0), init="gauss")


def test_forward_matches_hand_computation():
    net = SigmoidNetwork([np.array([[1.0, -1.0]]), np.array([[2.0], [0.5]])], [np.array([0.1, 0.2]), np.array([-0.3])])
    x = np.array([[0.5], [2.0]])
    hidden = 1 / (1 + np.exp(-(x @ net.weights[0] + net.biases[0])))
    output = 1 / (1 + np.exp(-(hidden @ net.weights[1] + net.biases[1])))
    activations = forward(net, x)
    np.testing.assert_allclose(activations[1], hidden)
    np.testing.assert_allclose(activations[2], output)
    np.testing.assert_allclose(net.predict(x), output)


def _flat_loss(net, x, y, loss):
    return loss_and_gradients(net, x, y, loss=loss)[0]


@pytest.mark.parametrize("sizes", [(1, 1, 1), (3, 4, 1), (2, 5, 3, 1), (4, 3, 2)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("loss", ["mse", "sse"])
def test_backprop_matches_finite_differences(sizes, bias, loss):
    rng = np.random.default_rng(sum(sizes))
    net = initialize(sizes, rng=rng, bias=bias)
    for p in net.parameters:  # move away from the symmetric initial point
        p += rng.normal(0, 0.5, p.shape)
    x = rng.random((11, sizes[0]))
    y = rng.random((11, sizes[-1]))
    _, gradients = loss_and_gradients(net, x, y, loss=loss)
    assert [g.shape for g in gradients] == [p.shape for p in net.parameters]
    step = 1e-6
    for parameter, gradient in zip(net.parameters, gradients):
        numeric = np.zeros_like(parameter)
        for index in np.ndindex(parameter.shape):
            original = parameter[index]
            parameter[index] = original + step
            upper = _flat_loss(net, x, y, loss)
            parameter[index] = original - step
            lower = _flat_loss(net, x, y, loss)
            parameter[index] = original
            numeric[index] = (upper - lower) / (2 * step)
        np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-9)


def test_loss_values():
    net = initialize((2, 3, 1), rng=np.random.default_rng(0))
    x = np.random.default_rng(1).random((5, 2))
    y = np.zeros((5, 1))
    output = net.predict(x)
    mse, _ = loss_and_gradients(net, x, y, loss="mse")
    sse, _ = loss_and_gradients(net, x, y, loss="sse")
    assert mse == pytest.approx(mse_loss(output, y))
    assert sse == pytest.approx(5 * mse)
    with pytest.raises(ValueError, match="loss='mae' is not known"):
        loss_and_gradients(net, x, y, loss="mae")


def test_float32_gradients_stay_float32():
    net = initialize((3, 4, 1), rng=np.random.default_rng(0), dtype="float32")
    x = np.ones((8, 3), dtype=np.float32)
    y = np.zeros((8, 1), dtype=np.float32)
    _, gradients = loss_and_gradients(net, x, y)
    assert all(g.dtype == np.float32 for g in gradients)


def test_arrays_round_trip_and_copy():
    net = initialize((3, 4, 2, 1), rng=np.random.default_rng(5))
    rebuilt = SigmoidNetwork.from_arrays(net.to_arrays())
    assert rebuilt.sizes == (3, 4, 2, 1)
    x = np.random.default_rng(0).random((4, 3))
    np.testing.assert_array_equal(rebuilt.predict(x), net.predict(x))
    clone = net.copy()
    clone.weights[0][0, 0] += 1
    assert clone.weights[0][0, 0] != net.weights[0][0, 0]
    no_bias = initialize((2, 2, 1), rng=np.random.default_rng(0), bias=False)
    assert SigmoidNetwork.from_arrays(no_bias.to_arrays()).biases is None
