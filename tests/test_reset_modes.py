"""Reset modes of the LIF family (``reset="value"`` to ``v_reset``, ``reset="subtract"``): traces
computed by hand on both backends; the Cython kernels against the NumPy spec for every reset kind
of a run; random networks with mixed modes bit-identical on 1-3 workers; files (networks,
executables, snapshots) round trip, and files written before the reset existed still load."""

from __future__ import annotations

import json
import zipfile
import zlib

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.compilers.executable import Executable
from nmgraph.core.models import FieldSet, fixed
from nmgraph.processes import ALIF, IF, LIF, Dense, LIFRefractory, PoissonSource, SpikeGenerator
from nmgraph.runtimes import _k_lif
from nmgraph.runtimes import fixed_point as fp
from nmgraph.runtimes._worker_kernel import KERNEL_RUN_DTYPE, apply_kernels
from nmgraph.runtimes.multicore_program import UnitRun, fill_record, kernel_records
from nmgraph.runtimes.registry import model_named

BACKENDS = [("reference", {}), ("multicore", {"workers": 2})]


def trace(neuron, weight: int, drive: list[int] | None = None, steps: int = 8,
          record: tuple[str, ...] = ("v",)) -> list[dict]:
    """Run ``neuron`` (one unit) fed by a generator through one synapse of ``weight`` (delay 1,
    so a spike of the generator at step t arrives at step t + 1) on both backends; return per
    backend the recorded Vars and the spike steps."""
    data = np.zeros((steps, 1), dtype=bool)
    for t in drive if drive is not None else range(1, steps + 1):
        data[t - 1, 0] = True
    net = nm.Network("trace")
    gen = net.add(SpikeGenerator(data=data, name="gen"))
    cell = net.add(neuron)
    syn = net.add(Dense(weights=[[weight]], name="syn"))
    net.connect(gen.s_out, syn.s_in)
    net.connect(syn.a_out, cell.a_in)
    out = []
    for backend, options in BACKENDS:
        with nm.Runtime(net, backend=backend, **options) as rt:
            for var in record:
                rt.record(cell, var)
            rt.run(steps)
            result = {var: rt.recorded(cell, var)[:, 0].tolist() for var in record}
            result["spikes"] = rt.spikes(cell).times.tolist()
            out.append(result)
    assert out[0] == out[1], "the backends differ"
    return out


# ---- hand-computed traces ------------------------------------------------------------------------
# du = 4095: u is this step's input (weight << 6); dv = 0: v does not leak; vth = 100: the
# threshold is 6400.

def test_default_is_lavas_reset_to_zero() -> None:
    # input 60 << 6 = 3840 per step from step 2: v = 3840, 7680 > 6400 -> spike, v = 0; ...
    got = trace(LIF((1,), du=4095, dv=0, vth=100, name="cell"), 60)[0]
    assert got["v"] == [0, 3840, 0, 3840, 0, 3840, 0, 3840]
    assert got["spikes"] == [3, 5, 7]


def test_reset_to_positive_v_reset() -> None:
    # spike at step 3 (v = 7680) -> v = 3000; then 3000 + 3840 = 6840 > 6400 every step
    got = trace(LIF((1,), du=4095, dv=0, vth=100, v_reset=3000, name="cell"), 60)[0]
    assert got["v"] == [0, 3840, 3000, 3000, 3000, 3000, 3000, 3000]
    assert got["spikes"] == [3, 4, 5, 6, 7, 8]


def test_reset_to_negative_v_reset() -> None:
    # spike at step 3 -> -2000; -2000 + 3840 = 1840; 5680; 9520 > 6400 -> spike at 6; ...
    got = trace(LIF((1,), du=4095, dv=0, vth=100, v_reset=-2000, name="cell"), 60)[0]
    assert got["v"] == [0, 3840, -2000, 1840, 5680, -2000, 1840, 5680]
    assert got["spikes"] == [3, 6]


