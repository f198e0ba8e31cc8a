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
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, epochs=5)
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


def _kind(model: "Model") -> str:
    if model.ensemble is None:
        return model.method
    return f"{model.method} ensemble of {model.n_members} ({model.ensemble})"


def model_text(model: "Model") -> str:
    """One-line summary: method, formula, layers, samples, final loss.

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
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, epochs=5)
    >>> model_text(model)
    '<xrann.Model ann: co2_flux ~ soil_moisture, grain_size; layers 2 -> 4 -> 1; 3 training samples; final loss ...>'
    """
    losses = final_losses(model)
    text = (
        f"<xrann.Model {_kind(model)}: {model.target} ~ {', '.join(model.drivers)}; "
        f"layers {_architecture(model)}; {model.sample_counts.get('training', 0)} training samples; "
        f"final loss {losses['loss']:.3g}"
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
    >>> model = xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0, epochs=5)
    >>> page = model_html(model)
    >>> page.startswith("<div") and "soil_moisture" in page and "<details" in page
    True
    """
    settings = model.hyperparameters
    architecture_rows = [
        ["method", _kind(model)],
        ["layers", _architecture(model)],
        ["bias", str(settings.get("bias", ""))],
        ["optimizer", str(settings.get("optimizer", ""))],
        ["learning rate", str(settings.get("resolved_learning_rate", settings.get("learning_rate", "")))],
        ["epochs", str(settings.get("resolved_epochs", settings.get("epochs", "")))],
        ["batch size", str(settings.get("resolved_batch_size", settings.get("batch_size", "")))],
        ["dtype", model.dtype],
        ["seed", str(settings.get("seed", ""))],
    ]
    target_units = model.target_attrs.get("units", "")
    low, high = float(model.target_scaler.minimum[0]), float(model.target_scaler.maximum[0])
    target_rows = [[model.target, target_units, model.target_attrs.get("long_name", ""), _number(low), _number(high)]]
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
    if "loss" in model.history:
        loss_rows.append(["epochs run", str(int(np.isfinite(np.atleast_2d(model.history["loss"].values)).sum(axis=-1).max()))])
    if model.ensemble is not None:
        loss_rows.append(["(losses are means over members)", ""])
    columns = ["name", "units", "long name", "training min", "training max"]
    header = html.escape(f"xrann.Model: {model.target} ~ {', '.join(model.drivers)}")
    return (
        f"<div class='xrann-model'>{_STYLE}<div class='xrann-header'>{header}</div>"
        + _section("Architecture", _table(["", ""], architecture_rows))
        + _section(f"Target ({model.target})", _table(columns, target_rows))
        + _section(f"Drivers ({len(model.drivers)})", _table(columns, driver_rows))
        + _section("Samples", _table(["", ""], sample_rows))
        + _section("Losses (scaled target, MSE)", _table(["", ""], loss_rows))
        + _section("Version", _table(["", ""], [["xrann", model.version]]), open_=False)
        + "</div>"
    )
