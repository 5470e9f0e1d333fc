"""The network of ``nmgraph demo``: a small excitatory-inhibitory network driven by Poisson input.

Populations (names as in the network)::

    input  PoissonSource, 100 units, spike probability 0.05 per step (50 Hz at 1 ms/step)
    exc    LIF, 400 excitatory neurons
    inh    LIF, 100 inhibitory neurons

Each projection connects every (post, pre) pair independently with a fixed probability
(``fixed_probability``, each from its own seed derived from ``seed``), all with delay 1: input ->
exc and input -> inh with p = 0.2, exc -> exc and exc -> inh with p = 0.1, inh -> exc and inh -> inh
with p = 0.2. Sparse blocks carry the excitatory recurrence and Dense blocks the rest, so the demo
exercises both. A constant bias holds the neurons below threshold and the input's fluctuations make
them fire; the recurrent loop gives irregular firing with a weak population rhythm, at about 12 Hz
(excitatory) and 17 Hz (inhibitory) at 1 ms per step, with roughly one neuron in eight silent
(values of the default seed; other seeds are alike).
"""

from __future__ import annotations

from dataclasses import dataclass

from nmgraph.compilers.executable import Executable
from nmgraph.compilers.pipeline import compile_network
from nmgraph.core.checks import as_int_scalar
from nmgraph.core.network import Network
from nmgraph.processes import LIF, Dense, PoissonSource, Sparse, fixed_probability
from nmgraph.processes.sources import SEED_MAX
from nmgraph.runtimes.results import Counters, SpikeEvents
from nmgraph.tools.runtime import Runtime

__all__ = ["DEMO_POPULATIONS", "DemoParameters", "DemoResult", "build_demo_network", "run_demo"]

#: Names of the demo's spiking populations, bottom to top in its raster.
DEMO_POPULATIONS = ("input", "exc", "inh")


@dataclass(frozen=True)
class DemoParameters:
    """Sizes, rates and fixed-point parameters of the demo network.

    ``p_*`` are connection probabilities (``p_exc`` for projections from ``exc``, ``p_inh`` from
    ``inh``); weights are mantissas (``weight_exp = 0``). Both LIF populations have current and
    voltage time constants ``tau_u``, ``tau_v`` (steps), threshold ``vth << 6`` and a constant
    input ``bias_mant`` per step.
    """

    n_input: int = 100
    n_exc: int = 400
    n_inh: int = 100
    input_rate: float = 0.05
    p_input: float = 0.2
    p_exc: float = 0.1
    p_inh: float = 0.2
    w_input: int = 7
    w_exc_exc: int = 4
    w_exc_inh: int = 20
    w_inh_exc: int = -10
    w_inh_inh: int = -38
    tau_u: float = 5.0
    tau_v: float = 20.0
    vth: int = 800
    bias_mant: int = 300


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` gives back: spikes per population (in :data:`DEMO_POPULATIONS`
    order), the run's counters, the number of steps run, and the Executable it ran."""

    spikes: dict[str, SpikeEvents]
    counters: Counters
    steps: int
    executable: Executable


def build_demo_network(seed: int = 0, params: DemoParameters | None = None) -> Network:
    """Build the demo's excitatory-inhibitory network (see the module docstring).

    Parameters
    ----------
    seed
        0..2**64 - 1; seeds the Poisson input and, through fixed offsets, each projection's
        connectivity. The same seed gives the same network and the same spikes.
    params
        Sizes and parameters; :class:`DemoParameters` defaults when not given.
    """
    seed = as_int_scalar("build_demo_network", "seed", seed, low=0, high=SEED_MAX)
    p = params or DemoParameters()
    net = Network("demo")
    source = net.add(PoissonSource(shape=(p.n_input,), rate=p.input_rate, seed=seed, name="input"))
    exc = net.add(LIF.from_time_constants((p.n_exc,), tau_u=p.tau_u, tau_v=p.tau_v, vth=p.vth,
                                          bias_mant=p.bias_mant, name="exc"))
    inh = net.add(LIF.from_time_constants((p.n_inh,), tau_u=p.tau_u, tau_v=p.tau_v, vth=p.vth,
                                          bias_mant=p.bias_mant, name="inh"))
    projections = (  # (pre, post, probability, weight, synapse class, no self-connections)
        (source, exc, p.p_input, p.w_input, Dense, False),
        (source, inh, p.p_input, p.w_input, Dense, False),
        (exc, exc, p.p_exc, p.w_exc_exc, Sparse, True),
        (exc, inh, p.p_exc, p.w_exc_inh, Sparse, False),
        (inh, exc, p.p_inh, p.w_inh_exc, Dense, False),
        (inh, inh, p.p_inh, p.w_inh_inh, Dense, True),
    )
    for number, (pre, post, prob, weight, block, no_self) in enumerate(projections, start=1):
        weights = fixed_probability(pre.size, post.size, prob, weight,
                                    seed=_projection_seed(seed, number), allow_self=not no_self,
                                    sparse=block is Sparse)
        synapses = net.add(block(weights=weights, delay=1, name=f"{pre.name}_to_{post.name}"))
        net.connect(pre.s_out, synapses.s_in)
        net.connect(synapses.a_out, post.a_in)
    return net


def run_demo(steps: int = 1000, seed: int = 0, backend: str = "multicore",
             hardware: str = "loihi1", workers: int = 2, partition: str = "greedy",
             place: str = "linear", max_neurons_per_core: int | None = 100) -> DemoResult:
    """Build the demo network, compile it onto ``hardware``'s cores, run it for ``steps`` steps on
    ``backend`` (the multi-core runtime with ``workers`` processes by default) and collect the
    spikes and counters. Cores hold at most ``max_neurons_per_core`` neurons (100 by default, so
    that the small network spreads over several cores and the report has traffic to show)."""
    steps = as_int_scalar("nmgraph demo", "steps", steps, low=1)
    net = build_demo_network(seed)
    exe = compile_network(net, hardware=hardware, partition=partition, place=place, seed=seed,
                          max_neurons_per_core=max_neurons_per_core)
    options = {"workers": workers} if backend == "multicore" else {}
    with Runtime(exe, backend=backend, **options) as runtime:
        runtime.run(steps)
        spikes = {name: runtime.spikes(name) for name in DEMO_POPULATIONS}
        counters = runtime.counters
    return DemoResult(spikes=spikes, counters=counters, steps=steps, executable=exe)


def _projection_seed(seed: int, number: int) -> int:
    """A distinct connectivity seed per projection, from the network seed (kept below 2**64)."""
    return (seed * 16 + number) % 2**64
