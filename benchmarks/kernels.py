"""Time the runtime's Cython LIF kernel (``_k_lif``) against the NumPy specification on
1,000,000 neurons (per-neuron parameters: the kernel reads them, as a non-uniform run does).

    python benchmarks/kernels.py [--n 1000000] [--repeat 20]

Prints the median over ``--repeat`` single-step runs in ns/neuron for each and their ratio.
State evolves across runs (as in a simulation); the inputs are random in the registers' ranges.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from nmgraph.runtimes import _k_lif
from nmgraph.runtimes import fixed_point as fp
from nmgraph.runtimes._worker_kernel import KERNEL_RUN_DTYPE, apply_kernels
from nmgraph.runtimes.multicore_program import fill_record


def make_state(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "u": rng.integers(-(2**23), 2**23, n, dtype=np.int64),
        "v": rng.integers(-(2**23) + 1, 2**23, n, dtype=np.int64),
        "a_in": rng.integers(-(2**12), 2**12, n, dtype=np.int64),
        "du": rng.integers(0, 4096, n, dtype=np.int32),
        "dv": rng.integers(0, 4096, n, dtype=np.int32),
        "vth": rng.integers(0, 2**17, n, dtype=np.int32),
        "bias": rng.integers(-4096, 4096, n, dtype=np.int64) << rng.integers(0, 8, n),
    }


def median_seconds(step, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    n = args.n

    s = make_state(n)
    spiked = np.empty(n, dtype=np.uint8)
    records = np.zeros(1, dtype=KERNEL_RUN_DTYPE)
    # reset_kind 0 last: Lava's reset to 0, the default
    params = (*(s[k].astype(np.int64) for k in ("du", "dv", "vth")), s["bias"],
              np.zeros(n, dtype=np.int64))
    fill_record(records[0], _k_lif.KERNELS["lif"], 0, n, 0, [s["u"], s["v"]], params)
    a_in = np.empty(n, dtype=np.int64)

    def cython_step():
        a_in[:] = s["a_in"]   # the kernel consumes its input slot (the copy is timed too)
        apply_kernels(records, a_in, spiked, 1)

    r = make_state(n)

    def numpy_step():
        fp.lif_step(r["u"], r["v"], r["a_in"], r["du"], r["dv"], r["vth"], r["bias"])

    cython_step()  # warm up (page in the arrays)
    numpy_step()
    np.testing.assert_array_equal(s["v"], r["v"])  # same start, one step each: identical
    t_cython = median_seconds(cython_step, args.repeat)
    t_numpy = median_seconds(numpy_step, args.repeat)
    print(f"LIF step, {n:,} neurons, median of {args.repeat} runs")
    print(f"  Cython _k_lif:     {t_cython / n * 1e9:8.2f} ns/neuron  ({t_cython * 1e3:.2f} ms)")
    print(f"  NumPy  lif_step:   {t_numpy / n * 1e9:8.2f} ns/neuron  ({t_numpy * 1e3:.2f} ms)")
    print(f"  speed-up: {t_numpy / t_cython:.1f}x")


if __name__ == "__main__":
    main()
