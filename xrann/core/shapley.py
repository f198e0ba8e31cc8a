"""Interventional Shapley values of a model's prediction (numpy).

For a point ``x`` with drivers grouped into ``p`` players and a background
``b_1 ... b_m`` (shared by all points, or one set per point), the value of a
coalition ``S`` of players is

``v(S) = mean_k f(z_k)``, where ``z_k`` takes the drivers of the players in
``S`` from ``x`` and every other driver from ``b_k``

(interventional: absent drivers are *replaced* by background values, not
conditioned on the present ones). Player ``i``'s Shapley value is

``phi_i = sum over S not containing i of |S|! (p - |S| - 1)! / p! * (v(S + i) - v(S))``,

so ``sum_i phi_i = v(all) - v(empty) = f(x) - mean_k f(b_k)`` (efficiency).

Two estimators:

* `exact_shapley` enumerates all ``2**p`` coalitions (up to
  `MAX_EXACT_PLAYERS`), walking them in Gray-code order so that consecutive
  coalitions differ by one player.
* `sampled_shapley` averages marginal contributions along random player
  orders, each drawn together with its reverse (an antithetic pair); every
  order gives contributions that sum to ``v(all) - v(empty)`` exactly, and the
  spread of the pair means gives the standard error of each value.

Coalition values come from a *coalition walker*: `NetworkCoalitions` exploits
that a sigmoid network's first layer is linear (a coalition's hidden
pre-activation is ``bias + sum_j (x_j or b_j) W[j]``, so toggling a player is
one addition of a precomputed array), `FunctionCoalitions` calls any
``predict(matrix)`` function and serves as the reference.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from .network import sigmoid

__all__ = [
    "MAX_EXACT_PLAYERS",
    "coalition_weights",
    "gray_code_flips",
    "NetworkCoalitions",
    "FunctionCoalitions",
    "exact_shapley",
    "sampled_shapley",
    "player_groups",
    "interventional_shapley",
    "METHODS",
]

#: how `interventional_shapley` computes the values
METHODS = ("exact", "sampling")

#: the most players `exact_shapley` enumerates (2**14 = 16,384 coalitions)
MAX_EXACT_PLAYERS = 14
#: bytes of working arrays per block of points in `NetworkCoalitions`
_BLOCK_BYTES = 16 * 2**20


def coalition_weights(n_players: int) -> np.ndarray:
    """Shapley weight ``s! (p - s - 1)! / p!`` of a coalition of size ``s`` not holding the player.

    Parameters
    ----------
    n_players : int

    Returns
    -------
    numpy.ndarray
        ``(n_players,)`` weights for ``s = 0 ... p - 1``.

    Examples
    --------
    >>> coalition_weights(3).tolist() == [1 / 3, 1 / 6, 1 / 3]
    True
    """
    p = int(n_players)
    return np.array([math.factorial(s) * math.factorial(p - s - 1) / math.factorial(p) for s in range(p)])


def gray_code_flips(n_players: int) -> np.ndarray:
    """The player toggled at each step of a Gray-code walk through all ``2**p`` coalitions from the empty one.

    Step ``i`` (``i = 1 ... 2**p - 1``) toggles the lowest set bit of ``i``,
    so every coalition is visited exactly once.

    Parameters
    ----------
    n_players : int

    Returns
    -------
    numpy.ndarray
        ``(2**p - 1,)`` player indices.

    Examples
    --------
    >>> gray_code_flips(3).tolist()
    [0, 1, 0, 2, 0, 1, 0]
    """
    steps = np.arange(1, 2**n_players, dtype=np.int64)
    lowest = steps & -steps
    return np.array([int(bit).bit_length() - 1 for bit in lowest], dtype=np.int64)


def player_groups(n_columns: int, groups: Sequence[Sequence[int]] | None) -> list[np.ndarray]:
    """Columns of each player: one per column, or the given groups (which must partition the columns).

    Parameters
    ----------
    n_columns : int
    groups : sequence of sequences of int, optional

    Returns
    -------
    list of numpy.ndarray

    Raises
    ------
    ValueError
        Groups that leave out a column, repeat one or name one that does not exist.

    Examples
    --------
    >>> [g.tolist() for g in player_groups(3, [[0, 2], [1]])]
    [[0, 2], [1]]
    """
    if groups is None:
        return [np.array([j]) for j in range(n_columns)]
    columns = [np.asarray(list(group), dtype=np.int64) for group in groups]
    flat = np.concatenate(columns) if columns else np.array([], dtype=np.int64)
    if any(len(c) == 0 for c in columns) or sorted(flat.tolist()) != list(range(n_columns)):
        raise ValueError(
            f"groups={[c.tolist() for c in columns]} must split the columns 0..{n_columns - 1} into non-empty "
            "groups, each column in exactly one group."
        )
    return columns


class NetworkCoalitions:
    """Coalition values of a sigmoid network, updated one player at a time.

    Parameters
    ----------
    weights, biases : list of numpy.ndarray
        The network's layers (``biases`` may be ``None``), as in `xrann.core.network.SigmoidNetwork`.
    inputs : numpy.ndarray
        ``(n, d)`` scaled drivers of the explained points.
    background : numpy.ndarray
        ``(m, d)`` shared, or ``(n, m, d)`` per-point scaled background values.
    groups : list of numpy.ndarray
        Columns of each player (see `player_groups`).

    Examples
    --------
    >>> from xrann.core.network import initialize
    >>> net = initialize((2, 3, 1), rng=np.random.default_rng(0))
    >>> walker = NetworkCoalitions(net.weights, net.biases, np.ones((4, 2)), np.zeros((5, 2)), player_groups(2, None))
    >>> walker.toggle(0); walker.toggle(1)
    >>> np.allclose(walker.value(), net.predict(np.ones((4, 2)))[:, 0])
    True
    """

    def __init__(self, weights, biases, inputs: np.ndarray, background: np.ndarray, groups: list[np.ndarray]) -> None:
        first = np.asarray(weights[0], dtype=np.float64)
        self._later = [
            (np.asarray(w, dtype=np.float64), None if biases is None else np.asarray(biases[i + 1], dtype=np.float64))
            for i, w in enumerate(weights[1:])
        ]
        inputs = np.asarray(inputs, dtype=np.float64)
        background = np.asarray(background, dtype=np.float64)
        if background.ndim == 2:
            background = background[None]
        bias = 0.0 if biases is None else np.asarray(biases[0], dtype=np.float64)
        # pre-activation of the empty coalition and the change each player's entry brings, (n or 1, m, h)
        self._empty = background @ first + bias
        difference = inputs[:, None, :] - background  # (n, m, d)
        self._deltas = [difference[:, :, group] @ first[group] for group in groups]
        self._shape = (inputs.shape[0], background.shape[1], first.shape[1])
        self._buffer: np.ndarray | None = None
        self.reset()

    def reset(self) -> None:
        """Go back to the empty coalition."""
        self._pre = np.broadcast_to(self._empty, self._shape).copy()
        self._present = np.zeros(len(self._deltas), dtype=bool)

    def toggle(self, player: int) -> None:
        """Add the player to the coalition, or remove it if present."""
        if self._present[player]:
            self._pre -= self._deltas[player]
        else:
            self._pre += self._deltas[player]
        self._present[player] = not self._present[player]

    def value(self) -> np.ndarray:
        """``(n,)`` mean scaled output over the background for the current coalition."""
        n, m, h = self._shape
        if self._buffer is None:
            self._buffer = np.empty((n * m, h))
        activation = sigmoid(self._pre.reshape(n * m, h), out=self._buffer)
        for weight, bias in self._later:
            activation = activation @ weight  # 2-D products: one BLAS call, not a batch of small ones
            if bias is not None:
                activation += bias
            sigmoid(activation, out=activation)
        output = activation[:, 0]
        return output if m == 1 else output.reshape(n, m).mean(axis=1)


class FunctionCoalitions:
    """Coalition values of any ``predict(matrix) -> (rows,)`` function, by direct evaluation.

    Parameters
    ----------
    predict : callable
        Maps ``(rows, d)`` to ``(rows,)`` or ``(rows, 1)``.
    inputs, background, groups
        As `NetworkCoalitions`.

    Examples
    --------
    >>> walker = FunctionCoalitions(lambda m: m.sum(axis=1), np.ones((2, 2)), np.zeros((3, 2)), player_groups(2, None))
    >>> walker.toggle(1); walker.value().tolist()
    [1.0, 1.0]
    """

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray, background: np.ndarray,
                 groups: list[np.ndarray]) -> None:
        self._predict = predict
        self._inputs = np.asarray(inputs, dtype=np.float64)
        background = np.asarray(background, dtype=np.float64)
        self._background = background[None] if background.ndim == 2 else background
        self._groups = groups
        self.reset()

    def reset(self) -> None:
        """Go back to the empty coalition."""
        self._present = np.zeros(len(self._groups), dtype=bool)

    def toggle(self, player: int) -> None:
        """Add the player to the coalition, or remove it if present."""
        self._present[player] = not self._present[player]

    def value(self) -> np.ndarray:
        """``(n,)`` mean prediction over the background for the current coalition."""
        n, d = self._inputs.shape
        m = self._background.shape[1]
        columns = np.zeros(d, dtype=bool)
        for player in np.flatnonzero(self._present):
            columns[self._groups[player]] = True
        matrix = np.where(columns, self._inputs[:, None, :], self._background)
        matrix = np.broadcast_to(matrix, (n, m, d)).reshape(n * m, d)
        return np.asarray(self._predict(matrix), dtype=np.float64).reshape(n, m).mean(axis=1)


def exact_shapley(walker, n_players: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact Shapley values by enumerating every coalition in Gray-code order.

    Parameters
    ----------
    walker : NetworkCoalitions or FunctionCoalitions
        Starts at (and is reset to) the empty coalition.
    n_players : int
        At most `MAX_EXACT_PLAYERS`.

    Returns
    -------
    values : numpy.ndarray
        ``(n, n_players)`` Shapley values.
    base : numpy.ndarray
        ``(n,)`` value of the empty coalition; ``values.sum(1) + base`` is the value of the full one.

    Raises
    ------
    ValueError
        More than `MAX_EXACT_PLAYERS` players.

    Examples
    --------
    >>> walker = FunctionCoalitions(lambda m: m[:, 0] * m[:, 1], np.ones((1, 2)), np.zeros((1, 2)), player_groups(2, None))
    >>> values, base = exact_shapley(walker, 2)
    >>> values.tolist(), base.tolist()
    ([[0.5, 0.5]], [0.0])
    """
    if n_players > MAX_EXACT_PLAYERS:
        raise ValueError(
            f"exact Shapley values enumerate 2**{n_players} coalitions of {n_players} players, more than the "
            f"{MAX_EXACT_PLAYERS} players allowed; use method='sampling' (permutation sampling with a standard error) "
            "or group drivers into fewer players with groups=."
        )
    flips, coefficients = _gray_walk(n_players)
    walker.reset()
    base = walker.value()
    collected = np.empty((flips.size + 1, base.shape[0]))  # one row per coalition: contiguous writes
    collected[0] = base
    for step, player in enumerate(flips, start=1):
        walker.toggle(player)
        collected[step] = walker.value()
    walker.reset()
    return (coefficients.T @ collected).T, base


