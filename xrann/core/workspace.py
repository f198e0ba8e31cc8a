"""The training hot loop: a flat parameter vector and preallocated buffers for forward and backward passes (numpy).

`GradientWorkspace` computes losses, gradients and Gauss-Newton terms of a
`xrann.core.network.SigmoidNetwork` over any number of samples, block by
block, without allocating per batch. Every mode of training (arrays in
memory, streamed blocks, shards on workers) computes its numbers here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .network import DEFAULT_BLOCK_SIZE, SigmoidNetwork, initialize, loss_and_gradients, loss_scale

__all__ = ["GradientWorkspace", "augment_inputs", "blocked_loss_and_gradients"]

#: most float64 values in one chunk's Jacobian in `GradientWorkspace.gauss_newton` (8 MB)
_JACOBIAN_ELEMENTS = 2**20


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
        self._gn_buffers: dict | None = None

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

    def batch_gradient(self, inputs: np.ndarray, targets: np.ndarray, scale: float, weights: np.ndarray | None = None) -> float:
        """Sum of squared errors of one batch (weighted by ``weights``); its loss gradient is written to `gradient`.

        Parameters
        ----------
        inputs : numpy.ndarray
            Augmented inputs ``(m, n_inputs + bias)`` (see `augment_inputs`) with ``m <= block_size``.
        targets : numpy.ndarray
            ``(m, n_outputs)``.
        scale : float
            Gradient factor from `loss_scale` (``2 / n_terms`` for MSE).
        weights : numpy.ndarray, optional
            Sample weights ``(m,)`` of the workspace dtype: the loss is ``sum(weights * residual ** 2)``.

        Returns
        -------
        float
            Sum of (weighted) squared residuals over the batch.
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
        sse = _squared_sum(delta, weights)
        # delta = scale * weight * residual * output * (1 - output)
        subtract(one, output, factor)
        multiply(factor, output, factor)
        multiply(factor, self._scale, factor)
        if weights is not None:
            multiply(factor, weights, factor)
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

    def accumulate(
        self, inputs: np.ndarray, targets: np.ndarray, scale: float, out: np.ndarray | None = None, weights: np.ndarray | None = None
    ) -> float:
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
        weights : numpy.ndarray, optional
            Sample weights ``(n,)``; the loss becomes ``sum(weights * residual ** 2)``.

        Returns
        -------
        float
            Sum of (weighted) squared residuals over the ``n`` samples.
        """
        total = self._accumulated if out is None else out
        if out is None:
            total[...] = 0.0
        sse = 0.0
        for start in range(0, inputs.shape[0], self.block_size):
            stop = start + self.block_size
            sse += self.batch_gradient(inputs[start:stop], targets[start:stop], scale, None if weights is None else weights[start:stop])
            np.add(total, self.gradient, out=total)
        if out is None:
            self.gradient[...] = total
        return sse

    def gauss_newton(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        scale: float,
        jtj_out: np.ndarray,
        jtr_out: np.ndarray,
        weights: np.ndarray | None = None,
    ) -> float:
        """Add the Gauss-Newton terms ``scale * J.T @ J`` and ``scale * J.T @ r`` of any number of samples.

        ``r`` are the residuals (output minus target), one per (sample, output)
        pair, and ``J`` their Jacobian with respect to `parameters` (columns in
        the flat parameter layout). The Jacobian is built for one chunk of rows
        at a time (at most `block_size` samples, fewer for large networks so a
        chunk's Jacobian stays a few MB) and reduced with one ``J.T @ J`` matrix
        product per chunk; an ``n x p`` Jacobian of all samples never exists.
        Everything past the forward pass is float64, also for a float32
        workspace.

        Parameters
        ----------
        inputs : numpy.ndarray
            Augmented inputs ``(n, n_inputs + bias)`` (see `augment_inputs`).
        targets : numpy.ndarray
            ``(n, n_outputs)``.
        scale : float
            The factor ``c`` of the loss ``c * r @ r``: ``1 / n_terms`` for MSE
            and ``1`` for SSE, i.e. *half* of `loss_scale`, for the whole
            sample set the terms are meant for (which may span several calls).
        jtj_out : numpy.ndarray
            ``(p, p)`` float64 matrix the term ``scale * J.T @ J`` is added to.
        jtr_out : numpy.ndarray
            ``(p,)`` float64 vector the term ``scale * J.T @ r`` is added to.
        weights : numpy.ndarray, optional
            Sample weights ``(n,)``, non-negative: the terms become ``scale * J.T @ W @ J`` and
            ``scale * J.T @ W @ r`` (``W`` diagonal), by scaling each sample's rows of ``J`` and ``r``
            by the square root of its weight.

        Returns
        -------
        float
            Sum of (weighted) squared residuals over the ``n`` samples.

        Raises
        ------
        ValueError
            If ``jtj_out`` or ``jtr_out`` is not a float64 array of the right shape.

        Examples
        --------
        The gradient of the loss is ``2 * c * J.T @ r``:

        >>> net = initialize((2, 3, 1), rng=np.random.default_rng(0))
        >>> workspace = GradientWorkspace(net.sizes, block_size=4)
        >>> workspace.load(net)
        >>> x, y = np.random.default_rng(1).random((10, 2)), np.zeros((10, 1))
        >>> p = workspace.parameters.size
        >>> jtj, jtr = np.zeros((p, p)), np.zeros(p)
        >>> sse = workspace.gauss_newton(augment_inputs(x), y, 1 / 10, jtj, jtr)
        >>> _ = workspace.accumulate(augment_inputs(x), y, loss_scale(10, 1))
        >>> bool(np.allclose(2 * jtr, workspace.gradient)), bool(np.allclose(jtj, jtj.T))
        (True, True)
        """
        n_parameters = self.parameters.size
        if jtj_out.shape != (n_parameters, n_parameters) or jtj_out.dtype != np.float64:
            raise ValueError(f"jtj_out must be a float64 array of shape {(n_parameters, n_parameters)}, got {jtj_out.dtype} {jtj_out.shape}.")
        if jtr_out.shape != (n_parameters,) or jtr_out.dtype != np.float64:
            raise ValueError(f"jtr_out must be a float64 array of shape {(n_parameters,)}, got {jtr_out.dtype} {jtr_out.shape}.")
        buffers = self._gauss_newton_buffers()
        chunk = buffers["rows"]
        # float64 copies of the weights (without bias rows), to push the output derivatives back
        layer_weights = [w.astype(np.float64) for w in self._weights]
        sse = 0.0
        for start in range(0, inputs.shape[0], chunk):
            rows = inputs[start : start + chunk]
            root = None if weights is None else np.sqrt(np.asarray(weights[start : start + chunk], dtype=np.float64))
            sse += self._gauss_newton_chunk(rows, targets[start : start + chunk], scale, jtj_out, jtr_out, layer_weights, buffers, root)
        return sse

    def _gauss_newton_buffers(self) -> dict:
        """Float64 buffers for `gauss_newton`, allocated on first use and kept."""
        if self._gn_buffers is None:
            n_parameters, n_outputs = self.parameters.size, self.sizes[-1]
            # a chunk's Jacobian holds at most ~2**20 float64 values (8 MB): enough columns for an efficient matrix product
            rows = max(1, min(self.block_size, _JACOBIAN_ELEMENTS // (n_outputs * n_parameters)))
            self._gn_buffers = {
                "rows": rows,
                # the Jacobian transposed, features first like the activations: (parameter, output, sample)
                "jacobian": np.empty((n_parameters, n_outputs, rows)),
                "residual": np.empty((n_outputs, rows)),
                # derivative of each output w.r.t. each pre-activation of a layer, (node, output, sample)
                "derivatives": [np.empty((n, n_outputs, rows)) for n in self.sizes[1:]],
                "slopes": [np.empty((n, rows)) for n in self.sizes[1:]],
            }
        return self._gn_buffers

    def _gauss_newton_chunk(self, inputs, targets, scale, jtj_out, jtr_out, weights, buffers, root_weights=None) -> float:
        n_rows, n_outputs = inputs.shape[0], self.sizes[-1]
        n_parameters = self.parameters.size
        output = self._forward(inputs, n_rows)  # (n_outputs, n_rows)
        activations, nodes_only = self._views(n_rows)[:2]
        # views of the buffers for n_rows samples, contiguous: (parameter, output, sample) with sample fastest
        jacobian = buffers["jacobian"].reshape(-1)[: n_parameters * n_outputs * n_rows].reshape(n_parameters, n_outputs, n_rows)
        residual = buffers["residual"].reshape(-1)[: n_outputs * n_rows].reshape(n_outputs, n_rows)
        np.subtract(output, targets.T, out=residual)
        # the output layer: output k depends only on its own node; sigmoid' = a (1 - a)
        slope = buffers["slopes"][-1].reshape(-1)[: n_outputs * n_rows].reshape(n_outputs, n_rows)
        np.subtract(1.0, output, out=slope)
        np.multiply(slope, output, out=slope)
        if root_weights is not None:  # rows of r and J times sqrt(w): J.T W J and J.T W r
            np.multiply(residual, root_weights, out=residual)
            np.multiply(slope, root_weights, out=slope)
        sse = float(np.vdot(residual, residual))
        derivative = buffers["derivatives"][-1].reshape(-1)[: n_outputs * n_outputs * n_rows].reshape(n_outputs, n_outputs, n_rows)
        derivative[...] = 0.0
        for k in range(n_outputs):
            derivative[k, k] = slope[k]
        offset = n_parameters
        for index in range(len(self._layers) - 1, -1, -1):
            rows, cols = self._layers[index].shape
            offset -= rows * cols
            below = inputs.T if index == 0 else activations[index - 1]  # the layer's augmented input, (rows, n_rows)
            # J[(i, j), k, s] = below[i, s] * derivative[j, k, s]: one broadcast product into contiguous memory
            block = jacobian[offset : offset + rows * cols].reshape(rows, cols, n_outputs, n_rows)
            np.multiply(below[:, None, None, :], derivative[None, :, :, :], out=block)
            if index > 0:
                n_below = rows - self.bias
                derivative_below = buffers["derivatives"][index - 1].reshape(-1)[: n_below * n_outputs * n_rows]
                derivative_below = derivative_below.reshape(n_below, n_outputs, n_rows)
                np.matmul(weights[index], derivative.reshape(cols, n_outputs * n_rows), out=derivative_below.reshape(n_below, -1))
                hidden = nodes_only[index - 1]
                slope = buffers["slopes"][index - 1].reshape(-1)[: n_below * n_rows].reshape(n_below, n_rows)
                np.subtract(1.0, hidden, out=slope)
                np.multiply(slope, hidden, out=slope)
                np.multiply(derivative_below, slope[:, None, :], out=derivative_below)
                derivative = derivative_below
        flat = jacobian.reshape(n_parameters, n_outputs * n_rows)
        # `flat @ flat.T` of one array with itself: numpy calls BLAS syrk (half the work of a general product)
        product = flat @ flat.T
        product *= scale
        jtj_out += product
        jtr_out += scale * (flat @ residual.reshape(-1))
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

    def sum_squared_error(self, inputs: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None) -> float:
        """Sum of (``weights``-weighted) squared residuals over augmented ``inputs``, forward passes only, in blocks."""
        sse = 0.0
        for start in range(0, inputs.shape[0], self.block_size):
            block = inputs[start : start + self.block_size]
            output = self._forward(block, block.shape[0])
            residual = self._views(block.shape[0])[3][-1]
            np.subtract(output, targets[start : start + self.block_size].T, out=residual)
            sse += _squared_sum(residual, None if weights is None else weights[start : start + self.block_size])
        return sse


def _squared_sum(residual: np.ndarray, weights: np.ndarray | None) -> float:
    """``sum(residual ** 2)`` of a features-first ``(n_outputs, m)`` block, each sample's terms times its weight."""
    if weights is None:
        return float(np.vdot(residual, residual))
    return float(np.dot(np.einsum("km,km->m", residual, residual), weights))


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
