"""Network: processes joined by port connections, held in a networkx MultiDiGraph."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from nmgraph.core.errors import PortError, ValidationError
from nmgraph.core.ports import InPort, OutPort, Port, PortView
from nmgraph.core.process import Process

if TYPE_CHECKING:
    from nmgraph.core.hierarchy import Hierarchical

__all__ = ["Connection", "Network", "NetworkStamp", "check_dt_ms"]


def check_dt_ms(owner: Any, dt_ms: Any) -> float:
    """``dt_ms`` as a float, checked to be a finite number of milliseconds > 0."""
    if isinstance(dt_ms, bool) or not isinstance(dt_ms, (int, float, np.integer, np.floating)):
        raise ValidationError(owner, "dt_ms", "must be a number of milliseconds", dt_ms)
    value = float(dt_ms)
    if not np.isfinite(value) or value <= 0:
        raise ValidationError(owner, "dt_ms", "must be a finite number of milliseconds > 0",
                              dt_ms)
    return value


@dataclass(frozen=True)
class Connection:
    """One edge of a network: ``src.src_port -> dst.dst_port`` (ports as declared, not views)."""

    src: Process
    src_port: str
    dst: Process
    dst_port: str

    def __str__(self) -> str:
        return f"{self.src.name}.{self.src_port} -> {self.dst.name}.{self.dst_port}"


class Network:
    """A graph of processes joined by port connections.

    ``net.graph`` is a :class:`networkx.MultiDiGraph` whose nodes are process names (attribute
    ``process``) and whose edges carry ``src_port`` and ``dst_port``; it is there to be analysed.
    Recurrent cycles are allowed; several connections into one InPort are summed.

    Parameters
    ----------
    name
        Name of the network (used in reports and file names).
    dt_ms
        Length of one time step in milliseconds (default 1 ms, the step of Loihi and SpiNNaker
        networks run in real time). The arithmetic is in steps and fixed point whatever ``dt_ms``
        is; ``dt_ms`` converts rates in Hz and time constants in ms into per-step values, and steps
        back into ms in plots, reports and ``Runtime`` results. Processes built from physical
        units (``PoissonSource(rate_hz=...)``, ``LIF.from_time_constants(tau_u_ms=...)``) remember
        the step they were converted with, and :meth:`add` refuses one converted with another.
    """

    def __init__(self, name: str = "network", dt_ms: float = 1.0) -> None:
        if not isinstance(name, str) or not name:
            raise ValidationError("Network", "name", "must be a non-empty string", name)
        self.name = name
        self.dt_ms = check_dt_ms(f"Network '{name}'", dt_ms)
        self.graph = nx.MultiDiGraph(name=name)
        #: The hierarchical process this network lives in, if it is a sub-network.
        self.owner: Hierarchical | None = None
        #: Bumped by every change of structure (process added, connection made).
        self.structure_revision = 0

    # -- building -----------------------------------------------------------------------------
    def add(self, process: Process) -> Process:
        """Add ``process`` and return it (so that ``lif = net.add(LIF(...))`` reads naturally)."""
        if not isinstance(process, Process):
            raise ValidationError(self, "add", "expects a Process instance", process)
        if process.network is self:
            raise ValidationError(process, "", f"was already added to Network '{self.name}'")
        if process.network is not None:
            raise ValidationError(process, "", f"already belongs to Network "
                                  f"'{process.network.name}'; a process can be in one network only")
        if process.name in self.graph:
            raise ValidationError(process, "name", f"Network '{self.name}' already has a process "
                                  "with this name; give each process a unique name", process.name)
        step = getattr(process, "dt_ms", None)
        if step is not None and self.owner is None and step != self.dt_ms:
            raise ValidationError(process, "dt_ms", f"was converted from physical units with a "
                                  f"step of {step:g} ms, but Network '{self.name}' steps by "
                                  f"{self.dt_ms:g} ms; build the process with dt_ms={self.dt_ms:g} or the "
                                  f"Network with dt_ms={step:g}", step)
        self.graph.add_node(process.name, process=process)
        process.network = self
        self.structure_revision += 1
        return process

    def connect(self, out_port: Port | PortView, in_port: Port | PortView) -> Connection:
        """Connect ``out_port`` (``s_out`` or ``a_out``) to ``in_port`` (``s_in`` or ``a_in``).

        Raises
        ------
        PortError
            Wrong direction, different kinds (spike into current), shapes that differ, a process
            not in this network, or the same connection made twice.
        """
        for role, port in (("source", out_port), ("target", in_port)):
            if not isinstance(port, (Port, PortView)):
                raise PortError(self, "connect", f"the {role} must be a port such as "
                                "proc.s_out or proc.a_in", port)
        src, dst = out_port.base, in_port.base
        if not isinstance(src, OutPort):
            raise PortError(src.process, src.name, "is an InPort and cannot send; connect an "
                            "OutPort (s_out, a_out) to an InPort (s_in, a_in)")
        if not isinstance(dst, InPort):
            raise PortError(dst.process, dst.name, "is an OutPort and cannot receive; connect an "
                            "OutPort (s_out, a_out) to an InPort (s_in, a_in)")
        for port in (src, dst):
            self._check_member(port)
        if src.kind != dst.kind:
            hint = ("put a synapse process (Dense, Sparse) between them" if src.kind == "spike"
                    else "a synapse's a_out feeds a neuron's a_in")
            raise PortError(dst.process, dst.name, f"receives {dst.kind}s but "
                            f"{src.process.name}.{src.name} sends {src.kind}s; {hint}")
        if tuple(out_port.shape) != tuple(in_port.shape):
            raise PortError(dst.process, dst.name, f"shape {tuple(in_port.shape)} does not match "
                            f"{src.process.name}.{src.name} shape {tuple(out_port.shape)}; use "
                            ".reshape()/.flatten() on a port for a different view of the same size")
        key = f"{src.name}->{dst.name}"
        if self.graph.has_edge(src.process.name, dst.process.name, key):
            raise PortError(dst.process, dst.name, f"is already connected from "
                            f"{src.process.name}.{src.name}; connect once (weights add up)")
        self.graph.add_edge(src.process.name, dst.process.name, key=key, src_port=src.name,
                            dst_port=dst.name)
        self.structure_revision += 1
        return Connection(src.process, src.name, dst.process, dst.name)

    def _check_member(self, port: Port) -> None:
        process = port.process
        if process.network is self:
            return
        if process.network is None:
            raise PortError(process, port.name, f"belongs to a process that is not in Network "
                            f"'{self.name}'; call net.add() on it first")
        owner = process.network.owner
        where = (f"hierarchical process '{owner.name}'" if owner is not None
                 else f"Network '{process.network.name}'")
        raise PortError(process, port.name, f"belongs to {where}, not to Network '{self.name}'"
                        + ("; connect to a port that process exposes" if owner is not None else ""))

    # -- reading ------------------------------------------------------------------------------
    @property
    def processes(self) -> list[Process]:
        """The processes in the order they were added (the canonical order of lowering)."""
        return [data["process"] for _, data in self.graph.nodes(data=True)]

    @property
    def connections(self) -> list[Connection]:
        """Every connection, in the order it was made."""
        nodes = self.graph.nodes
        return [Connection(nodes[u]["process"], data["src_port"], nodes[v]["process"],
                           data["dst_port"])
                for u, v, data in self.graph.edges(data=True)]

    def all_processes(self) -> Iterator[Process]:
        """Every process, with the children of hierarchical processes after their parent."""
        for process in self.processes:
            yield process
            children = getattr(process, "children", None)
            if isinstance(children, Network):
                yield from children.all_processes()

    def revision(self) -> dict[str, int]:
        """A stamp of the network as it is now: ``{qualified process name: revision}`` plus
        ``{"": structure revision}`` summed over sub-networks. Any edit of a process (a Var set,
        a rate or seed assigned) or of the structure changes it; :func:`nmgraph.compile` keeps
        the stamp so that a Runtime can tell that an Executable no longer matches its network."""
        stamp = {"": self.structure_revision}
        for process in self.all_processes():
            stamp[process.qualified_name] = process.revision
            children = getattr(process, "children", None)
            if isinstance(children, Network):
                stamp[""] += children.structure_revision
        return stamp

    def __getitem__(self, name: str) -> Process:
        try:
            return self.graph.nodes[name]["process"]
        except KeyError:
            raise ValidationError(self, name, "no process of that name in this network") from None

    def __contains__(self, item: Any) -> bool:
        if isinstance(item, Process):
            return item.network is self
        return item in self.graph

    def __iter__(self) -> Iterator[Process]:
        return iter(self.processes)

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __repr__(self) -> str:
        step = "" if self.dt_ms == 1.0 else f", dt {self.dt_ms:g} ms"
        return (f"<Network '{self.name}': {len(self)} processes, "
                f"{self.graph.number_of_edges()} connections{step}>")

    # -- files --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the network to one ``.nmg`` file (JSON structure plus arrays, no pickle)."""
        from nmgraph.core.io import save_network

        return save_network(self, path)


class NetworkStamp:
    """A Network and its :meth:`~Network.revision` at one moment (a weak reference: it does not
    keep the network alive). :meth:`changes` says what was edited since."""

    def __init__(self, network: Network) -> None:
        self._network = weakref.ref(network)
        self.name = network.name
        self.revision = network.revision()

    @property
    def network(self) -> Network | None:
        """The network, or None when it no longer exists."""
        return self._network()

    def changes(self) -> list[str]:
        """What changed since the stamp: ``"the structure (...)"`` and the processes edited;
        empty when nothing did (or the network is gone)."""
        network = self._network()
        if network is None:
            return []
        now = network.revision()
        changed = []
        if now.get("") != self.revision.get(""):
            changed.append("its structure (processes added or connections made)")
        changed += [f"'{name}'" for name, rev in now.items()
                    if name and self.revision.get(name, rev) != rev]
        return changed
