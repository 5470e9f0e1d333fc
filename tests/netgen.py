"""Random network generators shared by the tests (hypothesis strategies and fixed builders)."""

from __future__ import annotations

import numpy as np
import scipy.sparse
from hypothesis import strategies as st

import nmgraph as nm
from nmgraph.processes import (
    ALIF,
    IF,
    LIF,
    Dense,
    LIFRefractory,
    PoissonSource,
    Sparse,
    SpikeGenerator,
)

NEURON_KINDS = ("lif", "alif", "if")


def random_network(seed: int, *, n_pops: int = 3, max_size: int = 40, max_delay: int = 8,
                   p_connect: float = 0.5, even_weights: bool = False,
                   recurrent: bool = True, kinds: tuple[str, ...] = NEURON_KINDS) -> nm.Network:
    """A random network of neuron populations of the given kinds (LIF, ALIF, IF,
    LIFRefractory) driven by Poisson and generator sources, with Dense and Sparse projections
    (several into one port, recurrent loops, delays)."""
    rng = np.random.default_rng(seed)
    net = nm.Network(f"random{seed}")
    pops = []
    for i in range(n_pops):
        n = int(rng.integers(1, max_size + 1))
        kind = kinds[int(rng.integers(len(kinds)))]
        common = {"vth": int(rng.integers(1, 200)), "bias_mant": int(rng.integers(-50, 200)),
                  "bias_exp": int(rng.integers(0, 3))}
        if kind == "lif_refractory":
            pop = LIFRefractory(shape=(n,), du=int(rng.integers(0, 4096)),
                                dv=int(rng.integers(0, 4096)),
                                refractory_period=rng.integers(0, 6, n), name=f"ref{i}",
                                **common)
        elif kind == "lif":
            pop = LIF(shape=(n,), du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)),
                      name=f"lif{i}", **common)
        elif kind == "alif":
            pop = ALIF(shape=(n,), du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)),
                       db=int(rng.integers(0, 4096)), beta=int(rng.integers(0, 100)),
                       name=f"alif{i}", **common)
        else:
            pop = IF(shape=(n,), name=f"if{i}", **common)
        pops.append(net.add(pop))
    n_src = int(rng.integers(1, max_size + 1))
    sources = [net.add(PoissonSource(shape=(n_src,), rate=float(rng.uniform(0.05, 0.5)),
                                     seed=int(rng.integers(0, 2**63)), name="poisson"))]
    steps = int(rng.integers(1, 30))
    data = rng.random((steps, int(rng.integers(1, max_size + 1)))) < 0.3
    sources.append(net.add(SpikeGenerator(data=data, repeat=bool(rng.integers(2)), name="gen")))
    senders = sources + (pops if recurrent else [])
    count = 0
    for post in pops:
        for pre in senders:
            if rng.random() > p_connect and pre is not sources[0]:
                continue
            n_post, n_pre = post.size, pre.size
            weights = rng.integers(-255, 256, size=(n_post, n_pre))
            weights[rng.random((n_post, n_pre)) < 0.5] = 0
            if even_weights:
                weights = np.sign(weights) * (np.abs(weights) // 2 * 2)
            delay = rng.integers(1, max_delay + 1, size=(n_post, n_pre))
            exp = int(rng.integers(0, 3))
            if rng.integers(2):
                syn = Dense(weights=weights, weight_exp=exp, delay=delay, name=f"syn{count}")
            else:
                coo = scipy.sparse.coo_matrix(weights)
                syn = Sparse(weights=coo, weight_exp=exp, delay=delay[coo.row, coo.col],
                             name=f"syn{count}")
            net.add(syn)
            net.connect(pre.s_out, syn.s_in)
            net.connect(syn.a_out, post.a_in)
            count += 1
    return net


network_seeds = st.integers(min_value=0, max_value=2**31 - 1)


def clustered_network(communities: int = 8, size: int = 64, p_in: float = 0.3,
                      p_out: float = 0.005, seed: int = 0) -> tuple[nm.Network, np.ndarray]:
    """One LIF population of ``communities * size`` neurons, densely connected within planted
    communities and sparsely between them, in shuffled order. Returns the network and each
    neuron's community."""
    rng = np.random.default_rng(seed)
    n = communities * size
    community = rng.permutation(np.repeat(np.arange(communities), size))
    same = community[:, None] == community[None, :]
    p = np.where(same, p_in, p_out)
    mask = rng.random((n, n)) < p
    np.fill_diagonal(mask, False)
    weights = np.where(mask, 3, 0)
    net = nm.Network("clustered")
    drive = net.add(PoissonSource(shape=(n,), rate=0.05, seed=seed, name="drive"))
    cells = net.add(LIF(shape=(n,), du=300, dv=300, vth=100, name="cells"))
    inp = net.add(Sparse(weights=scipy.sparse.identity(n, dtype=np.int64, format="coo") * 100,
                         name="input"))
    rec = net.add(Sparse(weights=scipy.sparse.coo_matrix(weights), name="recurrent"))
    net.connect(drive.s_out, inp.s_in)
    net.connect(inp.a_out, cells.a_in)
    net.connect(cells.s_out, rec.s_in)
    net.connect(rec.a_out, cells.a_in)
    return net, community
