"""Random learning rules and random networks with plastic projections, for the learning tests.

:func:`rule_specs` draws rules from the grammar of :mod:`nmgraph.core.learning.grammar` as *strings*
(the parser is exercised by every example), with scales chosen from the typical size of each
term's factors so that weights move without always saturating. :func:`plastic_network` builds a
small network of LIF populations, Poisson and generator sources, fixed and plastic projections
(recurrent ones included) and third-factor inputs around those rules; :func:`plastic_cases`
draws both. A :class:`RuleSpec`'s repr is a reproducer: ``RuleSpec(...).rule()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse
from hypothesis import strategies as st

import nmgraph as nm
from nmgraph.processes import (
    LIF,
    Dense,
    LearningDense,
    LearningSparse,
    PoissonSource,
    Sparse,
    SpikeGenerator,
)

TRACES = ("x1", "x2", "y1", "y2", "y3")
FACTOR_VARS = ("x1", "x2", "y1", "y2", "y3", "w", "d", "t")
#: log2 of a factor's typical magnitude in these networks (traces ~32, weights ~64, delays ~3,
#: tags ~16): a term's exponent is chosen so that its typical change is 2**target units.
TYPICAL_BITS = {"x1": 5, "x2": 5, "y1": 5, "y2": 5, "y3": 5, "w": 6, "d": 2, "t": 4}
EXPONENTS = (-7, 8)
#: The largest typical product of a term's factors (2**10: two traces), which the smallest scale
#: 2**-7 turns into changes of about 8 units.
MAX_BITS = 10
#: Plastic delays stay within 1..62; fixed ones are drawn from 1..MAX_DELAY.
MAX_DELAY = 6


@dataclass(frozen=True)
class RuleSpec:
    """A learning rule as its constructor's arguments (the repr rebuilds it: a reproducer)."""

    dw: str
    dt: str | None = None
    dd: str | None = None
    impulses: tuple[int, ...] = (0, 0, 0, 0, 0)
    decays: tuple[int, ...] = (0, 0, 0, 0, 0)
    t_epoch: int = 1
    seed: int | None = 0
    w_bounds: tuple[int, int] | None = None
    third_factor: tuple[str, ...] = field(default=())

    def rule(self) -> nm.LearningRule:
        """The parsed rule (``nm.LearningRule``)."""
        traces = {}
        for name, impulse, decay in zip(TRACES, self.impulses, self.decays, strict=True):
            traces[f"{name}_impulse"], traces[f"{name}_decay"] = impulse, decay
        return nm.LearningRule(dw=self.dw, dt=self.dt, dd=self.dd, t_epoch=self.t_epoch,
                               seed=self.seed, w_bounds=self.w_bounds,
                               third_factor=self.third_factor, **traces)


def _scale_text(draw: st.DrawFn, magnitude: int, exponent: int) -> list[str]:
    """The items writing ``magnitude * 2**exponent`` in one of the grammar's spellings."""
    if exponent == 0:
        return [] if magnitude == 1 and draw(st.booleans()) else [str(magnitude)]
    style = draw(st.sampled_from(["m*2^e", "2^e*m", "(2^e)"]))
    power = f"2^{exponent}" if exponent < 0 or draw(st.booleans()) else f"2^+{exponent}"
    if magnitude == 1:
        return [f"({power})" if style == "(2^e)" else power]
    if style == "2^e*m":
        return [power, str(magnitude)]
    return [f"{magnitude}*{power}"]


@st.composite
def terms(draw: st.DrawFn, decimation: int, first: bool, required: str | None = None) -> str:
    """One signed product: scale, dependency (x0, y0, u / uk) and 0..3 factors (one of them
    ``required`` if given)."""
    dependency = draw(st.sampled_from(["x0", "y0", "u"]))
    if dependency == "u":
        dependency = f"u{decimation}" if decimation or draw(st.booleans()) else "u"
    # the typical change of the term per epoch is about 2**target units: a u term acts on every
    # synapse every epoch, a spike term on those whose neuron spiked (often, in these networks)
    # (moderate targets first: hypothesis's simplest examples use them)
    target = draw(st.sampled_from([-6, -5, -7, -4, -8, -3] if dependency.startswith("u")
                                  else [-5, -4, -6, -3, -7, -2]))
    items: list[str] = []
    spikes: list[str] = []
    bits = 0
    if required is not None:
        items.append(required)
        bits += TYPICAL_BITS[required]
    for _ in range(draw(st.integers(0, 2 if required else 3))):
        kind = draw(st.sampled_from(["var", "var", "var", "bracket", "sgn", "spike"]))
        name = draw(st.sampled_from(FACTOR_VARS))
        if kind in ("var", "bracket") and bits + TYPICAL_BITS[name] > MAX_BITS:
            kind = "sgn"   # the smallest scale could not keep this product moderate
        if kind == "spike":  # x0 / y0 as a 0/1 factor: after the dependency
            spikes.append(draw(st.sampled_from(["x0", "y0"])))
        elif kind == "sgn":
            name = draw(st.sampled_from(["w", "d", "t"]))
            constant = draw(st.integers(-8, 8))
            inner = name if constant == 0 else f"{name} {'+' if constant > 0 else '-'} {abs(constant)}"
            items.append(f"sgn({inner})")
        elif kind == "bracket":
            bits += TYPICAL_BITS[name]
            constant = draw(st.integers(-8, 8).filter(bool))
            items.append(f"({name} {'+' if constant > 0 else '-'} {abs(constant)})")
        else:
            bits += TYPICAL_BITS[name]
            items.append(name)
    mantissa = draw(st.integers(-8, 7).filter(bool))
    exponent = min(max(target - bits - (abs(mantissa).bit_length() - 1), EXPONENTS[0]), EXPONENTS[1])
    items += _scale_text(draw, abs(mantissa), exponent)
    items = draw(st.permutations(items))
    at = draw(st.integers(0, len(items)))
    items.insert(at, dependency)
    for spike in spikes:
        items.insert(draw(st.integers(at + 1, len(items))), spike)
    joiner = draw(st.sampled_from([" * ", "*"]))
    sign = "-" if mantissa < 0 else ("" if first and draw(st.booleans()) else "+")
    return f"{sign} {joiner.join(items)}".strip() if sign else joiner.join(items)


