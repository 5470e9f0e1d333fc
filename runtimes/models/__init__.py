"""The built-in models (importing this package registers them): LIF, IF, ALIF, LIFRefractory,
LI (leaky integrators), Poisson sources and spike generators. A user's model registers itself with
``@nmgraph.implements`` wherever it is defined."""

from nmgraph.runtimes.models import li, lif, lif_refractory, sources

__all__ = ["li", "lif", "lif_refractory", "sources"]
