"""First speed figures of the multi-core runtime (issue 4): the Brunel network on 1 and 2 workers.

    python -m benchmarks.runtime_speed --n 20000 --k 400 --steps 1000 --repeats 3

Prints, per backend and worker count, the median wall time of ``run(steps)`` (after a warm-up run
that also starts the workers), steps per second and synaptic events per second, and the ratio to
the reference simulator (which runs fewer steps; its rate is per step). Compile time is reported
separately. Machines here are shared and noisy: read ratios from one invocation.
"""

from __future__ import annotations

import argparse
import statistics
import time

import nmgraph as nm
from benchmarks.networks import brunel


def timed_runs(exe, backend: str, steps: int, repeats: int, **options) -> tuple[float, int, int]:
    """Median seconds of ``run(steps)``, and the synaptic ops and spikes of the last run."""
    times = []
    with nm.Runtime(exe, backend=backend, **options) as rt:
        rt.run(min(steps, 50))  # warm-up: workers started, caches hot
        for _ in range(repeats):
            before = rt.counters
            start = time.perf_counter()
            rt.run(steps)
            times.append(time.perf_counter() - start)
        after = rt.counters
    return (statistics.median(times), after.synaptic_ops - before.synaptic_ops,
            after.spikes - before.spikes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=400)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--reference-steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hardware", default="generic")
    args = parser.parse_args()

    start = time.perf_counter()
    net = brunel(args.n, args.k, seed=0)
    build = time.perf_counter() - start
    start = time.perf_counter()
    exe = nm.compile(net, hardware=args.hardware)
    compile_s = time.perf_counter() - start
    print(f"Brunel N={args.n} K={args.k}: {exe.ir.n_synapses:,} synapses; build {build:.1f} s, "
          f"compile for {args.hardware} {compile_s:.1f} s ({exe.n_cores} cores)")
    print()
    print("| backend | workers | steps | median s | steps/s | synaptic events/s | vs reference |")
    print("|---|---|---|---|---|---|---|")
    ref_s, ref_ops, _ = timed_runs(exe, "reference", args.reference_steps, 1)
    ref_rate = args.reference_steps / ref_s
    print(f"| reference | 1 | {args.reference_steps} | {ref_s:.2f} | {ref_rate:,.1f} | "
          f"{ref_ops / ref_s:,.0f} | 1.0 |")
    for workers in (1, 2):
        seconds, ops, _ = timed_runs(exe, "multicore", args.steps, args.repeats, workers=workers)
        rate = args.steps / seconds
        print(f"| multicore | {workers} | {args.steps} | {seconds:.3f} | {rate:,.1f} | "
              f"{ops / seconds:,.0f} | {rate / ref_rate:.1f} |")


if __name__ == "__main__":
    main()
