"""The training loop: schedules, learning a known function, early stopping, divergence."""

import numpy as np
import pytest

from xrann.core.network import initialize
from xrann.core.optimizers import SGD, Adam, IRpropPlus
from xrann.training import Schedule, TrainingDivergedError, resolve_schedule, train


def _known_function(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 2))
    y = 0.1 + 0.8 * (np.sin(3 * x[:, :1]) * x[:, 1:] ** 2 + 0.3 * x[:, :1]) / 1.3
    return x, y


def _r2(observed, predicted):
    return 1 - np.sum((observed - predicted) ** 2) / np.sum((observed - observed.mean()) ** 2)


def test_network_learns_a_non_linear_function_held_out_r2():
    x, y = _known_function(4000, 0)
    x_test, y_test = _known_function(1000, 1)
    rng = np.random.default_rng(0)
    net = initialize((2, 8, 1), rng=rng)
    history = train(net, x, y, optimizer=Adam(0.01), schedule=resolve_schedule(4000, epochs=60), rng=rng)
    assert history.loss[-1] < history.loss[0] / 10
    assert _r2(y_test, net.predict(x_test)) > 0.95


def test_default_schedule_without_tuning():
    assert resolve_schedule(5) == Schedule(batch_size=None, epochs=5000, patience=None)
    assert resolve_schedule(100_000) == Schedule(batch_size=256, epochs=52, patience=None)
    assert resolve_schedule(100_000, has_validation=True).patience == 20
    assert resolve_schedule(10, batch_size=4, epochs=3, patience=2, has_validation=True) == Schedule(4, 3, 2)


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"epochs": -3}, {"batch_size": 0}, {"epochs": 1.5}])
def test_schedule_rejects_nonsense(bad):
    with pytest.raises(ValueError, match="must be a positive integer"):
        resolve_schedule(10, **bad)


def test_early_stopping_keeps_best_weights():
    x, y = _known_function(60, 0)
    x_val, y_val = _known_function(60, 1)
    y_noisy = y + np.random.default_rng(3).normal(0, 0.2, y.shape)  # overfits a noisy small set
    rng = np.random.default_rng(0)
    net = initialize((2, 16, 1), rng=rng)
    schedule = Schedule(batch_size=None, epochs=4000, patience=50)
    history = train(net, x, y_noisy, optimizer=Adam(0.05), schedule=schedule, rng=rng, validation=(x_val, y_val))
    assert history.stopped_early
    assert len(history.loss) < 4000
    assert len(history.val_loss) == len(history.loss)
    best = history.best_epoch
    assert history.val_loss[best] == min(history.val_loss)
    assert len(history.loss) == best + 1 + 50
    kept = float(np.mean((net.predict(x_val) - y_val) ** 2))
    assert kept == pytest.approx(history.val_loss[best], rel=1e-12)


def test_seed_recipe_full_batch_sgd_no_bias_uniform_weights():
    x = np.array([[0.58, 0.52], [0.34, 0.52], [0.58, 0.12]])
    y = np.array([[0.9], [0.5], [0.5]])
    rng = np.random.default_rng(0)
    net = initialize((2, 4, 1), rng=rng, bias=False, init="uniform")
    history = train(net, x, y, optimizer=SGD(1.0), schedule=Schedule(None, 1500, None), rng=rng, loss="sse")
    assert len(history.loss) == 1500
    assert history.loss[-1] < history.loss[0]


def test_divergence_raises_and_suggests_lower_learning_rate():
    x, y = _known_function(50, 0)
    rng = np.random.default_rng(0)
    net = initialize((2, 4, 1), rng=rng)
    net.weights[0][0, 0] = np.nan
    with pytest.raises(TrainingDivergedError, match=r"loss became nan at epoch 0.*lower learning rate, e.g. learning_rate=0.001"):
        train(net, x, y, optimizer=Adam(0.01), schedule=Schedule(None, 5, None), rng=rng)


def test_irprop_needs_full_batch():
    x, y = _known_function(50, 0)
    rng = np.random.default_rng(0)
    net = initialize((2, 4, 1), rng=rng)
    with pytest.raises(ValueError, match="batch_size=None"):
        train(net, x, y, optimizer=IRpropPlus(), schedule=Schedule(10, 5, None), rng=rng)
    history = train(net, x, y, optimizer=IRpropPlus(), schedule=Schedule(None, 300, None), rng=rng)
    assert history.loss[-1] < 0.2 * history.loss[0]


def test_progress_callback_is_called_each_epoch():
    x, y = _known_function(20, 0)
    rng = np.random.default_rng(0)
    seen = []
    train(initialize((2, 4, 1), rng=rng), x, y, optimizer=Adam(), schedule=Schedule(None, 7, None), rng=rng,
          progress=lambda epoch, loss, val: seen.append((epoch, val)))
    assert seen == [(i, None) for i in range(7)]
