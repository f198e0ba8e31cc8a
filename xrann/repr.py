"""Text and HTML summaries of a `Model`, for the console and for notebooks.

`model_text` is the one-line ``repr``; `model_html` is what Jupyter shows
(``Model._repr_html_``): collapsible sections in the manner of xarray's own
HTML repr, built from ``<details>`` elements so they work without JavaScript.
Every piece of text from the model is escaped with `html.escape`.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model

__all__ = ["model_text", "model_html"]

_STYLE = """<style>
.xrann-model {font-family: var(--jp-code-font-family, monospace); font-size: 13px; line-height: 1.4;
  color: var(--jp-content-font-color0, inherit); max-width: 60em;}
.xrann-model .xrann-header {font-weight: bold; padding: 2px 0 4px 0;
  border-bottom: 1px solid var(--jp-border-color2, #e0e0e0);}
.xrann-model details {margin: 2px 0;}
.xrann-model summary {cursor: pointer; font-weight: bold; color: var(--jp-content-font-color2, #555);}
.xrann-model table {border-collapse: collapse; margin: 2px 0 4px 1.2em;}
.xrann-model td, .xrann-model th {padding: 1px 10px 1px 0; text-align: left; border: none;}
.xrann-model th {color: var(--jp-content-font-color2, #555); font-weight: normal; font-style: italic;}
</style>"""


def _architecture(model: "Model") -> str:
    sizes = getattr(model.core, "sizes", None)
    return " -> ".join(map(str, sizes)) if sizes else model.method


def final_losses(model: "Model") -> dict[str, float]:
    """Training loss of the last epoch and the best validation loss (mean over ensemble members).

    Parameters
    ----------
    model : Model

    Returns
    -------
    dict
        ``"loss"`` and, when there was a validation set, ``"val_loss"``; NaN when unknown.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, progress=False)
    >>> sorted(final_losses(model))
    ['loss']
    """
    losses: dict[str, float] = {"loss": float("nan")}
    history = model.history
    if "loss" in history:
        loss = np.asarray(history["loss"].values, dtype=np.float64)
        loss = loss.reshape(-1, loss.shape[-1]) if loss.ndim else loss.reshape(1, 1)
        last = [row[np.isfinite(row)][-1] for row in loss if np.isfinite(row).any()]
        losses["loss"] = float(np.mean(last)) if last else float("nan")
    if "val_loss" in history:
        val_loss = np.asarray(history["val_loss"].values, dtype=np.float64)
        val_loss = val_loss.reshape(-1, val_loss.shape[-1])
        best = [np.nanmin(row) for row in val_loss if np.isfinite(row).any()]
        losses["val_loss"] = float(np.mean(best)) if best else float("nan")
    return losses


def _epochs_run(model: "Model") -> int | None:
    """Epochs actually run (the most of any ensemble member); None without a loss history."""
    if "loss" not in model.history:
        return None
    return int(np.isfinite(np.atleast_2d(model.history["loss"].values)).sum(axis=-1).max())


def _convergence(model: "Model") -> str | None:
    """``"converged"``, ``"not converged"``, ``"k of n members converged"``, or None when the file does not say."""
    history = model.history
    if "converged" in history.data_vars:  # ensembles: one flag per member
        flags = np.asarray(history["converged"].values, dtype=bool).reshape(-1)
        return f"{int(flags.sum())} of {flags.size} members converged"
    if "converged" in history.attrs:
        return "converged" if int(history.attrs["converged"]) else "not converged"
    return None


def _optimizer(model: "Model") -> str:
    """The optimiser that trained the model (what ``"auto"`` resolved to), as recorded in the file."""
    settings = model.hyperparameters
    return str(settings.get("resolved_optimizer", settings.get("optimizer", "")))


def _training(model: "Model") -> str | None:
    """``"lm, 13 epochs, converged"``: how a network was trained; None for the linear baseline."""
    if model.method == "linear":
        return None
    parts = [_optimizer(model)]
    epochs = _epochs_run(model)
    if epochs is not None:
        parts.append(f"{epochs} epoch{'s' if epochs != 1 else ''}")
    convergence = _convergence(model)
    if convergence is not None:
        parts.append(convergence)
    return ", ".join(part for part in parts if part)


def _kind(model: "Model") -> str:
    if model.ensemble is None:
        return model.method
    return f"{model.method} ensemble of {model.n_members} ({model.ensemble})"


def model_text(model: "Model") -> str:
    """One-line summary: method, formula, layers, samples, how training went, final loss.

    How training went is the optimiser used (what ``optimizer="auto"``
    resolved to), the epochs run and whether training converged.

    Parameters
    ----------
    model : Model

    Returns
    -------
    str
        ``<xrann.Model ...>`` on one line.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, progress=False)
    >>> model_text(model)
    '<xrann.Model ann: co2_flux ~ soil_moisture, grain_size; layers 2 -> 4 -> 1; 3 training samples; lm, ... epochs, converged; final loss ...>'
    """
    losses = final_losses(model)
    training = _training(model)
    text = (
        f"<xrann.Model {_kind(model)}: {' + '.join(model.targets)} ~ {', '.join(model.drivers)}; "
        f"layers {_architecture(model)}; {model.sample_counts.get('training', 0)} training samples; "
        + (f"{training}; " if training else "")
        + f"final loss {losses['loss']:.3g}"
    )
    if "val_loss" in losses:
        text += f", best validation loss {losses['val_loss']:.3g}"
    return text + ">"


def _number(value: float) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.4g}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _section(title: str, content: str, open_: bool = True) -> str:
    return f"<details{' open' if open_ else ''}><summary>{html.escape(title)}</summary>{content}</details>"


def model_html(model: "Model") -> str:
    """HTML summary of a model for notebooks: architecture, target, drivers, samples, losses.

    Parameters
    ----------
    model : Model

    Returns
    -------
    str
        A self-contained ``<div>`` with its own ``<style>``; all model text escaped.

    Examples
    --------
    >>> import xrann
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, progress=False)
    >>> page = model_html(model)
    >>> page.startswith("<div") and "soil_moisture" in page and "<details" in page
    True
    """
    settings = model.hyperparameters
    architecture_rows = [
        ["method", _kind(model)],
        ["layers", _architecture(model)],
        ["bias", str(settings.get("bias", ""))],
    ]
    if model.method != "linear":
        optimizer = _optimizer(model)
        if settings.get("optimizer") == "auto" and "resolved_optimizer" in settings:
            optimizer += " (optimizer='auto')"
        learning_rate = settings.get("resolved_learning_rate", settings.get("learning_rate"))
        batch_size = settings.get("resolved_batch_size", settings.get("batch_size"))
        architecture_rows += [
            ["optimizer", optimizer],
            ["learning rate", f"none (steps chosen by {_optimizer(model)})" if learning_rate is None else str(learning_rate)],
            ["epochs (limit)", str(settings.get("resolved_epochs", settings.get("epochs", "")))],
            ["batch size", "full batch" if batch_size is None else str(batch_size)],
        ]
    architecture_rows += [["dtype", model.dtype], ["seed", str(settings.get("seed", ""))]]
    target_rows = []
    for column, name in enumerate(model.targets):
        attrs = model.attrs_of_target(name)
        low, high = float(model.target_scaler.minimum[column]), float(model.target_scaler.maximum[column])
        target_rows.append([name, attrs.get("units", ""), attrs.get("long_name", ""), _number(low), _number(high)])
    driver_rows = [
        [
            name,
            model.driver_attrs.get(name, {}).get("units", ""),
            model.driver_attrs.get(name, {}).get("long_name", ""),
            _number(minimum),
            _number(maximum),
        ]
        for name, (minimum, maximum) in model.driver_ranges.items()
    ]
    sample_rows = [[key.replace("_", " "), str(value)] for key, value in model.sample_counts.items()]
    losses = final_losses(model)
    loss_rows = [["final training loss", _number(losses["loss"])]]
    if "val_loss" in losses:
        loss_rows.append(["best validation loss", _number(losses["val_loss"])])
    epochs = _epochs_run(model)
    if epochs is not None and model.method != "linear":
        loss_rows.append(["epochs run", str(epochs)])
    convergence = _convergence(model)
    if convergence is not None and model.method != "linear":
        loss_rows.append(["converged", {"converged": "yes", "not converged": "no"}.get(convergence, convergence)])
    if model.history.attrs.get("stop_reason"):
        loss_rows.append(["stopped", str(model.history.attrs["stop_reason"])])
    if model.ensemble is not None:
        loss_rows.append(["(losses are means over members)", ""])
    columns = ["name", "units", "long name", "training min", "training max"]
    header = html.escape(f"xrann.Model: {' + '.join(model.targets)} ~ {', '.join(model.drivers)}")
    return (
        f"<div class='xrann-model'>{_STYLE}<div class='xrann-header'>{header}</div>"
        + _section("Architecture", _table(["", ""], architecture_rows))
        + _section(f"Target ({', '.join(model.targets)})" if len(model.targets) == 1 else f"Targets ({', '.join(model.targets)})", _table(columns, target_rows))
        + _section(f"Drivers ({len(model.drivers)})", _table(columns, driver_rows))
        + _section("Samples", _table(["", ""], sample_rows))
        + _section("Losses (scaled target, MSE)", _table(["", ""], loss_rows))
        + _section("Version", _table(["", ""], [["xrann", model.version]]), open_=False)
        + "</div>"
    )
