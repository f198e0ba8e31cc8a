"""The one epoch engine: training a toy with every kind of optimiser, early stopping, the order of
losses and weights, divergence, and the optimiser's own convergence."""

import re

import numpy as np
import pytest

from xrann.core.arrays import ArraySource
from xrann.core.engine import (
    DEFAULT_TOLERANCE,
    ConvergenceWarning,
    EarlyStopping,
    Schedule,
    TrainingDivergedError,
    TrainingHistory,
    check_finite_loss,
    still_improving,
    train,
)
from xrann.core.network import initialize
from xrann.core.optimizers import SGD, Adam, Optimizer, StepResult, make_optimizer

SIZES = (2, 6, 1)


def _known_function(n, seed, noise=0.0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 2))
    y = 0.1 + 0.8 * (np.sin(3 * x[:, :1]) * x[:, 1:] ** 2 + 0.3 * x[:, :1]) / 1.3
    if noise:
        y = y + rng.normal(0, noise, y.shape)
    return x, y


def _start(source, seed=0):
    """The flat initial parameters of a network for ``source`` and the generator that drew them."""
    rng = np.random.default_rng(seed)
    return source.flatten(initialize(source.sizes, rng=rng)), rng


def _r2(observed, predicted):
    return 1 - np.sum((observed - predicted) ** 2) / np.sum((observed - observed.mean()) ** 2)


# --- a toy learned by every kind of optimiser --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "learning_rate", "batch_size", "epochs"),
    [
        ("adam", 0.02, 32, 150),
        ("adam", 0.05, None, 600),
        ("lm", None, None, 30),
        ("lbfgs", None, None, 150),
        ("irprop+", None, None, 250),
    ],
)
def test_the_engine_trains_a_toy_to_low_loss(name, learning_rate, batch_size, epochs):
    x, y = _known_function(300, 0)
    source = ArraySource(SIZES, x, y)
    parameters, rng = _start(source)
    history = train(source, parameters, make_optimizer(name, learning_rate), Schedule(batch_size, epochs, None), rng=rng)
    assert len(history.loss) == epochs
    assert history.loss[-1] < history.loss[0] / 20
    assert source.loss(parameters) < 2e-3  # the variance of y is 0.025
    assert (history.best_epoch, history.stopped_early, history.converged) == (epochs - 1, False, False)
    assert history.stop_reason == f"reached epochs={epochs}"
    assert history.val_loss == [] and history.seconds > 0
    x_test, y_test = _known_function(500, 1)
    network = initialize(SIZES, rng=np.random.default_rng(0))
    source.workspace.parameters[...] = parameters
    source.workspace.store(network)
    assert _r2(y_test, network.predict(x_test)) > 0.9


def test_full_batch_loss_is_the_loss_at_the_weights_the_epoch_started_from():
    x, y = _known_function(100, 0)
    source = ArraySource(SIZES, x, y)
    parameters, rng = _start(source)
    started_from = [parameters.copy()]
    history = train(
        source, parameters, Adam(0.05), Schedule(None, 5, None), rng=rng,
        progress=lambda epoch, loss, val_loss: started_from.append(parameters.copy()),
    )
    for epoch, loss in enumerate(history.loss):
        assert loss == source.loss(started_from[epoch])


# --- early stopping on real training -------------------------------------------------------------------


def test_early_stopping_keeps_the_best_validation_weights():
    x, y = _known_function(60, 0, noise=0.2)  # a small noisy set that a wide network overfits
    x_val, y_val = _known_function(60, 1)
    source = ArraySource((2, 16, 1), x, y, x_val, y_val)
    parameters, rng = _start(source)
    patience = 30
    history = train(source, parameters, Adam(0.05), Schedule(None, 3000, patience, tolerance=0.0), rng=rng)
    assert history.stopped_early and history.converged
    assert "validation loss improved by less than 0 (relative) for 30 epochs" in history.stop_reason
    assert len(history.val_loss) == len(history.loss) < 3000
    best = history.best_epoch
    assert history.val_loss[best] == min(history.val_loss)
    assert len(history.loss) == best + 1 + patience  # with tolerance 0, the best epoch is the last progress
    assert source.validation_loss(parameters) == history.val_loss[best]
    assert source.validation_loss(parameters) < history.val_loss[-1]