@st.composite
def equations(draw: st.DrawFn, decimation: int) -> str:
    """A sum of 1..4 products."""
    count = draw(st.integers(1, 4))
    return " ".join(draw(terms(decimation, index == 0)) for index in range(count))


@st.composite
def rule_specs(draw: st.DrawFn, third_factor: bool | None = None) -> RuleSpec:
    """A random rule: ``dw``, sometimes ``dt``, rarely ``dd``; random impulses (0..127) and
    decays (0..4095) per trace, ``t_epoch`` 1..4, a seed (or None: each plastic block derives
    one from its name), sometimes explicit weight bounds and third-factor traces, each read by a
    term added to ``dw`` (``third_factor``: always, never, or None: sometimes)."""
    decimation = draw(st.integers(0, 2))
    dw = draw(equations(decimation))
    dt = draw(equations(decimation)) if draw(st.integers(0, 9)) < 4 else None
    dd = draw(equations(decimation)) if draw(st.integers(0, 9)) == 0 else None
    impulses = tuple(draw(st.one_of(st.integers(0, 127), st.integers(8, 40))) for _ in TRACES)
    decays = tuple(draw(st.one_of(st.just(0), st.integers(0, 4095), st.integers(50, 800)))
                   for _ in TRACES)
    bounds = draw(st.sampled_from(["sign", "sign", "explicit"]))
    w_bounds = None
    if bounds == "explicit":
        low = draw(st.integers(-256, 100))
        w_bounds = (low, draw(st.integers(low + 60, 255)))
    if third_factor is None:
        third_factor = draw(st.integers(0, 2)) == 0
    third = draw(st.sampled_from([("y2",), ("y3",), ("y2", "y3")])) if third_factor else ()
    for trace in third:   # a reward-modulated term: the weight reads the third-factor trace
        dw += " " + draw(terms(decimation, False, required=trace))
    seed = draw(st.one_of(st.integers(0, 2**64 - 1), st.none()))
    return RuleSpec(dw=dw, dt=dt, dd=dd, impulses=impulses, decays=decays,
                    t_epoch=draw(st.integers(1, 4)), seed=seed, w_bounds=w_bounds,
                    third_factor=third)


@dataclass
class PlasticNetwork:
    """A built network and its plastic blocks (with their initial weights)."""

    net: nm.Network
    plastic: list[LearningDense | LearningSparse]
    initial: dict[str, np.ndarray]


def _initial_weights(rng: np.random.Generator, rule: nm.LearningRule, shape: tuple[int, int]
                     ) -> np.ndarray:
    """Weights within the rule's bounds, or of a random sign mode; a quarter of them zero when
    zero is allowed."""
    if rule.w_bounds is not None:
        low, high = rule.w_bounds
    else:
        low, high = [(0, 120), (0, 120), (-120, 0), (-100, 120)][int(rng.integers(4))]
    low = max(low, -255)   # -256 is allowed only beside positive weights
    weights = rng.integers(low, high + 1, size=shape)
    if low <= 0 <= high:
        weights[rng.random(shape) < 0.25] = 0
    return weights


