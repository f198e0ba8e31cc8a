"""Optimisers: one update rule each, checked on a quadratic bowl and by hand; the registry and its options."""

import numpy as np
import pytest

from xrann.core.optimizers import (
    OPTIMIZERS,
    SGD,
    Adam,
    IRpropPlus,
    Momentum,
    Optimizer,
    StepResult,
    check_fraction,
    check_positive,
    make_optimizer,
    optimizer_class,
)

FIRST_ORDER = ["sgd", "momentum", "adam", "irprop+"]


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


def test_momentum_carries_the_previous_step():
    p = np.array([1.0])
    optimizer = Momentum(0.1, momentum=0.5)
    optimizer.update([p], [np.array([1.0])])  # velocity -0.1
    optimizer.update([p], [np.array([1.0])])  # velocity -0.05 - 0.1
    np.testing.assert_allclose(p, [0.75])


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


# --- the full-batch step of first-order methods -------------------------------------------------------------


class Bowl:
    """``sum((w - target) ** 2)`` as an `Objective` that counts its calls."""

    def __init__(self, target):
        self.target, self.calls = np.asarray(target, dtype=float), 0

    def loss_and_gradient(self, parameters):
        self.calls += 1
        residual = parameters - self.target
        return float(residual @ residual), 2 * residual


def test_a_first_order_step_is_one_update_with_the_full_batch_gradient():
    parameters = np.array([1.0, 2.0])
    result = SGD(0.25).step(parameters, Bowl([0.0, 0.0]))
    assert result == StepResult(5.0) and result.converged is None  # the loss before the step
    np.testing.assert_allclose(parameters, [0.5, 1.0])


def test_a_non_finite_loss_leaves_the_parameters_alone():
    parameters = np.array([np.nan, 2.0])
    optimizer = Adam(0.1)
    result = optimizer.step(parameters, Bowl([0.0, 0.0]))
    assert np.isnan(result.loss)
    assert np.isnan(parameters[0]) and parameters[1] == 2.0
    assert optimizer._first is None  # no state was touched


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_repeated_steps_minimise_the_bowl(name):
    parameters, bowl = np.zeros(3), Bowl([1.0, -2.0, 0.5])
    optimizer = make_optimizer(name, 0.1 if name != "momentum" else 0.05)
    losses = [optimizer.step(parameters, bowl).loss for _ in range(500)]
    assert bowl.calls == 500 and losses[-1] < 1e-6 < losses[0]
    np.testing.assert_allclose(parameters, bowl.target, atol=1e-3)


def test_the_base_class_has_no_update():
    with pytest.raises(NotImplementedError, match="full-batch steps only; call step"):
        Optimizer(0.1).update([np.zeros(1)], [np.zeros(1)])


# --- the registry, capabilities and options ----------------------------------------------------------------


def test_the_registry_names_every_optimizer_and_its_capabilities():
    assert set(FIRST_ORDER) | {"lm", "lbfgs"} <= set(OPTIMIZERS)
    for name, cls in OPTIMIZERS.items():
        assert cls.name == name and optimizer_class(name.upper()) is cls
    assert [name for name in FIRST_ORDER if OPTIMIZERS[name].minibatch] == ["sgd", "momentum", "adam"]
    assert not any(OPTIMIZERS[name].needs_gauss_newton for name in FIRST_ORDER)
    assert all(OPTIMIZERS[name].max_parameters is None for name in FIRST_ORDER)
    SGD.check_size(10**9)


def test_make_optimizer_and_errors():
    assert isinstance(make_optimizer("ADAM"), Adam)
    assert make_optimizer("sgd", 1.0).learning_rate == 1.0
    assert make_optimizer("sgd").learning_rate == SGD.default_learning_rate == 0.1
    with pytest.raises(ValueError, match=r"optimizer='newton' is not known; choose one of \[.*'adam'.*'lbfgs'.*'lm'"):
        make_optimizer("newton")
    with pytest.raises(ValueError, match="learning_rate must be a positive number, got -0.1"):
        make_optimizer("sgd", -0.1)
    for nonsense in (0, float("nan"), float("inf"), "fast", True):
        with pytest.raises(ValueError, match="learning_rate must be a positive number"):
            make_optimizer("adam", nonsense)


