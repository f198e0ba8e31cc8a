"""Training histories as Datasets (dim ``epoch``; ``(member, epoch)`` for ensembles), stored in the model file."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..core.engine import TrainingHistory
from .settings import history_attrs

__all__ = ["history_to_dataset", "members_history"]


def history_to_dataset(history: TrainingHistory) -> xr.Dataset:
    """The loss history as a Dataset with dim ``epoch``.

    Parameters
    ----------
    history : TrainingHistory
        As the epoch engine (`xrann.core.engine.train`) returns it.

    Returns
    -------
    xarray.Dataset
        ``loss`` (and ``val_loss`` when there was validation) over ``epoch``;
        the attributes say how training ended (``best_epoch``,
        ``stopped_early``, ``converged``, ``stop_reason``,
        ``training_seconds``).

    Examples
    --------
    >>> history_to_dataset(TrainingHistory(loss=[0.3, 0.2], val_loss=[0.4, 0.3], best_epoch=1))["val_loss"].values
    array([0.4, 0.3])
    """
    epochs = np.arange(len(history.loss))
    data_vars = {"loss": ("epoch", np.asarray(history.loss, dtype=np.float64), {"long_name": "training loss (MSE of scaled target)"})}
    if history.val_loss:
        data_vars["val_loss"] = ("epoch", np.asarray(history.val_loss, dtype=np.float64), {"long_name": "validation loss (MSE of scaled target)"})
    return xr.Dataset(data_vars, coords={"epoch": epochs}, attrs=history_attrs(history))


def members_history(histories: Sequence[TrainingHistory]) -> xr.Dataset:
    """The members' histories over ``(member, epoch)`` (NaN after a member stopped), how each ended per member.

    Parameters
    ----------
    histories : sequence of TrainingHistory
        One per ensemble member, in member order.

    Returns
    -------
    xarray.Dataset
        ``loss`` (and ``val_loss``) over ``(member, epoch)``, padded with NaN
        after a member stopped, and ``best_epoch``, ``stopped_early``,
        ``converged`` and ``training_seconds`` over ``member``.

    Examples
    --------
    >>> members_history([TrainingHistory(loss=[0.3, 0.2], best_epoch=1), TrainingHistory(loss=[0.4], best_epoch=0)])["loss"].shape
    (2, 2)
    """
    per_member = []
    for history in histories:
        member = history_to_dataset(history)
        for key in ("best_epoch", "stopped_early", "converged", "training_seconds"):
            member[key] = ((), member.attrs.pop(key))
        member.attrs.pop("stop_reason")
        per_member.append(member)
    combined = xr.concat(per_member, dim="member", join="outer", combine_attrs="drop")
    return combined.assign_coords(member=np.arange(len(per_member)))
