"""Hierarchical processes: a process built from a sub-network that exposes its children's ports."""

from __future__ import annotations

from typing import Any

from nmgraph.core.errors import ValidationError
from nmgraph.core.network import Connection, Network
from nmgraph.core.ports import InPort, Port, PortView
from nmgraph.core.process import Process

__all__ = ["Hierarchical"]


class Hierarchical(Process):
    """A process made of other processes, as Lava's hierarchical processes.

    Build the children in ``__init__`` (or from outside) with :meth:`add` and :meth:`connect`, and
    make some of their ports the process's own with :meth:`expose`. Connections to an exposed port
    reach the child's port; the compiler flattens the hierarchy at lowering, naming the children
    ``parent/child``.

    Example
    -------
    >>> class Layer(Hierarchical):
    ...     def __init__(self, n, weights, name=None):
    ...         super().__init__(name)
    ...         syn = self.add(Dense(weights=weights, name="syn"))
    ...         lif = self.add(LIF(shape=(n,), du=400, dv=400, vth=100, name="lif"))
    ...         self.connect(syn.a_out, lif.a_in)
    ...         self.expose("s_in", syn.s_in)
    ...         self.expose("s_out", lif.s_out)
    """

    abstract = False

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.children = Network(self.name)
        self.children.owner = self
        #: Vars of children exposed as this process's own (``expose_var``), by name.
        self.exposed_vars: dict[str, Any] = {}
        # No _finish(): subclasses keep their children as attributes (self.syn = self.add(...)).

    def add(self, process: Process) -> Process:
        """Add a child process."""
        return self.children.add(process)

    def connect(self, out_port: Port | PortView, in_port: Port | PortView) -> Connection:
        """Connect two ports of children (or an exposed port, once exposed)."""
        return self.children.connect(out_port, in_port)

    def expose(self, name: str, port: Port) -> Port:
        """Make a child's ``port`` available as ``self.<name>``."""
        if not isinstance(port, Port):
            raise ValidationError(self, name, "expose() takes a child's port", port)
        if port.process.network is not self.children:
            raise ValidationError(self, name, f"can only expose ports of its own children; "
                                  f"'{port.process.name}' is not one")
        if name in self.ports or (hasattr(self, name) and name not in self.ports):
            raise ValidationError(self, name, "this name is already taken")
        make = self._in_port if isinstance(port, InPort) else self._out_port
        exposed = make(name, port.shape, port.kind)
        exposed.target = port
        return exposed

    def expose_var(self, name: str, var: Any) -> Any:
        """Make a child's Var readable and settable through this process, as Lava's Var
        aliasing: ``rt.get(layer, name)``, ``rt.set(...)``, ``rt.record(...)`` act on the child's
        Var."""
        owner = getattr(var, "owner", None)
        if owner is None or getattr(owner, "network", None) is not self.children:
            raise ValidationError(self, name, "expose_var() takes a Var of one of its own "
                                  "children", var)
        if name in self.exposed_vars or name in self.ports:
            raise ValidationError(self, name, "this name is already taken")
        self.exposed_vars[name] = var
        return var

    @property
    def shape(self) -> tuple[int, ...]:
        """Not defined: a hierarchical process has children of their own shapes (raises)."""
        raise ValidationError(self, "shape", "a hierarchical process has no single shape; "
                              "ask its children")

    def constructor_args(self) -> dict[str, Any]:
        """Not used: hierarchical processes are saved by structure (raises)."""
        raise NotImplementedError("hierarchical processes are saved by structure (see nmgraph.core.io)")

