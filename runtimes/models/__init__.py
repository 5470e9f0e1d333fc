"""The built-in models (importing this package registers them): LIF, IF, ALIF, LIFRefractory,
Poisson sources and spike generators. A user's model registers itself with
``@nmgraph.implements`` wherever it is defined."""

from nmgraph.runtimes.models import lif, lif_refractory, sources

__all__ = ["lif", "lif_refractory", "sources"]
