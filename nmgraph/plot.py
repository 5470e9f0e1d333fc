"""Alias of :mod:`nmgraph.tools.plot`, kept so that ``from nmgraph.plot import raster`` still works.

The plots live in ``nmgraph/tools/plot.py``; new code imports them from there.
"""

from nmgraph.tools.plot import core_map, energy_breakdown, raster, study_bars, traces, traffic_matrix

__all__ = ["core_map", "energy_breakdown", "raster", "study_bars", "traces", "traffic_matrix"]
