"""Benchmark networks: the current-based Brunel network (issue 5) and a clustered network.

    from benchmarks.networks import brunel, clustered
    net = brunel(4000, 400, seed=0)              # N LIF neurons, in-degree K
    net = clustered(8, 512, 0.2, 0.002, seed=0)   # 8 communities of 512, shuffled order

Both build their connectivity with vectorised NumPy (no Python loop per neuron), so that
``brunel(1_000_000, 100)`` (100M synapses) builds in seconds rather than minutes. Brunel's blocks are
handed to ``Sparse`` ordered by source (:func:`by_source`), with int32 indices and one broadcast
weight, so that the network holds 9 bytes per synapse and the compiler's IR shares its arrays
instead of sorting and copying them.

The Brunel network
------------------
Brunel (2000), model A, in nmgraph's fixed point (delta-current synapses, 1 ms steps):

* ``exc``: ``0.8 N`` LIF neurons, ``inh``: ``0.2 N`` LIF neurons, ``tau_m = 20`` steps (``dv = 200``),
  ``du = 4095`` (the current ``u`` is the input of this step only: a spike of weight ``w`` raises
  ``v`` by ``w << 6`` at once, as Brunel's ``J``), threshold ``theta = vth << 6``, reset to 0, no
  refractory period (nmgraph's LIF has none).
* Fixed in-degree ``K``: every neuron receives exactly ``C_E = 0.8 K`` synapses from distinct ``exc``
  neurons and ``C_I = 0.2 K`` from distinct ``inh`` neurons, never from itself (four ``Sparse``
  blocks: exc->exc, exc->inh, inh->exc, inh->inh; each one-signed, so Loihi's mixed-sign rule changes
  nothing). Excitatory weight ``w_E = 16`` (``J``), inhibitory ``-g * w_E`` (``g = 8``: -128). Each
  synapse has a delay drawn uniformly from ``delay`` (default 1..2 steps).
* Balanced-network scaling with ``K`` (van Vreeswijk & Sompolinsky): ``J = 0.9 theta / sqrt(C_E)``
  (``vth = w_E sqrt(C_E) / 0.9``: 318 at K = 400, 159 at K = 100) and external drive
  ``eta = 0.125 sqrt(C_E)`` in units of Brunel's ``nu_thr``, so that the input fluctuations are the
  same at every ``K`` and the rate stays near 10 Hz from K = 100 to K = 400.
* External drive: Brunel's ``C_E`` independent Poisson inputs of weight ``J`` at ``eta * nu_thr``
  (``nu_thr = theta / (J C_E tau_m)``), replaced by two inputs with the same mean and variance per
  step: a constant ``bias`` (most of the mean, ``eta * theta / tau_m`` per step in total) and one
  ``PoissonSource`` unit per neuron, one-to-one (``drive_exc`` -> ``exc``, ``drive_inh`` -> ``inh``,
  ``Sparse`` diagonals, delay 1), each spiking with probability ``rate`` (0.05) per step with the
  weight that gives the variance ``J * eta * theta / tau_m`` of Brunel's input. The one-to-one drive
  is cheap to run (``rate * N`` extra synaptic events per step against ``10 Hz * K * N``) while the
  neurons keep Brunel's input statistics. (Brian2: ``PoissonGroup(N, rate)`` with ``Synapses(...,
  on_pre='v += W')`` one-to-one, plus a constant current.)

Measured on the reference backend, 1000 steps (first 100 left out), seed 0:

    python -m benchmarks.networks                      # N = 4,000, K = 400
        exc 9.8 Hz, inh 9.6 Hz; ISI CV 1.05 (exc), 1.04 (inh); synchrony chi 0.079
    python -m benchmarks.networks --n 20000 --k 100    # K = 100, as at N = 1,000,000
        exc 12.0 Hz, inh 12.1 Hz; ISI CV 1.12; chi 0.040

Irregular (CV about 1) and asynchronous (chi, Golomb's measure, near its 1/sqrt(N) floor rather
than near 1): the asynchronous irregular regime.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import numpy as np

from nmgraph import Network
from nmgraph.processes import LIF, PoissonSource, Sparse

__all__ = ["BrunelParameters", "brunel", "brunel_parameters", "by_source", "clustered",
           "fixed_indegree_cols", "isi_cv", "random_pairs"]

#: Entries drawn per chunk of rows (bounds the temporary memory of the connectors).
_CHUNK = 1 << 23


# -- vectorised connectivity ------------------------------------------------------------------------

def fixed_indegree_cols(n_pre: int, n_post: int, k: int, rng: np.random.Generator, *,
                        exclude_self: bool = False) -> np.ndarray:
    """``(n_post, k)`` int32 array: row ``i`` holds ``k`` distinct pre indices, sorted ascending,
    drawn uniformly; with ``exclude_self`` row ``i`` never holds ``i`` (a population onto itself).

    Vectorised: rows are drawn with replacement, sorted, and the later entry of each duplicate pair
    is redrawn until no row has duplicates. Every step treats all pool indices alike, so each row
    is a uniform ``k``-subset, as with ``Generator.choice(pool, k, replace=False)`` per row (but not
    the same draws). When ``k`` is more than half the pool, rows come from a random permutation
    trick instead (argsort of uniform keys per row).
    """
    pool = n_pre - (1 if exclude_self else 0)
    if not 0 <= k <= pool:
        raise ValueError(f"in-degree {k} does not fit a pool of {pool} sources")
    if pool >= 2**31:
        raise ValueError("more than 2**31 sources")
    cols = np.empty((n_post, k), dtype=np.int32)
    if k == 0 or n_post == 0:
        return cols
    rows_per_chunk = max(1, _CHUNK // max(k if 2 * k <= pool else pool, 1))
    for start in range(0, n_post, rows_per_chunk):
        stop = min(n_post, start + rows_per_chunk)
        block = cols[start:stop]
        if 2 * k <= pool:
            _draw_distinct(block, pool, rng)
        else:
            keys = rng.random((stop - start, pool))
            block[...] = np.sort(np.argpartition(keys, k - 1, axis=1)[:, :k], axis=1)
        if exclude_self:  # skip each row's own index: a monotone map, rows stay sorted
            block += block >= np.arange(start, stop, dtype=np.int32)[:, None]
    return cols


def _draw_distinct(block: np.ndarray, pool: int, rng: np.random.Generator) -> None:
    block[...] = rng.integers(0, pool, size=block.shape, dtype=np.int32)
    block.sort(axis=1)
    todo = np.arange(block.shape[0])
    while todo.size:
        sub = block[todo]
        dup = np.zeros(sub.shape, dtype=bool)
        dup[:, 1:] = sub[:, 1:] == sub[:, :-1]
        bad = dup.any(axis=1)
        if not bad.any():
            break
        todo, sub, dup = todo[bad], sub[bad], dup[bad]
        sub[dup] = rng.integers(0, pool, size=int(dup.sum()), dtype=np.int32)
        sub.sort(axis=1)
        block[todo] = sub


def random_pairs(prob: np.ndarray, labels: np.ndarray, rng: np.random.Generator, *,
                 allow_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """COO ``(rows, cols)`` of a random graph where pair (post i, pre j) is connected with
    probability ``prob[labels[i], labels[j]]``; rows are processed in chunks."""
    n = labels.size
    rows_list, cols_list = [], []
    per_chunk = max(1, _CHUNK // n)
    for start in range(0, n, per_chunk):
        stop = min(n, start + per_chunk)
        p = prob[labels[start:stop, None], labels[None, :]]
        hit = rng.random((stop - start, n)) < p
        if not allow_self:
            local = np.arange(stop - start)
            hit[local, local + start] = False
        r, c = np.nonzero(hit)
        rows_list.append(r + start)
        cols_list.append(c)
    return np.concatenate(rows_list), np.concatenate(cols_list)


# -- Brunel --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BrunelParameters:
    """The fixed-point parameters :func:`brunel` derives (see the module docstring)."""

    n_exc: int
    n_inh: int
    c_exc: int
    c_inh: int
    w_exc: int
    w_inh: int
    vth: int
    dv: int
    du: int
    bias_mant: int
    bias_exp: int
    drive_rate: float
    drive_weight: int
    drive_weight_exp: int

    @property
    def theta(self) -> int:
        """Threshold in units of ``v``."""
        return self.vth << 6


def brunel_parameters(n: int, k: int, g: float = 8.0, rate: float = 0.05,
                      eta: float | None = None, tau_m: float = 20.0, w_exc: int = 16,
                      coupling: float = 0.9, drive_scale: float = 0.125) -> BrunelParameters:
    """Integer parameters of :func:`brunel` for ``n`` neurons and in-degree ``k``.

    ``J = coupling * theta / sqrt(C_E)`` and, unless ``eta`` is given,
    ``eta = drive_scale * sqrt(C_E)`` (balanced-network scaling; see the module docstring).
    """
    if n < 5 or k < 5:
        raise ValueError("brunel needs n >= 5 and k >= 5")
    n_exc = round(0.8 * n)
    n_inh = n - n_exc
    c_exc = round(0.8 * k)
    c_inh = k - c_exc
    if c_exc > n_exc - 1 or c_inh > n_inh - 1:
        raise ValueError(f"in-degree {k} too large for {n} neurons without self-connections")
    w_inh = round(g * w_exc)
    if not 0 < w_exc <= 255 or not 0 < w_inh <= 255:
        raise ValueError(f"weights {w_exc}, -{w_inh} do not fit 8 bits; lower w_exc or g")
    vth = round(w_exc * math.sqrt(c_exc) / coupling)
    if eta is None:
        eta = drive_scale * math.sqrt(c_exc)
    theta = vth << 6
    dv = round(4096 * (1 - math.exp(-1 / tau_m)))
    # Brunel's external input per step: mean eta * theta / tau_m, variance J * that mean.
    mean = eta * theta / tau_m
    variance = (w_exc << 6) * mean
    drive = math.sqrt(variance / (rate * (1 - rate)))  # Bernoulli(rate) of this weight
    drive_exp = 0
    while drive / (64 << drive_exp) > 255:
        drive_exp += 1
    drive_weight = max(1, round(drive / (64 << drive_exp)))
    bias = max(0.0, mean - rate * (drive_weight << (6 + drive_exp)))
    bias_exp = 0
    while bias / (1 << bias_exp) > 4095:
        bias_exp += 1
    if bias_exp > 7:
        raise ValueError("bias does not fit 12 bits << 7; lower eta or the threshold")
    return BrunelParameters(
        n_exc=n_exc, n_inh=n_inh, c_exc=c_exc, c_inh=c_inh, w_exc=w_exc, w_inh=w_inh, vth=vth,
        dv=dv, du=4095, bias_mant=round(bias / (1 << bias_exp)), bias_exp=bias_exp,
        drive_rate=float(rate), drive_weight=drive_weight, drive_weight_exp=drive_exp)


def brunel(n: int, k: int, seed: int = 0, g: float = 8.0, rate: float = 0.05,
           delay: tuple[int, int] | int = (1, 2), *, eta: float | None = None,
           drive: bool = True) -> Network:
    """The current-based Brunel network of issue 5 (see the module docstring).

    Parameters
    ----------
    n
        Neurons: ``round(0.8 n)`` in ``exc``, the rest in ``inh``.
    k
        In-degree: ``round(0.8 k)`` synapses from ``exc`` and the rest from ``inh`` per neuron.
    seed
        Seeds the connectivity, the delays and the Poisson drive.
    g
        Inhibitory weight relative to excitatory (``w_inh = -round(g * 16)``; 5..8 fits 8 bits;
        8 is the default: the most asynchronous of 5..8 here).
    rate
        Spike probability per step of each drive unit (the Poisson drive).
    delay
        ``(low, high)``: per-synapse delays drawn uniformly in ``low..high`` steps; or one int.
    eta
        External drive in units of Brunel's ``nu_thr`` (the rate that alone brings the mean
        voltage to threshold); default ``0.125 * sqrt(C_E)`` (2.24 at K = 400, 1.12 at K = 100).
    drive
        Add the Poisson sources (the bias is always there).
    """
    p = brunel_parameters(n, k, g=g, rate=rate, eta=eta)
    rng = np.random.default_rng(seed)
    net = Network(f"brunel_{n}_{k}")
    pops = {}
    for name, size in (("exc", p.n_exc), ("inh", p.n_inh)):
        pops[name] = net.add(LIF(size, du=p.du, dv=p.dv, vth=p.vth, bias_mant=p.bias_mant,
                                 bias_exp=p.bias_exp, name=name))
    for pre, post, c, w in (("exc", "exc", p.c_exc, p.w_exc), ("exc", "inh", p.c_exc, p.w_exc),
                            ("inh", "exc", p.c_inh, -p.w_inh), ("inh", "inh", p.c_inh, -p.w_inh)):
        n_pre, n_post = pops[pre].size, pops[post].size
        cols = fixed_indegree_cols(n_pre, n_post, c, rng, exclude_self=pre == post)
        delays = _delays(delay, cols.size, rng)
        rows, cols, delays = by_source(cols, delays)
        values = np.broadcast_to(np.int16(w), cols.size)  # one weight: no array of it
        syn = net.add(Sparse((rows, cols, values), shape=(n_post, n_pre), delay=delays,
                             name=f"{pre}_to_{post}"))
        del rows, cols, delays, values
        net.connect(pops[pre].s_out, syn.s_in)
        net.connect(syn.a_out, pops[post].a_in)
    if drive:
        for number, name in enumerate(("exc", "inh"), start=1):
            size = pops[name].size
            source = net.add(PoissonSource(size, rate=p.drive_rate,
                                           seed=(seed * 8 + number) % 2**64, name=f"drive_{name}"))
            index = np.arange(size, dtype=np.int64)
            values = np.full(size, p.drive_weight, dtype=np.int16)
            syn = net.add(Sparse((index, index, values), shape=(size, size), delay=1,
                                 weight_exp=p.drive_weight_exp, name=f"drive_to_{name}"))
            net.connect(source.s_out, syn.s_in)
            net.connect(syn.a_out, pops[name].a_in)
    return net


def by_source(cols: np.ndarray, delays: np.ndarray | int) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray | int]:
    """The synapses of a fixed in-degree block, ``cols`` ``(n_post, k)`` (pre indices, as
    :func:`fixed_indegree_cols` gives them) with ``delays`` (one per entry, row-major, or one
    int), as COO ``(rows, cols, delays)`` ordered by pre, then post: a CSR by source, which the
    compiler lowers without a sort or a copy. int32 indices (int64 beyond ``2**31``).

    One sort of packed ``pre << b | post (<< 8 | delay)`` keys; each synapse keeps its delay.
    """
    n_post, k = cols.shape
    n = n_post * k
    post_bits = max(n_post - 1, 1).bit_length()
    d_bits = 0 if isinstance(delays, (int, np.integer)) else 8
    pre_bits = max(int(cols.max(initial=0)), 1).bit_length()
    if pre_bits + post_bits + d_bits > 63:  # pragma: no cover - beyond any benchmark
        raise ValueError("block too large to pack")
    key = cols.astype(np.int64)
    key <<= post_bits
    key |= np.arange(n_post, dtype=np.int64)[:, None]  # the row (post) of each entry
    key = key.reshape(n)
    if d_bits:
        key <<= d_bits
        key |= delays
    key.sort()
    dtype = np.int32 if max(n_post, int(cols.max(initial=0)) + 1) < 2**31 else np.int64
    rows = np.empty(n, dtype=dtype)
    pres = np.empty(n, dtype=dtype)
    out_d = np.empty(n, dtype=np.uint8) if d_bits else delays
    step = 1 << 14  # cache-sized chunks
    for start in range(0, n, step):
        part = key[start:start + step]
        if d_bits:
            out_d[start:start + step] = part & 0xFF
            part >>= d_bits
        rows[start:start + step] = part & ((1 << post_bits) - 1)
        part >>= post_bits
        pres[start:start + step] = part
    return rows, pres, out_d


def _delays(delay: tuple[int, int] | int, count: int, rng: np.random.Generator) -> np.ndarray | int:
    if isinstance(delay, (int, np.integer)):
        return int(delay)
    low, high = delay
    if low == high:
        return int(low)
    return rng.integers(low, high, size=count, endpoint=True, dtype=np.uint8)


# -- clustered --------------------------------------------------------------------------------------

def clustered(communities: int = 8, size: int = 512, p_in: float = 0.2, p_out: float = 0.002,
              seed: int = 0, *, weight: int = 1, drive: float = 0.0) -> Network:
    """A network of ``communities`` groups of ``size`` LIF neurons in one population ``neurons``,
    densely connected inside a group (probability ``p_in``) and sparsely between groups
    (``p_out``), with the neuron order shuffled so that the communities are not contiguous ranges.

    Meant for mapping benchmarks (``mincut`` against ``greedy``, ``traffic`` against ``linear``).
    ``community_of(net)`` gives each neuron's group. ``drive > 0`` adds a one-to-one Poisson source
    (``drive`` spikes per step) so that the network can also be run; its messages always cross
    cores (sources and neurons never share one).
    """
    rng = np.random.default_rng(seed)
    n = communities * size
    labels = rng.permutation(np.repeat(np.arange(communities), size))
    prob = np.full((communities, communities), p_out)
    np.fill_diagonal(prob, p_in)
    rows, cols = random_pairs(prob, labels, rng)
    net = Network(f"clustered_{communities}x{size}")
    neurons = net.add(LIF(n, du=4095, dv=200, vth=100, name="neurons"))
    syn = net.add(Sparse((rows, cols, np.full(rows.size, weight, dtype=np.int16)), shape=(n, n),
                         delay=1, name="recurrent"))
    net.connect(neurons.s_out, syn.s_in)
    net.connect(syn.a_out, neurons.a_in)
    if drive > 0:
        source = net.add(PoissonSource(n, rate=drive, seed=seed, name="drive"))
        index = np.arange(n)
        block = net.add(Sparse((index, index, np.full(n, 100, dtype=np.int16)), shape=(n, n),
                               name="drive_to_neurons"))
        net.connect(source.s_out, block.s_in)
        net.connect(block.a_out, neurons.a_in)
    net.community = labels  # type: ignore[attr-defined]
    return net


# -- checking the regime -----------------------------------------------------------------------------

def isi_cv(times: np.ndarray, indices: np.ndarray, n: int) -> tuple[float, int]:
    """Mean coefficient of variation of the inter-spike intervals over neurons with >= 3 spikes,
    and how many neurons that is."""
    order = np.lexsort((times, indices))
    times, indices = times[order], indices[order]
    same = indices[1:] == indices[:-1]
    isi = (times[1:] - times[:-1])[same].astype(np.float64)
    owner = indices[1:][same]
    counts = np.bincount(owner, minlength=n)
    ok = counts >= 2
    if not ok.any():
        return float("nan"), 0
    mean = np.bincount(owner, weights=isi, minlength=n)[ok] / counts[ok]
    sq = np.bincount(owner, weights=isi**2, minlength=n)[ok] / counts[ok]
    std = np.sqrt(np.maximum(sq - mean**2, 0.0))
    return float(np.mean(std / mean)), int(ok.sum())


def check(n: int, k: int, steps: int = 1000, seed: int = 0, g: float = 8.0, rate: float = 0.05,
          eta: float | None = None, warmup: int = 100) -> dict[str, float]:
    """Build, run on the reference backend, and measure rates, ISI CV and synchrony."""
    from nmgraph import Runtime

    start = time.perf_counter()
    net = brunel(n, k, seed=seed, g=g, rate=rate, eta=eta)
    built = time.perf_counter() - start
    start = time.perf_counter()
    with Runtime(net, backend="reference") as rt:
        rt.run(steps)
        spikes = {name: rt.spikes(name) for name in ("exc", "inh")}
    ran = time.perf_counter() - start
    result = {"build_s": built, "run_s": ran}
    for name, ev in spikes.items():
        keep = ev.times > warmup
        times, indices = ev.times[keep], ev.indices[keep]
        size = ev.n
        result[f"rate_{name}_hz"] = times.size / size / ((steps - warmup) * 1e-3)
        result[f"cv_{name}"], _ = isi_cv(times, indices, size)
    total = sum(int(np.count_nonzero(ev.times > warmup)) for ev in spikes.values())
    result["rate_hz"] = total / n / ((steps - warmup) * 1e-3)
    result["chi"] = synchrony(spikes.values(), warmup, steps)
    return result


def synchrony(events, warmup: int, steps: int, bin_steps: int = 5) -> float:
    """Golomb's synchrony measure chi on spike counts in bins of ``bin_steps``:
    ``sqrt(var(population mean count) / mean(var(count of each neuron)))``; about ``1/sqrt(N)`` for
    independent neurons, near 1 for full synchrony."""
    bins = (steps - warmup) // bin_steps
    columns = []
    for ev in events:
        keep = (ev.times > warmup) & (ev.times <= warmup + bins * bin_steps)
        counts = np.zeros((bins, ev.n), dtype=np.float32)
        np.add.at(counts, ((ev.times[keep] - warmup - 1) // bin_steps, ev.indices[keep]), 1)
        columns.append(counts)
    counts = np.concatenate(columns, axis=1)
    individual = float(counts.var(axis=0).mean())
    return float(np.sqrt(counts.mean(axis=1).var() / individual)) if individual else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description="check the Brunel network's regime")
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--k", type=int, default=400)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--g", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=0.05)
    parser.add_argument("--eta", type=float, default=None)
    args = parser.parse_args()
    print(brunel_parameters(args.n, args.k, g=args.g, rate=args.rate, eta=args.eta))
    result = check(args.n, args.k, args.steps, args.seed, args.g, args.rate, args.eta)
    for key, value in result.items():
        print(f"{key:>12}: {value:.3f}")


if __name__ == "__main__":
    main()