def test_unknown_option_keys_are_listed_with_the_known_ones():
    with pytest.raises(
        ValueError,
        match=r"optimizer_options=.* has unknown keys \['beta3', 'gamma'\] for optimizer='adam'; "
        r"it takes \['beta1', 'beta2', 'epsilon'\]",
    ):
        make_optimizer("adam", options={"gamma": 1, "beta3": 0.5, "beta1": 0.8})
    with pytest.raises(ValueError, match=r"unknown keys \['momentum'\] for optimizer='sgd'; it takes \[\]"):
        make_optimizer("sgd", options={"momentum": 0.9})
    with pytest.raises(ValueError, match=r"unknown keys \['learning_rate'\]"):
        make_optimizer("adam", options={"learning_rate": 0.1})  # the learning rate is its own argument
    with pytest.raises(TypeError, match="optimizer_options must be a dict"):
        make_optimizer("adam", options=[("beta1", 0.8)])


@pytest.mark.parametrize(
    ("name", "options", "named"),
    [
        ("momentum", {"momentum": 1.5}, r"momentum must be a number in \[0, 1\), got 1.5"),
        ("momentum", {"momentum": -0.1}, "momentum must be a number in"),
        ("momentum", {"momentum": "high"}, "momentum must be a number in"),
        ("adam", {"beta1": 1.0}, r"beta1 must be a number in \[0, 1\)"),
        ("adam", {"beta2": True}, "beta2 must be a number in"),
        ("adam", {"epsilon": 0}, "epsilon must be a positive number, got 0"),
        ("adam", {"epsilon": None}, "epsilon must be a positive number, got None"),
        ("irprop+", {"increase": 1.0}, "increase must be greater than 1, got 1.0"),
        ("irprop+", {"increase": -2}, "increase must be a positive number"),
        ("irprop+", {"decrease": 0}, r"decrease must be a number in \(0, 1\)"),
        ("irprop+", {"decrease": 1}, r"decrease must be a number in \(0, 1\)"),
        ("irprop+", {"min_step": 0.0}, "min_step must be a positive number"),
        ("irprop+", {"min_step": 2.0}, "min_step must be smaller than max_step, got 2.0 and 1.0"),
        ("irprop+", {"max_step": float("inf")}, "max_step must be a positive number"),
    ],
)
def test_nonsense_option_values_name_the_option(name, options, named):
    with pytest.raises(ValueError, match=named):
        make_optimizer(name, options=options)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_options_round_trip(name):
    defaults = make_optimizer(name).options()
    assert list(defaults) == OPTIMIZERS[name].option_names()
    assert make_optimizer(name, options=defaults).options() == defaults
    assert make_optimizer(name, options={}).options() == defaults


def test_options_set_are_options_reported():
    options = {"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6}
    adam = make_optimizer("adam", 0.05, options)
    assert adam.options() == options and adam.learning_rate == 0.05
    rebuilt = make_optimizer("adam", adam.learning_rate, adam.options())
    assert rebuilt.options() == options
    irprop = make_optimizer("irprop+", options={"increase": 1.5, "max_step": 0.5})
    assert irprop.options() == {"increase": 1.5, "decrease": 0.5, "min_step": 1e-8, "max_step": 0.5}
    assert make_optimizer("momentum", options={"momentum": 0}).options() == {"momentum": 0.0}


def test_check_helpers():
    assert check_positive(3, "x") == 3.0 and check_fraction(0, "x") == 0.0
    with pytest.raises(ValueError, match=r"x must be a number in \(0, 1\), got 0"):
        check_fraction(0, "x", closed_low=False)
    with pytest.raises(ValueError, match="x must be a positive number, got True"):
        check_positive(True, "x")
