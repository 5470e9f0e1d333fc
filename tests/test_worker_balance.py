"""Workers share few large cores evenly: cores split between workers at a unit, bit-exact."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from netgen import network_seeds, random_network
from test_multicore import assert_same, reference_run

import nmgraph as nm
from nmgraph.runtimes.multicore_program import assign_workers
from nmgraph.runtimes.worker_balance import balance_units, unit_loads

try:
    from benchmarks.networks import brunel
except ImportError:  # pragma: no cover - run from outside the repository
    brunel = None


def _worker_loads(exe, unit_worker: np.ndarray, n_workers: int) -> np.ndarray:
    """Each worker's load: its units' synapses received plus one each (sources: one each)."""
    loads = np.zeros(n_workers)
    tables = exe.tables
    for core in range(exe.n_cores):
        units = tables.core_units[tables.core_unit_ptr[core]:tables.core_unit_ptr[core + 1]]
        loads += np.bincount(unit_worker[units], weights=unit_loads(exe, core),
                             minlength=n_workers)
    return loads


@pytest.mark.skipif(brunel is None, reason="benchmarks/ not importable")
@pytest.mark.parametrize("n_workers", [2, 3])
def test_five_big_cores_are_shared_evenly(n_workers: int) -> None:
    """Five cores of neurons cannot be shared evenly by whole cores; split, they can."""
    exe = nm.compile(brunel(2000, 50, seed=1), hardware="generic", max_neurons_per_core=410)
    unit_worker = balance_units(exe, n_workers)
    loads = _worker_loads(exe, unit_worker, n_workers)
    assert loads.max() / loads.mean() < 1.03
    by_core = assign_workers(exe, n_workers)[exe.partition.unit_core]
    whole = _worker_loads(exe, by_core, n_workers)
    assert whole.max() / whole.mean() > 1.1   # what the split repairs
    # the drive (one-to-one) stays with its targets: no drive spike crosses workers
    drive = [pop for pop in exe.ir.projections if pop.pre.startswith("drive")]
    for proj in drive:
        pre, post = exe.ir.population(proj.pre), exe.ir.population(proj.post)
        sources = np.repeat(np.arange(pre.size), np.diff(proj.indptr)) + pre.offset
        assert np.array_equal(unit_worker[sources], unit_worker[proj.targets + post.offset])


def test_one_worker_takes_every_unit() -> None:
    exe = nm.compile(random_network(3), hardware="generic")
    unit_worker = balance_units(exe, 1)
    assert unit_worker.shape == (exe.ir.n_units,) and not unit_worker.any()


@pytest.mark.parametrize("workers", [2, 3, 4])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=network_seeds)
def test_split_cores_are_bit_identical(workers: int, seed: int) -> None:
    """Few large cores (so that cores are split), random networks, against the reference."""
    rng = np.random.default_rng(seed)
    net = random_network(seed, max_delay=int(rng.integers(1, 6)))
    exe = nm.compile(net, hardware=str(rng.choice(["loihi1", "generic"])), seed=seed,
                     max_neurons_per_core=int(rng.integers(20, 200)))
    with reference_run(exe, [25]) as ref, \
            nm.Runtime(exe, backend="multicore", workers=workers) as rt:
        rt.run(10)
        rt.run(15)
        assert_same(ref, rt, exe.ir)


def test_a_split_core_is_exercised() -> None:
    """The random networks above do split cores (not only whole-core assignments)."""
    split = 0
    for seed in range(8):
        exe = nm.compile(random_network(seed), hardware="generic", seed=seed,
                         max_neurons_per_core=200)
        unit_worker = balance_units(exe, 2)
        per_core = [np.unique(unit_worker[exe.tables.core_units[
            exe.tables.core_unit_ptr[c]:exe.tables.core_unit_ptr[c + 1]]]).size
            for c in range(exe.n_cores)]
        split += sum(n > 1 for n in per_core)
    assert split > 0


def test_no_worker_is_left_without_units() -> None:
    """More workers than shares that whole or snapped cores allow: the workers used are 0..k-1."""
    for seed in range(6):
        exe = nm.compile(random_network(seed), hardware="generic", seed=seed,
                         max_neurons_per_core=int(np.random.default_rng(seed).integers(20, 200)))
        for n_workers in (2, 5, 16):
            unit_worker = balance_units(exe, n_workers)
            used = np.unique(unit_worker)
            assert np.array_equal(used, np.arange(used.size))
            assert used.size <= n_workers
