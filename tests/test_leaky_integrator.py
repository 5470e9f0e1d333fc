"""LI, the leaky integrator: traces computed by hand (LIF's decays, truncation toward zero, the
bias, NIR's integrator ``I``), no spikes and no ``s_out``, compiled onto cores and counted as
neurons, both backends, files and time constants. (Its Cython kernel is checked against its
NumPy step with every other model in tests/test_model_kernels.py.)"""

from __future__ import annotations

import math

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.compilers.executable import Executable
from nmgraph.processes import LI, LIF, Dense, PoissonSource, SpikeGenerator

BACKENDS = [("reference", {}), ("multicore", {"workers": 2})]


def drive(li: LI, weights: list[int], pulses: list[int], steps: int) -> list[list[int]]:
    """``li`` fed by one generator unit per weight that spikes at the steps ``pulses`` (arriving
    one step later); ``v`` per backend, one row per step."""
    data = np.zeros((steps, len(weights)), dtype=bool)
    for t in pulses:
        data[t - 1] = True
    net = nm.Network("li")
    gen = net.add(SpikeGenerator(data=data, name="gen"))
    net.add(li)
    syn = net.add(Dense(weights=np.array(weights)[:, None] * np.eye(len(weights), dtype=int),
                        name="syn"))
    net.connect(gen.s_out, syn.s_in)
    net.connect(syn.a_out, li.a_in)
    out = []
    for backend, options in BACKENDS:
        with nm.Runtime(net, backend=backend, **options) as rt:
            rt.record(li, "v")
            rt.record(li, "u")
            rt.run(steps)
            assert rt.spikes(li).times.size == 0
            out.append((rt.recorded(li, "u").T.tolist(), rt.recorded(li, "v").T.tolist()))
    assert out[0] == out[1], "the backends differ"
    return out[0]


def test_decays_by_hand() -> None:
    # one input of +-100 << 6 = +-6400 at step 2; du = 1024: u *= (4096 - 1025) / 4096 = 3071 /
    # 4096; dv = 512: v *= 3584 / 4096; products truncated toward zero.
    # step 2: u = 6400, v = 6400
    # step 3: u = 6400 * 3071 / 4096 = 4798.44 -> 4798; v = 6400 * 3584 / 4096 = 5600 + 4798
    #         = 10398
    # step 4: u = 4798 * 3071 / 4096 = 3597.33 -> 3597; v = 10398 * 3584 / 4096 = 9098.25
    #         -> 9098 + 3597 = 12695
    # the negative unit is the mirror image (truncation toward zero, not floor)
    u, v = drive(LI((2,), du=1024, dv=512, name="li"), [100, -100], [1], steps=4)
    assert u[0] == [0, 6400, 4798, 3597] and v[0] == [0, 6400, 10398, 12695]
    assert u[1] == [0, -6400, -4798, -3597] and v[1] == [0, -6400, -10398, -12695]


def test_integrator_i_and_bias() -> None:
    # NIR's I: du = 4095 (u = this step's input), dv = 0 (v keeps everything); input 3 << 6 =
    # 192 per step from step 2, and a bias of 5 << 2 = 20 per step from step 1
    u, v = drive(LI((1,), du=4095, dv=0, bias_mant=5, bias_exp=2, name="li"), [3],
                 list(range(1, 7)), steps=6)
    assert u[0] == [0, 192, 192, 192, 192, 192]
    assert v[0] == [20, 232, 444, 656, 868, 1080]


def test_voltage_clips_and_never_spikes() -> None:
    # 255 << 6 = 16320 per step, no leak: v clips at 2**23 - 1 and no unit spikes
    _, v = drive(LI((1,), du=4095, dv=0, name="li"), [255], list(range(1, 601)), steps=600)
    assert max(v[0]) == 2**23 - 1 and v[0][-1] == 2**23 - 1


def test_no_output_port() -> None:
    li = LI((3,), name="li")
    assert "s_out" not in li.ports and "a_in" in li.ports
    assert not hasattr(li, "s_out")
    assert not hasattr(li, "vth") and not hasattr(li, "reset")
    with pytest.raises(nm.ValidationError, match=r"LI 'li'.*no such port"):
        li.port("s_out")