def plastic_network(seed: int, specs: list[RuleSpec], *, n_pops: int | None = None,
                    max_size: int = 12, min_delay: int = 1) -> PlasticNetwork:
    """A network of 1..3 LIF populations driven by a Poisson source and a spike generator, with
    fixed (Dense, Sparse) and plastic (LearningDense, LearningSparse) projections, delays
    1..MAX_DELAY, recurrent ones (a plastic block from a population onto itself included); the
    plastic blocks use the rules of ``specs`` in turn (one block per rule at least, when there
    are enough pairs of populations; sometimes two blocks join the same pair), and a rule with a
    third factor gets a spike generator or Poisson source of 1 or n_post units on the block's
    port of each of its third-factor traces. Delays are
    drawn from ``min_delay..MAX_DELAY`` (a larger ``min_delay`` lets the multi-core runtime run
    windows of several steps between exchanges, unless a rule makes delays plastic)."""
    rng = np.random.default_rng(seed)
    rules = [spec.rule() for spec in specs]
    net = nm.Network(f"plastic{seed}")
    n_pops = int(rng.integers(1, 4)) if n_pops is None else n_pops
    pops = []
    for i in range(n_pops):
        pops.append(net.add(LIF(shape=(int(rng.integers(2, max_size + 1)),),
                                du=int(rng.integers(500, 3500)), dv=int(rng.integers(200, 2000)),
                                vth=int(rng.integers(100, 500)), bias_mant=int(rng.integers(-5, 20)),
                                bias_exp=int(rng.integers(0, 3)), name=f"lif{i}")))
    poisson = net.add(PoissonSource(shape=(int(rng.integers(4, 2 * max_size + 1)),),
                                    rate=float(rng.uniform(0.05, 0.3)),
                                    seed=int(rng.integers(0, 2**63)), name="poisson"))
    steps = int(rng.integers(5, 40))
    data = rng.random((steps, int(rng.integers(1, max_size + 1)))) < 0.2
    generator = net.add(SpikeGenerator(data=data, repeat=True, name="gen"))
    senders = [poisson, generator, *pops]
    pairs = [(pre, post) for post in pops for pre in senders
             if pre is poisson or rng.random() < 0.5]
    if rng.random() < 0.3:   # two blocks between the same populations
        pairs.append(pairs[int(rng.integers(len(pairs)))])
    # every rule gets a block; the rest are plastic with probability 1/2
    plastic_at = set(rng.permutation(len(pairs))[:len(rules)].tolist())
    plastic, initial = [], {}
    rule_index = 0
    for count, (pre, post) in enumerate(pairs):
        shape = (post.size, pre.size)
        delay = rng.integers(min_delay, MAX_DELAY + 1, size=shape)
        exp = int(rng.integers(0, 2))
        sparse = bool(rng.integers(2))
        if count in plastic_at or (len(pairs) > len(rules) and rng.random() < 0.5):
            rule, spec = rules[rule_index % len(rules)], specs[rule_index % len(rules)]
            rule_index += 1
            weights = _initial_weights(rng, rule, shape)
            tags = rng.integers(-16, 17, size=shape) if rng.integers(2) else 0
            size = 1 if rng.integers(2) else post.size
            name = f"plastic{count}"
            if sparse:
                mask = rng.random(shape) < 0.6
                mask[0, 0] = True
                rows, cols = np.nonzero(mask)
                order = rng.permutation(rows.size)   # entries in any order
                rows, cols = rows[order], cols[order]
                tag = tags if np.isscalar(tags) else tags[rows, cols]
                syn = LearningSparse((rows, cols, weights[rows, cols]), learning_rule=rule,
                                     shape=shape, weight_exp=exp, delay=delay[rows, cols],
                                     tags=tag, third_factor_size=size, name=name)
            else:
                syn = LearningDense(weights, learning_rule=rule, weight_exp=exp, delay=delay,
                                    tags=tags, third_factor_size=size, name=name)
            net.add(syn)
            plastic.append(syn)
            for trace in spec.third_factor:
                if rng.integers(2):
                    reward = rng.random((int(rng.integers(3, 30)), size)) < 0.3
                    gen = SpikeGenerator(data=reward, repeat=True, name=f"reward{count}{trace}")
                else:
                    gen = PoissonSource(shape=(size,), rate=float(rng.uniform(0.02, 0.3)),
                                        seed=int(rng.integers(0, 2**63)),
                                        name=f"reward{count}{trace}")
                net.add(gen)
                net.connect(gen.s_out, getattr(syn, f"s_in_{trace}"))
        else:
            weights = rng.integers(-40, 61, size=shape) * 2   # even: loihi1 keeps them exactly
            weights[rng.random(shape) < 0.4] = 0
            if sparse:
                coo = scipy.sparse.coo_matrix(weights)
                syn = Sparse(weights=coo, weight_exp=exp, delay=delay[coo.row, coo.col],
                             name=f"fixed{count}")
            else:
                syn = Dense(weights=weights, weight_exp=exp, delay=delay, name=f"fixed{count}")
            net.add(syn)
        net.connect(pre.s_out, syn.s_in)
        net.connect(syn.a_out, post.a_in)
    for syn in plastic:
        initial[syn.name] = syn.weights.value.copy()
    return PlasticNetwork(net, plastic, initial)


@st.composite
def plastic_cases(draw: st.DrawFn, max_rules: int = 2) -> tuple[int, list[RuleSpec]]:
    """``(network seed, rule specs)`` for :func:`plastic_network`."""
    specs = draw(st.lists(rule_specs(), min_size=1, max_size=max_rules))
    return draw(st.integers(0, 2**31 - 1)), specs
