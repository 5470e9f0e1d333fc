"""``nm.plot``: the plots of :mod:`nmgraph.tools.plot` under a short name.

``import nmgraph.plot`` (or ``from nmgraph.plot import raster``) gives the same functions: run
plots (:func:`raster` with its population-rate panel, :func:`psth`, :func:`isi` and
:func:`cv_isi`, :func:`traces`), mapping plots (:func:`core_map`, :func:`traffic_matrix`) and
study plots (:func:`energy_breakdown`, :func:`study_bars`). They live in ``nmgraph/tools/plot.py``.
"""

from nmgraph.tools.plot import (
    core_map,
    cv_isi,
    energy_breakdown,
    isi,
    psth,
    raster,
    study_bars,
    traces,
    traffic_matrix,
)

__all__ = ["core_map", "cv_isi", "energy_breakdown", "isi", "psth", "raster", "study_bars", "traces",
           "traffic_matrix"]
