"""Ports: the typed, shaped endpoints through which processes are connected.

Two kinds of data travel between processes, as in Lava: *spikes* (``s_out`` -> ``s_in``: one bit per
neuron per step) and *currents* (``a_out`` -> ``a_in``: integer synaptic input per neuron per step).
A connection always goes from an :class:`OutPort` to an :class:`InPort` of the same kind and shape.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from nmgraph.core.checks import as_shape
from nmgraph.core.errors import PortError

if TYPE_CHECKING:
    from nmgraph.core.process import Process

__all__ = ["CURRENT", "SPIKE", "InPort", "OutPort", "Port", "PortView"]

SPIKE = "spike"
CURRENT = "current"


class Port:
    """An endpoint of a process.

    Parameters
    ----------
    process
        The process that declares the port.
    name
        The attribute name of the port on the process (``s_in``, ``a_out``, ...).
    shape
        Shape of the data carried per step.
    kind
        ``"spike"`` or ``"current"``.
    """

    direction = "port"

    def __init__(self, process: Process, name: str, shape: tuple[int, ...], kind: str) -> None:
        self.process = process
        self.name = name
        self.shape = tuple(shape)
        self.kind = kind
        #: For a port a hierarchical process exposes: the child's port it stands for.
        self.target: Port | None = None

    @property
    def size(self) -> int:
        """Number of elements carried per step."""
        return math.prod(self.shape)

    @property
    def base(self) -> Port:
        """The declared port itself (views return the port they look at)."""
        return self

    def resolve(self) -> Port:
        """Follow exposed ports of hierarchical processes down to the leaf process's port."""
        port: Port = self
        while port.target is not None:
            port = port.target
        return port

    def reshape(self, shape: tuple[int, ...] | int) -> PortView:
        """A view of this port with another shape of the same size (C order), as Lava's reshape."""
        new_shape = as_shape(self.process, f"{self.name}.reshape", shape)
        if math.prod(new_shape) != self.size:
            raise PortError(self.process, self.name,
                            f"cannot reshape a port of shape {self.shape} to {new_shape}", shape)
        return PortView(self, new_shape)

    def flatten(self) -> PortView:
        """A one-dimensional view of this port."""
        return self.reshape((self.size,))

    def __repr__(self) -> str:
        owner = getattr(self.process, "name", "?")
        return f"<{type(self).__name__} {owner}.{self.name} {self.kind} shape={self.shape}>"


class InPort(Port):
    """A port that receives data; several connections into one InPort are summed."""

    direction = "in"


class OutPort(Port):
    """A port that sends data; it may feed any number of InPorts."""

    direction = "out"


class PortView:
    """A reshaped view of a port, usable wherever the port is (``exc.s_out.flatten()``)."""

    def __init__(self, port: Port, shape: tuple[int, ...]) -> None:
        self._port = port
        self.shape = shape

    @property
    def base(self) -> Port:
        """The port this view looks at."""
        return self._port

    process = property(lambda self: self._port.process, doc="The process that declares the port.")
    name = property(lambda self: self._port.name, doc="The port's attribute name on its process.")
    kind = property(lambda self: self._port.kind, doc='``"spike"`` or ``"current"``.')
    direction = property(lambda self: self._port.direction, doc='``"in"`` or ``"out"``.')
    size = property(lambda self: self._port.size, doc="Number of elements carried per step.")

    def reshape(self, shape: tuple[int, ...] | int) -> PortView:
        """Another view of the underlying port (the view's own shape does not matter)."""
        return self._port.reshape(shape)

    def flatten(self) -> PortView:
        """A one-dimensional view of the underlying port."""
        return self._port.flatten()

    def __repr__(self) -> str:
        return f"<PortView of {self._port!r} as shape={self.shape}>"