def readout_network() -> nm.Network:
    rng = np.random.default_rng(2)
    net = nm.Network("readout")
    src = net.add(PoissonSource((40,), rate=0.2, seed=4, name="src"))
    hidden = net.add(LIF((30,), du=500, dv=200, vth=40, reset="subtract", name="hidden"))
    out = net.add(LI((10,), du=800, dv=100, bias_mant=rng.integers(-30, 30, 10), name="out"))
    syn1 = net.add(Dense(weights=rng.integers(-20, 100, (30, 40)), name="syn1"))
    syn2 = net.add(Dense(weights=rng.integers(-100, 100, (10, 30)), delay=2, name="syn2"))
    net.connect(src.s_out, syn1.s_in)
    net.connect(syn1.a_out, hidden.a_in)
    net.connect(hidden.s_out, syn2.s_in)
    net.connect(syn2.a_out, out.a_in)
    return net


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_compiled_on_cores_and_counted(workers: int) -> None:
    net = readout_network()
    exe = nm.compile(net, hardware="generic", partition="greedy", max_neurons_per_core=4)
    out = exe.ir.population("out")
    cores = np.unique(exe.partition.unit_core[out.offset:out.stop])
    assert cores.size == 3, "10 integrators on cores of 4 neurons"
    # every unit occupies a core: 40 sources, 30 LIF neurons and the 10 integrators
    assert int(exe.partition.usage["neurons"].sum()) == 40 + 30 + 10
    steps = 40
    with nm.Runtime(exe, backend="reference") as ref, nm.Runtime(exe, workers=workers) as rt:
        for runtime in (ref, rt):
            runtime.record("out", "v")
            runtime.run(steps)
        assert np.array_equal(ref.recorded("out", "v"), rt.recorded("out", "v"))
        assert np.abs(ref.recorded("out", "v")).max() > 1000
        for var in ("u", "v"):
            assert np.array_equal(ref.get("out", var), rt.get("out", var))
        assert ref.counters.as_dict() == rt.counters.as_dict()
        assert ref.counters.neuron_updates == (30 + 10) * steps
        assert ref.counters.per_process["out"]["neuron_updates"] == 10 * steps
        assert ref.counters.per_process["out"]["spikes"] == 0


def test_alone_with_a_bias() -> None:
    net = nm.Network("alone")
    li = net.add(LI((2,), dv=2048, bias_mant=[100, -100], name="li"))
    for backend, options in (("reference", {}), ("multicore", {"workers": 1})):
        with nm.Runtime(net, backend=backend, **options) as rt:
            rt.run(3)
            # v = v / 2 + 100: 100, 150, 175 (and the mirror image)
            assert rt.get(li, "v").tolist() == [175, -175]


def test_files_round_trip(tmp_path) -> None:
    net = readout_network()
    loaded = nm.load(net.save(tmp_path / "net"))
    assert isinstance(loaded["out"], LI) and "s_out" not in loaded["out"].ports
    assert np.array_equal(loaded["out"].bias_mant.get(), net["out"].bias_mant.get())
    exe = nm.compile(net, hardware="generic", max_neurons_per_core=8)
    again = Executable.load(exe.save(tmp_path / "exe"))
    assert again.ir.population("out").model == "li"
    with nm.Runtime(exe, backend="reference") as whole:
        whole.run(30)
        with nm.Runtime(again, workers=2) as first:
            first.run(12)
            path = first.snapshot(tmp_path / "run")
        with nm.Runtime.restore(path, backend="reference") as restored:
            restored.run(18)
            assert np.array_equal(whole.get("out", "v"), restored.get("out", "v"))


def test_from_time_constants_as_lif() -> None:
    li = LI.from_time_constants(3, tau_u=5.0, tau_v=20.0, name="li")
    lif = LIF.from_time_constants(3, tau_u=5.0, tau_v=20.0, name="lif")
    assert li.du.get().tolist() == lif.du.get().tolist()
    assert li.dv.get().tolist() == lif.dv.get().tolist()
    # dv = round(4096 * (1 - exp(-1 / 20))) = round(199.8) = 200;
    # du = round(4096 * (1 - exp(-1 / 5))) - 1 = round(742.4) - 1 = 741
    assert li.dv.get().tolist() == [200] * 3 and li.du.get().tolist() == [741] * 3
    assert set(li.time_constants) == {"tau_u", "tau_v"}
    in_ms = LI.from_time_constants(2, tau_u_ms=2.5, tau_v_ms=math.inf, dt_ms=0.5, name="ms")
    assert in_ms.dt_ms == 0.5 and in_ms.dv.get().tolist() == [0, 0]
    assert in_ms.du.get().tolist() == [741, 741]   # 2.5 ms / 0.5 ms = 5 steps
    with pytest.raises(nm.ValidationError, match="tau_v"):
        LI.from_time_constants(2, tau_u=5.0, name="missing")
