"""Optimisers: one update rule each, checked on a quadratic bowl and by hand."""

import numpy as np
import pytest

from xrann.core.optimizers import SGD, Adam, IRpropPlus, Momentum, make_optimizer


def _minimise(optimizer, steps=500):
    target = np.array([1.0, -2.0, 0.5])
    parameter = np.zeros(3)
    for _ in range(steps):
        gradient = 2 * (parameter - target)
        optimizer.update([parameter], [gradient], loss=float(np.sum((parameter - target) ** 2)))
    return parameter, target


@pytest.mark.parametrize("optimizer", [SGD(0.1), Momentum(0.05), Adam(0.05), IRpropPlus(0.1)])
def test_each_optimizer_finds_the_minimum_of_a_bowl(optimizer):
    parameter, target = _minimise(optimizer)
    np.testing.assert_allclose(parameter, target, atol=1e-3)


def test_sgd_step_by_hand():
    p = np.array([1.0, 2.0])
    SGD(0.5).update([p], [np.array([2.0, -2.0])])
    np.testing.assert_allclose(p, [0.0, 3.0])


def test_adam_first_step_has_learning_rate_size():
    p = np.array([0.0, 0.0])
    Adam(0.01).update([p], [np.array([100.0, -0.1])])
    np.testing.assert_allclose(p, [-0.01, 0.01], rtol=1e-4)


def test_irprop_backtracks_after_a_sign_flip_with_higher_loss():
    p = np.array([0.0])
    opt = IRpropPlus(0.1)
    opt.update([p], [np.array([1.0])], loss=1.0)  # step -0.1
    opt.update([p], [np.array([1.0])], loss=0.5)  # grows to -0.12
    np.testing.assert_allclose(p, [-0.22])
    opt.update([p], [np.array([-1.0])], loss=0.9)  # flip with higher loss: undo last step
    np.testing.assert_allclose(p, [-0.1])


def test_make_optimizer_and_errors():
    assert isinstance(make_optimizer("ADAM"), Adam)
    assert make_optimizer("sgd", 1.0).learning_rate == 1.0
    with pytest.raises(ValueError, match="optimizer='lbfgs' is not known"):
        make_optimizer("lbfgs")
    with pytest.raises(ValueError, match="learning_rate must be a positive number, got -0.1"):
        make_optimizer("sgd", -0.1)
    with pytest.raises(ValueError, match="momentum must be in"):
        Momentum(0.1, momentum=1.5)
