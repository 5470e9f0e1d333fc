"""An ordinary nmgraph script run under ``mpiexec -n K`` by tests/test_mpi.py (SPMD).

    mpiexec -n 3 python tests/mpi_spmd_check.py equivalence 1,2,3
    mpiexec -n 2 python tests/mpi_spmd_check.py snapshot-save SEED STEPS PATH
    mpiexec -n 2 python tests/mpi_spmd_check.py snapshot-restore PATH STEPS
    mpiexec -n 2 python tests/mpi_spmd_check.py raise
    mpiexec -n 2 python tests/mpi_spmd_check.py busy

Every rank builds the same networks, runs them on ``backend="mpi"`` and compares spikes, state,
recordings and counters with the reference simulator it runs itself; any difference raises (the
job then fails). Rank 0 prints one line ``RESULT <json>`` at the end.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from netgen import random_network
from plastic_netgen import RuleSpec, plastic_network

import nmgraph as nm

STDP = RuleSpec(dw="2^-4*x1*y0 - 2^-4*y1*x0", impulses=(20, 0, 24, 0, 0),
                decays=(400, 0, 300, 0, 0), t_epoch=1, seed=5)
TAGGED = RuleSpec(dw="2^-3*t*y2*u0 - 2^-6*w*u0", dt="2^-2*x1*y0 - 2^-3*t*u0",
                  impulses=(30, 10, 20, 40, 0), decays=(300, 200, 500, 100, 0), t_epoch=2,
                  seed=None, third_factor=("y2",))


def world() -> tuple[int, int]:
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()


def compare(mpi: nm.Runtime, ref: nm.Runtime, exe: nm.Executable, label: str) -> None:
    for pop in exe.ir.populations:
        a, b = mpi.spikes(pop.name), ref.spikes(pop.name)
        if a != b:
            raise AssertionError(f"{label}: spikes of {pop.name} differ")
        if not pop.is_source:
            for var in pop.state:
                if not np.array_equal(mpi.get(pop.name, var), ref.get(pop.name, var)):
                    raise AssertionError(f"{label}: {pop.name}.{var} differs")
    for proj in exe.ir.projections:
        if proj.is_plastic:
            for var in ("weights", "x1", "y1", "tag_2"):
                try:
                    ref_value = ref.get(proj.name, var)
                except nm.NmgraphError:
                    continue
                if not np.array_equal(mpi.get(proj.name, var), ref_value):
                    raise AssertionError(f"{label}: {proj.name}.{var} differs")
    ca, cb = mpi.counters, ref.counters
    if ca.as_dict() != cb.as_dict() or ca.per_process != cb.per_process:
        raise AssertionError(f"{label}: counters differ: {ca.as_dict()} vs {cb.as_dict()}")


def case(seed: int) -> tuple[nm.Executable, list[int], str | None]:
    rng = np.random.default_rng(seed)
    if seed % 3 == 2:   # plastic synapses
        net = plastic_network(seed, [STDP, TAGGED] if seed % 2 else [STDP]).net
    else:
        net = random_network(seed, max_delay=int(rng.integers(1, 12)))
    exe = nm.compile(net, hardware=str(rng.choice(["loihi1", "generic", "spinnaker1"])),
                     partition=str(rng.choice(["greedy", "balanced", "mincut"])),
                     place=str(rng.choice(["linear", "traffic"])), seed=seed,
                     max_neurons_per_core=int(rng.integers(2, 20)))
    split = [int(rng.integers(1, 25)) for _ in range(3)]
    neurons = [pop for pop in exe.ir.populations if not pop.is_source]
    recorded = neurons[int(rng.integers(len(neurons)))].name if neurons else None
    return exe, split, recorded


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def equivalence(seeds: list[int]) -> dict:
    kept = Kept()
    logger = logging.getLogger("nmgraph")
    logger.addHandler(kept)
    logger.setLevel(logging.INFO)
    checked = 0
    for seed in seeds:
        exe, split, recorded = case(seed)
        with nm.Runtime(exe, backend="mpi") as rt, nm.Runtime(exe, backend="reference") as ref:
            if recorded is not None:
                rt.record(recorded, "v")
                ref.record(recorded, "v")
            for n in split:
                rt.run(n)
                ref.run(n)
                compare(rt, ref, exe, f"seed {seed} at t={rt.t}")
            if recorded is not None and not np.array_equal(rt.recorded(recorded, "v"),
                                                           ref.recorded(recorded, "v")):
                raise AssertionError(f"seed {seed}: recorded v of {recorded} differs")
            if rt.backend.placement.n_ranks != world()[1]:
                raise AssertionError("placement on a different number of ranks")
        checked += 1
    logger.removeHandler(kept)
    rank = world()[0]
    mine = [r for r in kept.records if r.name == "nmgraph.mpi"]
    if not mine or any(r.rank != rank or not r.getMessage().startswith(f"[rank {rank}] ")
                       for r in mine):
        raise AssertionError("the mpi backend's log records do not carry the rank")
    return {"checked": checked}


def snapshot_save(seed: int, steps: int, path: str) -> dict:
    exe, _, _ = case(seed)
    with nm.Runtime(exe, backend="mpi") as rt:
        rt.run(steps)
        written = rt.snapshot(path)
    return {"path": str(written), "t": steps}


def snapshot_restore(path: str, steps: int) -> dict:
    with nm.Runtime.restore(path, backend="mpi") as rt, \
            nm.Runtime.restore(path, backend="reference") as ref:
        start = rt.t
        rt.run(steps)
        ref.run(steps)
        compare(rt, ref, rt.executable, f"restored from {path}")
        spikes = sum(len(rt.spikes(pop.name).times) for pop in rt.executable.ir.populations)
    return {"t0": start, "t": start + steps, "spikes": spikes}


def raise_in_rank() -> dict:
    """A model leaves its declared range at step 5 on the ranks that hold it."""
    from user_models import Broken

    net = nm.Network("broken")
    gen = net.add(nm.processes.PoissonSource(shape=(12,), rate=0.3, seed=1, name="src"))
    lif = net.add(nm.processes.LIF(shape=(12,), du=100, dv=100, vth=50, name="lif"))
    broken = net.add(Broken(shape=(12,), mode=3, name="broken"))
    syn = net.add(nm.processes.Dense(weights=np.ones((12, 12), dtype=int) * 20, name="syn"))
    out = net.add(nm.processes.Dense(weights=np.ones((12, 12), dtype=int), name="out"))
    net.connect(gen.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    net.connect(lif.s_out, out.s_in)
    net.connect(out.a_out, broken.a_in)
    exe = nm.compile(net, hardware="generic", max_neurons_per_core=4)
    rt = nm.Runtime(exe, backend="mpi")
    rt.run(3)
    kept = rt.spikes("lif")
    start = time.monotonic()
    try:
        rt.run(100)
    except nm.WorkerError as exc:
        message = str(exc)
    else:
        raise AssertionError("the broken model did not fail the run")
    elapsed = time.monotonic() - start
    if rt.spikes("lif").times[:len(kept.times)].tolist() != kept.times.tolist():
        raise AssertionError("spikes of the earlier run were lost")
    try:
        rt.run(1)
    except nm.SimulationError:
        pass
    else:
        raise AssertionError("a failed runtime ran again")
    rt.close()
    return {"message": message, "elapsed": elapsed, "t": rt.t}


def busy() -> dict:
    """A long run (killed or interrupted by the test)."""
    net = nm.Network("busy")
    src = net.add(nm.processes.PoissonSource(shape=(500,), rate=0.2, seed=3, name="src"))
    rng = np.random.default_rng(0)
    weights = rng.integers(0, 3, size=(500, 500)) * (rng.random((500, 500)) < 0.1)
    syn = net.add(nm.processes.Dense(weights=weights, name="syn"))
    lif = net.add(nm.processes.LIF(shape=(500,), du=500, dv=500, vth=20, name="lif"))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    exe = nm.compile(net, hardware="generic", max_neurons_per_core=100)
    with nm.Runtime(exe, backend="mpi") as rt:
        rt.run(2)
        print(f"RUNNING rank {world()[0]} pid {os.getpid()}", flush=True)
        for _ in range(1_000_000):
            rt.run(500)
    return {}


def main() -> None:
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "equivalence":
        result = equivalence([int(s) for s in args[0].split(",")])
    elif mode == "snapshot-save":
        result = snapshot_save(int(args[0]), int(args[1]), args[2])
    elif mode == "snapshot-restore":
        result = snapshot_restore(args[0], int(args[1]))
    elif mode == "raise":
        result = raise_in_rank()
    elif mode == "busy":
        result = busy()
    else:
        raise SystemExit(f"unknown mode {mode}")
    rank, size = world()
    result["ranks"] = size
    if rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
