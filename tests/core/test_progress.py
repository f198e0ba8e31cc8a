"""Progress bars: epochs, blocks within an epoch for streaming fits, silence when asked."""

import pytest

import xrann.streaming as streaming
from tests.conftest import make_grid_dataset
from xrann.core.progress import FitProgress, epoch_progress, fit_progress, wants_progress

pytest.importorskip("tqdm")

DRIVERS = ["t2m", "swdown", "landcover"]


class RecordingBar:
    """A stand-in for tqdm that records what it is told."""

    made = []

    def __init__(self, total, desc, unit, leave, position=0):
        self.total, self.desc, self.unit, self.n, self.resets, self.closed = total, desc, unit, 0, 0, False
        self.postfix = None
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
def lazy():
    return make_grid_dataset(n_time=36).chunk({"time": 12})


def test_streaming_fit_shows_epochs_and_blocks(lazy, monkeypatch):
    RecordingBar.made = []
    monkeypatch.setattr(streaming, "fit_progress", lambda progress, total_epochs: FitProgress(total_epochs, RecordingBar))
    lazy.ann.fit("nee", DRIVERS, seed=0, epochs=3, batch_size=64, validation=0.2)
    epochs, blocks = RecordingBar.made
    assert (epochs.desc, epochs.unit, epochs.total, epochs.n) == ("xrann fit", "epoch", 3, 3)
    assert set(epochs.postfix) == {"loss", "val_loss"}
    assert (blocks.desc, blocks.unit, blocks.total, blocks.n, blocks.resets) == ("blocks", "block", 3, 3, 2)
    assert epochs.closed and blocks.closed


def test_progress_true_draws_tqdm_bars_and_false_is_silent(lazy, capsys):
    lazy.ann.fit("nee", DRIVERS, seed=0, epochs=2, batch_size=64, progress=True)
    shown = capsys.readouterr().err
    assert "xrann fit" in shown and "blocks" in shown
    lazy.ann.fit("nee", DRIVERS, seed=0, epochs=2, batch_size=64, progress=False)
    lazy.compute().ann.fit("nee", DRIVERS, seed=0, epochs=2, progress=False)
    assert capsys.readouterr().err == ""


def test_in_memory_fit_shows_an_epoch_bar(lazy, capsys):
    lazy.compute().ann.fit("nee", DRIVERS, seed=0, epochs=2, progress=True)
    assert "xrann fit" in capsys.readouterr().err


def test_non_interactive_default_is_silent():
    assert wants_progress(None) is False  # pytest captures stderr: not a terminal
    assert fit_progress(None, 5).shown is False
    callback, close = epoch_progress(None, 5)
    assert callback is None
    close()


def test_epoch_progress_callback_advances_one_bar(monkeypatch):
    RecordingBar.made = []
    monkeypatch.setattr("xrann.core.progress.progress_bar_class", lambda: RecordingBar)
    callback, close = epoch_progress(True, 4)
    for epoch in range(4):
        callback(epoch, 0.5, None)
    close()
    (bar,) = RecordingBar.made
    assert (bar.n, bar.postfix, bar.closed) == (4, {"loss": "0.5"}, True)
