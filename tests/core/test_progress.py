"""Progress bars: an epoch bar, a bar over the blocks of each epoch, silence when asked or not interactive.

These tests drive the bars directly (and through the epoch engine's callback); that a streaming fit of a
Dataset draws both bars is tested with the fit modes in ``tests/fit``.
"""

import sys

import numpy as np
import pytest

from xrann.core.engine import Schedule, train
from xrann.core.optimizers import Optimizer, StepResult
from xrann.core.progress import FitProgress, fit_progress, progress_bar_class, wants_progress


class RecordingBar:
    """A stand-in for tqdm that records what it is told."""

    made = []

    def __init__(self, total, desc, unit, leave, position=0):
        self.total, self.desc, self.unit, self.leave, self.position = total, desc, unit, leave, position
        self.n, self.resets, self.closed, self.postfix = 0, 0, False, None
        RecordingBar.made.append(self)

    def update(self, n):
        self.n += n

    def reset(self, total):
        self.total, self.n, self.resets = total, 0, self.resets + 1

    def set_postfix(self, postfix, refresh):
        self.postfix = postfix

    def close(self):
        self.closed = True


@pytest.fixture
def recording(monkeypatch):
    """Bars are `RecordingBar` objects, listed in the order they were made."""
    RecordingBar.made = []
    monkeypatch.setattr("xrann.core.progress.progress_bar_class", lambda: RecordingBar)
    return RecordingBar.made


def test_an_epoch_bar_and_a_block_bar_reset_each_epoch(recording):
    bars = fit_progress(True, total_epochs=3)
    assert bars.shown
    for epoch in range(3):
        bars.start_epoch(n_blocks=3)
        for _ in range(3):
            bars.block()
        bars.end_epoch(epoch, 0.5 / (epoch + 1), 0.25)
    epochs, blocks = recording
    assert (epochs.desc, epochs.unit, epochs.total, epochs.n, epochs.leave) == ("xrann fit", "epoch", 3, 3, False)
    assert epochs.postfix == {"loss": "0.167", "val_loss": "0.25"}
    assert (blocks.desc, blocks.unit, blocks.total, blocks.n, blocks.resets, blocks.position) == ("blocks", "block", 3, 3, 2, 1)
    bars.close()
    assert epochs.closed and blocks.closed and not bars.shown
    bars.close()  # closing twice is harmless


def test_a_fit_without_blocks_shows_only_the_epoch_bar(recording):
    bars = fit_progress(True, total_epochs=2)
    bars.block()  # no block bar yet: nothing to advance
    bars.end_epoch(0, 0.5, None)
    bars.close()
    (epochs,) = recording
    assert (epochs.n, epochs.postfix, epochs.closed) == (1, {"loss": "0.5"}, True)


def test_no_bars_when_not_wanted_or_without_tqdm(recording, monkeypatch):
    bars = fit_progress(False, total_epochs=3)
    bars.start_epoch(n_blocks=2)
    bars.block()
    bars.end_epoch(0, 0.1, 0.2)
    bars.close()
    assert not bars.shown and recording == []
    assert not FitProgress(3, None).shown
    monkeypatch.setattr("xrann.core.progress.progress_bar_class", lambda: None)
    assert not fit_progress(True, 3).shown


def test_progress_bar_class_is_none_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # makes `from tqdm.auto import tqdm` raise ImportError
    assert progress_bar_class() is None


def test_non_interactive_default_is_silent():
    assert wants_progress(None) is False  # pytest captures stderr: not a terminal
    assert fit_progress(None, 5).shown is False


def test_an_interactive_session_wants_bars(monkeypatch):
    assert wants_progress(False) is False and wants_progress(True) is True
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    assert wants_progress(None) is True
    assert wants_progress(False) is False  # an explicit choice wins


class Steady(Optimizer):
    """Full-batch steps that report a halving loss."""

    name = "steady"
    default_learning_rate = None
    minibatch = False

    def step(self, parameters, objective):
        parameters *= 0.5
        return StepResult(float(parameters[0]))


class NoValidation:
    n_train, n_validation = 4, 0


def test_the_epoch_callback_advances_one_bar_per_engine_epoch(recording):
    bars = fit_progress(True, 4)
    schedule = Schedule(None, 4, None)
    history = train(NoValidation(), np.ones(2), Steady(), schedule, rng=np.random.default_rng(0), progress=bars.end_epoch)
    bars.close()
    (bar,) = recording
    assert history.loss == [0.5, 0.25, 0.125, 0.0625]
    assert (bar.total, bar.n, bar.postfix, bar.closed) == (4, 4, {"loss": "0.0625"}, True)


def test_progress_true_draws_tqdm_bars_on_stderr(capsys):
    pytest.importorskip("tqdm")
    bars = fit_progress(True, total_epochs=2)
    bars.start_epoch(n_blocks=2)
    bars.block()
    bars.end_epoch(0, 0.5, None)
    bars.close()
    shown = capsys.readouterr().err
    assert "xrann fit" in shown and "blocks" in shown
    bars = fit_progress(False, total_epochs=2)
    bars.end_epoch(0, 0.5, None)
    bars.close()
    assert capsys.readouterr().err == ""
