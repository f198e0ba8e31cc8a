"""Driver recipes: drivers computed from raw variables, recorded in the model and recomputed at prediction.

A recipe is a frozen, plain-data description (a kind, a raw source and its
parameters), never code. Pass recipes among the ``drivers`` of a fit; the
model stores them (and the climatologies `anomaly` and `seasonal_cycle`
need) and recomputes every derived driver from the raw variables of the
Dataset it predicts on (`xrann.data.recipes` applies them, lazily for dask
input).

===================================  ==============================  ==========================
recipe                               driver name(s)                  value at a time step ``t``
===================================  ==============================  ==========================
``lag("precip", 1)``                 ``precip_lag1``                 ``precip[t - 1]``
``rolling("precip", 3, how="sum")``  ``precip_rolling3_sum``         ``sum(precip[t-2 : t+1])``
``anomaly("t2m")``                   ``t2m_anomaly``                 ``t2m[t]`` minus the cell's mean for the month of ``t``
``seasonal_cycle("t2m")``            ``t2m_seasonal_cycle``          the cell's training mean for the month of ``t``
``cyclic("time.month")``             ``month_sin``, ``month_cos``    sin and cos of the month's angle on the calendar's year
===================================  ==============================  ==========================

The first ``steps`` (lag) or ``window - 1`` (rolling) time steps have no
value: they are left out of the fit and NaN in predictions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "Recipe",
    "Lag",
    "Rolling",
    "Anomaly",
    "SeasonalCycle",
    "Cyclic",
    "lag",
    "rolling",
    "anomaly",
    "seasonal_cycle",
    "cyclic",
    "recipe_from_dict",
    "ROLLING_REDUCTIONS",
    "CYCLIC_COMPONENTS",
]

#: how `rolling` can reduce its window
ROLLING_REDUCTIONS = ("mean", "sum", "min", "max")
#: the calendar components `cyclic` encodes, with the name prefix of their sin/cos drivers
CYCLIC_COMPONENTS = {"time.month": "month", "time.dayofyear": "dayofyear", "time.hour": "hour"}


def _check_name(value: Any, parameter: str, recipe: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{recipe}(): {parameter} must be a non-empty variable or dim name (str), got {value!r}.")
    return value


def _check_length(value: Any, parameter: str, recipe: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{recipe}(): {parameter} must be a positive int number of steps, got {value!r}.")
    if value < 1:
        raise ValueError(f"{recipe}(): {parameter}={value} must be at least 1 (a number of steps along the dim).")
    return value


@dataclass(frozen=True)
class Recipe:
    """Base of every recipe: a kind, the raw ``source`` it reads, and the driver ``names`` it makes.

    Parameters
    ----------
    source : str
        The raw variable (or, for `Cyclic`, the time coordinate) the recipe reads.

    Examples
    --------
    >>> lag("precip", 1).source, lag("precip", 1).names
    ('precip', ('precip_lag1',))
    """

    kind: ClassVar[str] = ""
    source: str

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the drivers this recipe makes (used as driver names everywhere)."""
        raise NotImplementedError

    @property
    def warmup(self) -> int:
        """Leading steps along ``dim`` without a value (0 for recipes that need no history)."""
        return 0

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain JSON-ready data: ``{"kind": ..., <parameters>}``.

        Returns
        -------
        dict

        Examples
        --------
        >>> rolling("precip", 3, how="sum").to_dict()
        {'kind': 'rolling', 'source': 'precip', 'window': 3, 'how': 'sum', 'dim': 'time'}
        """
        return {"kind": self.kind, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class Lag(Recipe):
    """``source`` shifted by ``steps`` along ``dim`` (made by `lag`).

    Parameters
    ----------
    source : str
        The raw variable.
    steps : int
        Positive number of steps back.
    dim : str
        The dim to shift along.

    Examples
    --------
    >>> Lag("precip", 2).names
    ('precip_lag2',)
    """

    kind: ClassVar[str] = "lag"
    steps: int = 1
    dim: str = "time"

    def __post_init__(self) -> None:
        _check_name(self.source, "name", "lag")
        _check_length(self.steps, "steps", "lag")
        _check_name(self.dim, "dim", "lag")

    @property
    def names(self) -> tuple[str, ...]:
        return (f"{self.source}_lag{self.steps}",)

    @property
    def warmup(self) -> int:
        return self.steps


@dataclass(frozen=True)
class Rolling(Recipe):
    """``source`` reduced over a trailing window of ``window`` steps along ``dim`` (made by `rolling`).

    Parameters
    ----------
    source : str
        The raw variable.
    window : int
        Positive number of steps in the window.
    how : {"mean", "sum", "min", "max"}
    dim : str

    Examples
    --------
    >>> Rolling("precip", 3, "sum").names
    ('precip_rolling3_sum',)
    """

    kind: ClassVar[str] = "rolling"
    window: int = 1
    how: str = "mean"
    dim: str = "time"

    def __post_init__(self) -> None:
        _check_name(self.source, "name", "rolling")
        _check_length(self.window, "window", "rolling")
        if self.how not in ROLLING_REDUCTIONS:
            raise ValueError(f"rolling(): how={self.how!r} is not known; choose one of {ROLLING_REDUCTIONS}.")
        _check_name(self.dim, "dim", "rolling")

    @property
    def names(self) -> tuple[str, ...]:
        return (f"{self.source}_rolling{self.window}_{self.how}",)

    @property
    def warmup(self) -> int:
        return self.window - 1


@dataclass(frozen=True)
class _Climatological(Recipe):
    """A recipe read from each cell's mean seasonal cycle of ``source``, named ``<source>_<kind>``."""

    def __post_init__(self) -> None:
        _check_name(self.source, "name", self.kind)

    @property
    def names(self) -> tuple[str, ...]:
        return (f"{self.source}_{self.kind}",)


