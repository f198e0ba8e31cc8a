"""Progress bars: an epoch bar, a bar over the blocks of each epoch, silence when asked or not interactive.

These tests drive the bars directly (and through the epoch engine's callback); that a streaming fit of a
Dataset draws both bars is tested with the fit modes in ``tests/fit``.
"""

import os
import subprocess
import sys
import time
import types
import warnings

import numpy as np
import pytest

from xrann.core.engine import Schedule, train
from xrann.core.optimizers import Optimizer, StepResult
from xrann.core.progress import FitProgress, fit_progress, launcher_command, progress_bar_class, wants_progress


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
    monkeypatch.setitem(sys.modules, "tqdm.std", None)  # makes `from tqdm.std import tqdm` raise ImportError
    assert progress_bar_class() is None


@pytest.fixture
def kernel(monkeypatch):
    """This process looks like a Jupyter kernel launched by the process whose command line the test sets."""
    import ipywidgets  # noqa: F401  (imported while the real IPython is in place)
    import tqdm.notebook  # noqa: F401

    shell = types.SimpleNamespace(kernel=object())  # what IPython.get_ipython() returns in a kernel
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setenv("JPY_PARENT_PID", "4242")
    launched_by = {"command": "/usr/bin/python3 -m jupyter_server --port 8888"}
    monkeypatch.setattr("xrann.core.progress.launcher_command", lambda pid: launched_by["command"] if pid == 4242 else "")
    return launched_by


def test_outside_a_kernel_the_bar_is_tqdms_text_bar(monkeypatch):
    from tqdm.std import tqdm

    assert progress_bar_class() is tqdm
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))  # imported by a library, no kernel
    assert progress_bar_class() is tqdm and wants_progress(None) is False


def test_a_notebook_with_ipywidgets_gets_a_widget_bar(kernel):
    from tqdm.notebook import tqdm as notebook_tqdm

    assert progress_bar_class() is notebook_tqdm
    assert wants_progress(None) is True  # someone has the notebook open in a Jupyter server


def test_a_notebook_without_ipywidgets_gets_a_text_bar_and_no_warning(kernel, monkeypatch, capsys):
    from tqdm.std import tqdm

    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # ipywidgets is not installed
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tqdm.auto's "IProgress not found" would fail here
        assert progress_bar_class() is tqdm
        bars = fit_progress(True, total_epochs=2)
        bars.end_epoch(0, 0.5, None)
        bars.close()
    assert "xrann fit" in capsys.readouterr().err


@pytest.mark.parametrize(
    "launcher",
    [
        "/usr/bin/python3 /usr/local/bin/jupyter-nbconvert --to notebook --execute tutorial.ipynb",
        "python3 -m sphinx -W -b html docs docs/_build/html",
        "python3 -c from nbclient import NotebookClient",
        "/usr/bin/python3 /usr/local/bin/papermill in.ipynb out.ipynb",
    ],
)
def test_notebooks_executed_unattended_are_quiet_by_default(kernel, launcher):
    kernel["command"] = launcher
    assert wants_progress(None) is False
    assert fit_progress(None, 5).shown is False
    assert wants_progress(True) is True  # an explicit choice still wins


@pytest.mark.skipif(not os.path.exists("/proc"), reason="reads /proc (Linux)")
def test_launcher_command_reads_a_process_command_line():
    launcher = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "jupyter-nbconvert", "--execute"])
    try:
        for _ in range(100):  # the command line appears once the new process has exec'd python
            if launcher_command(launcher.pid).endswith("--execute "):
                break
            time.sleep(0.05)
        assert launcher_command(launcher.pid).endswith("import time; time.sleep(30) jupyter-nbconvert --execute ")
    finally:
        launcher.kill()
        launcher.wait()
    assert launcher_command(-1) == ""


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


@pytest.mark.parametrize(("setting", "expected"), [("off", False), ("0", False), ("on", True), ("TRUE", True), ("", False)])
def test_xrann_progress_sets_the_default_for_a_run(monkeypatch, setting, expected):
    monkeypatch.setenv("XRANN_PROGRESS", setting)
    assert wants_progress(None) is expected  # pytest: not interactive, so "" keeps the silent default
    assert wants_progress(True) is True and wants_progress(False) is False


def test_xrann_progress_off_silences_a_notebook(kernel, monkeypatch):
    monkeypatch.setenv("XRANN_PROGRESS", "off")
    assert wants_progress(None) is False