def test_subtract_keeps_the_excess_and_spikes_again() -> None:
    # one input of 225 << 6 = 14400 at step 2 (2.25 thresholds): spike, v = 14400 - 6400 = 8000;
    # step 3, no input: v = 8000 > 6400 -> spike again, v = 1600; then it stays (dv = 0)
    got = trace(LIF((1,), du=4095, dv=0, vth=100, reset="subtract", name="cell"), 225,
                drive=[1])[0]
    assert got["v"] == [0, 8000, 1600, 1600, 1600, 1600, 1600, 1600]
    assert got["spikes"] == [2, 3]
    # the same input with the default reset: one spike, v = 0
    lava = trace(LIF((1,), du=4095, dv=0, vth=100, name="cell"), 225, drive=[1])[0]
    assert lava["v"] == [0] * 8 and lava["spikes"] == [2]


def test_subtract_with_leak() -> None:
    # dv = 256: v *= 3840 / 4096 per step (truncated toward 0). Step 2: v = 14400 -> spike,
    # v = 8000. Step 3: 8000 * 3840 / 4096 = 7500 -> spike, v = 1100. Step 4: 1100 * 3840 /
    # 4096 = 1031.25 -> 1031. Step 5: 1031 * 3840 / 4096 = 966.56 -> 966.
    got = trace(LIF((1,), du=4095, dv=256, vth=100, reset="subtract", name="cell"), 225,
                drive=[1])[0]
    assert got["v"][:5] == [0, 8000, 1100, 1031, 966]
    assert got["spikes"] == [2, 3]


def test_subtract_several_thresholds_in_one_step() -> None:
    # 250 << 6 = 16000 every step (2.5 thresholds): one spike per step, the excess accumulates:
    # v = 16000 - 6400 = 9600, 9600 + 16000 - 6400 = 19200, 28800, ...
    got = trace(LIF((1,), du=4095, dv=0, vth=100, reset="subtract", name="cell"), 250,
                steps=5)[0]
    assert got["v"] == [0, 9600, 19200, 28800, 38400]
    assert got["spikes"] == [2, 3, 4, 5]


def test_if_takes_both_modes() -> None:
    got = trace(IF((1,), vth=100, v_reset=-500, name="cell"), 60, steps=5)[0]
    # 3840, 7680 -> -500, 3340, 7180 -> -500
    assert got["v"] == [0, 3840, -500, 3340, -500]
    got = trace(IF((1,), vth=100, reset="subtract", name="cell"), 225, drive=[1], steps=4)[0]
    assert got["v"] == [0, 8000, 1600, 1600]


def test_alif_subtracts_the_threshold_it_crossed() -> None:
    # db = 0, beta = 40 (b grows by 2560 per spike). One input of 16000 at step 2:
    # step 2: b = 0, threshold 6400 -> spike, v = 16000 - 6400 = 9600, b = 2560;
    # step 3: threshold 6400 + 2560 = 8960 -> spike, v = 640, b = 5120; step 4: no spike.
    cell = ALIF((1,), du=4095, dv=0, vth=100, db=0, beta=40, reset="subtract", name="cell")
    got = trace(cell, 250, drive=[1], steps=5, record=("v", "b"))[0]
    assert got["v"] == [0, 9600, 640, 640, 640]
    assert got["b"] == [0, 2560, 5120, 5120, 5120]
    assert got["spikes"] == [2, 3]
    # to a value: v_reset = 100
    cell = ALIF((1,), du=4095, dv=0, vth=100, db=0, beta=40, v_reset=100, name="cell")
    got = trace(cell, 250, drive=[1], steps=4, record=("v", "b"))[0]
    assert got["v"] == [0, 100, 100, 100] and got["spikes"] == [2]


def test_refractory_holds_the_reset_value() -> None:
    # refractory_period = 2, v_reset = -1000, 3840 per step: step 3 spike -> -1000 held at steps
    # 4, 5; integrates again at 6: 2840; 7: 6680 -> spike
    cell = LIFRefractory((1,), du=4095, dv=0, vth=100, refractory_period=2, v_reset=-1000,
                         name="cell")
    got = trace(cell, 60, steps=8, record=("v", "refractory"))[0]
    assert got["v"] == [0, 3840, -1000, -1000, -1000, 2840, -1000, -1000]
    assert got["refractory"] == [0, 0, 2, 1, 0, 0, 2, 1]
    assert got["spikes"] == [3, 7]


