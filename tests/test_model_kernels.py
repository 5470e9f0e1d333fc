"""Every built-in model's Cython kernel against the model's NumPy step (the specification), on
random parameters and state within their declared ranges, for both ring-buffer widths, with
per-unit and shared (uniform) parameters; and LIFRefractory in random networks."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from netgen import network_seeds, random_network

import nmgraph as nm
from nmgraph.core import fixed_point
from nmgraph.core.models import registered_models
from nmgraph.runtimes import _k_lif
from nmgraph.runtimes._worker_kernel import apply_kernels
from nmgraph.runtimes.multicore_program import UnitRun, kernel_records
from nmgraph.runtimes.registry import model_named

KERNEL_MODELS = sorted(name for name, model in registered_models().items()
                       if model.kernel is not None and model.__module__.startswith("nmgraph."))


def random_fields(cls, n: int, rng: np.random.Generator, uniform: bool):
    values = {}
    for name, spec in cls.specs().items():
        shape = (n,) if spec.per_unit else ()
        if name == "data":
            shape = (int(rng.integers(1, 12)), n)
        if spec.dtype == np.bool_:
            values[name] = rng.random(shape) < 0.4
            continue
        high = min(spec.high, 2**62)
        value = rng.integers(spec.low, high, size=shape, endpoint=True, dtype=np.int64)
        if name in ("refractory", "refractory_period"):   # short periods, so they end
            value = rng.integers(0, 5, size=shape)
        if uniform and spec.per_unit and n:
            value = np.full(shape, value.flat[0])
        values[name] = value.astype(spec.dtype)
    return cls.build("test", values, n)


@pytest.mark.parametrize("name", KERNEL_MODELS)
@pytest.mark.parametrize("ring", [np.int32, np.int64])
@pytest.mark.parametrize("uniform", [False, True])
def test_kernel_matches_numpy_step(name: str, ring: type, uniform: bool) -> None:
    model = model_named(name)
    rng = np.random.default_rng([zlib.crc32(name.encode()), ring().itemsize, uniform])
    for trial in range(20):
        n = int(rng.integers(1, 70))
        params = random_fields(model.Params, n, rng, uniform)
        state = random_fields(model.State, n, rng, uniform=False)
        index = np.arange(3, 3 + n, dtype=np.int64)
        run = UnitRun(population=0, name="p", label="test", model=model, start=0, index=index,
                      params=params.copy(), state=state.copy(),
                      kernel_arrays=tuple(np.ascontiguousarray(a)
                                          for a in model.kernel_params(params)))
        records = kernel_records([run])
        if uniform and all(a.ndim == 1 for a in run.kernel_arrays):
            assert records["uniform"][0], "shared parameters make a uniform run"
        limit = np.iinfo(ring).max >> 7 if ring is np.int32 else 2**40
        a_in = rng.integers(-limit, limit, n).astype(ring)
        spiked = np.zeros(n, dtype=np.uint8)
        for t in (1, 5, 17 + trial):
            expect_state = state.copy()
            if model.is_source:
                expected = model.step(expect_state, params, t=t, index=index)
                apply_kernels(records, None, spiked, t)
            else:
                expected = model.step(expect_state, params, a_in.astype(np.int64))
                given_in = a_in.copy()
                apply_kernels(records, given_in, spiked, t)
                assert not given_in.any(), "the kernel consumes its input slot"
            assert np.array_equal(spiked.view(bool), expected), (name, t)
            for field in model.State.names():
                assert np.array_equal(run.state[field], expect_state[field]), (name, field, t)
            state = expect_state


def test_kernel_limits_are_the_core_limits() -> None:
    assert _k_lif.LIMITS == {"STATE_LIMIT": fixed_point.STATE_LIMIT,
                             "STATE_MAX": fixed_point.STATE_MAX,
                             "WRAP": 2 * fixed_point.STATE_LIMIT}


def test_refractory_golden_trace() -> None:
    """One neuron, constant input, refractory_period 3: v held at 0 for 3 steps after each
    spike while u keeps integrating (hand-computed from the equations)."""
    net = nm.Network("golden")
    drive = np.ones((12, 1), dtype=bool)
    gen = net.add(nm.processes.SpikeGenerator(data=drive, name="gen"))
    cell = net.add(nm.processes.LIFRefractory(shape=(1,), du=4095, dv=0, vth=100,
                                              refractory_period=3, name="cell"))
    syn = net.add(nm.processes.Dense(weights=[[40]], name="syn"))
    net.connect(gen.s_out, syn.s_in)
    net.connect(syn.a_out, cell.a_in)
    with nm.Runtime(net, backend="reference") as rt:
        rt.record(cell, "v")
        rt.record(cell, "refractory")
        rt.run(14)
        v = rt.recorded(cell, "v")[:, 0]
        left = rt.recorded(cell, "refractory")[:, 0]
    # input 40 << 6 = 2560 arrives from step 2 (delay 1); du = 4095: u is this step's input;
    # threshold 100 << 6 = 6400: v = 2560, 5120, 7680 -> spike at step 4
    assert v.tolist()[:5] == [0, 2560, 5120, 0, 0]
    assert left.tolist()[:9] == [0, 0, 0, 3, 2, 1, 0, 0, 0]
    # held at steps 5, 6, 7 (t + 1 .. t + refractory_period); integrates again from step 8
    assert v.tolist()[4:10] == [0, 0, 0, 2560, 5120, 0]
    assert rt.spikes(cell).times.tolist()[:2] == [4, 10]


@pytest.mark.parametrize("workers", [1, 2, 3])
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=network_seeds)
def test_lif_refractory_bit_identical(workers: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    net = random_network(seed, kinds=("lif_refractory", "lif_refractory", "lif"))
    exe = nm.compile(net, hardware=str(rng.choice(["loihi1", "loihi2", "generic"])),
                     partition=str(rng.choice(["greedy", "balanced", "mincut"])),
                     max_neurons_per_core=int(rng.integers(2, 20)), seed=seed)
    with nm.Runtime(exe, backend="reference") as ref, nm.Runtime(exe, workers=workers) as rt:
        for runtime in (ref, rt):
            runtime.run(40)
        for pop in exe.ir.populations:
            assert ref.spikes(pop.name) == rt.spikes(pop.name), pop.name
            for var in pop.state:
                assert np.array_equal(ref.get(pop.name, var), rt.get(pop.name, var))