def test_validation_loss_of_each_epoch_is_measured_on_the_weights_it_ended_with():
    x, y = _known_function(120, 0)
    x_val, y_val = _known_function(40, 1)
    source = ArraySource(SIZES, x, y, x_val, y_val)
    parameters, rng = _start(source)
    ended_with = []
    history = train(
        source, parameters, Adam(0.02), Schedule(16, 6, None), rng=rng,
        progress=lambda epoch, loss, val_loss: ended_with.append((epoch, parameters.copy(), val_loss)),
    )
    assert [epoch for epoch, _, _ in ended_with] == list(range(6))
    for epoch, weights, val_loss in ended_with:
        assert val_loss == history.val_loss[epoch] == source.validation_loss(weights)
    # the kept weights are those of the lowest validation loss, and they are written back
    np.testing.assert_array_equal(parameters, ended_with[history.best_epoch][1])


def test_without_validation_the_last_weights_are_kept():
    x, y = _known_function(80, 0)
    source = ArraySource(SIZES, x, y)
    parameters, rng = _start(source)
    ended_with = []
    # SGD with a large rate on tiny batches: the training loss jumps about, the last epoch need not be the lowest
    history = train(
        source, parameters, SGD(5.0), Schedule(4, 12, None), rng=rng,
        progress=lambda epoch, loss, val_loss: ended_with.append(parameters.copy()),
    )
    losses = [source.loss(weights) for weights in ended_with]
    assert losses[-1] > min(losses)
    assert history.val_loss == [] and history.best_epoch == 11
    np.testing.assert_array_equal(parameters, ended_with[-1])


# --- the engine's bookkeeping, on a scripted optimiser and source -------------------------------------


class Scripted(Optimizer):
    """Full-batch steps that set every weight to ``epoch + 1`` and report scripted losses."""

    name = "scripted"
    default_learning_rate = None
    minibatch = False

    def __init__(self, losses, converged_at=None):
        super().__init__()
        self.losses, self.converged_at, self.epoch = losses, converged_at, 0

    def step(self, parameters, objective):
        epoch, self.epoch = self.epoch, self.epoch + 1
        parameters[...] = epoch + 1
        converged = "no step lowers the loss" if epoch == self.converged_at else None
        return StepResult(self.losses[epoch], converged)


class ScriptedSource:
    """A gradient source whose validation loss is looked up by the weights (``epoch + 1``) it is given."""

    n_train = 10

    def __init__(self, val_losses=()):
        self.val_losses = list(val_losses)
        self.n_validation = 5 if self.val_losses else 0

    def validation_loss(self, parameters):
        return self.val_losses[int(parameters[0]) - 1]


def _scripted_run(losses, val_losses=(), patience=None, tolerance=DEFAULT_TOLERANCE, epochs=None, converged_at=None):
    parameters = np.zeros(3)
    epochs = len(losses) if epochs is None else epochs
    history = train(
        ScriptedSource(val_losses), parameters, Scripted(losses, converged_at), Schedule(None, epochs, patience, tolerance),
        rng=np.random.default_rng(0),
    )
    return history, parameters


def test_early_stopping_restores_the_best_epoch_and_says_why():
    history, parameters = _scripted_run([1.0] * 8, val_losses=[0.5, 0.3, 0.4, 0.35, 0.36, 0.2, 0.1, 0.1], patience=3)
    assert history.val_loss == [0.5, 0.3, 0.4, 0.35, 0.36]
    assert (history.best_epoch, history.stopped_early, history.converged) == (1, True, True)
    assert history.stop_reason == "the validation loss improved by less than 0.001 (relative) for 3 epochs"
    np.testing.assert_array_equal(parameters, [2.0, 2.0, 2.0])  # the weights epoch 1 ended with


def test_an_improvement_below_the_tolerance_does_not_reset_the_patience():
    val_losses = [1.0, 0.9995, 0.9992, 0.9990, 0.5]
    history, parameters = _scripted_run([1.0] * 5, val_losses, patience=3, tolerance=1e-3)
    # each epoch lowers the loss, but by less than 0.1 % of the last progress (1.0): the patience runs out
    assert len(history.val_loss) == 4 and history.stopped_early and history.converged
    assert history.best_epoch == 3  # the lowest loss is still the one kept
    np.testing.assert_array_equal(parameters, 4.0)
    # with tolerance 0 every improvement is progress and training goes on
    history, _ = _scripted_run([1.0] * 5, val_losses, patience=3, tolerance=0.0)
    assert (len(history.val_loss), history.best_epoch, history.stopped_early, history.converged) == (5, 4, False, False)
    # a large enough improvement resets the count: 2 quiet epochs, progress, 2 quiet epochs
    history, _ = _scripted_run([1.0] * 6, [1.0, 0.9999, 0.9999, 0.9, 0.8999, 0.8999], patience=3)
    assert len(history.val_loss) == 6 and not history.stopped_early and not history.converged