def test_refractory_subtract_tests_the_threshold_while_held() -> None:
    # period 1, one input of 16000 at step 2: spike, v = 9600 (held at step 3, but still above
    # the threshold: the threshold is tested on every neuron) -> spike at 3, v = 3200, period
    # restarts; step 4 held, no spike.
    cell = LIFRefractory((1,), du=4095, dv=0, vth=100, refractory_period=1, reset="subtract",
                         name="cell")
    got = trace(cell, 250, drive=[1], steps=5, record=("v", "refractory"))[0]
    assert got["v"] == [0, 9600, 3200, 3200, 3200]
    assert got["refractory"] == [0, 1, 1, 0, 0]
    assert got["spikes"] == [2, 3]


# ---- the NumPy spec against hand values -------------------------------------------------------

def test_spec_reset_rules() -> None:
    u = np.zeros(4, np.int64)
    v = np.array([0, 0, 0, 0], np.int64)
    a_in = np.array([200, 200, 50, 200], np.int64)          # 12800 > 6400 except unit 2
    ones = np.ones(4, np.int32)
    spikes = fp.lif_step(u, v, a_in, ones * 4095, ones * 0, ones * 100, np.zeros(4, np.int64),
                         v_reset=np.array([5, -7, 9, 11]),
                         subtract=np.array([False, False, False, True]))
    assert spikes.tolist() == [True, True, False, True]
    assert v.tolist() == [5, -7, 3200, 6400]


# ---- kernels against the spec, for every reset kind ----------------------------------------------

KERNEL_RESET_MODELS = ["lif", "if", "alif", "lif_refractory"]


def reset_fields(model, n: int, rng: np.random.Generator, kind: int, uniform: bool) -> FieldSet:
    values = {}
    for name, spec in model.Params.specs().items():
        values[name] = rng.integers(spec.low, spec.high, n, endpoint=True)
    values["vth"] = rng.integers(0, 300, n)       # low thresholds: many spikes
    if "refractory_period" in values:
        values["refractory_period"] = rng.integers(0, 4, n)
    if "beta" in values:
        values["beta"] = rng.integers(0, 100, n)
    values["reset"] = {0: np.zeros(n), 1: np.zeros(n), 2: np.ones(n),
                       3: rng.integers(0, 2, n)}[kind]
    values["v_reset"] = np.zeros(n) if kind == 0 else rng.integers(-5000, 5000, n)
    if kind == 3 and n > 1:
        values["reset"][:2] = [0, 1]              # surely mixed
    if kind == 1:
        values["v_reset"][0] = 17                 # surely not all 0
    if uniform:
        values = {k: np.full(n, v[0]) for k, v in values.items()}
    return model.Params.build("test", {k: np.asarray(v).astype(model.Params.specs()[k].dtype)
                                       for k, v in values.items()}, n)


def state_fields(model, n: int, rng: np.random.Generator) -> FieldSet:
    values = {}
    for name, spec in model.State.specs().items():
        values[name] = rng.integers(spec.low, spec.high, n, endpoint=True)
    if "refractory" in values:
        values["refractory"] = rng.integers(0, 3, n)
    return model.State.build("test", values, n)


@pytest.mark.parametrize("name", KERNEL_RESET_MODELS)
@pytest.mark.parametrize(("kind", "uniform"), [(0, False), (1, False), (2, False), (3, False),
                                               (0, True), (1, True), (2, True)])
@pytest.mark.parametrize("ring", [np.int32, np.int64])
def test_kernel_matches_spec_for_each_reset_kind(name: str, kind: int, uniform: bool,
                                                 ring: type) -> None:
    """Kinds (``reset_kind``): 0 Lava's reset to 0, 1 to v_reset, 2 subtract, 3 mixed (a uniform
    run has one reset word, so never 3)."""
    model = model_named(name)
    rng = np.random.default_rng([zlib.crc32(name.encode()), kind, uniform, ring().itemsize])
    for _ in range(6):
        n = int(rng.integers(2, 90))
        params = reset_fields(model, n, rng, kind, uniform)
        state = state_fields(model, n, rng)
        arrays = tuple(np.ascontiguousarray(a) for a in model.kernel_params(params))
        assert int(arrays[4][0]) == (kind if not uniform or kind == 0 else
                                     (1 if not params.reset[0] else 2)), "reset_kind"
        run = UnitRun(population=0, name="p", label="test", model=model, start=0,
                      index=np.arange(n, dtype=np.int64), params=params.copy(),
                      state=state.copy(), kernel_arrays=arrays)
        records = kernel_records([run])
        assert bool(records["uniform"][0]) == uniform
        spiked = np.zeros(n, dtype=np.uint8)
        for _ in range(12):
            a_in = rng.integers(-300, 300, n)
            expected = model.step(state, params, a_in.astype(np.int64))
            given = a_in.astype(ring)
            apply_kernels(records, given, spiked, 1)
            assert np.array_equal(spiked.view(bool), expected)
            for field in model.State.names():
                assert np.array_equal(run.state[field], state[field]), field


