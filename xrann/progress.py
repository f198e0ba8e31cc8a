"""Progress reporting for long fits, through tqdm when it is installed.

A bar is shown when ``progress=True``, or with ``progress=None`` when the
session is interactive (a terminal or a notebook); ``progress=False`` is silent.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["epoch_progress", "wants_progress"]


def wants_progress(progress: bool | None) -> bool:
    """Whether to show a bar: explicit choice, else only in interactive sessions.

    Examples
    --------
    >>> wants_progress(False), wants_progress(True)
    (False, True)
    """
    if progress is not None:
        return bool(progress)
    if hasattr(sys, "ps1") or "ipykernel" in sys.modules:
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def epoch_progress(progress: bool | None, total_epochs: int) -> tuple[Callable | None, Callable[[], None]]:
    """A callback ``(epoch, loss, val_loss)`` that advances a bar, and a function that closes it.

    Returns ``(None, no-op)`` when no bar is wanted or tqdm is not installed.

    Examples
    --------
    >>> callback, close = epoch_progress(False, 10)
    >>> callback is None
    True
    """
    if not wants_progress(progress):
        return None, lambda: None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None, lambda: None
    bar = tqdm(total=total_epochs, desc="xrann fit", unit="epoch", leave=False)

    def advance(epoch: int, loss: float, val_loss: float | None) -> None:
        postfix = {"loss": f"{loss:.3g}"}
        if val_loss is not None:
            postfix["val_loss"] = f"{val_loss:.3g}"
        bar.set_postfix(postfix, refresh=False)
        bar.update(1)

    return advance, bar.close