@dataclass(frozen=True)
class Anomaly(_Climatological):
    """``source`` minus each cell's mean seasonal cycle over the training samples (made by `anomaly`).

    Parameters
    ----------
    source : str
        The raw variable, with a ``time`` dim.

    Examples
    --------
    >>> Anomaly("t2m").names
    ('t2m_anomaly',)
    """

    kind: ClassVar[str] = "anomaly"


@dataclass(frozen=True)
class SeasonalCycle(_Climatological):
    """Each cell's mean of ``source`` for the month of each time step, over the training samples.

    Parameters
    ----------
    source : str
        The raw variable, with a ``time`` dim.

    Examples
    --------
    >>> SeasonalCycle("t2m").names
    ('t2m_seasonal_cycle',)
    """

    kind: ClassVar[str] = "seasonal_cycle"


@dataclass(frozen=True)
class Cyclic(Recipe):
    """The sine and cosine of a calendar component's angle (made by `cyclic`).

    Parameters
    ----------
    source : str
        The time coordinate.
    component : {"month", "dayofyear", "hour"}

    ``source`` is the time coordinate and ``component`` one of
    `CYCLIC_COMPONENTS`; the day of year is divided by the length of the
    year in the time coordinate's own calendar (365 for ``noleap``, 360 for
    ``360_day``).

    Examples
    --------
    >>> Cyclic("time", "month").names
    ('month_sin', 'month_cos')
    """

    kind: ClassVar[str] = "cyclic"
    component: str = "month"

    def __post_init__(self) -> None:
        _check_name(self.source, "dim", "cyclic")
        if self.component not in CYCLIC_COMPONENTS.values():
            raise ValueError(
                f"cyclic(): component={self.component!r} is not known; choose one of {list(CYCLIC_COMPONENTS.values())}."
            )

    @property
    def names(self) -> tuple[str, ...]:
        return (f"{self.component}_sin", f"{self.component}_cos")


RECIPES: dict[str, type[Recipe]] = {cls.kind: cls for cls in (Lag, Rolling, Anomaly, SeasonalCycle, Cyclic)}


def lag(name: str, steps: int, dim: str = "time") -> Lag:
    """A driver that is ``name`` ``steps`` steps earlier along ``dim`` (e.g. last month's rain).

    Parameters
    ----------
    name : str
        The raw variable.
    steps : int
        Positive number of steps back.
    dim : str, default "time"
        A dim of the target.

    Returns
    -------
    Lag
        Named ``"<name>_lag<steps>"``.

    Raises
    ------
    TypeError, ValueError
        A name that is not a string, ``steps`` not a positive int.

    Examples
    --------
    >>> lag("precip", 1).names
    ('precip_lag1',)
    >>> lag("precip", 0)
    Traceback (most recent call last):
    ...
    ValueError: lag(): steps=0 must be at least 1 (a number of steps along the dim).
    """
    return Lag(name, steps, dim)


