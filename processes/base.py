"""Base classes of the standard library: populations (neurons, sources) and synapse blocks."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from nmgraph.core.checks import as_shape
from nmgraph.core.ports import CURRENT, SPIKE
from nmgraph.core.process import Process

__all__ = ["NeuronProcess", "PopulationProcess", "SourceProcess", "SynapseProcess"]



class PopulationProcess(Process):
    """A population of ``shape`` units that emit spikes on ``s_out`` (unless the class sets
    ``spiking = False``: a readout such as the leaky integrator ``LI``, which has no ``s_out``)."""

    abstract = True
    #: Whether the units spike: only then does the population have an ``s_out`` port.
    spiking: ClassVar[bool] = True

    def __init__(self, shape: Any, name: str | None = None) -> None:
        super().__init__(name)
        self._shape = as_shape(self, "shape", shape)
        if self.spiking:
            self._out_port("s_out", self._shape, SPIKE)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the population (number of neurons or sources per axis)."""
        return self._shape

    @property
    def size(self) -> int:
        """Number of units."""
        return math.prod(self._shape)

    def constructor_args(self) -> dict[str, Any]:
        """The shape and every Var's declared value (see ``Process.constructor_args``)."""
        return {"shape": self._shape, **super().constructor_args()}


class NeuronProcess(PopulationProcess):
    """Neurons: integer synaptic input on ``a_in``, spikes on ``s_out``."""

    abstract = True

    def __init__(self, shape: Any, name: str | None = None) -> None:
        super().__init__(shape, name)
        self._in_port("a_in", self._shape, CURRENT)


class SourceProcess(PopulationProcess):
    """Spike sources: no input, spikes on ``s_out``; they occupy cores like neurons."""

    abstract = True


class SynapseProcess(Process):
    """Synapse blocks: spikes of ``pre`` units on ``s_in``, integer input to ``post`` on ``a_out``."""

    abstract = True

    def __init__(self, n_post: int, n_pre: int, name: str | None = None) -> None:
        super().__init__(name)
        self._in_port("s_in", (n_pre,), SPIKE)
        self._out_port("a_out", (n_post,), CURRENT)

    @property
    def shape(self) -> tuple[int, ...]:
        """``(post, pre)``, the shape of the weight matrix."""
        return (self.a_out.shape[0], self.s_in.shape[0])
