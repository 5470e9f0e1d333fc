"""Mapping speed and quality: compile benchmark networks and print one table.

    python benchmarks/mapping.py                      # every case, each in its own subprocess
    python benchmarks/mapping.py --cases brunel80k clustered
    python benchmarks/mapping.py --list
    python benchmarks/mapping.py --case brunel80k-loihi1 --profile out.prof   # one case, cProfile
    python benchmarks/mapping.py --case brunel1m-loihi1 --passes   # time and peak memory per pass

Cases (issue 3, "Done means"):

``brunel80k``   Brunel N = 80,000, K = 400 (32M synapses) on loihi1, greedy/linear: target < 20 s.
``brunel1m``    Brunel N = 1,000,000, K = 100 (100M synapses) on generic and on loihi1,
                greedy/linear: target < 90 s and < 8 GiB peak (issue 3); on generic, build and
                compile within 4 GiB, leaving the runtime room within issue 5's 6 GiB.
``spinnaker``   Brunel N = 4,000 / 20,000 / 80,000, K = 400, delay 1, on spinnaker1, beside
                sPyNNaker 7.4.1's mapping of the same network (26 / 119 / 473 cores, 3 / 10 / 33
                chips, at most 12 / 33 / 63 router entries on a chip): cores, chips, the most
                router entries any chip holds (column ``entries``: its merged table, compressed
                only where it overflows, as sPyNNaker loads it) and the most after ordered
                covering as far as it goes (column ``compressed``), and messages per spike of
                every unit (column ``msg/spk``: deliveries of each unit's packet to the cores of
                its core's multicast tree).
``clustered``   8 communities x 512 neurons (p_in 0.2, p_out 0.002, shuffled order) on loihi1,
                greedy vs mincut and linear vs traffic, with the default 1,024 neurons per core and
                capped at 128 neurons per core (32 cores, where placement matters).

Columns: synapses; cores used and the lower bound on cores; time of each compiler pass
(``exe.options["timings_s"]``) and their total (the compile; the network's construction is
``build``, reported apart); peak resident memory of the subprocess that built and compiled the
network (``ru_maxrss``, so it includes the network itself); ``x-msg/spk``: inter-core messages per
spike (routes from a unit to a core other than its own, averaged over the units that send);
``hop-msg``: hop-weighted messages per spike of every unit once (``exe.unit_costs[:, 3].sum()``).
Each case runs in a fresh subprocess so that every peak is honest.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script: make ``benchmarks.networks`` importable
    sys.path.insert(0, str(HERE.parent))

from benchmarks.networks import brunel, clustered  # noqa: E402

PASSES = ("lower", "quantize", "synapse_graph", "partition", "place", "route", "tables")


@dataclass(frozen=True)
class Case:
    name: str
    group: str
    network: str
    hardware: str
    partition: str = "greedy"
    place: str = "linear"
    max_neurons_per_core: int | None = None
    quality: bool = False
    args: dict = field(default_factory=dict)


CASES = [
    Case("brunel80k-loihi1", "brunel80k", "brunel", "loihi1", args={"n": 80_000, "k": 400}),
    Case("brunel1m-generic", "brunel1m", "brunel", "generic", args={"n": 1_000_000, "k": 100}),
    *(Case(f"brunel{n // 1000}k-spinnaker1", "spinnaker", "brunel", "spinnaker1",
           args={"n": n, "k": 400, "delay": 1}) for n in (4_000, 20_000, 80_000)),
    Case("brunel1m-loihi1", "brunel1m", "brunel", "loihi1", args={"n": 1_000_000, "k": 100}),
]
for _cap in (None, 128):
    for _part, _place in (("greedy", "linear"), ("mincut", "linear"), ("greedy", "traffic"),
                          ("mincut", "traffic")):
        CASES.append(Case(f"clustered-{_part}-{_place}" + (f"-cap{_cap}" if _cap else ""),
                          "clustered", "clustered", "loihi1", _part, _place, _cap, quality=True,
                          args={"communities": 8, "size": 512, "p_in": 0.2, "p_out": 0.002}))
BY_NAME = {case.name: case for case in CASES}


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def build(case: Case, seed: int):
    if case.network == "brunel":
        return brunel(case.args["n"], case.args["k"], seed=seed,
                      delay=case.args.get("delay", (1, 2)))
    return clustered(seed=seed, **case.args)


def inter_core_messages(exe) -> tuple[int, int]:
    """Routes from a unit to a core other than its own, and the number of units that send."""
    routing, unit_core = exe.routing, exe.partition.unit_core
    per_unit = np.diff(routing.dest_indptr)
    owner = np.repeat(np.arange(per_unit.size), per_unit)
    crossing = int(np.count_nonzero(routing.dest_core != unit_core[owner]))
    return crossing, int(np.count_nonzero(per_unit))


def run_case(case: Case, seed: int = 0, profile_path: str | None = None) -> dict:
    """Build and compile one case in this process; return its figures."""
    import nmgraph as nm

    start = time.perf_counter()
    net = build(case, seed)
    built = time.perf_counter() - start
    peak_build = peak_mib()
    profiler = cProfile.Profile() if profile_path else None
    if profiler:
        profiler.enable()
    start = time.perf_counter()
    exe = nm.compile(net, hardware=case.hardware, partition=case.partition, place=case.place,
                     seed=seed, max_neurons_per_core=case.max_neurons_per_core)
    wall = time.perf_counter() - start
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile_path)
    timings = dict(exe.options["timings_s"])
    result = {
        "case": case.name, "network": net.name, "units": exe.ir.n_units,
        "synapses": exe.ir.n_synapses, "hardware": case.hardware, "partition": case.partition,
        "place": case.place, "cap": case.max_neurons_per_core, "cores": exe.n_cores,
        "chips": exe.n_chips, "lower_bound": int(exe.partition.lower_bound["cores"]),
        "router_entries": int(exe.routing.router_entries.max(initial=0)),
        "messages_per_spike": float(exe.unit_costs[:, :3].sum() / max(exe.ir.n_units, 1)),
        "build_s": built, "timings_s": timings, "compile_s": sum(timings.values()),
        "compile_wall_s": wall, "peak_build_mib": peak_build, "peak_mib": peak_mib(),
    }
    tables = getattr(exe.routing, "tables", None)
    if tables is not None:
        result["router_compressed"] = int(tables.compressed.max(initial=0))
    if case.quality:
        crossing, senders = inter_core_messages(exe)
        result["inter_core"] = crossing
        result["inter_core_per_spike"] = crossing / max(senders, 1)
        result["hop_messages"] = int(exe.unit_costs[:, 3].sum())
    return result


def pass_memory(case: Case, seed: int = 0) -> list[tuple[str, float, float, float]]:
    """Run the compiler passes one by one (as ``compile_network`` does) and give, per pass, its
    time and the process's peak and resident memory in GiB (Linux: VmHWM reset through
    ``/proc/self/clear_refs`` before each pass)."""
    from nmgraph.compilers.executable import build_core_tables
    from nmgraph.compilers.hardware import load_profile
    from nmgraph.compilers.lower import lower
    from nmgraph.compilers.partition import partition
    from nmgraph.compilers.place import place
    from nmgraph.compilers.quantize import quantize
    from nmgraph.compilers.route import route
    from nmgraph.compilers.synapse_graph import axon_pairs, build_synapse_graph

    def status() -> dict[str, float]:
        with open("/proc/self/status") as f:
            return {k: int(v.split()[0]) / 2**20 for k, v in
                    (line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))}

    rows = []

    def step(name, fn):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        start = time.perf_counter()
        value = fn()
        mem = status()
        rows.append((name, time.perf_counter() - start, mem["VmHWM"], mem["VmRSS"]))
        return value

    net = step("build", lambda: build(case, seed))
    profile = load_profile(case.hardware)
    ir = step("lower", lambda: lower(net))
    ir, _ = step("quantize", lambda: quantize(ir, profile))
    graph = step("synapse_graph", lambda: build_synapse_graph(ir))
    parts = step("partition", lambda: partition(ir, graph, profile, case.partition, seed=seed,
                                                max_neurons_per_core=case.max_neurons_per_core))
    held = [step("axon_pairs", lambda: axon_pairs(graph, parts.unit_core, parts.n_cores))]
    placement = step("place", lambda: place(parts, graph, profile, strategy=case.place,
                                            seed=seed, pairs=held[0]))
    routing = step("route", lambda: route(parts, placement, graph, profile, pairs=held[0]))
    held.clear()  # the pipeline drops the pairs before the tables pass too
    step("tables", lambda: build_core_tables(ir, graph, parts, routing))
    return rows


def run_in_subprocess(case: Case, seed: int, timeout: float) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--case", case.name, "--seed",
               str(seed), "--json"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HERE.parent), *filter(None, [os.environ.get("PYTHONPATH")])]))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"case": case.name, "error": f"timeout after {timeout:.0f} s"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"case": case.name, "error": f"exit {done.returncode}: {tail}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def format_table(results: list[dict]) -> str:
    from nmgraph.core import markdown

    head = ["case", "synapses", "profile", "partition", "place", "cores", "bound", "chips",
            "entries", "compressed", "msg/spk", "build",
            *PASSES, "compile", "peak MiB", "x-msg/spk", "hop-msg"]
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["case"], "error: " + r["error"]] + [""] * (len(head) - 2))
            continue
        t = r["timings_s"]
        rows.append([
            r["case"], f"{r['synapses']:,}", r["hardware"] + (f"/cap{r['cap']}" if r["cap"] else ""),
            r["partition"], r["place"], str(r["cores"]), str(r["lower_bound"]), str(r["chips"]),
            str(r.get("router_entries", "")), str(r.get("router_compressed", "")),
            f"{r['messages_per_spike']:.1f}" if "messages_per_spike" in r else "",
            f"{r['build_s']:.1f}",
            *(f"{t.get(p, 0.0):.2f}" for p in PASSES),
            f"{r['compile_s']:.1f}", f"{r['peak_mib']:.0f}",
            f"{r['inter_core_per_spike']:.2f}" if "inter_core_per_spike" in r else "",
            f"{r['hop_messages']:,}" if "hop_messages" in r else ""])
    return markdown.table(head, rows, pad=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="compile benchmark networks; print a table")
    parser.add_argument("--cases", nargs="*",
                        default=["brunel80k", "brunel1m", "spinnaker", "clustered"],
                        help="case names or groups (brunel80k, brunel1m, spinnaker, clustered)")
    parser.add_argument("--case", help="run one case in this process")
    parser.add_argument("--json", action="store_true", help="with --case: print JSON")
    parser.add_argument("--profile", help="with --case: write a cProfile of the compile here")
    parser.add_argument("--passes", action="store_true",
                        help="with --case: time and peak memory of each pass, run one by one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list:
        for case in CASES:
            print(f"{case.name:32} {case.group}")
        return
    if args.case and args.passes:
        print(f"{'pass':14} {'time s':>7} {'peak GiB':>9} {'after GiB':>10}")
        for name, seconds, peak, after in pass_memory(BY_NAME[args.case], args.seed):
            print(f"{name:14} {seconds:7.2f} {peak:9.2f} {after:10.2f}")
        return
    if args.case:
        result = run_case(BY_NAME[args.case], args.seed, args.profile)
        if args.json:
            print(json.dumps(result))
        else:
            print(format_table([result]))
            if args.profile:
                pstats.Stats(args.profile).sort_stats("cumulative").print_stats(30)
        return
    chosen = [c for c in CASES if c.name in args.cases or c.group in args.cases]
    results = []
    for case in chosen:
        print(f"running {case.name} ...", file=sys.stderr, flush=True)
        results.append(run_in_subprocess(case, args.seed, args.timeout))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(format_table(results))


if __name__ == "__main__":
    main()