def test_lif_kernel_any_int64_state_and_int32_parameters() -> None:
    """Bit-identity beyond the registers' ranges (wrapping int64 arithmetic), per reset kind:
    any int64 u, v and input, any int32 du, dv and vth, 24-bit v_reset."""
    rng = np.random.default_rng(7)
    info64, info32 = np.iinfo(np.int64), np.iinfo(np.int32)
    for kind in (1, 2, 3):
        n = 64
        u = rng.integers(info64.min, info64.max, n, endpoint=True)
        v = rng.integers(info64.min, info64.max, n, endpoint=True)
        du, dv, vth = (rng.integers(info32.min, info32.max, n, endpoint=True).astype(np.int32)
                       for _ in range(3))
        bias = rng.integers(info64.min, info64.max, n, endpoint=True)
        v_reset = rng.integers(-(2**23) + 1, 2**23, n)
        subtract = {1: np.zeros(n, bool), 2: np.ones(n, bool), 3: rng.random(n) < 0.5}[kind]
        word = (v_reset << 1) | subtract
        vth_reset = (word << 32) | (vth.astype(np.int64) & 0xFFFFFFFF)
        kernel_u, kernel_v = u.copy(), v.copy()
        for _ in range(3):
            a_in = rng.integers(info64.min, info64.max, n, endpoint=True)
            want = fp.lif_step(u, v, a_in, du, dv, vth, bias, v_reset=v_reset, subtract=subtract)
            records = np.zeros(1, dtype=KERNEL_RUN_DTYPE)
            fill_record(records[0], _k_lif.KERNELS["lif"], 0, n, 0, [kernel_u, kernel_v],
                        (du.astype(np.int64), dv.astype(np.int64), vth_reset, bias,
                         np.full(n, kind, np.int64)))
            spiked = np.zeros(n, np.uint8)
            apply_kernels(records, a_in.copy(), spiked, 1)
            assert np.array_equal(spiked.view(bool), want), kind
            assert np.array_equal(kernel_u, u) and np.array_equal(kernel_v, v), kind


# ---- random networks, both backends, 1-3 workers -------------------------------------------------

def mixed_network(seed: int) -> nm.Network:
    rng = np.random.default_rng(seed)
    net = nm.Network(f"mixed{seed}")
    src = net.add(PoissonSource((30,), rate=0.3, seed=seed, name="src"))
    pops = [
        net.add(LIF((25,), du=400, dv=300, vth=rng.integers(20, 80, 25),
                    v_reset=rng.integers(-3000, 3000, 25), name="lif_value")),
        net.add(LIF((20,), du=300, dv=100, vth=50, reset="subtract", name="lif_sub")),
        net.add(LIF((15,), du=300, dv=100, vth=rng.integers(20, 80, 15), reset="subtract",
                    name="lif_sub_own")),
        net.add(LIF((10,), du=300, dv=200, vth=60, name="lif_lava")),
        net.add(ALIF((12,), du=500, dv=200, vth=40, db=100, beta=20, reset="subtract",
                     name="alif_sub")),
        net.add(IF((8,), vth=70, v_reset=-800, name="if_value")),
        net.add(LIFRefractory((9,), du=500, dv=100, vth=30, refractory_period=2,
                              reset="subtract", name="ref_sub")),
    ]
    for i, post in enumerate(pops):
        syn = net.add(Dense(weights=rng.integers(-40, 120, (post.size, 30)), name=f"in{i}"))
        net.connect(src.s_out, syn.s_in)
        net.connect(syn.a_out, post.a_in)
        pre = pops[(i + 1) % len(pops)]
        rec = net.add(Dense(weights=rng.integers(-60, 60, (post.size, pre.size)),
                            delay=int(rng.integers(1, 4)), name=f"rec{i}"))
        net.connect(pre.s_out, rec.s_in)
        net.connect(rec.a_out, post.a_in)
    return net


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("partition", ["greedy", "mincut"])
def test_mixed_reset_modes_bit_identical(workers: int, partition: str) -> None:
    net = mixed_network(workers)
    exe = nm.compile(net, hardware="generic", partition=partition, max_neurons_per_core=7)
    with nm.Runtime(exe, backend="reference") as ref, \
            nm.Runtime(exe, backend="multicore", workers=workers) as rt:
        for runtime in (ref, rt):
            runtime.record("lif_sub", "v")
            runtime.run(60)
        for pop in exe.ir.populations:
            assert ref.spikes(pop.name) == rt.spikes(pop.name), pop.name
            for var in pop.state:
                assert np.array_equal(ref.get(pop.name, var), rt.get(pop.name, var)), pop.name
        assert np.array_equal(ref.recorded("lif_sub", "v"), rt.recorded("lif_sub", "v"))
        assert ref.counters.as_dict() == rt.counters.as_dict()
        for name in ("lif_value", "lif_sub", "alif_sub", "ref_sub"):
            assert len(ref.spikes(name).times) > 20, name   # the resets are exercised


