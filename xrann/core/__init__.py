"""The numpy-only core of xrann: network, gradient workspace, optimisers, epoch engine and scaling (no xarray or dask)."""

from . import optimizers, second_order  # noqa: F401 (fills the optimiser registry)