def test_without_validation_the_training_loss_is_monitored_and_the_last_weights_kept():
    history, parameters = _scripted_run([1.0, 0.5, 0.6, 0.7, 0.8], patience=2)
    assert (len(history.loss), history.best_epoch, history.stopped_early) == (4, 3, True)
    assert history.stop_reason.startswith("the training loss improved by less than")
    np.testing.assert_array_equal(parameters, 4.0)


def test_an_optimizer_that_reports_convergence_ends_training():
    history, parameters = _scripted_run([1.0, 0.5, 0.4, 0.3, 0.2, 0.1], [0.5, 0.4, 0.3, 0.35, 0.1, 0.1], converged_at=3)
    assert len(history.loss) == 4 and len(history.val_loss) == 4
    assert (history.converged, history.stopped_early, history.stop_reason) == (True, True, "no step lowers the loss")
    assert history.best_epoch == 2
    np.testing.assert_array_equal(parameters, 3.0)
    # convergence reported in the last planned epoch is convergence, not an early stop
    history, _ = _scripted_run([1.0, 0.5], converged_at=1)
    assert (history.converged, history.stopped_early) == (True, False)


def test_running_out_of_epochs_is_not_convergence():
    history, parameters = _scripted_run([1.0, 0.5, 0.25], patience=2)
    assert (history.converged, history.stopped_early, history.stop_reason) == (False, False, "reached epochs=3")
    np.testing.assert_array_equal(parameters, 3.0)


def test_progress_is_called_after_each_epoch_with_both_losses():
    seen = []
    train(
        ScriptedSource([0.5, 0.4, 0.3]), np.zeros(2), Scripted([1.0, 0.9, 0.8]), Schedule(None, 3, None),
        rng=np.random.default_rng(0), progress=lambda *arguments: seen.append(arguments),
    )
    assert seen == [(0, 1.0, 0.5), (1, 0.9, 0.4), (2, 0.8, 0.3)]
    seen.clear()
    train(
        ScriptedSource(), np.zeros(2), Scripted([1.0, 0.9]), Schedule(None, 2, None),
        rng=np.random.default_rng(0), progress=lambda *arguments: seen.append(arguments),
    )
    assert seen == [(0, 1.0, None), (1, 0.9, None)]


def test_early_stopping_directly():
    weights = np.array([0.0, 0.0])
    stopping = EarlyStopping(weights, patience=2, has_validation=True, epochs=10)
    history = TrainingHistory()
    for epoch, val_loss in enumerate([0.5, 0.3, 0.4, 0.35]):
        weights[:] = epoch
        stop = stopping.record(history, epoch, loss=1.0, val_loss=val_loss)
    assert stop and history.best_epoch == 1 and history.val_loss == [0.5, 0.3, 0.4, 0.35]
    assert history.loss == [1.0] * 4 and history.stopped_early and history.converged
    stopping.restore(weights)
    np.testing.assert_array_equal(weights, [1.0, 1.0])
    never = EarlyStopping(weights, patience=None, has_validation=False, epochs=10)
    assert not any(never.record(TrainingHistory(), epoch, loss=1.0, val_loss=None) for epoch in range(20))
    # a stop in the last planned epoch is not "early"
    last = EarlyStopping(weights, patience=1, has_validation=False, epochs=2)
    history = TrainingHistory()
    assert [last.record(history, epoch, loss=1.0, val_loss=None) for epoch in range(2)] == [False, True]
    assert history.converged and not history.stopped_early


# --- divergence and misuse --------------------------------------------------------------------------------


def test_a_divergent_run_raises_and_suggests_a_ten_times_smaller_learning_rate():
    x, y = _known_function(50, 0)
    source = ArraySource(SIZES, x, y, loss="sse")
    parameters, rng = _start(source)
    # an absurd learning rate sends the weights to inf within a step or two
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(TrainingDivergedError) as raised:
        train(source, parameters, SGD(1e308), Schedule(None, 50, None), rng=rng)
    message = str(raised.value)
    assert "the training loss became nan at epoch" in message
    assert "learning_rate=1e+308" in message and "lower learning rate, e.g. learning_rate=1e+307" in message