# ---- files -----------------------------------------------------------------------------------------

def test_network_file_keeps_the_reset(tmp_path) -> None:
    net = mixed_network(0)
    loaded = nm.load(net.save(tmp_path / "net"))
    for name in ("lif_value", "lif_sub", "alif_sub", "if_value", "ref_sub", "lif_lava"):
        a, b = net[name], loaded[name]
        assert b.reset == a.reset, name
        assert np.array_equal(b.v_reset.get(), a.v_reset.get()), name
    assert loaded["lif_sub"].reset == "subtract"


def test_executable_and_snapshot_round_trip(tmp_path) -> None:
    net = mixed_network(4)
    exe = nm.compile(net, hardware="generic", max_neurons_per_core=9)
    again = Executable.load(exe.save(tmp_path / "exe"))
    for a, b in zip(exe.ir.populations, again.ir.populations):
        assert a.params.equals(b.params) and a.state.equals(b.state), a.name
    with nm.Runtime(exe, backend="reference") as whole:
        whole.run(50)
        with nm.Runtime(exe, workers=2) as first:
            first.run(20)
            path = first.snapshot(tmp_path / "run")
        with nm.Runtime.restore(path, workers=3) as restored:
            restored.run(30)
            for pop in exe.ir.populations:
                assert whole.spikes(pop.name) == restored.spikes(pop.name), pop.name


def _strip_reset_fields(path, out) -> None:
    """Rewrite an executable or snapshot as nmgraph wrote it before the reset existed: no
    ``v_reset`` and ``reset`` fields in any population, in the document or the members."""
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("document.json"))
        dropped = set()

        def strip(doc):
            for key in ("v_reset", "reset"):
                member = doc.pop(key, None)
                if member is not None:
                    dropped.add(member)

        exe_doc = document.get("executable", document)
        for pop in exe_doc["ir"]["populations"]:
            strip(pop["params"])
        for values in document.get("values", {}).values():
            strip(values)
        assert dropped, "the file had reset fields to drop"
        with zipfile.ZipFile(out, "w") as new:
            new.writestr("document.json", json.dumps(document))
            for info in archive.infolist():
                if info.filename != "document.json" and info.filename not in dropped:
                    new.writestr(info, archive.read(info))


