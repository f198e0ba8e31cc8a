"""A fully connected sigmoid network in plain numpy.

This module knows nothing of xarray or dask. A network is a list of weight
matrices and (optionally) a list of bias vectors; the forward pass, the loss
and the backward pass are separate functions over those lists, so optimisers
and training loops can be swapped without touching the maths.

Shapes follow the convention ``X @ W + b``: a layer mapping ``n_in`` to
``n_out`` nodes has weights of shape ``(n_in, n_out)`` and a bias of shape
``(n_out,)``. Every layer, hidden and output, uses the logistic sigmoid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "SigmoidNetwork",
    "sigmoid",
    "layer_sizes",
    "initialize",
    "forward",
    "mse_loss",
    "loss_and_gradients",
    "loss_scale",
    "WEIGHT_INITS",
    "LOSSES",
]

WEIGHT_INITS = ("xavier", "uniform")
LOSSES = ("mse", "sse")
#: rows per forward/backward pass in full-batch gradients: the activations of a
#: small network over this many samples stay in the CPU's L2 cache
DEFAULT_BLOCK_SIZE = 8192


def sigmoid(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-x))`` without overflow.

    Uses the identity ``sigmoid(x) = 0.5 * (1 + tanh(x / 2))``, which is exact,
    never overflows for large ``|x|`` and keeps the input's floating dtype.

    Parameters
    ----------
    values : numpy.ndarray
        Pre-activations.
    out : numpy.ndarray, optional
        Array to write the result into (may be ``values`` itself).

    Returns
    -------
    numpy.ndarray
        Activations in ``[0, 1]``.

    Examples
    --------
    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    """
    out = np.multiply(values, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


@dataclass
class SigmoidNetwork:
    """Weights and biases of a fully connected sigmoid network.

    Parameters
    ----------
    weights : list of numpy.ndarray
        One ``(n_in, n_out)`` matrix per layer, input layer first.
    biases : list of numpy.ndarray or None
        One ``(n_out,)`` vector per layer, or ``None`` for a network without
        bias terms (the original teaching recipe).

    Examples
    --------
    >>> net = initialize(layer_sizes(2, (4,), 1), rng=np.random.default_rng(0))
    >>> [w.shape for w in net.weights]
    [(2, 4), (4, 1)]
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray] | None = field(default=None)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of nodes per layer, input and output included."""
        return (self.weights[0].shape[0],) + tuple(w.shape[1] for w in self.weights)

    @property
    def dtype(self) -> np.dtype:
        """Floating dtype of the parameters."""
        return self.weights[0].dtype

    @property
    def parameters(self) -> list[np.ndarray]:
        """All trainable arrays, weights first then biases (views, not copies)."""
        return list(self.weights) + (list(self.biases) if self.biases is not None else [])

    def copy(self) -> "SigmoidNetwork":
        """Return a deep copy of the parameters."""
        return SigmoidNetwork(
            [w.copy() for w in self.weights],
            None if self.biases is None else [b.copy() for b in self.biases],
        )

    def set_parameters(self, values: Sequence[np.ndarray]) -> None:
        """Overwrite every parameter in place with ``values`` (same order as `parameters`)."""
        for target, value in zip(self.parameters, values, strict=True):
            target[...] = value

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Output activations for scaled inputs of shape ``(n_samples, n_inputs)``.

        Many samples are pushed through in cache-sized blocks, so the
        activations of only one block are held at a time; the numbers are
        those of `forward`, in the dtype ``forward`` would give.
        """
        inputs = np.asarray(inputs)
        if inputs.ndim != 2 or inputs.shape[0] < 2 * DEFAULT_BLOCK_SIZE:
            return forward(self, inputs)[-1]
        dtype = np.result_type(inputs.dtype, self.dtype)
        result = np.empty((inputs.shape[0], self.sizes[-1]), dtype=dtype)
        for start in range(0, inputs.shape[0], DEFAULT_BLOCK_SIZE):
            result[start : start + DEFAULT_BLOCK_SIZE] = forward(self, inputs[start : start + DEFAULT_BLOCK_SIZE])[-1]
        return result

    def select_outputs(self, columns: Sequence[int]) -> "SigmoidNetwork":
        """The network restricted to some output nodes: the last layer's columns, every other layer shared.

        Outputs do not feed one another, so the result computes those columns of
        `predict` (to rounding: the last matrix product has another shape).

        Examples
        --------
        >>> net = initialize((2, 3, 2), rng=np.random.default_rng(0))
        >>> x = np.random.default_rng(1).random((4, 2))
        >>> np.allclose(net.select_outputs([1]).predict(x), net.predict(x)[:, [1]], rtol=1e-13)
        True
        """
        columns = list(columns)
        weights = [*self.weights[:-1], self.weights[-1][:, columns]]
        biases = None if self.biases is None else [*self.biases[:-1], self.biases[-1][columns]]
        return SigmoidNetwork(weights, biases)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Parameters by name (``weight_0``, ..., ``bias_0``, ...) for storage."""
        arrays = {f"weight_{i}": w for i, w in enumerate(self.weights)}
        if self.biases is not None:
            arrays.update({f"bias_{i}": b for i, b in enumerate(self.biases)})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "SigmoidNetwork":
        """Rebuild a network from `to_arrays` output.

        Examples
        --------
        >>> net = initialize((2, 3, 1), rng=np.random.default_rng(0))
        >>> SigmoidNetwork.from_arrays(net.to_arrays()).sizes
        (2, 3, 1)
        """
        n_layers = sum(1 for key in arrays if key.startswith("weight_"))
        weights = [np.asarray(arrays[f"weight_{i}"]) for i in range(n_layers)]
        biases = [np.asarray(arrays[f"bias_{i}"]) for i in range(n_layers)] if "bias_0" in arrays else None
        return cls(weights, biases)


def layer_sizes(n_inputs: int, hidden: Sequence[int], n_outputs: int = 1) -> tuple[int, ...]:
    """Node counts of every layer, validated.

    Parameters
    ----------
    n_inputs : int
        Number of drivers.
    hidden : sequence of int
        Nodes per hidden layer, e.g. ``(4,)``.
    n_outputs : int, default 1
        Number of predicted variables.

    Returns
    -------
    tuple of int

    Raises
    ------
    ValueError
        If any layer would have fewer than one node.

    Examples
    --------
    >>> layer_sizes(3, (4,))
    (3, 4, 1)
    """
    hidden = tuple(hidden)
    if len(hidden) == 0:
        raise ValueError(
            "hidden=() gives a network without a hidden layer; pass at least one layer, e.g. hidden=(4,)."
        )
    sizes = (int(n_inputs),) + tuple(int(h) for h in hidden) + (int(n_outputs),)
    if any(size < 1 for size in sizes):
        raise ValueError(f"every layer needs at least one node; got layer sizes {sizes} from hidden={hidden}.")
    return sizes


def initialize(
    sizes: Sequence[int],
    *,
    rng: np.random.Generator,
    bias: bool = True,
    init: str = "xavier",
    dtype: np.dtype | str = "float64",
) -> SigmoidNetwork:
    """Draw initial weights for a network with the given layer sizes.

    Parameters
    ----------
    sizes : sequence of int
        Node counts, input layer first (see `layer_sizes`).
    rng : numpy.random.Generator
        Source of randomness; the same seed gives identical weights.
    bias : bool, default True
        Whether layers have bias terms (initialised to zero).
    init : {"xavier", "uniform"}
        ``"xavier"`` draws from ``U(-a, a)`` with ``a = sqrt(6 / (n_in + n_out))``
        (Glorot and Bengio 2010, suited to sigmoid units). ``"uniform"`` draws
        from ``U(0, 1)``, the original teaching recipe.
    dtype : str or numpy.dtype, default "float64"

    Returns
    -------
    SigmoidNetwork

    Raises
    ------
    ValueError
        For an unknown ``init``.

    Examples
    --------
    >>> net = initialize((2, 4, 1), rng=np.random.default_rng(0), init="uniform", bias=False)
    >>> bool((net.weights[0] >= 0).all() and (net.weights[0] < 1).all()), net.biases
    (True, None)
    """
    if init not in WEIGHT_INITS:
        raise ValueError(f"init={init!r} is not known; choose one of {WEIGHT_INITS}.")
    dtype = np.dtype(dtype)
    weights = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        if init == "xavier":
            limit = np.sqrt(6.0 / (n_in + n_out))
            drawn = rng.uniform(-limit, limit, size=(n_in, n_out))
        else:
            drawn = rng.random(size=(n_in, n_out))
        weights.append(drawn.astype(dtype))
    biases = [np.zeros(n_out, dtype=dtype) for n_out in sizes[1:]] if bias else None
    return SigmoidNetwork(weights, biases)


def forward(network: SigmoidNetwork, inputs: np.ndarray) -> list[np.ndarray]:
    """Activations of every layer, the inputs first and the output last.

    Parameters
    ----------
    network : SigmoidNetwork
    inputs : numpy.ndarray
        Scaled drivers, shape ``(n_samples, n_inputs)``.

    Returns
    -------
    list of numpy.ndarray
        ``[inputs, hidden_1, ..., output]``.

    Examples
    --------
    >>> net = initialize((2, 3, 1), rng=np.random.default_rng(0))
    >>> [a.shape for a in forward(net, np.zeros((5, 2)))]
    [(5, 2), (5, 3), (5, 1)]
    """
    activations = [inputs]
    for index, weight in enumerate(network.weights):
        pre_activation = activations[-1] @ weight
        if network.biases is not None:
            pre_activation += network.biases[index]
        activations.append(sigmoid(pre_activation, out=pre_activation))
    return activations


def mse_loss(predicted: np.ndarray, observed: np.ndarray) -> float:
    """Mean squared error over all samples and outputs.

    Parameters
    ----------
    predicted, observed : numpy.ndarray
        Arrays of the same shape.

    Returns
    -------
    float

    Examples
    --------
    >>> mse_loss(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]]))
    2.5
    """
    residual = predicted - observed
    return float(np.mean(residual * residual))


def loss_and_gradients(
    network: SigmoidNetwork,
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    loss: str = "mse",
) -> tuple[float, list[np.ndarray]]:
    """Loss and its gradient with respect to every parameter (backpropagation).

    Parameters
    ----------
    network : SigmoidNetwork
    inputs : numpy.ndarray
        Scaled drivers, shape ``(n_samples, n_inputs)``.
    targets : numpy.ndarray
        Scaled targets, shape ``(n_samples, n_outputs)``.
    loss : {"mse", "sse"}, default "mse"
        ``"mse"`` is the mean of squared errors; ``"sse"`` their sum, which is
        the loss of the original teaching recipe (its gradient grows with the
        number of samples).

    Returns
    -------
    loss_value : float
    gradients : list of numpy.ndarray
        Same order and shapes as ``network.parameters``.

    Raises
    ------
    ValueError
        For an unknown ``loss``.

    Examples
    --------
    >>> net = initialize((2, 3, 1), rng=np.random.default_rng(0))
    >>> value, grads = loss_and_gradients(net, np.ones((4, 2)), np.zeros((4, 1)))
    >>> [g.shape for g in grads]
    [(2, 3), (3, 1), (3,), (1,)]
    """
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not known; choose one of {LOSSES}.")
    activations = forward(network, inputs)
    output = activations[-1]
    residual = output - targets
    n_terms = residual.size if loss == "mse" else 1
    loss_value = float(np.sum(residual * residual) / n_terms)

    # delta = dLoss/d(pre-activation) of the current layer; sigmoid' = a (1 - a)
    delta = residual * (2.0 / n_terms)
    delta *= output * (1.0 - output)
    n_layers = len(network.weights)
    weight_gradients: list[np.ndarray] = [None] * n_layers  # type: ignore[list-item]
    bias_gradients: list[np.ndarray] = [None] * n_layers  # type: ignore[list-item]
    for layer in range(n_layers - 1, -1, -1):
        weight_gradients[layer] = activations[layer].T @ delta
        bias_gradients[layer] = delta.sum(axis=0)
        if layer > 0:
            previous = activations[layer]
            delta = delta @ network.weights[layer].T
            delta *= previous * (1.0 - previous)
    gradients = weight_gradients + (bias_gradients if network.biases is not None else [])
    return loss_value, gradients


def loss_scale(n_samples: int, n_outputs: int, loss: str = "mse") -> float:
    """Factor turning the residual into the loss gradient: ``2 / n_terms`` for MSE, ``2`` for SSE.

    Parameters
    ----------
    n_samples : int
        Samples the loss is averaged over (all of them for a full-batch gradient).
    n_outputs : int
        Output nodes.
    loss : {"mse", "sse"}, default "mse"

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For an unknown ``loss``.

    Examples
    --------
    >>> loss_scale(4, 1), loss_scale(4, 1, "sse")
    (0.5, 2.0)
    """
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not known; choose one of {LOSSES}.")
    return 2.0 / (n_samples * n_outputs) if loss == "mse" else 2.0