@functools.lru_cache(maxsize=16)
def _gray_walk(n_players: int) -> tuple[np.ndarray, np.ndarray]:
    """The Gray-code flips and, per visited coalition, its coefficient in each player's value.

    The coefficient is ``+w(|S| - 1)`` for a player in ``S`` and ``-w(|S|)`` for one outside,
    so the values of all coalitions are combined in one matrix product.
    """
    weights = coalition_weights(n_players)
    flips = gray_code_flips(n_players)
    coefficients = np.empty((flips.size + 1, n_players))
    present = np.zeros(n_players, dtype=bool)
    coefficients[0] = -weights[0]
    for step, player in enumerate(flips, start=1):
        present[player] = not present[player]
        size = int(present.sum())
        coefficients[step] = np.where(present, weights[size - 1] if size else 0.0, -weights[size] if size < n_players else 0.0)
    flips.setflags(write=False)
    coefficients.setflags(write=False)
    return flips, coefficients


def sampled_shapley(walker, n_players: int, n_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shapley values estimated by permutation sampling with antithetic pairs, with their standard errors.

    Each of ``n_pairs`` random player orders is walked together with its
    reverse; a player's contribution in one order is ``v(before + player) -
    v(before)``, and its sample is the mean over the pair. The estimate is the
    mean of the ``n_pairs`` samples and its standard error their standard
    deviation (``ddof=1``) over ``sqrt(n_pairs)``. Every order's contributions
    sum exactly to ``v(all) - v(empty)``, so efficiency holds for the estimate too.

    Parameters
    ----------
    walker : NetworkCoalitions or FunctionCoalitions
    n_players : int
    n_pairs : int
        Antithetic pairs of orders (at least 2); cost ``2 * n_pairs * n_players`` coalition values.
    rng : numpy.random.Generator

    Returns
    -------
    values, standard_error : numpy.ndarray
        ``(n, n_players)`` each.
    base : numpy.ndarray
        ``(n,)`` value of the empty coalition.

    Raises
    ------
    ValueError
        ``n_pairs`` below 2.

    Examples
    --------
    >>> walker = FunctionCoalitions(lambda m: m.sum(axis=1), np.ones((1, 3)), np.zeros((1, 3)), player_groups(3, None))
    >>> values, error, base = sampled_shapley(walker, 3, 4, np.random.default_rng(0))
    >>> values.round(12).tolist(), error.round(12).tolist()
    ([[1.0, 1.0, 1.0]], [[0.0, 0.0, 0.0]])
    """
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 2:
        raise ValueError(f"n_pairs={n_pairs!r} must be an integer of at least 2 to estimate a standard error.")
    walker.reset()
    base = walker.value()
    n = base.shape[0]
    total = np.zeros((n, n_players))
    total_squares = np.zeros((n, n_players))
    for _ in range(n_pairs):
        order = rng.permutation(n_players)
        pair = np.zeros((n, n_players))
        for walk in (order, order[::-1]):
            walker.reset()
            previous = base
            for player in walk:
                walker.toggle(player)
                current = walker.value()
                pair[:, player] += 0.5 * (current - previous)
                previous = current
        total += pair
        total_squares += pair * pair
    walker.reset()
    mean = total / n_pairs
    variance = np.maximum(total_squares / n_pairs - mean * mean, 0.0) * n_pairs / (n_pairs - 1)
    return mean, np.sqrt(variance / n_pairs), base


def interventional_shapley(
    model,
    inputs: np.ndarray,
    background: np.ndarray,
    *,
    groups: Sequence[Sequence[int]] | None = None,
    method: str = "exact",
    n_pairs: int = 64,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Shapley values of many points, in blocks of points whose working arrays stay cache-sized.

    Parameters
    ----------
    model : SigmoidNetwork or callable
        A network (anything with ``weights`` and ``biases``) is walked with
        `NetworkCoalitions`; any other ``predict(matrix)`` callable with `FunctionCoalitions`.
    inputs : numpy.ndarray
        ``(n, d)`` points (scaled, for a network).
    background : numpy.ndarray
        ``(m, d)`` shared or ``(n, m, d)`` per-point background.
    groups : sequence of sequences of int, optional
        Columns of each player; one player per column by default.
    method : {"exact", "sampling"}
    n_pairs : int, default 64
        Antithetic pairs of player orders for ``method="sampling"``.
    seed : int, default 0
        Seeds the player orders of ``method="sampling"`` (each block its own stream).

    Returns
    -------
    values : numpy.ndarray
        ``(n, n_players)``.
    base : numpy.ndarray
        ``(n,)`` value of the empty coalition (mean output over the background).
    standard_error : numpy.ndarray or None
        ``(n, n_players)`` for ``method="sampling"``, else ``None``.

    Raises
    ------
    ValueError
        Unknown ``method``, bad ``groups``, too many players for ``"exact"``.

    Examples
    --------
    >>> values, base, error = interventional_shapley(lambda m: m.sum(axis=1), np.ones((2, 2)), np.zeros((3, 2)))
    >>> values.tolist(), base.tolist(), error
    ([[1.0, 1.0], [1.0, 1.0]], [0.0, 0.0], None)
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not known; choose one of {METHODS}.")
    inputs = np.asarray(inputs, dtype=np.float64)
    background = np.asarray(background, dtype=np.float64)
    n, d = inputs.shape
    players = player_groups(d, groups)
    p = len(players)
    if method == "exact" and p > MAX_EXACT_PLAYERS:
        exact_shapley(None, p)  # raises with the fix
    per_point = background.ndim == 3
    m = background.shape[-2]
    is_network = hasattr(model, "weights")
    width = max(np.asarray(w).shape[1] for w in model.weights) if is_network else d
    coalitions = 2**p if method == "exact" else 0
    rows = max(1, _BLOCK_BYTES // (8 * (m * width * (p + 3) + coalitions)))
    values = np.empty((n, p))
    base = np.empty(n)
    error = np.empty((n, p)) if method == "sampling" else None
    rng = np.random.default_rng(seed)
    for start in range(0, n, rows):
        block = slice(start, min(n, start + rows))
        rows_background = background[block] if per_point else background
        # a player whose drivers equal the background everywhere in the block (a static map against its
        # climatology) never changes a coalition's value: its value is 0 and the others' are those of the
        # game without it, so it is left out of the walk (half the coalitions per such player)
        moving = [i for i, group in enumerate(players) if not np.all(inputs[block][:, None, group] == rows_background[..., group])]
        walked = [players[i] for i in moving]
        if is_network:
            walker = NetworkCoalitions(model.weights, model.biases, inputs[block], rows_background, walked)
        else:
            walker = FunctionCoalitions(model, inputs[block], rows_background, walked)
        values[block] = 0.0
        if error is not None:
            error[block] = 0.0
        if not moving:
            base[block] = walker.value()
        elif method == "exact":
            values[block, moving], base[block] = exact_shapley(walker, len(moving))
        else:
            values[block, moving], error[block, moving], base[block] = sampled_shapley(walker, len(moving), n_pairs, rng)
    return values, base, error