def test_files_written_before_the_reset_load(tmp_path) -> None:
    net = nm.Network("old")
    src = net.add(PoissonSource((20,), rate=0.4, seed=3, name="src"))
    cells = net.add(LIF((15,), du=200, dv=100, vth=30, name="cells"))
    adapt = net.add(ALIF((5,), du=200, dv=100, vth=30, beta=10, name="adapt"))
    for i, post in enumerate((cells, adapt)):
        syn = net.add(Dense(weights=np.full((post.size, 20), 40), name=f"syn{i}"))
        net.connect(src.s_out, syn.s_in)
        net.connect(syn.a_out, post.a_in)
    exe = nm.compile(net, hardware="generic", max_neurons_per_core=6)
    _strip_reset_fields(exe.save(tmp_path / "new.nmx"), tmp_path / "old.nmx")
    old = Executable.load(tmp_path / "old.nmx")
    for pop in old.ir.populations:
        if pop.name in ("cells", "adapt"):
            assert not pop.params.v_reset.any() and not pop.params.reset.any()
            assert pop.params.equals(exe.ir.population(pop.name).params)
    with nm.Runtime(exe, workers=2) as rt:
        rt.run(15)
        snap = rt.snapshot(tmp_path / "new.nms")
        rt.run(15)
        expected = {name: rt.spikes(name) for name in ("cells", "adapt")}
    _strip_reset_fields(snap, tmp_path / "old.nms")
    for backend, options in BACKENDS:
        with nm.Runtime.restore(tmp_path / "old.nms", backend=backend, **options) as restored:
            restored.run(15)
            for name, spikes in expected.items():
                assert restored.spikes(name) == spikes, (backend, name)
    assert expected["cells"].times.size > 10


def test_field_defaults_are_checked() -> None:
    with pytest.raises(TypeError, match="outside the field's range"):
        fixed(4, default=100)
    with pytest.raises(TypeError, match="one value per unit"):
        fixed(4, ndim=2, default=0)
    model = model_named("lif")
    params = model.Params.build("x", {"du": [1], "dv": [2], "vth": [3], "bias_mant": [4],
                                      "bias_exp": [5]}, 1)
    assert params.v_reset.tolist() == [0] and params.reset.tolist() == [0]
    with pytest.raises(nm.ValidationError, match="missing"):
        model.Params.build("x", {"du": [1], "dv": [2], "vth": [3], "bias_mant": [4]}, 1)


# ---- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [LIF, IF, ALIF, LIFRefractory])
def test_bad_reset_names_the_process(cls) -> None:
    with pytest.raises(nm.ValidationError, match=rf"{cls.__name__} 'bad'\.reset: must be "
                                                 r"'value' .* or 'subtract'.*got 'substract'"):
        cls((3,), name="bad", reset="substract")
    with pytest.raises(nm.ValidationError, match=r"'bad'\.reset"):
        cls((3,), name="bad", reset=1)
    with pytest.raises(nm.ValidationError, match=r"'bad'\.v_reset"):
        cls((3,), name="bad", v_reset=2**23)
    cell = cls((3,), name="ok")
    with pytest.raises(nm.ValidationError, match=r"'ok'\.reset"):
        cell.reset = "zero"
    cell.reset = "subtract"
    assert cell.reset == "subtract" and cell.constructor_args()["reset"] == "subtract"


def test_from_time_constants_passes_the_reset() -> None:
    cell = LIF.from_time_constants(4, tau_u=5, tau_v=10, v_reset=-20, reset="value", name="c")
    assert cell.v_reset.get().tolist() == [-20] * 4
    cell = ALIF.from_time_constants(4, tau_u=5, tau_v=10, tau_b=50, reset="subtract", name="a")
    assert cell.reset == "subtract"


@pytest.mark.parametrize("workers", [1, 2])
def test_set_between_runs_changes_the_kernels_loop(workers: int) -> None:
    """rt.set of v_reset (a Var) and of the model's reset (by the population's name) between
    runs: the multi-core kernels switch loops (reset kind 0 -> 1 -> 3) and stay bit-identical."""
    exe = nm.compile(mixed_network(5), hardware="generic", max_neurons_per_core=6)
    with nm.Runtime(exe, backend="reference") as ref, \
            nm.Runtime(exe, backend="multicore", workers=workers) as rt:
        for runtime in (ref, rt):
            runtime.run(20)
            runtime.set("lif_lava", "v_reset", np.arange(10) * 300 - 1500)
            runtime.run(20)
            runtime.set("lif_lava", "reset", np.arange(10) % 2)
            runtime.run(20)
        assert ref.get("lif_lava", "reset").tolist() == [0, 1] * 5
        for pop in exe.ir.populations:
            assert ref.spikes(pop.name) == rt.spikes(pop.name), pop.name
            if not pop.is_source:
                assert np.array_equal(ref.get(pop.name, "v"), rt.get(pop.name, "v")), pop.name
