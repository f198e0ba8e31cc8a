"""A scikit-learn estimator around xrann's numpy network: `SigmoidNetRegressor`.

It trains exactly what ``ds.ann.fit`` trains (same network, optimisers,
training loop, min-max scaling and settings), but on plain ``(X, y)`` arrays,
so it works in scikit-learn pipelines, ``cross_val_score`` and
``GridSearchCV``. scikit-learn is an optional dependency:
``pip install xrann[sklearn]``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as error:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "xrann.SigmoidNetRegressor needs scikit-learn (>= 1.6), which is not installed; "
        "install it with: pip install xrann[sklearn]"
    ) from error

from .core.arrays import ArraySource, random_split
from .core.scaling import ConstantFeatureWarning, MinMaxScaler
from .fit.settings import FitSettings
from .fit.threads import single_blas_thread
from .fit.training import train_network

__all__ = ["SigmoidNetRegressor"]


class SigmoidNetRegressor(RegressorMixin, BaseEstimator):
    """Sigmoid neural network regressor with min-max scaling, as trained by ``ds.ann.fit``.

    Parameters
    ----------
    hidden : tuple of int, default (4,)
        Nodes per hidden layer.
    bias : bool, default True
    optimizer : {"auto", "lm", "lbfgs", "adam", "sgd", "momentum", "irprop+"}, default "auto"
        ``"auto"`` is Levenberg-Marquardt (``"lm"``) for small networks,
        L-BFGS for larger ones, and Adam when ``learning_rate`` or an integer
        ``batch_size`` is given, as in `xrann.fit.FitSettings`.
    learning_rate : float, optional
        First-order methods only; defaults to the optimiser's own default.
    optimizer_options : dict, optional
        Options of the optimiser, e.g. ``{"damping": 0.01}`` for lm or
        ``{"beta1": 0.8}`` for adam.
    epochs : int or "auto", default "auto"
        ``"auto"`` is the optimiser's own limit (1,000 steps for lm), or about
        100,000 parameter updates for first-order methods.
    batch_size : int, "auto" or None, default "auto"
        ``None`` is full batch.
    patience : int, "auto" or None, default "auto"
        Early-stopping patience; only used with ``validation_fraction``.
    validation_fraction : float, optional
        Fraction of the training samples held out for early stopping
        (the weights with the lowest validation loss are kept).
    init : {"xavier", "uniform"}, default "xavier"
    loss : {"mse", "sse"}, default "mse"
    target_range : tuple of float, default (0.1, 0.9)
        Interval the training range of each target is scaled onto.
    dtype : {"float64", "float32"}, default "float64"
    random_state : int, numpy.random.RandomState or None
        Seeds weights, shuffling and the validation split.

    Attributes
    ----------
    network_ : xrann.core.network.SigmoidNetwork
        The fitted weights.
    x_scaler_, y_scaler_ : xrann.core.scaling.MinMaxScaler
        Scaling learned from the training samples.
    loss_curve_ : list of float
        Training loss (scaled MSE) per epoch.
    validation_loss_curve_ : list of float
        Validation loss per epoch (empty without ``validation_fraction``).
    best_epoch_ : int
        Epoch whose weights were kept.
    n_iter_ : int
        Epochs run.
    n_outputs_ : int
    n_features_in_ : int
    feature_names_in_ : numpy.ndarray
        Only when ``X`` has string column names.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((200, 2)); y = np.sin(3 * X[:, 0]) + X[:, 1]
    >>> model = SigmoidNetRegressor(hidden=(6,), random_state=0).fit(X, y)
    >>> model.score(X, y) > 0.95
    True
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (4,),
        *,
        bias: bool = True,
        optimizer: str = "auto",
        learning_rate: float | None = None,
        optimizer_options: dict | None = None,
        epochs: int | str = "auto",
        batch_size: int | str | None = "auto",
        patience: int | str | None = "auto",
        validation_fraction: float | None = None,
        init: str = "xavier",
        loss: str = "mse",
        target_range: tuple[float, float] = (0.1, 0.9),
        dtype: str = "float64",
        random_state: Any = None,
    ) -> None:
        self.hidden = hidden
        self.bias = bias
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.optimizer_options = optimizer_options
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.init = init
        self.loss = loss
        self.target_range = target_range
        self.dtype = dtype
        self.random_state = random_state

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _settings(self) -> FitSettings:
        if isinstance(self.random_state, (int, np.integer)) and not isinstance(self.random_state, bool) and self.random_state >= 0:
            seed = int(self.random_state)
        else:
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        settings = FitSettings(
            hidden=self.hidden, bias=self.bias, optimizer=self.optimizer, learning_rate=self.learning_rate,
            optimizer_options=self.optimizer_options,
            epochs=self.epochs, batch_size=self.batch_size, patience=self.patience, seed=seed,
            dtype=self.dtype, init=self.init, loss=self.loss, target_range=tuple(self.target_range),
        )
        settings.validate()
        return settings

    def fit(self, X: Any, y: Any) -> "SigmoidNetRegressor":
        """Train the network on ``X`` ``(n_samples, n_features)`` and ``y`` ``(n_samples,)`` or ``(n_samples, n_outputs)``.

        Parameters
        ----------
        X : array-like
        y : array-like

        Returns
        -------
        SigmoidNetRegressor
            ``self``, fitted.

        Raises
        ------
        ValueError
            Bad parameters, NaN or infinite values, mismatched lengths.

        Examples
        --------
        >>> SigmoidNetRegressor(epochs=5, random_state=0).fit([[0.0], [1.0]], [0.0, 1.0]).n_iter_
        5
        """
        settings = self._settings()
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=[np.float64, np.float32])
        targets = np.asarray(y, dtype=np.float64)
        self._y_is_1d = targets.ndim == 1
        targets = targets.reshape(targets.shape[0], -1)
        rng = np.random.default_rng(settings.seed)
        if self.validation_fraction is not None:
            if not isinstance(self.validation_fraction, (float, int)) or not 0 < self.validation_fraction < 1:
                raise ValueError(f"validation_fraction={self.validation_fraction!r} must be a number in (0, 1), or None.")
            train_index, validation_index = random_split(X.shape[0], float(self.validation_fraction), rng)
        else:
            train_index, validation_index = np.arange(X.shape[0]), np.empty(0, dtype=int)
        with warnings.catch_warnings():
            # a constant column is harmless here (scaled to the range's low end); scikit-learn users expect silence
            warnings.simplefilter("ignore", ConstantFeatureWarning)
            self.x_scaler_ = MinMaxScaler.fit(X[train_index], (0.0, 1.0))
            self.y_scaler_ = MinMaxScaler.fit(targets[train_index], tuple(settings.target_range))
        scaled_x = self.x_scaler_.transform(X, dtype=settings.dtype)
        scaled_y = self.y_scaler_.transform(targets, dtype=settings.dtype)
        n_inputs, n_outputs = X.shape[1], targets.shape[1]
        source = ArraySource(
            settings.sizes(n_inputs, n_outputs), scaled_x[train_index], scaled_y[train_index],
            scaled_x[validation_index], scaled_y[validation_index],
            bias=settings.bias, dtype=settings.dtype, loss=settings.loss,
        )
        resolved = settings.resolve(n_inputs, n_outputs, source.n_train, source.n_validation > 0)
        with single_blas_thread():
            self.network_, history = train_network(source, settings, resolved, n_inputs, n_outputs, rng, progress=False)
        self.loss_curve_ = list(history.loss)
        self.validation_loss_curve_ = list(history.val_loss)
        self.best_epoch_ = int(history.best_epoch)
        self.n_iter_ = len(history.loss)
        self.n_outputs_ = targets.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets for ``X``.

        Parameters
        ----------
        X : array-like
            ``(n_samples, n_features)``.

        Returns
        -------
        numpy.ndarray
            ``(n_samples,)``, or ``(n_samples, n_outputs)`` when fitted on 2-D ``y``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before `fit`.
        ValueError
            A different number of features than in `fit`, NaN or infinite values.

        Examples
        --------
        >>> model = SigmoidNetRegressor(random_state=0).fit([[0.0], [1.0]], [[0.0, 2.0], [1.0, 4.0]])
        >>> model.predict([[0.0], [1.0]]).round(1)
        array([[0., 2.],
               [1., 4.]])
        """
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        scaled = self.x_scaler_.transform(X, dtype=self.network_.dtype)
        predicted = self.y_scaler_.inverse_transform(self.network_.predict(scaled))
        return predicted[:, 0] if self._y_is_1d else predicted