def test_divergence_in_a_minibatch_epoch_raises_too():
    x, y = _known_function(50, 0)
    source = ArraySource(SIZES, x, y)
    parameters, rng = _start(source)
    parameters[0] = np.nan
    with pytest.raises(TrainingDivergedError, match=r"became nan at epoch 0 .*e\.g\. learning_rate=0\.001"):
        train(source, parameters, Adam(0.01), Schedule(16, 5, None), rng=rng)


def test_divergence_with_lm_does_not_mention_a_learning_rate():
    x, y = _known_function(50, 0)
    source = ArraySource(SIZES, x, y)
    parameters, rng = _start(source)
    parameters[0] = np.nan
    with pytest.raises(TrainingDivergedError, match="optimizer='lm'") as raised:
        train(source, parameters, make_optimizer("lm"), Schedule(None, 5, None), rng=rng)
    assert "learning_rate" not in str(raised.value)


def test_check_finite_loss():
    check_finite_loss(0.25, 0, SGD(0.5))
    with pytest.raises(TrainingDivergedError, match=r"became inf at epoch 7 with learning_rate=0\.5.*learning_rate=0\.05\."):
        check_finite_loss(float("inf"), 7, SGD(0.5))
    with pytest.raises(TrainingDivergedError, match="optimizer='lbfgs'") as raised:
        check_finite_loss(float("nan"), 0, make_optimizer("lbfgs"))
    assert "learning_rate" not in str(raised.value)
    assert issubclass(TrainingDivergedError, FloatingPointError) and issubclass(ConvergenceWarning, UserWarning)


@pytest.mark.parametrize("name", ["irprop+", "lm", "lbfgs"])
def test_minibatches_with_a_full_batch_only_optimizer_name_the_fix(name):
    x, y = _known_function(50, 0)
    source = ArraySource(SIZES, x, y)
    parameters, rng = _start(source)
    before = parameters.copy()
    with pytest.raises(ValueError, match=rf"optimizer='{re.escape(name)}'.*batch_size=10.*pass batch_size=None.*'adam'"):
        train(source, parameters, make_optimizer(name), Schedule(10, 5, None), rng=rng)
    np.testing.assert_array_equal(parameters, before)  # refused before any training


# --- still_improving and the plain records ------------------------------------------------------------------


def test_still_improving():
    assert still_improving(TrainingHistory(loss=[1.0, 0.5, 0.25]), window=2) == 0.75
    assert still_improving(TrainingHistory(loss=[1.0, 0.5, 0.25]), window=1) == 0.5
    assert still_improving(TrainingHistory(loss=[1.0, 1.0, 1.0]), window=2) == 0.0
    # the validation loss is monitored when there is one
    assert still_improving(TrainingHistory(loss=[1.0, 0.5, 0.25], val_loss=[1.0, 1.0, 1.0]), window=2) == 0.0
    assert still_improving(TrainingHistory(loss=[1.0, 1.0, 1.0], val_loss=[1.0, 0.9, 0.8]), window=1) == pytest.approx(1 / 9)
    # improvements at or below the tolerance do not count
    assert still_improving(TrainingHistory(loss=[1.0, 0.9995]), window=1) == 0.0
    assert still_improving(TrainingHistory(loss=[1.0, 0.9995]), window=1, tolerance=1e-4) == pytest.approx(5e-4)
    # a window longer than the history is shortened; one epoch or none is too few
    assert still_improving(TrainingHistory(loss=[1.0, 0.5]), window=10) == 0.5
    assert still_improving(TrainingHistory(loss=[1.0]), window=5) == 0.0
    assert still_improving(TrainingHistory(), window=5) == 0.0
    # the best loss before the window is the reference, and a zero loss cannot improve
    assert still_improving(TrainingHistory(loss=[0.5, 2.0, 0.6, 0.55]), window=2) == 0.0
    assert still_improving(TrainingHistory(loss=[0.0, 0.0, 0.0]), window=1) == 0.0


def test_schedule_and_history_defaults():
    assert Schedule(None, 10, 2) == Schedule(batch_size=None, epochs=10, patience=2, tolerance=DEFAULT_TOLERANCE)
    history = TrainingHistory()
    assert (history.loss, history.val_loss, history.best_epoch) == ([], [], -1)
    assert (history.stopped_early, history.converged) == (False, False)
    assert (history.stop_reason, history.seconds) == ("", 0.0)
