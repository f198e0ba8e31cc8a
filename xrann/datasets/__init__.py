"""Built-in datasets: the soil-moisture teaching toy (and, later, North America NEE)."""

from .north_america import north_america_nee
from .soil import soil_grid, soil_toy, soil_toy_sites

__all__ = ["soil_toy", "soil_toy_sites", "soil_grid", "north_america_nee"]
