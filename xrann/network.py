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
    "GradientWorkspace",
    "augment_inputs",
    "blocked_loss_and_gradients",
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

        Many samples are pushed through in cache-sized blocks (`GradientWorkspace.predict`);
        the numbers are those of `forward`, in the dtype ``forward`` would give.
        """
        inputs = np.asarray(inputs)
        if inputs.ndim != 2 or inputs.shape[0] < 2 * DEFAULT_BLOCK_SIZE:
            return forward(self, inputs)[-1]
        dtype = np.result_type(inputs.dtype, self.dtype)
        workspace = GradientWorkspace(self.sizes, bias=self.biases is not None, dtype=dtype)
        workspace.load(self)
        return workspace.predict(inputs)

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


def augment_inputs(inputs: np.ndarray, *, bias: bool = True, dtype: np.dtype | str | None = None) -> np.ndarray:
    """Copy ``inputs`` into a C-ordered matrix with a trailing column of ones when ``bias``.

    With the ones column, a layer's bias is the last row of its augmented
    weight matrix, so one matrix product applies weights and bias together
    (the layout `GradientWorkspace` works in).

    Parameters
    ----------
    inputs : numpy.ndarray
        Scaled drivers ``(n_samples, n_inputs)``.
    bias : bool, default True
        Whether to append the ones column.
    dtype : str or numpy.dtype, optional
        Dtype of the copy; defaults to that of ``inputs``.

    Returns
    -------
    numpy.ndarray
        ``(n_samples, n_inputs + bias)``.

    Examples
    --------
    >>> augment_inputs(np.array([[0.5, 0.25]]))
    array([[0.5 , 0.25, 1.  ]])
    """
    inputs = np.asarray(inputs)
    dtype = inputs.dtype if dtype is None else np.dtype(dtype)
    augmented = np.empty((inputs.shape[0], inputs.shape[1] + int(bias)), dtype=dtype)
    augmented[:, : inputs.shape[1]] = inputs
    if bias:
        augmented[:, -1] = 1.0
    return augmented


class GradientWorkspace:
    """Preallocated buffers for many forward/backward passes of one network shape.

    The training hot loop runs here. All parameters live in one flat vector
    (`parameters`) and all gradients in another (`gradient`), so an optimiser
    updates the whole network with a handful of vectorised operations. Layer
    ``l`` is stored as one augmented matrix ``(n_in + 1, n_out)`` whose last
    row is the bias; inputs carry a trailing ones column (`augment_inputs`),
    so weights and bias act in one matrix product. Activations are kept
    features-first, ``(n_nodes, n_samples)``, in buffers reused for every
    batch, and every operation writes in place: no arrays are allocated per
    batch and nothing is upcast (float32 in, float32 throughout).

    Parameters
    ----------
    sizes : sequence of int
        Node counts, input layer first (see `layer_sizes`).
    bias : bool, default True
        Whether layers have bias terms.
    dtype : str or numpy.dtype, default "float64"
    block_size : int, default 8192
        Most samples handled in one pass; larger inputs are processed in
        blocks of this many rows (cache-sized for small networks).

    Attributes
    ----------
    parameters : numpy.ndarray
        Flat vector of every weight and bias.
    gradient : numpy.ndarray
        Flat vector, same layout, written by `batch_gradient` and `accumulate`.
    network : SigmoidNetwork
        A network whose weights and biases are views into `parameters`.

    Examples
    --------
    >>> net = initialize((2, 3, 1), rng=np.random.default_rng(0))
    >>> workspace = GradientWorkspace(net.sizes, block_size=4)
    >>> workspace.load(net)
    >>> x, y = np.random.default_rng(1).random((10, 2)), np.zeros((10, 1))
    >>> sse = workspace.accumulate(augment_inputs(x), y, loss_scale(10, 1))
    >>> value, gradients = loss_and_gradients(net, x, y)
    >>> bool(np.isclose(sse / 10, value)), all(np.allclose(a, b) for a, b in zip(workspace.gradients(), gradients))
    (True, True)
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        bias: bool = True,
        dtype: np.dtype | str = "float64",
        block_size: int = DEFAULT_BLOCK_SIZE,
    ) -> None:
        self.sizes = tuple(int(s) for s in sizes)
        self.bias = bool(bias)
        self.dtype = np.dtype(dtype)
        self.block_size = max(1, int(block_size))
        shapes = [(n_in + self.bias, n_out) for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:])]
        n_parameters = sum(rows * cols for rows, cols in shapes)
        self.parameters = np.zeros(n_parameters, dtype=self.dtype)
        self.gradient = np.zeros(n_parameters, dtype=self.dtype)
        self._layers = self._split(self.parameters, shapes)
        self._layer_gradients = self._split(self.gradient, shapes)
        n_inputs = self.sizes[:-1]
        self.network = SigmoidNetwork(
            [layer[:n_in] for layer, n_in in zip(self._layers, n_inputs)],
            [layer[n_in] for layer, n_in in zip(self._layers, n_inputs)] if self.bias else None,
        )
        # weights without the bias row, transposed once: used to push deltas back
        self._weights = [layer[:n_in] for layer, n_in in zip(self._layers, n_inputs)]
        nodes = self.sizes[1:]
        # one flat buffer per layer; `_views` reshapes its head to (n_nodes [+1], n_samples)
        self._activation_buffers = [np.empty((n + self.bias) * self.block_size, self.dtype) for n in nodes[:-1]]
        self._output_buffer = np.empty(nodes[-1] * self.block_size, self.dtype)
        self._delta_buffers = [np.empty(n * self.block_size, self.dtype) for n in nodes]
        self._scratch_buffers = [np.empty(n * self.block_size, self.dtype) for n in nodes]
        self._view_cache: dict[int, tuple] = {}
        self._ones_for = -1
        self._accumulated = np.zeros(n_parameters, dtype=self.dtype)
        self._layers_t = [layer.T for layer in self._layers]
        self._half = np.array(0.5, dtype=self.dtype)
        self._one = np.array(1.0, dtype=self.dtype)
        self._scale = np.array(1.0, dtype=self.dtype)
        self._scale_value = 1.0

    @staticmethod
    def _split(flat: np.ndarray, shapes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
        views, start = [], 0
        for rows, cols in shapes:
            views.append(flat[start : start + rows * cols].reshape(rows, cols))
            start += rows * cols
        return views

    def _views(self, n_rows: int) -> tuple:
        views = self._view_cache.get(n_rows)
        if views is None:
            if len(self._view_cache) > 8:
                self._view_cache.clear()
            nodes = self.sizes[1:]
            activations = [buf[: (n + self.bias) * n_rows].reshape(n + self.bias, n_rows) for n, buf in zip(nodes, self._activation_buffers)]
            output = self._output_buffer[: nodes[-1] * n_rows].reshape(nodes[-1], n_rows)
            deltas = [buf[: n * n_rows].reshape(n, n_rows) for n, buf in zip(nodes, self._delta_buffers)]
            scratch = [buf[: n * n_rows].reshape(n, n_rows) for n, buf in zip(nodes, self._scratch_buffers)]
            # pre-activations are written into the node rows of the activation buffers
            nodes_only = [a[:n] for a, n in zip(activations, nodes)]
            views = (activations, nodes_only, output, deltas, scratch)
            self._view_cache[n_rows] = views
        if self.bias and self._ones_for != n_rows:
            for activation in views[0]:
                activation[-1] = 1.0
            self._ones_for = n_rows
        return views

    def load(self, network: SigmoidNetwork) -> None:
        """Copy ``network``'s parameters into the workspace."""
        if network.sizes != self.sizes or (network.biases is not None) != self.bias:
            raise ValueError(f"the workspace is for layer sizes {self.sizes} (bias={self.bias}), got {network.sizes}.")
        self.network.set_parameters(network.parameters)

    def store(self, network: SigmoidNetwork) -> None:
        """Copy the workspace's parameters into ``network`` (in place)."""
        network.set_parameters(self.network.parameters)

    def gradients(self) -> list[np.ndarray]:
        """The gradient as views shaped and ordered like ``network.parameters``."""
        n_inputs = self.sizes[:-1]
        weights = [g[:n_in] for g, n_in in zip(self._layer_gradients, n_inputs)]
        biases = [g[n_in] for g, n_in in zip(self._layer_gradients, n_inputs)] if self.bias else []
        return weights + biases

    def _forward(self, inputs: np.ndarray, n_rows: int) -> np.ndarray:
        activations, nodes_only, output, _, _ = self._views(n_rows)
        half = self._half
        multiply, add, tanh, matmul = np.multiply, np.add, np.tanh, np.matmul
        previous = inputs.T
        last = len(self._layers) - 1
        for index, layer in enumerate(self._layers):
            target = output if index == last else nodes_only[index]
            matmul(self._layers_t[index], previous, target)
            # sigmoid(z) = 0.5 + 0.5 tanh(z / 2), in place; 0-d constants of the workspace
            # dtype keep float32 float32 and are cheaper for numpy than Python floats
            multiply(target, half, target)
            tanh(target, target)
            multiply(target, half, target)
            add(target, half, target)
            if index < last:
                previous = activations[index]
        return output

    def batch_gradient(self, inputs: np.ndarray, targets: np.ndarray, scale: float) -> float:
        """Sum of squared errors of one batch; its loss gradient is written to `gradient`.

        Parameters
        ----------
        inputs : numpy.ndarray
            Augmented inputs ``(m, n_inputs + bias)`` (see `augment_inputs`) with ``m <= block_size``.
        targets : numpy.ndarray
            ``(m, n_outputs)``.
        scale : float
            Gradient factor from `loss_scale` (``2 / n_terms`` for MSE).

        Returns
        -------
        float
            Sum of squared residuals over the batch.
        """
        n_rows = inputs.shape[0]
        output = self._forward(inputs, n_rows)
        activations, nodes_only, _, deltas, scratch = self._views(n_rows)
        multiply, subtract, matmul = np.multiply, np.subtract, np.matmul
        one = self._one
        if scale != self._scale_value:
            self._scale[...] = scale
            self._scale_value = scale
        delta, factor = deltas[-1], scratch[-1]
        subtract(output, targets.T, delta)
        sse = float(np.vdot(delta, delta))
        # delta = scale * residual * output * (1 - output)
        subtract(one, output, factor)
        multiply(factor, output, factor)
        multiply(factor, self._scale, factor)
        multiply(delta, factor, delta)
        for index in range(len(self._layers) - 1, -1, -1):
            below = inputs.T if index == 0 else activations[index - 1]
            matmul(below, delta.T, self._layer_gradients[index])
            if index > 0:
                hidden, factor = nodes_only[index - 1], scratch[index - 1]
                delta_below = deltas[index - 1]
                matmul(self._weights[index], delta, delta_below)
                subtract(one, hidden, factor)
                multiply(factor, hidden, factor)
                multiply(delta_below, factor, delta_below)
                delta = delta_below
        return sse

    def accumulate(self, inputs: np.ndarray, targets: np.ndarray, scale: float, out: np.ndarray | None = None) -> float:
        """Gradient summed over any number of samples, processed in blocks of `block_size` rows.

        Parameters
        ----------
        inputs : numpy.ndarray
            Augmented inputs ``(n, n_inputs + bias)``.
        targets : numpy.ndarray
            ``(n, n_outputs)``.
        scale : float
            Gradient factor from `loss_scale` for the *whole* sample set the
            gradient is meant for (which may span several calls).
        out : numpy.ndarray, optional
            Flat vector the gradient is added to; by default `gradient` is
            overwritten with it.

        Returns
        -------
        float
            Sum of squared residuals over the ``n`` samples.
        """
        total = self._accumulated if out is None else out
        if out is None:
            total[...] = 0.0
        sse = 0.0
        for start in range(0, inputs.shape[0], self.block_size):
            stop = start + self.block_size
            sse += self.batch_gradient(inputs[start:stop], targets[start:stop], scale)
            np.add(total, self.gradient, out=total)
        if out is None:
            self.gradient[...] = total
        return sse

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Network outputs ``(n, n_outputs)`` for plain (not augmented) scaled inputs ``(n, n_inputs)``, block by block."""
        n_inputs, n_outputs = self.sizes[0], self.sizes[-1]
        result = np.empty((inputs.shape[0], n_outputs), dtype=self.dtype)
        block = np.empty((self.block_size, n_inputs + self.bias), dtype=self.dtype)
        if self.bias:
            block[:, -1] = 1.0
        for start in range(0, inputs.shape[0], self.block_size):
            rows = inputs[start : start + self.block_size]
            augmented = block[: rows.shape[0]]
            augmented[:, :n_inputs] = rows
            result[start : start + rows.shape[0]] = self._forward(augmented, rows.shape[0]).T
        return result

    def sum_squared_error(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        """Sum of squared residuals over augmented ``inputs``, forward passes only, in blocks."""
        sse = 0.0
        for start in range(0, inputs.shape[0], self.block_size):
            block = inputs[start : start + self.block_size]
            output = self._forward(block, block.shape[0])
            residual = self._views(block.shape[0])[3][-1]
            np.subtract(output, targets[start : start + self.block_size].T, out=residual)
            sse += float(np.vdot(residual, residual))
        return sse


def blocked_loss_and_gradients(
    network: SigmoidNetwork,
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    loss: str = "mse",
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> tuple[float, list[np.ndarray]]:
    """`loss_and_gradients` computed over cache-sized blocks of samples with a `GradientWorkspace`.

    Same results (to rounding) as `loss_and_gradients`, much faster for many
    samples; the full-batch gradient of a million samples never allocates
    more than one block's activations.

    Parameters
    ----------
    network : SigmoidNetwork
    inputs : numpy.ndarray
        Scaled drivers ``(n_samples, n_inputs)``.
    targets : numpy.ndarray
        Scaled targets ``(n_samples, n_outputs)``.
    loss : {"mse", "sse"}
    block_size : int, default 8192

    Returns
    -------
    loss_value : float
    gradients : list of numpy.ndarray
        Same order, shapes and dtype as ``network.parameters``.

    Examples
    --------
    >>> net = initialize((2, 3, 1), rng=np.random.default_rng(0))
    >>> x, y = np.ones((5, 2)), np.zeros((5, 1))
    >>> bool(np.isclose(blocked_loss_and_gradients(net, x, y, block_size=2)[0], loss_and_gradients(net, x, y)[0]))
    True
    """
    scale = loss_scale(inputs.shape[0], targets.shape[1], loss)
    workspace = GradientWorkspace(network.sizes, bias=network.biases is not None, dtype=network.dtype, block_size=block_size)
    workspace.load(network)
    augmented = augment_inputs(inputs, bias=workspace.bias, dtype=workspace.dtype)
    sse = workspace.accumulate(augmented, np.asarray(targets, dtype=workspace.dtype), scale)
    value = sse / (targets.size if loss == "mse" else 1)
    return value, [g.copy() for g in workspace.gradients()]
