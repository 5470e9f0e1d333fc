"""Time base and physical units: dt_ms, rates in Hz, time constants in ms and their quantization."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.processes import ALIF, LIF, PoissonSource


def test_rate_in_hz_is_a_probability_per_step() -> None:
    assert np.allclose(PoissonSource(3, rate_hz=50).rate, 0.05)
    assert np.allclose(PoissonSource(3, rate_hz=50, dt_ms=0.1).rate, 0.005)
    source = PoissonSource(2, rate_hz=[10, 250], dt_ms=2)
    assert np.allclose(source.rate, [0.02, 0.5])
    assert np.allclose(source.rate_hz, [10, 250])
    source.rate_hz = 100
    assert np.allclose(source.rate, 0.2)


def test_probability_above_one_points_to_hz() -> None:
    with pytest.raises(nm.ValidationError, match=r"probability per step.*rate_hz="):
        PoissonSource(3, rate=50)
    with pytest.raises(nm.ValidationError, match="at most 500 Hz at steps of 2 ms"):
        PoissonSource(3, rate_hz=600, dt_ms=2)
    with pytest.raises(nm.ValidationError, match="not both"):
        PoissonSource(3, rate=0.1, rate_hz=10)


def test_a_network_refuses_processes_converted_with_another_step() -> None:
    net = nm.Network("n", dt_ms=0.5)
    with pytest.raises(nm.ValidationError, match=r"step of 1 ms.*0.5 ms"):
        net.add(PoissonSource(3, rate_hz=10))          # Hz converted at the default 1 ms
    net.add(PoissonSource(3, rate_hz=10, dt_ms=0.5))
    net.add(PoissonSource(3, rate=0.01))                 # per step: fits any network
    with pytest.raises(nm.ValidationError, match=r"dt_ms"):
        net.add(LIF.from_time_constants(3, tau_u_ms=5, tau_v_ms=5, dt_ms=1.0))


@pytest.mark.parametrize("dt_ms", [0, -1, float("nan"), float("inf"), "1", True])
def test_bad_dt(dt_ms) -> None:
    with pytest.raises(nm.ValidationError, match="dt_ms"):
        nm.Network("n", dt_ms=dt_ms)


def test_time_constants_in_ms_equal_the_same_in_steps() -> None:
    in_ms = LIF.from_time_constants(4, tau_u_ms=5.0, tau_v_ms=20.0, dt_ms=0.5)
    in_steps = LIF.from_time_constants(4, tau_u=10.0, tau_v=40.0)
    assert np.array_equal(in_ms.du.value, in_steps.du.value)
    assert np.array_equal(in_ms.dv.value, in_steps.dv.value)
    # hand-computed: du = round(4096 (1 - e^-1/10)) - 1, dv = round(4096 (1 - e^-1/40))
    assert in_ms.du.value[0] == round(4096 * (1 - math.exp(-1 / 10))) - 1 == 389
    assert in_ms.dv.value[0] == round(4096 * (1 - math.exp(-1 / 40))) == 101
    assert in_ms.dt_ms == 0.5 and in_steps.dt_ms is None


def test_quantization_is_reported() -> None:
    lif = LIF.from_time_constants(4, tau_u_ms=5.0, tau_v_ms=20.0, dt_ms=0.5)
    report = lif.time_constants["tau_v"]
    # dv = 101: factor 3995/4096 per step, tau = -1 / ln(3995/4096) steps of 0.5 ms
    realised = -0.5 / math.log(3995 / 4096)
    assert float(report.realised_steps) * 0.5 == pytest.approx(realised)
    assert report.max_relative_error == pytest.approx(abs(realised - 20.0) / 20.0)
    assert "tau_v = 20 ms -> dv = 101" in str(report)
    assert LIF(3).time_constants == {}


def test_unrepresentable_time_constant_warns() -> None:
    with pytest.warns(nm.QuantizationWarning, match=r"tau_v = 0.02 ms -> dv = 4095"):
        LIF.from_time_constants(2, tau_u_ms=5, tau_v_ms=0.02, dt_ms=1.0)


def test_infinite_time_constant_is_no_decay() -> None:
    with pytest.warns(nm.QuantizationWarning, match=r"tau_u = inf steps -> du = 0, realised 4095"):
        lif = LIF.from_time_constants(2, tau_u=math.inf, tau_v=math.inf)
    assert lif.du.value[0] == 0 and lif.dv.value[0] == 0   # u keeps 4095/4096: Lava's du + 1
    assert np.isinf(float(lif.time_constants["tau_v"].realised_steps))


def test_alif_in_ms_and_mixed_arguments_refused() -> None:
    alif = ALIF.from_time_constants(2, tau_u_ms=2, tau_v_ms=4, tau_b_ms=100, dt_ms=0.5)
    assert alif.db.value[0] == round(4096 * (1 - math.exp(-1 / 200)))
    with pytest.raises(nm.ValidationError, match="exactly one"):
        LIF.from_time_constants(2, tau_u=3, tau_u_ms=3, tau_v=2)
    with pytest.raises(nm.ValidationError, match="exactly one"):
        LIF.from_time_constants(2, tau_u=3)
    with pytest.raises(nm.ValidationError, match="dt_ms"):
        LIF.from_time_constants(2, tau_u=3, tau_v=3, dt_ms=0.5)


def test_dt_travels_through_files_and_compile(tmp_path) -> None:
    net = nm.Network("timed", dt_ms=0.25)
    src = net.add(PoissonSource(4, rate_hz=100, dt_ms=0.25, seed=1))
    lif = net.add(LIF(4, vth=1))
    from nmgraph.processes import Dense
    syn = net.add(Dense(np.eye(4, dtype=int) * 50))
    net.connect(src.s_out, syn.s_in)
    net.connect(syn.a_out, lif.a_in)
    loaded = nm.load(net.save(tmp_path / "timed"))
    assert loaded.dt_ms == 0.25
    assert np.allclose(loaded[src.name].rate, 0.025) and loaded[src.name].dt_ms == 0.25
    exe = nm.compile(loaded, "loihi2")
    from nmgraph.compilers.executable_io import load_executable, save_executable
    again = load_executable(save_executable(exe, tmp_path / "timed_exe"))
    assert again.ir.dt_ms == 0.25
    with nm.Runtime(again, backend="reference") as rt:
        rt.run(8)
        assert rt.t_ms == 2.0
        assert rt.spikes(lif).dt_ms == 0.25


def test_rate_hz_assigned_later_keeps_its_step() -> None:
    source = PoissonSource(3, rate=0.1)
    source.rate_hz = 50                                  # converted now, with 1 ms
    assert source.dt_ms == 1.0
    with pytest.raises(nm.ValidationError, match="step of 1 ms"):
        nm.Network("fast", dt_ms=0.1).add(source)


def test_a_saved_process_remembers_its_step(tmp_path) -> None:
    net = nm.Network("t", dt_ms=0.5)
    net.add(LIF.from_time_constants(4, tau_u_ms=5, tau_v_ms=20, dt_ms=0.5, name="lif"))
    loaded = nm.load(net.save(tmp_path / "t"))
    assert loaded["lif"].dt_ms == 0.5 and loaded.dt_ms == 0.5


@pytest.mark.parametrize("bin_ms", ["abc", True, -1, 0.75])
def test_bad_rate_bins_name_the_process(bin_ms) -> None:
    net = nm.Network("r", dt_ms=0.5)
    lif = net.add(LIF(3, name="exc"))
    with nm.Runtime(net, backend="reference") as rt:
        rt.run(4)
        with pytest.raises(nm.ValidationError, match=r"Runtime.rates\(LIF 'exc'\).bin_ms"):
            rt.rates(lif, bin_ms=bin_ms)
