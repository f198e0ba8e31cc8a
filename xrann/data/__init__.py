"""The xarray/dask layer: find variables, align them onto a block grid, extract valid samples, and put results back on the exact grid."""
