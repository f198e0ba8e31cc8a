"""Train one network on a gradient source: the step shared by every mode and by ensemble members.

The mode decides where the samples are (`xrann.fit.memory`,
`xrann.fit.stream`, `xrann.fit.batch`); this module draws the initial
weights, runs the one epoch engine (`xrann.core.engine.train`) with the
resolved settings, and warns with a `~xrann.core.engine.ConvergenceWarning`
when training ended at its epoch limit while the loss was still improving.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..core.engine import ConvergenceWarning, GradientSource, TrainingHistory, still_improving, train
from ..core.network import SigmoidNetwork
from ..core.optimizers import make_optimizer
from ..core.progress import fit_progress
from ..core.workspace import GradientWorkspace
from .settings import FitSettings, ResolvedSettings

__all__ = ["train_network", "warn_if_not_converged"]


def warn_if_not_converged(history: TrainingHistory, resolved: ResolvedSettings, *, stacklevel: int = 2) -> None:
    """Warn with a `ConvergenceWarning` naming the fix when training ran out of epochs while still improving.

    Parameters
    ----------
    history : TrainingHistory
    resolved : ResolvedSettings
    stacklevel : int
        Passed to `warnings.warn`.

    Examples
    --------
    >>> resolved = ResolvedSettings("adam", {}, 0.01, 256, 3, 10, 1e-3)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_if_not_converged(TrainingHistory(loss=[1.0, 0.5, 0.2], stop_reason="reached epochs=3"), resolved)
    >>> "epochs=6" in str(caught[0].message)
    True
    """
    if history.converged or history.stopped_early:
        return
    window = max(2, min(resolved.patience or 10, len(history.loss) // 2))
    improvement = still_improving(history, window, resolved.tolerance)
    if improvement <= 0:
        return
    which = "validation" if history.val_loss else "training"
    fix = f"pass epochs={2 * resolved.epochs} (or more)"
    if resolved.learning_rate is not None:
        fix += ", or optimizer='lm' (full-batch Levenberg-Marquardt, which usually converges in fewer epochs)"
    warnings.warn(
        f"training stopped at its limit of epochs={resolved.epochs} while the {which} loss was still improving "
        f"({improvement:.1%} over the last {window} epochs); the model may be under-trained. To train until it "
        f"converges, {fix}.",
        ConvergenceWarning,
        stacklevel=stacklevel,
    )


def train_network(
    source: GradientSource,
    settings: FitSettings,
    resolved: ResolvedSettings,
    n_inputs: int,
    n_outputs: int,
    rng: np.random.Generator,
    *,
    progress: bool | None = False,
) -> tuple[SigmoidNetwork, TrainingHistory]:
    """Draw initial weights and train them on ``source`` with the resolved settings.

    Parameters
    ----------
    source : GradientSource
    settings : FitSettings
        Validated; gives the architecture, initialisation and dtype.
    resolved : ResolvedSettings
    n_inputs, n_outputs : int
    rng : numpy.random.Generator
        Draws the initial weights, then shuffles mini-batches.
    progress : bool, optional
        Show a progress bar (``None``: only in interactive sessions); a source with a ``bars``
        attribute (streamed blocks) also gets a bar over the blocks of each pass.

    Returns
    -------
    network : SigmoidNetwork
        Holding the kept weights.
    history : TrainingHistory

    Raises
    ------
    TrainingDivergedError
        If the training loss becomes NaN or infinite.

    Examples
    --------
    >>> from xrann.core.arrays import ArraySource
    >>> settings = FitSettings(hidden=(3,), seed=0); settings.validate()
    >>> x = np.linspace(0, 1, 50)[:, None]; y = 0.2 + 0.5 * x + np.random.default_rng(1).normal(0, 0.01, (50, 1))
    >>> resolved = settings.resolve(1, 1, n_train=50, has_validation=False)
    >>> network, history = train_network(ArraySource((1, 3, 1), x, y), settings, resolved, 1, 1, np.random.default_rng(0))
    >>> network.sizes, history.converged
    ((1, 3, 1), True)
    """
    network = settings.initial_network(n_inputs, n_outputs, rng)
    workspace = GradientWorkspace(network.sizes, bias=settings.bias, dtype=settings.dtype)
    workspace.load(network)
    parameters = workspace.parameters.copy()
    optimizer = make_optimizer(resolved.optimizer, resolved.learning_rate, resolved.optimizer_options)
    bars = fit_progress(progress, resolved.epochs)
    if bars.shown and hasattr(source, "bars"):
        source.bars = bars
    try:
        # overflow on the way to a diverged fit is reported by TrainingDivergedError, not by warnings
        with np.errstate(over="ignore", invalid="ignore"):
            history = train(source, parameters, optimizer, resolved.schedule, rng=rng, progress=bars.end_epoch if bars.shown else None)
    finally:
        bars.close()
    workspace.parameters[...] = parameters
    workspace.store(network)
    return network, history
