"""Progress reporting for long fits, through tqdm when it is installed.

A bar is shown when ``progress=True``, or with ``progress=None`` when the
session is interactive (a terminal or a notebook); ``progress=False`` is silent.
Streaming fits show a second bar for the blocks of the current epoch.

In a Jupyter kernel the bar is a widget when ipywidgets is installed (the
``progress`` extra brings it) and a text bar otherwise, without tqdm's
"IProgress not found" warning. A notebook executed without a browser
(``jupyter nbconvert --execute``, nbclient, papermill, a Sphinx build with
myst-nb or nbsphinx) shows no bar by default: nobody watches it, and the
saved output would keep every redraw. ``XRANN_PROGRESS=off`` (or ``on``)
in the environment sets the default for any other runner.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["wants_progress", "FitProgress", "fit_progress"]

#: programs that execute notebooks without anyone watching (matched in the kernel's launcher command line)
HEADLESS_LAUNCHERS = ("nbconvert", "nbclient", "papermill", "sphinx", "jupyter-execute", "jupyter_cache", "jupyter-cache", "nbval")


def in_jupyter_kernel() -> bool:
    """Whether this Python runs inside a Jupyter (ipykernel) kernel.

    Returns
    -------
    bool

    Examples
    --------
    >>> in_jupyter_kernel()  # doctests run outside a kernel
    False
    """
    # IPython is already imported in a kernel; a library importing ipykernel does not make a kernel
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and hasattr(shell, "kernel")


def launcher_command(pid: int) -> str:
    """The command line of process ``pid`` (Linux ``/proc``), or ``""`` when it cannot be read.

    Parameters
    ----------
    pid : int

    Returns
    -------
    str

    Examples
    --------
    >>> launcher_command(os.getpid()) == "" or "python" in launcher_command(os.getpid())
    True
    """
    try:
        with open(f"/proc/{int(pid)}/cmdline", "rb") as stream:
            return stream.read().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError):
        return ""


def executed_headless() -> bool:
    """Whether this kernel was started by a program that runs notebooks unattended.

    Jupyter sets ``JPY_PARENT_PID`` in every kernel to the process that
    launched it; that process is a Jupyter server for a notebook someone is
    looking at, and nbconvert, nbclient, papermill or Sphinx when the notebook
    is executed in the background.

    Returns
    -------
    bool

    Examples
    --------
    >>> executed_headless()  # not in a kernel
    False
    """
    if not in_jupyter_kernel():
        return False
    parent = os.environ.get("JPY_PARENT_PID", "")
    if not parent.isdigit():
        return False
    command = launcher_command(int(parent)).lower()
    return any(name in command for name in HEADLESS_LAUNCHERS)


def wants_progress(progress: bool | None) -> bool:
    """Whether to show a bar: explicit choice, else only in interactive sessions.

    Parameters
    ----------
    progress : bool or None
        ``None`` means "only when interactive": a Python prompt, a notebook
        someone has open, or stderr a terminal; not a notebook executed by
        nbconvert, nbclient, papermill or Sphinx. The environment variable
        ``XRANN_PROGRESS=off`` (or ``on``) sets this default for a whole run.

    Returns
    -------
    bool

    Examples
    --------
    >>> wants_progress(False), wants_progress(True)
    (False, True)
    """
    if progress is not None:
        return bool(progress)
    setting = os.environ.get("XRANN_PROGRESS", "").strip().lower()
    if setting in ("0", "off", "false", "no"):
        return False
    if setting in ("1", "on", "true", "yes"):
        return True
    if in_jupyter_kernel():
        return not executed_headless()
    if hasattr(sys, "ps1"):
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress_bar_class() -> Any | None:
    """The tqdm bar for this session, or ``None`` when tqdm is not installed (no bars).

    ``tqdm.notebook.tqdm`` (a widget) in a Jupyter kernel with ipywidgets,
    else the text bar ``tqdm.std.tqdm``: never ``tqdm.auto``, which warns
    "IProgress not found" in a kernel without ipywidgets.

    Returns
    -------
    type or None

    Examples
    --------
    >>> progress_bar_class() is None or callable(progress_bar_class())
    True
    """
    try:
        from tqdm.std import tqdm
    except ImportError:
        return None
    if in_jupyter_kernel():
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm as notebook_tqdm
        except ImportError:
            return tqdm
        return notebook_tqdm
    return tqdm


class FitProgress:
    """An epoch bar and, for streaming fits, a bar over the blocks of the current epoch.

    Every method is a no-op when no bar is shown, so training loops call them
    unconditionally. Use `fit_progress` to build one.

    Parameters
    ----------
    total_epochs : int
    bar_factory : callable or None
        ``tqdm``-like class; ``None`` shows nothing.

    Examples
    --------
    >>> bars = fit_progress(False, total_epochs=3)
    >>> bars.start_epoch(n_blocks=4); bars.block(); bars.end_epoch(0, 0.1, None); bars.close()
    >>> bars.shown
    False
    """

    def __init__(self, total_epochs: int, bar_factory: Callable[..., Any] | None = None) -> None:
        self._factory = bar_factory
        self._epochs = None if bar_factory is None else bar_factory(total=total_epochs, desc="xrann fit", unit="epoch", leave=False)
        self._blocks = None

    @property
    def shown(self) -> bool:
        """Whether bars are drawn."""
        return self._epochs is not None

    def start_epoch(self, n_blocks: int) -> None:
        """Reset the block bar for an epoch that visits ``n_blocks`` blocks."""
        if self._factory is None:
            return
        if self._blocks is None:
            self._blocks = self._factory(total=n_blocks, desc="blocks", unit="block", leave=False, position=1)
        else:
            self._blocks.reset(total=n_blocks)

    def block(self) -> None:
        """Advance the block bar by one."""
        if self._blocks is not None:
            self._blocks.update(1)

    def end_epoch(self, epoch: int, loss: float, val_loss: float | None) -> None:
        """Advance the epoch bar and show the losses."""
        if self._epochs is None:
            return
        postfix = {"loss": f"{loss:.3g}"}
        if val_loss is not None:
            postfix["val_loss"] = f"{val_loss:.3g}"
        self._epochs.set_postfix(postfix, refresh=False)
        self._epochs.update(1)

    def close(self) -> None:
        """Remove the bars."""
        for bar in (self._blocks, self._epochs):
            if bar is not None:
                bar.close()
        self._blocks = self._epochs = None


def fit_progress(progress: bool | None, total_epochs: int) -> FitProgress:
    """Progress bars for a fit: shown when ``progress`` is True, or None in an interactive session.

    Nothing is shown when tqdm is not installed (it is the ``progress`` extra).

    Parameters
    ----------
    progress : bool or None
    total_epochs : int

    Returns
    -------
    FitProgress

    Examples
    --------
    >>> fit_progress(False, 10).shown
    False
    """
    return FitProgress(total_epochs, progress_bar_class() if wants_progress(progress) else None)
