"""Data passed between the mapping passes: Partition (units -> cores), Placement (cores -> mesh),
Routing (spike routes). Plain dataclasses of arrays; the passes are functions in their own modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Partition", "Placement", "Routing"]

#: Resources a core has, in the order reports list them.
RESOURCES = ("neurons", "axons_in", "axons_out", "synapses", "synapse_bits")


@dataclass(eq=False)
class Partition:
    """Which core each unit lives on.

    Cores hold units of one kind only: ``"neuron"`` cores or ``"source"`` cores. The units of a core
    are listed in ascending global order; a core may hold units of several populations.

    Attributes
    ----------
    unit_core
        int64 ``(n_units,)``: the core of each unit.
    core_kind
        ``"neuron"`` or ``"source"`` for each core.
    usage
        Resource name -> int64 ``(n_cores,)`` use of each core (see :data:`RESOURCES`).
    lower_bound
        Resource name -> lower bound on cores that resource alone implies; ``"cores"`` is the max.
    strategy
        Name of the partitioning strategy.
    """

    unit_core: np.ndarray
    core_kind: list[str]
    usage: dict[str, np.ndarray]
    lower_bound: dict[str, int]
    strategy: str
    notes: list[str] = field(default_factory=list)

    @property
    def n_cores(self) -> int:
        return len(self.core_kind)

    def core_units(self) -> tuple[np.ndarray, np.ndarray]:
        """``(indptr, units)``: the units of core ``c`` are ``units[indptr[c]:indptr[c + 1]]``."""
        order = np.argsort(self.unit_core, kind="stable")
        indptr = np.zeros(self.n_cores + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.unit_core, minlength=self.n_cores), out=indptr[1:])
        return indptr, order.astype(np.int64)


@dataclass(eq=False)
class Placement:
    """Where each core sits.

    Attributes
    ----------
    core_chip
        int64 ``(n_cores,)`` chip index of each core.
    core_index
        int64 ``(n_cores,)`` index of the core within its chip (0..cores_per_chip - 1).
    core_xy
        int64 ``(n_cores, 2)`` global mesh coordinates ``(x, y)`` of each core: chips tile a grid,
        so a hop between two cores is a step of 1 in x or y, whether or not it crosses chips.
    chip_xy
        int64 ``(n_chips, 2)`` position of each chip in the grid of chips.
    strategy
        Name of the placement strategy.
    """

    core_chip: np.ndarray
    core_index: np.ndarray
    core_xy: np.ndarray
    chip_xy: np.ndarray
    strategy: str

    @property
    def n_chips(self) -> int:
        return int(self.chip_xy.shape[0])


@dataclass(eq=False)
class Routing:
    """Spike routes of a placed partition.

    For each source unit ``j``, its destination cores are
    ``dest_core[dest_indptr[j]:dest_indptr[j + 1]]`` (ascending), and ``dest_axon`` gives the input
    axon id of ``j`` on each of them. The input axons of core ``c`` are
    ``axon_source[axon_indptr[c]:axon_indptr[c + 1]]`` (global source units, ascending), so that
    ``dest_axon`` indexes that list.

    ``hops_x``/``hops_y`` count the hops of each (unit, destination core) message when sent
    unicast (Loihi); ``tree_hops`` counts the links of the multicast tree a unit's spike follows
    (SpiNNaker: its core's tree; see ``compilers/route.py``). ``chip_crossings`` counts chip
    boundaries crossed per (unit, destination) pair. ``router_entries`` gives the routing-table
    entries each chip holds (0 where the profile has no tables).

    The per-pair arrays (one entry per route: about one per synapse on big networks) are narrow:
    ``dest_core``, ``dest_axon`` and ``axon_source`` int32 (int64 beyond ``2**31`` ids),
    ``hops_x``, ``hops_y`` and ``chip_crossings`` int16 (int32 on meshes wider than ``2**14``);
    ``dest_indptr``, ``axon_indptr``, ``tree_hops`` and ``router_entries`` are int64. Files saved
    by older versions hold int64 everywhere; do arithmetic in int64.

    ``dest_axon`` follows from the other tables (it is ``axon_source`` transposed), and
    ``hops_x`` and ``hops_y`` from the cores' positions (which the routing pass keeps: a few
    numbers per core): the compiler lets go of these three once the synapse tables are built
    (:meth:`release_derived`; half of the routing's memory), and each is derived again, exactly
    as the routing pass made it, on first use after that (saving a file, inspecting it).
    :meth:`unit_hops` gives the hops of a range of units without deriving the whole arrays.
    """

    dest_indptr: np.ndarray
    dest_core: np.ndarray
    dest_axon: np.ndarray = field(repr=False)   # a property: see the end of the class
    axon_indptr: np.ndarray
    axon_source: np.ndarray
    hops_x: np.ndarray = field(repr=False)   # a property, as dest_axon
    hops_y: np.ndarray = field(repr=False)
    chip_crossings: np.ndarray
    tree_hops: np.ndarray
    router_entries: np.ndarray
    multicast: bool

    #: The :class:`~nmgraph.compilers.route_multicast.RouterTables` (keys, trees, uncompressed
    #: and compressed tables) on ``key_multicast`` profiles, set by the routing pass; None
    #: otherwise. Not a field: files do not store it (a loaded Executable's routing is rebuilt
    #: by the routing pass, which sets it).
    tables = None

    #: ``(x and y hop positions of the cores, core of each unit, diagonal links)`` from the
    #: routing pass: what ``hops_x`` and ``hops_y`` are derived from (None: they cannot be let
    #: go of). Not a field, as ``tables``.
    hop_source = None
    #: int64 ``(n_units, 2)``: each unit's ``hops_x`` and ``hops_y`` summed over its pairs, from
    #: the routing pass (None: sum them). Not a field.
    unit_hop_sums = None

    def release_derived(self) -> None:
        """Let go of ``dest_axon``, and of ``hops_x`` and ``hops_y`` when the routing pass left
        what they derive from (each derived again when next read)."""
        self._dest_axon = None
        if self.hop_source is not None:
            self._hops_x = self._hops_y = None

    def unit_hops(self, u0: int, u1: int) -> tuple[np.ndarray, np.ndarray]:
        """``(hops_x, hops_y)`` of the pairs of units ``u0 .. u1 - 1`` (held or derived)."""
        p0, p1 = int(self.dest_indptr[u0]), int(self.dest_indptr[u1])
        if self._hops_x is not None and self._hops_y is not None:
            return self._hops_x[p0:p1], self._hops_y[p0:p1]
        (node_x, node_y), unit_core, diagonal = self.hop_source
        counts = np.diff(self.dest_indptr[u0:u1 + 1])
        dest = self.dest_core[p0:p1]
        dx = node_x.take(dest)   # in the positions' dtype, as routed
        dx -= np.repeat(node_x[unit_core[u0:u1]], counts)
        dy = node_y.take(dest)
        dy -= np.repeat(node_y[unit_core[u0:u1]], counts)
        if not diagonal:
            return np.abs(dx, out=dx), np.abs(dy, out=dy)
        # diagonal (NE / SW) links shorten paths whose dx and dy have the same sign
        shortcut = np.where((dx >= 0) == (dy >= 0), np.minimum(np.abs(dx), np.abs(dy)), 0)
        hops_x, hops_y = np.abs(dx, out=dx), np.abs(dy, out=dy)
        hops_y -= shortcut.astype(hops_y.dtype, copy=False)
        return hops_x, hops_y

    def _derive_hops(self) -> None:
        from nmgraph.compilers.synapse_graph import row_chunks

        dtype = self.hop_source[0][0].dtype
        hops_x = np.empty(self.dest_core.size, dtype=dtype)
        hops_y = np.empty(self.dest_core.size, dtype=dtype)
        for u0, u1 in row_chunks(self.dest_indptr, 1 << 20):
            p0, p1 = int(self.dest_indptr[u0]), int(self.dest_indptr[u1])
            hops_x[p0:p1], hops_y[p0:p1] = self.unit_hops(u0, u1)
        self._hops_x, self._hops_y = hops_x, hops_y

    def _get_dest_axon(self) -> np.ndarray:
        if self._dest_axon is None:
            from nmgraph.compilers.route import axon_ranks

            self._dest_axon = axon_ranks(self.dest_indptr, self.dest_core, self.axon_indptr,
                                         self.axon_source)
        return self._dest_axon

    def _get_hops_x(self) -> np.ndarray:
        if self._hops_x is None:
            self._derive_hops()
        return self._hops_x

    def _get_hops_y(self) -> np.ndarray:
        if self._hops_y is None:
            self._derive_hops()
        return self._hops_y


def _setter(name: str):
    def set_value(routing: Routing, value: np.ndarray) -> None:
        setattr(routing, name, value)
    return set_value


Routing.dest_axon = property(Routing._get_dest_axon, _setter("_dest_axon"),
                             doc="Input axon of each (unit, destination core) pair on its core.")
Routing.hops_x = property(Routing._get_hops_x, _setter("_hops_x"),
                          doc="East-west hops of each (unit, destination core) pair.")
Routing.hops_y = property(Routing._get_hops_y, _setter("_hops_y"),
                          doc="North-south hops of each (unit, destination core) pair.")
