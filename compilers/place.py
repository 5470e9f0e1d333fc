"""Placement: each core of a partition gets a chip, an index within the chip and mesh coordinates.

Geometry (see ``compilers/hardware.py``): a chip holds ``profile.cores_per_chip`` cores on its
``(rows, cols)`` mesh, core ``i`` of a chip at ``(i % cols, i // cols)``; chips tile a grid of chips
(``profile.chip_grid``: the profile's ``chip_mesh`` or a near-square grid), chip ``k`` at
``(k % grid_cols, k // grid_cols)``; a core's global position is
``chip_xy * (cols, rows) + (x, y)``.
Every place of the chip grid is listed in ``Placement.chip_xy``, so the grid is a full rectangle
and every X-then-Y route runs over chips that exist; chips beyond those the cores need stay empty
(chips *used* are ``np.unique(core_chip)``). The generic profile is one chip sized for the cores.

Hops are counted on the mesh of cores (``topology = "core_mesh"``: Loihi, TrueNorth, generic) or
on the grid of chips (``"chip_router"``: SpiNNaker, where the cores of a chip share one router);
:func:`hop_positions` gives the coordinates hops are counted on. A grid of chips with
``chip_links = 6`` (SpiNNaker's E, NE, N, W, SW, S links) counts the hexagonal distance
``max(|dx|, |dy|)`` when ``dx`` and ``dy`` have the same sign, else ``|dx| + |dy|``
(:func:`~nmgraph.compilers.topology.hex_distance`); every other grid and mesh ``|dx| + |dy|``.

Strategies:

``linear``
    Core ``i`` goes to chip ``i // cores_per_chip``, index ``i % cores_per_chip``.
``traffic``
    Reduces the hop-weighted expected traffic ``sum_ij T[i, j] * hops(i, j)`` (``T`` from
    :func:`core_traffic`): greedy seeding (cores in order of their traffic with the cores already
    placed, each at the free place nearest the weighted median of its placed partners), then a
    bounded local search (each core, in a seeded random order, tries moving to or swapping with the
    places nearest the weighted median of its partners; a move is kept when it lowers the cost).
    The search starts from the cheaper of the greedy and the linear placement, so ``traffic``
    never costs more than ``linear``. Deterministic for a given seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from nmgraph.compilers.hardware import load_profile
from nmgraph.compilers.mapping_data import Partition, Placement
from nmgraph.compilers.synapse_graph import SynapseGraph, axon_pairs
from nmgraph.core.errors import MappingError, ValidationError

__all__ = ["STRATEGIES", "ChipLayout", "chip_layout", "core_traffic", "hop_positions",
           "hop_weighted_traffic", "place", "routed_pairs"]

#: Placement strategies, by name.
STRATEGIES = ("linear", "traffic")

#: Local search budget of the ``traffic`` strategy: it stops after this many passes over the
#: cores, after a pass that improves nothing, after this many core visits, or after this many
#: partner terms evaluated (a count, not a time, so results never depend on the machine).
SEARCH_PASSES = 8
SEARCH_VISITS = 20_000
SEARCH_TERMS = 50_000_000
#: Places tried per core visit (the ones nearest the weighted median of its partners).
SEARCH_CANDIDATES = 12
#: Placed partners (the heaviest) that steer a core's place during greedy seeding.
SEED_PARTNERS = 64
#: Free places compared exactly for each core during greedy seeding.
SEED_CANDIDATES = 8


@dataclass(frozen=True)
class ChipLayout:
    """How the cores of a partition tile chips, and chips tile the system.

    Attributes
    ----------
    cores_per_chip
        Places per chip (for the generic profile: the number of cores).
    mesh
        ``(rows, cols)`` of a chip's core mesh.
    grid
        ``(rows, cols)`` of the grid of chips.
    chips_needed
        Chips the cores fill (``ceil(n_cores / cores_per_chip)``); the grid may hold more.
    topology
        ``"core_mesh"`` or ``"chip_router"`` (where hops are counted).
    chip_links
        Links per chip of a ``chip_router`` grid (4, or 6 for SpiNNaker's hexagonal links).
    """

    cores_per_chip: int
    mesh: tuple[int, int]
    grid: tuple[int, int]
    chips_needed: int
    topology: str
    chip_links: int = 4

    @property
    def hexagonal(self) -> bool:
        """Whether hops are counted on a six-link grid of chips."""
        return self.topology == "chip_router" and self.chip_links == 6

    @property
    def n_chips(self) -> int:
        return self.grid[0] * self.grid[1]

    def chip_xy(self) -> np.ndarray:
        """int64 ``(n_chips, 2)``: the grid position of every chip (row-major)."""
        chips = np.arange(self.n_chips, dtype=np.int64)
        return np.stack([chips % self.grid[1], chips // self.grid[1]], axis=1)

    def slot_xy(self, slots: np.ndarray) -> np.ndarray:
        """int64 ``(n, 2)``: global mesh position of places ``chip * cores_per_chip + index``."""
        slots = np.asarray(slots, dtype=np.int64)
        chip, index = np.divmod(slots, self.cores_per_chip)
        rows, cols = self.mesh
        x = (chip % self.grid[1]) * cols + index % cols
        y = (chip // self.grid[1]) * rows + index // cols
        return np.stack([x, y], axis=1)

    def slot_hop_xy(self, slots: np.ndarray) -> np.ndarray:
        """Coordinates hops are counted on for places ``slots`` (cores or chips)."""
        if self.topology == "chip_router":
            return self.chip_xy()[np.asarray(slots, dtype=np.int64) // self.cores_per_chip]
        return self.slot_xy(slots)

    def placement(self, core_slot: np.ndarray, strategy: str) -> Placement:
        core_slot = np.asarray(core_slot, dtype=np.int64)
        chip, index = np.divmod(core_slot, self.cores_per_chip)
        return Placement(core_chip=chip, core_index=index, core_xy=self.slot_xy(core_slot),
                         chip_xy=self.chip_xy(), strategy=strategy)


def chip_layout(profile, n_cores: int) -> ChipLayout:
    """The chip layout for ``n_cores`` cores on ``profile``; raises MappingError if they do not fit.

    The grid of chips is the profile's ``chip_mesh``, else a near-square grid for the chips needed;
    when that grid has more places than ``chips_available``, the squarest rectangle that holds the
    chips needed within the chips available is used instead.
    """
    profile = load_profile(profile)
    topology = profile.topology
    if profile.cores_per_chip is None:
        per_chip = max(int(n_cores), 1)
        return ChipLayout(per_chip, tuple(profile.mesh(per_chip)), (1, 1), 1, topology,
                          profile.chip_links)
    per_chip = int(profile.cores_per_chip)
    needed = max(profile.chips_needed(int(n_cores)), 1)
    limit = profile.max_chips
    if limit is not None and needed > limit:
        where = f"system '{profile.system}'" if profile.system else profile.label
        systems = ", ".join(f"{name} ({count} chips)" for name, count in profile.systems.items())
        bigger = f"a larger system ({systems})" if systems else "a profile with more chips"
        raise MappingError(
            f"placement on {profile.label}: the partition needs {needed} chips ({n_cores} cores "
            f"at {per_chip} cores per chip) but {where} has {limit}; choose {bigger}, or fill "
            f"cores more fully (fewer cores) so that at most {limit * per_chip} cores are needed")
    grid = tuple(profile.chip_grid(needed))
    if profile.chip_mesh is None and limit is not None and grid[0] * grid[1] > limit:
        grid = _fitting_grid(needed, limit)
    return ChipLayout(per_chip, tuple(profile.mesh()), grid, needed, topology, profile.chip_links)


def _fitting_grid(needed: int, limit: int) -> tuple[int, int]:
    """The squarest (rows, cols) grid with ``needed <= rows * cols <= limit`` (cols >= rows)."""
    best = (1, needed)
    for rows in range(1, math.isqrt(needed) + 1):
        cols = -(-needed // rows)
        if rows * cols <= limit and (cols, rows * cols) < (best[1], best[0] * best[1]):
            best = (rows, cols)
    return best


def hop_positions(placement: Placement, profile) -> np.ndarray:
    """int64 ``(n_cores, 2)``: where each core sits for counting hops.

    Its global mesh position on ``core_mesh`` profiles; its chip's grid position on
    ``chip_router`` profiles (SpiNNaker), where a message within a chip takes no hop.
    """
    if load_profile(profile).topology == "chip_router":
        return placement.chip_xy[placement.core_chip]
    return placement.core_xy


# --------------------------------------------------------------------------------------------------
# traffic
# --------------------------------------------------------------------------------------------------

def routed_pairs(partition: Partition, graph: SynapseGraph,
                 pairs: tuple[np.ndarray, np.ndarray] | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The (source unit, destination core) pairs of a partition: ``pairs`` checked, or computed.

    ``pairs``, when given, is what ``axon_pairs(graph, partition.unit_core)`` returned (sorted by
    source, then core); passing it lets the passes of one compilation share it.
    """
    unit_core = np.asarray(partition.unit_core, dtype=np.int64)
    if unit_core.shape != (graph.n_units,):
        raise ValidationError("Partition", "unit_core", f"must have one core per unit of the "
                              f"synapse graph ({graph.n_units})", unit_core.shape)
    if unit_core.size and (unit_core.min() < 0 or unit_core.max() >= partition.n_cores):
        raise ValidationError("Partition", "unit_core",
                              f"core ids must be in 0..{partition.n_cores - 1}")
    if pairs is None:
        return axon_pairs(graph, unit_core, partition.n_cores)
    sources, cores = (np.asarray(a) for a in pairs)
    if sources.dtype.kind not in "iu" or cores.dtype.kind not in "iu":
        raise ValidationError("place", "pairs", "must be integer arrays, as axon_pairs returns")
    if sources.ndim != 1 or sources.shape != cores.shape:
        raise ValidationError("place", "pairs", "must be two 1-D arrays (sources, cores) of "
                              "equal length, as axon_pairs returns")
    if sources.size > 1 and not np.all(sources[1:] >= sources[:-1]):
        raise ValidationError("place", "pairs", "must be sorted by source, then core, as "
                              "axon_pairs returns them")
    return sources, cores


def _check_rates(rates: np.ndarray | None, n_units: int) -> np.ndarray | None:
    if rates is None:
        return None
    values = np.asarray(rates, dtype=np.float64)
    if values.shape != (n_units,):
        raise ValidationError("place", "rates", f"must have one expected spike count per step "
                              f"for each of the {n_units} units", values.shape)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValidationError("place", "rates", "must be finite and >= 0 (spikes per step)")
    return values


def core_traffic(partition: Partition, graph: SynapseGraph, rates: np.ndarray | None = None, *,
                 pairs: tuple[np.ndarray, np.ndarray] | None = None) -> sp.csr_matrix:
    """Expected spike messages from core to core.

    ``T[i, j]`` is the sum, over the units ``u`` of core ``i`` that reach core ``j``, of
    ``rates[u]`` (expected spikes per step: messages per step), or of 1 when ``rates`` is None
    (messages per spike of every unit). One message per (source unit, destination core) pair, as
    on Loihi; the diagonal holds the messages a core sends to itself.

    Returns a float64 ``(n_cores, n_cores)`` CSR matrix without duplicate entries (its column
    indices are not sorted: call ``sort_indices()`` if needed). ``pairs`` (the result of
    ``axon_pairs``) skips recomputing them.
    """
    n_cores = partition.n_cores
    values = _check_rates(rates, graph.n_units)
    sources, cores = routed_pairs(partition, graph, pairs)
    dest_indptr = np.zeros(graph.n_units + 1, dtype=np.int64)
    np.cumsum(np.bincount(sources, minlength=graph.n_units), out=dest_indptr[1:])
    # T = membership (core x unit, weighted by rate) @ routes (unit x core): a sparse product, so
    # the per-pair work happens in scipy's C++ and never per pair in Python.
    routes = sp.csr_matrix((np.ones(cores.size), cores, dest_indptr),
                           shape=(graph.n_units, n_cores))
    core_indptr, core_units = partition.core_units()
    weights = np.ones(graph.n_units) if values is None else values[core_units]
    membership = sp.csr_matrix((weights, core_units, core_indptr), shape=(n_cores, graph.n_units))
    return (membership @ routes).tocsr()


def hop_weighted_traffic(traffic: sp.spmatrix, placement: Placement, profile) -> float:
    """``sum_ij T[i, j] * hops(i, j)``: the cost the ``traffic`` strategy lowers.

    ``hops`` is the distance between :func:`hop_positions`: the unicast X-then-Y hop count
    ``|dx| + |dy|``, or on six-link chip grids the hexagonal distance.
    """
    profile = load_profile(profile)
    traffic = sp.csr_matrix(traffic)
    return _cost(np.diff(traffic.indptr), traffic.indices, traffic.data,
                 hop_positions(placement, profile), _hexagonal(profile))


def _hexagonal(profile) -> bool:
    return profile.topology == "chip_router" and profile.chip_links == 6


def _distance(dx: np.ndarray, dy: np.ndarray, hexagonal: bool) -> np.ndarray:
    """Hops for coordinate differences (floats or ints, broadcast): ``|dx| + |dy|``, or on a
    six-link grid ``max(|dx|, |dy|)`` where ``dx`` and ``dy`` have the same sign."""
    ax, ay = np.abs(dx), np.abs(dy)
    if not hexagonal:
        return ax + ay
    return np.where(dx * dy >= 0, np.maximum(ax, ay), ax + ay)


def _cost(row_lengths: np.ndarray, cols: np.ndarray, weights: np.ndarray,
          xy: np.ndarray, hexagonal: bool = False) -> float:
    """``sum_k weights[k] * hops(xy[row(k)], xy[cols[k]])`` for entries grouped by row (CSR)."""
    if not weights.size:
        return 0.0
    x, y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
    along = np.repeat(x, row_lengths)
    along -= x[cols]
    across = np.repeat(y, row_lengths)
    across -= y[cols]
    return float(np.dot(weights, _distance(along, across, hexagonal)))


# --------------------------------------------------------------------------------------------------
# the pass
# --------------------------------------------------------------------------------------------------

def place(partition: Partition, graph: SynapseGraph, profile, strategy: str = "linear",
          seed: int = 0, rates: np.ndarray | None = None, *,
          pairs: tuple[np.ndarray, np.ndarray] | None = None) -> Placement:
    """Place the cores of ``partition`` on the chips of ``profile``.

    Parameters
    ----------
    partition
        The cores to place.
    graph
        The synapse graph the partition was made from (for ``traffic``).
    profile
        A HardwareProfile or anything :func:`~nmgraph.compilers.hardware.load_profile` accepts.
    strategy
        ``"linear"`` or ``"traffic"`` (see the module docstring).
    seed
        Seeds the order of the local search of ``traffic``; the same seed gives the same placement.
    rates
        Optional expected spikes per step of each unit (float ``(n_units,)``) to weight the
        traffic; without it every unit counts one spike.
    pairs
        ``axon_pairs(graph, partition.unit_core)`` if already computed.

    Raises
    ------
    MappingError
        The cores need more chips than the profile (or its system) has.
    ValidationError
        Unknown strategy, bad seed or bad rates.
    """
    if strategy not in STRATEGIES:
        raise ValidationError("place", "strategy", "unknown placement strategy; strategies: "
                              + ", ".join(STRATEGIES), strategy)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValidationError("place", "seed", "must be an int", seed)
    profile = load_profile(profile)
    n_cores = partition.n_cores
    layout = chip_layout(profile, n_cores)
    linear = np.arange(n_cores, dtype=np.int64)
    if strategy == "linear" or n_cores <= 1:
        _check_rates(rates, graph.n_units)
        return layout.placement(linear, strategy)
    traffic = core_traffic(partition, graph, rates, pairs=pairs)
    core_slot = _traffic_slots(traffic, layout, int(seed))
    return layout.placement(core_slot, strategy)


def _traffic_slots(traffic: sp.csr_matrix, layout: ChipLayout, seed: int) -> np.ndarray:
    """Places (``chip * cores_per_chip + index``) for each core, by the ``traffic`` strategy."""
    n_cores = traffic.shape[0]
    n_slots = layout.chips_needed * layout.cores_per_chip
    slot_xy = layout.slot_hop_xy(np.arange(n_slots))
    # a core's messages to itself cost no hop: drop the diagonal
    rows = np.repeat(np.arange(n_cores, dtype=np.int32), np.diff(traffic.indptr))
    keep = rows != traffic.indices
    row_lengths = np.bincount(rows[keep], minlength=n_cores)
    cols, weights = traffic.indices[keep], traffic.data[keep]
    del rows, keep
    indptr = np.zeros(n_cores + 1, dtype=np.int64)
    np.cumsum(row_lengths, out=indptr[1:])
    off_diagonal = sp.csr_matrix((weights, cols, indptr), shape=traffic.shape)
    symmetric = (off_diagonal + off_diagonal.T).tocsr()

    linear = np.arange(n_cores, dtype=np.int64)
    hexagonal = layout.hexagonal
    greedy = _greedy_slots(symmetric, slot_xy, hexagonal)
    greedy_cost = _cost(row_lengths, cols, weights, slot_xy[greedy], hexagonal)
    linear_cost = _cost(row_lengths, cols, weights, slot_xy[linear], hexagonal)
    start = greedy if greedy_cost < linear_cost else linear
    # The search only makes moves that lower the cost, so it never ends above its start.
    return _local_search(symmetric, slot_xy, start, np.random.default_rng(seed), hexagonal)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def _greedy_slots(symmetric: sp.csr_matrix, slot_xy: np.ndarray,
                  hexagonal: bool = False) -> np.ndarray:
    """Greedy seeding: grow the placement from the busiest core outwards.

    Next comes the unplaced core with the most traffic to placed cores (or, when none has any, the
    busiest unplaced core); it takes, among the free places nearest the weighted median of its
    heaviest placed partners, the one with the lowest cost to them.
    """
    n_cores = symmetric.shape[0]
    indptr, indices, weights = symmetric.indptr, symmetric.indices, symmetric.data
    strength = np.asarray(symmetric.sum(axis=1)).ravel()
    slot_x, slot_y = slot_xy[:, 0].astype(np.float64), slot_xy[:, 1].astype(np.float64)
    center = (0.5 * (slot_x.min() + slot_x.max()), 0.5 * (slot_y.min() + slot_y.max()))
    core_slot = np.full(n_cores, -1, dtype=np.int64)
    taken = np.zeros(slot_xy.shape[0])  # +inf on places already taken
    attachment = np.zeros(n_cores)  # traffic to placed cores; -inf once placed
    for step in range(n_cores):
        core = int(np.argmax(attachment))
        if attachment[core] <= 0:
            core = int(np.argmax(np.where(core_slot < 0, strength, -1.0)))
        neighbours = indices[indptr[core]:indptr[core + 1]]
        neighbour_weights = weights[indptr[core]:indptr[core + 1]]
        placed = core_slot[neighbours] >= 0
        partners, placed_weights = neighbours[placed], neighbour_weights[placed]
        if partners.size > SEED_PARTNERS:
            top = np.argpartition(placed_weights, -SEED_PARTNERS)[-SEED_PARTNERS:]
            partners, placed_weights = partners[top], placed_weights[top]
        if partners.size:
            px, py = slot_x[core_slot[partners]], slot_y[core_slot[partners]]
            target = (_weighted_median(px, placed_weights), _weighted_median(py, placed_weights))
        else:
            target = center
        distance = _distance(slot_x - target[0], slot_y - target[1], hexagonal)
        distance += taken
        count = min(SEED_CANDIDATES, slot_xy.shape[0] - step)
        candidates = np.argpartition(distance, count - 1)[:count]
        if partners.size:
            cost = _distance(slot_x[candidates, None] - px, slot_y[candidates, None] - py,
                             hexagonal) @ placed_weights
        else:
            cost = np.zeros(candidates.size)
        best = candidates[np.lexsort((candidates, distance[candidates], cost))[0]]
        core_slot[core] = best
        taken[best] = np.inf
        attachment[neighbours] += neighbour_weights
        attachment[core] = -np.inf
    return core_slot


def _row_entries(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``indices``/``data`` of the entries of ``rows``, and each entry's row (0..)."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    total = int(lengths.sum())
    owner = np.repeat(np.arange(rows.size), lengths)
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + offsets, owner


def _local_search(symmetric: sp.csr_matrix, slot_xy: np.ndarray, start: np.ndarray,
                  rng: np.random.Generator, hexagonal: bool = False) -> np.ndarray:
    """Bounded local search: moves and pairwise swaps that lower the hop-weighted traffic.

    Visiting core ``a`` (at place ``sa``): the candidates are the places nearest the weighted
    median of its partners; moving ``a`` to candidate ``sb`` (and its occupant ``b``, if any, to
    ``sa``) changes the cost by ``C_a(sb) - C_a(sa) + C_b(sa) - C_b(sb) + 2 W_ab d(sa, sb)``, where
    ``C_x(s)`` is the cost of ``x``'s traffic with ``x`` at ``s``. The best negative change is made.
    """
    n_cores, n_slots = symmetric.shape[0], slot_xy.shape[0]
    indptr, indices, weights = symmetric.indptr, symmetric.indices, symmetric.data
    slot_x, slot_y = slot_xy[:, 0].astype(np.float64), slot_xy[:, 1].astype(np.float64)
    core_slot = start.copy()
    occupant = np.full(n_slots, -1, dtype=np.int64)
    occupant[core_slot] = np.arange(n_cores)
    weight_of = np.zeros(n_cores)  # W[a, :] scattered densely, to read W[a, b]
    visits = terms = 0
    count = min(SEARCH_CANDIDATES, n_slots - 1)
    for _ in range(SEARCH_PASSES):
        jitter = rng.random(n_slots) * 0.5  # seeded tie-breaking between equally near places
        improved = False
        for core in rng.permutation(n_cores):
            lo, hi = indptr[core], indptr[core + 1]
            if lo == hi:
                continue
            partners, partner_weights = indices[lo:hi], weights[lo:hi]
            px, py = slot_x[core_slot[partners]], slot_y[core_slot[partners]]
            tx, ty = _weighted_median(px, partner_weights), _weighted_median(py, partner_weights)
            here = core_slot[core]
            if slot_x[here] == tx and slot_y[here] == ty:
                continue
            distance = _distance(slot_x - tx, slot_y - ty, hexagonal) + jitter
            distance[here] = np.inf
            candidates = np.argpartition(distance, count - 1)[:count]
            own_now = partner_weights @ _distance(px - slot_x[here], py - slot_y[here],
                                                  hexagonal)
            own_there = _distance(slot_x[candidates, None] - px, slot_y[candidates, None] - py,
                                  hexagonal) @ partner_weights
            delta = own_there - own_now
            others = occupant[candidates]
            moved = others >= 0
            if moved.any():
                delta[moved] += _occupant_delta(others[moved], candidates[moved], here, indptr,
                                                indices, weights, core_slot, slot_x, slot_y,
                                                hexagonal)
                weight_of[partners] = partner_weights
                hop = _distance(slot_x[candidates[moved]] - slot_x[here],
                                slot_y[candidates[moved]] - slot_y[here], hexagonal)
                delta[moved] += 2.0 * weight_of[others[moved]] * hop
                weight_of[partners] = 0.0
                terms += int((indptr[others[moved] + 1] - indptr[others[moved]]).sum())
            visits += 1
            terms += (hi - lo) * (count + 1)
            best = int(np.argmin(delta))
            if delta[best] < -1e-9 * max(1.0, abs(own_now)):
                target_slot, other = candidates[best], occupant[candidates[best]]
                occupant[here], occupant[target_slot] = other, core
                core_slot[core] = target_slot
                if other >= 0:
                    core_slot[other] = here
                improved = True
            if visits >= SEARCH_VISITS or terms >= SEARCH_TERMS:
                return core_slot
        if not improved:
            break
    return core_slot


def _occupant_delta(others: np.ndarray, their_slots: np.ndarray, here: int, indptr: np.ndarray,
                    indices: np.ndarray, weights: np.ndarray, core_slot: np.ndarray,
                    slot_x: np.ndarray, slot_y: np.ndarray, hexagonal: bool) -> np.ndarray:
    """``C_b(here) - C_b(own place)`` for each occupant ``b`` moving to ``here``."""
    entries, owner = _row_entries(indptr, others)
    partner_slots = core_slot[indices[entries]]
    qx, qy = slot_x[partner_slots], slot_y[partner_slots]
    change = (_distance(qx - slot_x[here], qy - slot_y[here], hexagonal)
              - _distance(qx - slot_x[their_slots][owner], qy - slot_y[their_slots][owner],
                          hexagonal))
    return np.bincount(owner, weights=weights[entries] * change, minlength=others.size)
