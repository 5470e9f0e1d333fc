"""NetworkIR: a network flattened to populations (flat neuron ranges) and CSR projections.

The IR is what every later pass and both runtimes read. Neurons are numbered in a canonical order
(processes in the order they were added, hierarchies flattened depth-first), independent of any
partitioning. All values are fixed-point integers, so running the IR is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nmgraph.core.errors import SimulationError
from nmgraph.core.learning import LearningRule
from nmgraph.core.models import FieldSet, model_named

__all__ = ["NetworkIR", "Plasticity", "PopulationIR", "ProjectionIR"]

#: Largest delay a rule that changes delays may set (Loihi's 6-bit delays).
PLASTIC_DELAY_MAX = 62


@dataclass(eq=False)
class PopulationIR:
    """A population of units: neurons or sources, run by one model.

    Attributes
    ----------
    name
        Qualified process name (``parent/child`` inside hierarchical processes).
    process_type
        Class name of the process it came from (``LIF``, ``IF``, ``PoissonSource``...).
    model
        Name of the model that runs it (``lif``, ``alif``, ``poisson``, a user model's name...):
        the key of the model registry (``nmgraph.implements``).
    shape
        Shape of the process (units are numbered in C order).
    offset
        Global index of its first unit in the canonical order.
    params
        The model's ``Params`` dataclass: per-unit arrays (units on the last axis) and
        population-wide values, each of its declared fixed-point width.
    state
        The model's ``State`` dataclass: initial state, int64 arrays of one value per unit.
    """

    name: str
    process_type: str
    model: str
    shape: tuple[int, ...]
    offset: int
    params: FieldSet
    state: FieldSet

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def is_source(self) -> bool:
        """Sources emit spikes and take no synaptic input (as their model says)."""
        return model_named(self.model).is_source

    @property
    def stop(self) -> int:
        """One past the global index of its last unit."""
        return self.offset + self.size


@dataclass(eq=False)
class Plasticity:
    """What makes a projection plastic: its rule and the initial values of its learning state.

    Attributes
    ----------
    rule
        The learning rule.
    seed
        The seed of the rule's random streams: the rule's own, else one derived from the
        projection's name (so that a network gives the same run every time).
    w_bounds
        The range the rule keeps the weights in.
    tags
        int16 initial tag of each synapse, in the projection's synapse order.
    third_factor
        ``{trace: population}``: the post traces (``y2``, ``y3``) whose impulses come from the
        spikes of that population (see :attr:`ProjectionIR.modulates`).
    """

    rule: LearningRule
    seed: int
    w_bounds: tuple[int, int]
    tags: np.ndarray
    third_factor: dict[str, str]

    @property
    def d_bounds(self) -> tuple[int, int]:
        """The range a ``dd`` equation keeps the delays in."""
        return (1, PLASTIC_DELAY_MAX)

    def equals(self, other: Plasticity | None) -> bool:
        return (other is not None and self.rule == other.rule and self.seed == other.seed
                and tuple(self.w_bounds) == tuple(other.w_bounds)
                and self.third_factor == other.third_factor
                and np.array_equal(self.tags, other.tags))


@dataclass(eq=False)
class ProjectionIR:
    """The synapses of one synapse process from one population to another, as CSR by source unit.

    The synapses of source unit ``j`` are ``indptr[j]:indptr[j + 1]``, ordered by target.

    Attributes
    ----------
    name
        Qualified name of the synapse process.
    pre, post
        Names of the source and target populations.
    indptr
        int64, length ``n_pre + 1``.
    targets
        Target unit within ``post`` of each synapse: int32 (int64 when ``n_post >= 2**31``;
        IRs saved by older versions hold int64).
    weights
        int16 weight mantissa of each synapse (non-zero as declared; ``num_weight_bits`` and a
        profile's rule may turn some into 0, which stay synapses).
    delays
        uint8 delay of each synapse, in steps (>= 1).

    The arrays may be read-only views of the network's own (a ``Sparse`` given in CSR order, a
    uniform value broadcast): passes and runtimes read them and never write into them.
    weight_exp
        Each weight counts as ``weight << weight_exp``.
    num_weight_bits
        Declared precision of the weights: lowering drops their ``8 - num_weight_bits`` low bits
        (Lava's ``truncate_weights``; see :mod:`nmgraph.core.weights`).
    declared_weights
        The weights as the synapse process declared them, in the order of ``weights``, when the
        ``num_weight_bits`` truncation changed some (None otherwise). The quantization pass
        reports every change against them and drops them.
    """

    name: str
    pre: str
    post: str
    n_pre: int
    n_post: int
    indptr: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    delays: np.ndarray
    weight_exp: int = 0
    num_weight_bits: int = 8
    declared_weights: np.ndarray | None = None
    #: The learning rule and state of a plastic projection (None: fixed weights).
    learning: Plasticity | None = None
    #: For a third-factor projection, the post trace (``"y2"``, ``"y3"``) of the plastic
    #: projection of the same name that its spikes drive; its synapses carry no input (weights 0)
    #: and only say which post neurons each source unit reaches.
    modulates: str | None = None

    @property
    def is_plastic(self) -> bool:
        return self.learning is not None

    @property
    def carries_input(self) -> bool:
        """False for third-factor projections, whose spikes only drive learning traces."""
        return self.modulates is None

    @property
    def max_delay(self) -> int:
        """The largest delay its synapses have or (for a rule that changes delays) may reach."""
        if self.learning is not None and "d" in self.learning.rule.targets:
            return PLASTIC_DELAY_MAX
        return int(self.delays.max()) if self.n_synapses else 1

    @property
    def n_synapses(self) -> int:
        return int(self.targets.size)

    def effective_weights(self) -> np.ndarray:
        """``weights << weight_exp`` as int64: what a spike adds to the target's input."""
        return self.weights.astype(np.int64) << self.weight_exp

    def sources(self) -> np.ndarray:
        """Source unit of each synapse (int64), the COO row of the CSR."""
        return np.repeat(np.arange(self.n_pre, dtype=np.int64), np.diff(self.indptr))


@dataclass(eq=False)
class NetworkIR:
    """A lowered network: populations in canonical order and projections between them."""

    name: str
    populations: list[PopulationIR]
    projections: list[ProjectionIR]
    #: Length of a step in ms (the Network's ``dt_ms``): results and reports convert with it.
    dt_ms: float = 1.0

    def __post_init__(self) -> None:
        self._by_name = {pop.name: pop for pop in self.populations}

    def population(self, name: str) -> PopulationIR:
        """The population called ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            raise SimulationError(f"no population named '{name}' in network '{self.name}' "
                                  f"(populations: {sorted(self._by_name)})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def n_units(self) -> int:
        """Units of all populations, neurons and sources."""
        return sum(pop.size for pop in self.populations)

    @property
    def n_synapses(self) -> int:
        return sum(proj.n_synapses for proj in self.projections)

    @property
    def max_delay(self) -> int:
        """Largest synaptic delay in the network (1 when there are no synapses)."""
        return max((p.max_delay for p in self.projections if p.n_synapses), default=1)

    def projections_from(self, name: str) -> list[ProjectionIR]:
        return [proj for proj in self.projections if proj.pre == name]

    def projections_to(self, name: str) -> list[ProjectionIR]:
        return [proj for proj in self.projections if proj.post == name]

    def equals(self, other: NetworkIR, *, names: bool = True) -> bool:
        """True when both IRs describe the same network array for array.

        With ``names=False`` the population and projection names are not compared (only their
        order, contents and how they are linked).
        """
        if len(self.populations) != len(other.populations):
            return False
        if len(self.projections) != len(other.projections):
            return False
        rename = {a.name: b.name for a, b in zip(self.populations, other.populations)}
        for a, b in zip(self.populations, other.populations):
            if (names and a.name != b.name) or (a.model, a.shape, a.offset) != (
                    b.model, b.shape, b.offset):
                return False
            if not (a.params.equals(b.params) and a.state.equals(b.state)):
                return False
        for a, b in zip(self.projections, other.projections):
            if names and a.name != b.name:
                return False
            if (rename[a.pre], rename[a.post]) != (b.pre, b.post):
                return False
            if (a.n_pre, a.n_post, a.weight_exp) != (b.n_pre, b.n_post, b.weight_exp):
                return False
            for attr in ("indptr", "targets", "weights", "delays"):
                if not np.array_equal(getattr(a, attr), getattr(b, attr)):
                    return False
            if a.modulates != b.modulates or (a.learning is None) != (b.learning is None):
                return False
            if a.learning is not None and not a.learning.equals(b.learning):
                return False
        return True