def rolling(name: str, window: int, how: str = "mean", dim: str = "time") -> Rolling:
    """A driver that reduces ``name`` over the trailing ``window`` steps along ``dim`` (the step itself included).

    Parameters
    ----------
    name : str
        The raw variable.
    window : int
        Positive number of steps in the window.
    how : {"mean", "sum", "min", "max"}, default "mean"
    dim : str, default "time"

    Returns
    -------
    Rolling
        Named ``"<name>_rolling<window>_<how>"``.

    Raises
    ------
    TypeError, ValueError
        Bad names, a non-positive window, an unknown ``how``.

    Examples
    --------
    >>> rolling("precip", 3, how="sum").names
    ('precip_rolling3_sum',)
    """
    return Rolling(name, window, how, dim)


def anomaly(name: str) -> Anomaly:
    """A driver that is ``name``'s departure from each cell's mean seasonal cycle of the training period.

    The climatology (per cell and month of year) is computed from the
    training period before the fit and stored in the model: years held out
    with ``validation={"time": [...]}`` are left out (a ``validation=``
    fraction holds out scattered samples, which it includes). A cell without
    a sample in some month gets no climatology (NaN, its samples drop out).

    Parameters
    ----------
    name : str

    Returns
    -------
    Anomaly
        Named ``"<name>_anomaly"``.

    Raises
    ------
    TypeError
        ``name`` is not a string.

    Examples
    --------
    >>> anomaly("t2m").names
    ('t2m_anomaly',)
    """
    return Anomaly(name)


def seasonal_cycle(name: str) -> SeasonalCycle:
    """A driver that is each cell's mean of ``name`` for the month of the time step (training period, stored).

    Parameters
    ----------
    name : str

    Returns
    -------
    SeasonalCycle
        Named ``"<name>_seasonal_cycle"``.

    Raises
    ------
    TypeError
        ``name`` is not a string.

    Examples
    --------
    >>> seasonal_cycle("t2m").names
    ('t2m_seasonal_cycle',)
    """
    return SeasonalCycle(name)


def cyclic(component: str) -> Cyclic:
    """Two drivers, the sine and cosine of a calendar component, so December and January are neighbours.

    Parameters
    ----------
    component : {"time.month", "time.dayofyear", "time.hour"}
        ``"<time dim>.<component>"``.

    Returns
    -------
    Cyclic
        Named ``"<component>_sin"`` and ``"<component>_cos"``.

    Raises
    ------
    ValueError
        An unknown component.

    Examples
    --------
    >>> cyclic("time.month").names
    ('month_sin', 'month_cos')
    """
    if not isinstance(component, str) or "." not in component:
        raise ValueError(f"cyclic(): expected one of {list(CYCLIC_COMPONENTS)}, got {component!r}.")
    dim, _, part = component.rpartition(".")
    return Cyclic(dim, part)


def recipe_from_dict(data: Mapping[str, Any]) -> Recipe:
    """Rebuild a recipe from `Recipe.to_dict` output, rejecting unknown kinds and parameters.

    Parameters
    ----------
    data : mapping
        ``{"kind": ..., <parameters>}``.

    Returns
    -------
    Recipe

    Raises
    ------
    ValueError
        Unknown kind or parameters, or parameters a recipe rejects.

    Examples
    --------
    >>> recipe_from_dict({"kind": "lag", "source": "precip", "steps": 1, "dim": "time"})
    Lag(source='precip', steps=1, dim='time')
    >>> recipe_from_dict({"kind": "lag", "source": "precip", "step": 1})
    Traceback (most recent call last):
    ...
    ValueError: unknown parameters ['step'] for a lag recipe; it takes ['source', 'steps', 'dim'].
    """
    if not isinstance(data, Mapping) or data.get("kind") not in RECIPES:
        raise ValueError(f"a recipe must be a mapping with a kind in {list(RECIPES)}, got {data!r}.")
    cls = RECIPES[data["kind"]]
    fields = [f.name for f in dataclasses.fields(cls)]
    parameters = {key: value for key, value in data.items() if key != "kind"}
    unknown = sorted(set(parameters) - set(fields))
    if unknown:
        raise ValueError(f"unknown parameters {unknown} for a {cls.kind} recipe; it takes {fields}.")
    try:
        return cls(**parameters)
    except TypeError as error:
        raise ValueError(f"bad {cls.kind} recipe {dict(data)!r}: {error}") from error
