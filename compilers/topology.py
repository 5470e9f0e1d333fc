"""Chip-to-chip network geometry: distances and multicast trees on 4- and 6-link chip grids.

SpiNNaker's chips sit at integer coordinates ``(x, y)`` and each chip's router has six links to
its neighbours (SpiNNMachine's link ids)::

    0 east (+1, 0)    1 north-east (+1, +1)    2 north (0, +1)
    3 west (-1, 0)    4 south-west (-1, -1)    5 south (0, -1)

so link ``l`` and link ``(l + 3) % 6`` are opposite. A shortest path between chips is a
*minimal vector* ``(x, y, z)`` of steps east, north and south-west (negative: west, south and
north-east) with ``x - z = dx`` and ``y - z = dy``; the minimal one subtracts the median of
``(dx, dy, 0)`` from each (rig / PACMAN ``minimise_xyz``). Its length, the hexagonal distance, is::

    d(dx, dy) = max(|dx|, |dy|)   when dx and dy have the same sign (diagonal steps help)
              = |dx| + |dy|       otherwise

On a 4-link grid (no diagonal) the distance is ``|dx| + |dy|``.

Multicast trees follow PACMAN's NER router (Neighbour Exploring Routing, Navaridas et al.,
"SpiNNaker: enhanced multicast routing", Parallel Computing 2015; PACMAN
``router_algorithms/ner_route.py``): destinations are taken in order of distance from the
source; each is joined to the nearest node already in the tree (within a radius of 20 hops, else
the source) by a *longest-dimension-first* path (the vector's components in order of decreasing
magnitude); where that path meets the tree, it starts from the last tree node it meets, so every
chip has one parent and receives each packet once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["HEX_LINKS", "NER_RADIUS", "Tree", "grid_distance", "hex_distance",
           "longest_dimension_first", "minimal_vector", "ner_tree"]

#: SpiNNaker's six links as (dx, dy), by link id (SpiNNMachine: E, NE, N, W, SW, S).
HEX_LINKS: tuple[tuple[int, int], ...] = ((1, 0), (1, 1), (0, 1), (-1, 0), (-1, -1), (0, -1))
#: PACMAN NER: tree nodes further than this from a destination are not tried as its parent.
NER_RADIUS = 20


def hex_distance(dx, dy):
    """Links on a shortest path across a 6-link chip grid (element-wise on arrays)."""
    dx, dy = np.asarray(dx), np.asarray(dy)
    same_sign = (dx >= 0) == (dy >= 0)
    return np.where(same_sign, np.maximum(np.abs(dx), np.abs(dy)), np.abs(dx) + np.abs(dy))


def grid_distance(dx, dy, links: int):
    """Links on a shortest path across a grid of chips with ``links`` (4 or 6) links each."""
    if links == 6:
        return hex_distance(dx, dy)
    return np.abs(np.asarray(dx)) + np.abs(np.asarray(dy))


def minimal_vector(dx: int, dy: int, links: int = 6) -> tuple[int, int, int]:
    """``(x, y, z)``: steps east, north and south-west (negative: the opposite way) of a shortest
    path by ``(dx, dy)``; ``z`` is 0 on a 4-link grid."""
    if links != 6:
        return dx, dy, 0
    median = sorted((dx, dy, 0))[1]
    return dx - median, dy - median, -median


#: link id of a positive / negative step along each vector component (x, y, z)
_STEP_LINK = ((0, 3), (2, 5), (4, 1))


def longest_dimension_first(vector: tuple[int, int, int],
                            start: tuple[int, int]) -> list[tuple[int, tuple[int, int]]]:
    """``[(link, (x, y)), ...]``: the chips a longest-dimension-first path by ``vector`` visits
    after ``start``, with the link taken to reach each (components of equal magnitude in the
    order x, y, z)."""
    order = sorted(range(3), key=lambda axis: -abs(vector[axis]))   # stable: x, y, z on ties
    x, y = start
    path = []
    for axis in order:
        steps = vector[axis]
        link = _STEP_LINK[axis][0 if steps > 0 else 1]
        ddx, ddy = HEX_LINKS[link]
        for _ in range(abs(steps)):
            x, y = x + ddx, y + ddy
            path.append((link, (x, y)))
    return path


@dataclass
class Tree:
    """A multicast tree over chips.

    Attributes
    ----------
    nodes
        Chip coordinates ``(x, y)``, the source first, in the order NER added them.
    in_link
        The link each node's packet arrived by, as the id of the link the parent sent it on
        (-1 for the source).
    out_links
        Bit ``l`` set when the node sends the packet on link ``l``.
    """

    nodes: list[tuple[int, int]]
    in_link: list[int]
    out_links: list[int]

    @property
    def n_links(self) -> int:
        """Chip-to-chip links the tree uses (each spike crosses each once)."""
        return len(self.nodes) - 1


def ner_tree(source: tuple[int, int], destinations: list[tuple[int, int]],
             links: int = 6, radius: int = NER_RADIUS) -> Tree:
    """The NER multicast tree from ``source`` to ``destinations`` (see the module docstring).

    Destinations at equal distance from the source are taken in the order given; among tree
    nodes at equal distance from a destination, the one added first is its parent.
    """
    nodes = [source]
    index = {source: 0}
    in_link, out_links = [-1], [0]
    xs, ys = [source[0]], [source[1]]
    ordered = sorted(destinations, key=lambda d: int(grid_distance(d[0] - source[0],
                                                                    d[1] - source[1], links)))
    for dest in ordered:
        if dest in index:
            continue
        distance = grid_distance(dest[0] - np.asarray(xs), dest[1] - np.asarray(ys), links)
        nearest = int(np.argmin(distance))   # the first added among the nearest
        parent = nodes[nearest] if distance[nearest] <= radius else source
        path = longest_dimension_first(minimal_vector(dest[0] - parent[0], dest[1] - parent[1],
                                                      links), parent)
        # where the path meets the tree, start from the last node it meets
        for step in range(len(path) - 1, -1, -1):
            if path[step][1] in index:
                parent, path = path[step][1], path[step + 1:]
                break
        here = index[parent]
        for link, chip in path:
            out_links[here] |= 1 << link
            index[chip] = len(nodes)
            nodes.append(chip)
            in_link.append(link)
            out_links.append(0)
            xs.append(chip[0])
            ys.append(chip[1])
            here = index[chip]
    return Tree(nodes, in_link, out_links)
