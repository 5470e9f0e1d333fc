"""Router-table minimisation: ordered covering (Mundy, Heathcote and Garside 2016).

A SpiNNaker router holds a TCAM table of ``(key, mask) -> route`` entries, searched in order: a
packet whose key ``k`` satisfies ``k & mask == key`` takes the route of the *first* such entry; a
packet that matches none leaves by the link opposite the one it came in on (default routing). An
entry's don't-care bits (*X*) are those where ``mask`` is 0; its *generality* is their number.

Ordered covering ("On-chip order-exploiting routing table minimization for a multicast
supercomputer network", IEEE HPSR 2016; the algorithm behind PACMAN's and rig's
``ordered_covering``) shrinks a table by replacing a set of entries that share a route with one
entry whose key/mask matches all of them, which may also match keys of other entries provided that
those sit *above* it in the table (order resolves the overlap):

1. sort the table by increasing generality;
2. for each route, the entries with that route form a candidate merge; the merged key/mask keeps the
   bits on which every member agrees (and is cared about) and makes the rest *X*; it is inserted
   before the first entry at least as general;
3. *up-check*: a member that an entry between it and the insertion point would intercept cannot
   move below that entry: it leaves the merge;
4. *down-check*: the merged entry must not match any key of an entry below it (tracking, through
   *aliases*, the original entries each merged entry stands for); members are removed, choosing the
   smallest set that sets one of the offending *X* bits, until it matches none;
5. apply the merge that removes most entries; repeat until no merge helps or the table fits.

Entries that default routing would replace (the packet continues straight through the chip to no
local core) must be in the input, flagged ``defaultable``, so that no merged entry captures a key
that passes through; afterwards a still-defaultable entry is dropped when nothing below it would
match its keys (rig's ``remove_default_routes``). The result routes every key of the input exactly
as the input does (``tests/test_route_compress.py`` checks it by brute force).

Keys here are non-negative ints of ``width`` bits (the routing key without the per-neuron bits,
which are *X* in every entry of a core's key block); routes are opaque ints (equal means same
links and cores).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

__all__ = ["Table", "intersect", "lookup", "ordered_covering", "remove_default_routes"]


@dataclass
class Table:
    """A router table in search order.

    Attributes
    ----------
    keys, masks
        Key and mask of each entry (ints of ``width`` bits; ``key & ~mask == 0``).
    routes
        Route id of each entry (equal ids: equal links and cores).
    defaultable
        Whether default routing would do what the entry does (the packet continues straight on).
    width
        Bits of a key.
    """

    keys: list[int]
    masks: list[int]
    routes: list[int]
    defaultable: list[bool]
    width: int

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def n_stored(self) -> int:
        """Entries the router must hold: every entry not replaced by default routing."""
        return sum(1 for flag in self.defaultable if not flag)


def intersect(key_a: int, mask_a: int, key_b: int, mask_b: int) -> bool:
    """True when some key matches both ``key_a/mask_a`` and ``key_b/mask_b``: the two agree on
    every bit both care about."""
    return (key_a ^ key_b) & mask_a & mask_b == 0


def lookup(table: Table, key: int) -> int | None:
    """Index of the first entry of ``table`` that ``key`` matches, or None (default routing)."""
    for index, (entry_key, mask) in enumerate(zip(table.keys, table.masks)):
        if key & mask == entry_key:
            return index
    return None


class _Merge:
    """A candidate merge: members (indices into the table) and the entry they would become."""

    __slots__ = ("generality", "insert_at", "key", "mask", "members")

    def __init__(self, table: Table, generality: list[int], members: frozenset[int]) -> None:
        full = (1 << table.width) - 1
        all_ones, any_ones, cared = full, 0, full
        for i in members:
            all_ones &= table.keys[i]
            any_ones |= table.keys[i]
            cared &= table.masks[i]
        agree = ~(all_ones ^ any_ones) & full     # bits where every member has the same value
        self.members = members
        self.mask = cared & agree
        self.key = all_ones & self.mask
        self.generality = table.width - self.mask.bit_count()
        # before the first entry at least as general (the table is sorted by generality)
        self.insert_at = bisect_left(generality, self.generality)

    @property
    def goodness(self) -> int:
        return len(self.members) - 1


def _generality(table: Table) -> list[int]:
    return [table.width - mask.bit_count() for mask in table.masks]


def _upcheck(table: Table, generality: list[int], merge: _Merge) -> _Merge:
    """Drop members that an entry between them and the insertion point would intercept."""
    for i in sorted(merge.members, reverse=True):
        if len(merge.members) < 2:
            break
        key, mask = table.keys[i], table.masks[i]
        if any(intersect(key, mask, table.keys[j], table.masks[j])
               for j in range(i + 1, merge.insert_at)):
            merge = _Merge(table, generality, merge.members - {i})
    return merge


def _downcheck(table: Table, generality: list[int], merge: _Merge,
               aliases: dict[tuple[int, int], frozenset[tuple[int, int]]]) -> _Merge:
    """Drop members until the merged entry matches no key of the entries below it."""
    width = table.width
    while len(merge.members) >= 2:
        covered = []
        for j in range(merge.insert_at, len(table)):
            km = (table.keys[j], table.masks[j])
            for key, mask in aliases.get(km, (km,)):
                if intersect(merge.key, merge.mask, key, mask):
                    covered.append((key, mask))
        if not covered:
            return merge
        # For each covered entry, the bits where the merge has an X and the entry does not: setting
        # any one of them (to the value opposite the entry's) avoids it. The covered entries with
        # the fewest such bits constrain the merge most.
        fewest, options = width + 1, set()
        for key, mask in covered:
            settable = mask & ~merge.mask
            count = settable.bit_count()
            if count < fewest:
                fewest, options = count, set()
            if count == fewest:
                options.update((bit, (key >> bit) & 1) for bit in range(width)
                               if settable >> bit & 1)
        if fewest == 0:
            return _Merge(table, generality, frozenset())
        # remove the fewest members: to give the merge the value opposite to the covered entry's
        # at `bit`, drop members with an X there or with the covered entry's value
        remove: set[int] | None = None
        for bit, value in sorted(options, reverse=True):
            drop = {i for i in merge.members
                    if not (table.masks[i] >> bit) & 1 or (table.keys[i] >> bit) & 1 == value}
            if remove is None or len(drop) < len(remove):
                remove = drop
        merge = _Merge(table, generality, merge.members - remove)
    return _Merge(table, generality, frozenset())


def _refine(table: Table, generality: list[int], merge: _Merge,
            aliases: dict[tuple[int, int], frozenset[tuple[int, int]]]) -> _Merge:
    merge = _downcheck(table, generality, merge, aliases)
    if len(merge.members) >= 2:
        checked = _upcheck(table, generality, merge)
        if checked.members != merge.members:
            merge = _downcheck(table, generality, checked, aliases)
    return merge


def _apply(table: Table, merge: _Merge,
           aliases: dict[tuple[int, int], frozenset[tuple[int, int]]]) -> Table:
    members = merge.members
    route = table.routes[next(iter(members))]
    default = all(table.defaultable[i] for i in members)
    stands_for: set[tuple[int, int]] = set()
    out = Table([], [], [], [], table.width)
    for i in range(len(table) + 1):
        if i == merge.insert_at:
            out.keys.append(merge.key)
            out.masks.append(merge.mask)
            out.routes.append(route)
            out.defaultable.append(default)
        if i == len(table):
            break
        km = (table.keys[i], table.masks[i])
        if i in members:
            stands_for.update(aliases.pop(km, (km,)))
        else:
            out.keys.append(km[0])
            out.masks.append(km[1])
            out.routes.append(table.routes[i])
            out.defaultable.append(table.defaultable[i])
    aliases[merge.key, merge.mask] = frozenset(stands_for)
    return out


def ordered_covering(table: Table, target: int | None = None) -> Table:
    """Minimise ``table`` by ordered covering (see the module docstring).

    Parameters
    ----------
    table
        The entries, in any order, orthogonal (no key matches two of them), with every entry
        default routing could replace present and flagged ``defaultable``.
    target
        Stop once the table has at most this many entries (defaultable ones included, as PACMAN
        counts during the search); None: merge while any merge removes an entry.

    Returns
    -------
    Table
        The minimised table in search order, defaultable entries removed where nothing below
        them would match their keys.
    """
    order = sorted(range(len(table)), key=lambda i: table.width - table.masks[i].bit_count())
    work = Table([table.keys[i] for i in order], [table.masks[i] for i in order],
                 [table.routes[i] for i in order], [table.defaultable[i] for i in order],
                 table.width)
    aliases: dict[tuple[int, int], frozenset[tuple[int, int]]] = {}
    while target is None or len(work) > target:
        generality = _generality(work)
        best: _Merge | None = None
        seen: set[int] = set()
        for i, route in enumerate(work.routes):
            if route in seen:
                continue
            seen.add(route)
            members = frozenset(j for j in range(i, len(work)) if work.routes[j] == route)
            if len(members) < 2 or (best is not None and len(members) - 1 <= best.goodness):
                continue
            merge = _refine(work, generality, _Merge(work, generality, members), aliases)
            if merge.goodness > 0 and (best is None or merge.goodness > best.goodness):
                best = merge
        if best is None:
            break
        work = _apply(work, best, aliases)
    return remove_default_routes(work)


def remove_default_routes(table: Table) -> Table:
    """``table`` without the defaultable entries that default routing can replace: those whose
    keys no entry below them would match (the keys then fall through to default routing)."""
    keep = []
    for i in range(len(table)):
        if table.defaultable[i] and not any(
                intersect(table.keys[i], table.masks[i], table.keys[j], table.masks[j])
                for j in range(i + 1, len(table))):
            continue
        keep.append(i)
    return Table([table.keys[i] for i in keep], [table.masks[i] for i in keep],
                 [table.routes[i] for i in keep], [table.defaultable[i] for i in keep],
                 table.width)
