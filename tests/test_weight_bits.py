"""Lava's ``num_weight_bits``: weights bit-identical to Lava's bit-accurate Dense and Sparse.

Lava (``lava/utils/weightutils.py``, used by ``PyDenseModelBitAcc.run_spk``) clips weights to 8
bits by sign mode and drops ``k = 8 - num_weight_bits + mixed`` low bits; an all-negative matrix is
negated around the shift (toward zero). nmgraph drops the ``8 - num_weight_bits`` bits on every
profile and the Loihi profiles drop the mixed-sign bit too. The expected values here are computed
from that rule written out with integer floor division, independently of nmgraph's shifts, and
spot-checked against a table worked by hand.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nmgraph as nm
from nmgraph.processes import IF, Dense, Sparse, SpikeGenerator

EXCITATORY = [1, 2, 3, 5, 7, 63, 64, 100, 127, 128, 129, 200, 254, 255]
INHIBITORY = [-w for w in EXCITATORY]
MIXED = [-256, -255, -200, -129, -128, -127, -7, -5, -2, -1, 1, 2, 3, 5, 7, 127, 128, 255]
CASES = {"excitatory": EXCITATORY, "inhibitory": INHIBITORY, "mixed": MIXED}


def lava_weights(values: list[int], nwb: int, *, sign_bit: bool) -> list[int]:
    """Lava's clip_weights + truncate_weights, written out (values already in 8-bit range).

    The step is ``2**k``; ``floor(w / step) * step`` is Lava's ``(w >> k) << k``; the
    inhibitory mode negates first, so it rounds toward zero.
    """
    if min(values) >= 0:
        mode = "excitatory"
    elif max(values) <= 0:
        mode = "inhibitory"
    else:
        mode = "mixed"
    step = 2 ** (8 - nwb + (1 if sign_bit and mode == "mixed" else 0))
    if mode == "inhibitory":
        return [-((-w) // step * step) for w in values]
    return [w // step * step for w in values]


def test_rule_written_out_matches_hand_worked_values():
    # (values, num_weight_bits, Loihi's sign bit) -> values worked by hand
    table = [
        ([5], 6, False, [4]),                      # the example: Lava gives 4
        ([255, 1, 3], 1, False, [128, 0, 0]),      # k = 7
        ([-255, -1, -129], 1, False, [-128, 0, -128]),   # toward zero
        ([-5, -3], 7, False, [-4, -2]),
        ([255, -1, -256, 3], 8, True, [254, -2, -256, 2]),   # nwb 8, mixed: lowest bit
        ([255, -1, -256], 1, True, [0, -256, -256]),     # k = 8: floor
        ([5, -3], 6, True, [0, -8]),                     # k = 3
        ([5, -3], 6, False, [4, -4]),                    # k = 2 (generic profile)
    ]
    for values, nwb, sign_bit, expected in table:
        assert lava_weights(values, nwb, sign_bit=sign_bit) == expected, (values, nwb)


def _network(cls: type, exps: dict[tuple[str, int], int]) -> tuple[nm.Network, dict]:
    """One synapse process per (sign mode, num_weight_bits): the weights on a diagonal, each
    into its own IF neuron (no leak of u over one step, threshold out of reach)."""
    net = nm.Network(f"bits_{cls.__name__}")
    targets = {}
    for (mode, nwb), exp in exps.items():
        values = CASES[mode]
        n = len(values)
        src = net.add(SpikeGenerator(np.ones((1, n), dtype=bool), name=f"src_{mode}_{nwb}"))
        matrix = np.diag(values)
        weights = matrix if cls is Dense else (np.arange(n), np.arange(n), np.array(values))
        kwargs = {} if cls is Dense else {"shape": (n, n)}
        syn = net.add(cls(weights=weights, weight_exp=exp, num_weight_bits=nwb,
                          name=f"syn_{mode}_{nwb}", **kwargs))
        post = net.add(IF(shape=(n,), vth=2**17 - 1, name=f"n_{mode}_{nwb}"))
        net.connect(src.s_out, syn.s_in)
        net.connect(syn.a_out, post.a_in)
        targets[(mode, nwb)] = post
    return net, targets


def _currents(target, backend: str, neurons: dict) -> dict:
    """``u`` after step 2 (the spikes of step 1 arrive at step 2), per case."""
    with nm.Runtime(target, backend=backend) as rt:
        rt.run(2)
        return {key: rt.get(post, "u") for key, post in neurons.items()}


EXPS = {(mode, nwb): nwb % 4 for mode in CASES for nwb in range(1, 9)}


def _expected(sign_bit: bool) -> dict:
    return {(mode, nwb): np.array(lava_weights(CASES[mode], nwb, sign_bit=sign_bit),
                                  dtype=np.int64) * 2**exp * 64
            for (mode, nwb), exp in EXPS.items()}


@pytest.mark.parametrize("cls", [Dense, Sparse])
def test_runtime_of_network_runs_lavas_weights(cls):
    """``nm.Runtime(net)`` on both backends: one-signed weights exactly as Lava; mixed-sign
    weights lose ``8 - num_weight_bits`` bits (Loihi's extra sign bit is the Loihi profiles')."""
    net, neurons = _network(cls, EXPS)
    expected = _expected(sign_bit=False)
    with pytest.warns(nm.QuantizationWarning, match="num_weight_bits"):
        multicore = _currents(net, "multicore", neurons)      # compiled for generic
    reference = _currents(net, "reference", neurons)
    for key in EXPS:
        np.testing.assert_array_equal(reference[key], expected[key], err_msg=str(key))
        np.testing.assert_array_equal(multicore[key], expected[key], err_msg=str(key))
    one_signed = _expected(sign_bit=True)
    for key in EXPS:
        if key[0] != "mixed":   # Lava's values, the sign bit plays no part
            np.testing.assert_array_equal(reference[key], one_signed[key])


@pytest.mark.parametrize(("cls", "profile"), [(Dense, "loihi1"), (Sparse, "loihi2")])
def test_loihi_executable_runs_lavas_weights_bit_for_bit(cls, profile):
    net, neurons = _network(cls, EXPS)
    with pytest.warns(nm.QuantizationWarning) as record:
        exe = nm.compile(net, profile)
    assert len(record) == 1
    message = str(record[0].message)
    assert "exe.report.quantization" in message and "'Quantization' section" in message
    expected = _expected(sign_bit=True)
    for backend in ("reference", "multicore"):
        got = _currents(exe, backend, neurons)
        for key in EXPS:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{backend} {key}")


def test_loihi_report_shows_num_weight_bits_and_sign_bit():
    net, _ = _network(Dense, {("excitatory", 6): 0, ("mixed", 8): 1, ("inhibitory", 8): 0})
    with pytest.warns(nm.QuantizationWarning):
        report = nm.compile(net, "loihi1").report.quantization
    rows = {p.projection: p for p in report.projections}
    exc = rows["syn_excitatory_6"]      # 8 - 6 = 2 bits: values not multiples of 4 change
    assert exc.changed == sum(1 for w in EXCITATORY if w % 4)
    assert exc.max_abs_error == 3 and "num_weight_bits=6" in exc.note
    mixed = rows["syn_mixed_8"]         # odd values lose 1, in units of w << 1
    assert mixed.changed == sum(1 for w in MIXED if w % 2)
    assert mixed.max_abs_error == 2 and "sign bit" in mixed.note
    assert rows["syn_inhibitory_8"].changed == 0
    assert not report.exact
    assert "changed in 2 of 3 projections" in report.summary()


def test_report_section_named_in_the_warning_exists():
    net, _ = _network(Dense, {("excitatory", 6): 0})
    with pytest.warns(nm.QuantizationWarning):
        exe = nm.compile(net, "loihi2")
    text = exe.report.to_markdown()
    assert "## Quantization" in text and "syn_excitatory_6" in text


def test_no_warning_when_no_weight_changes():
    net = nm.Network("exact")
    src = net.add(SpikeGenerator(np.ones((1, 3), dtype=bool), name="src"))
    # multiples of 4 survive num_weight_bits=6; one-signed: no Loihi sign bit
    syn = net.add(Dense(np.diag([4, 8, 252]), num_weight_bits=6, name="syn"))
    inh = net.add(Dense(np.diag([-3, -5, -255]), name="inh"))   # 8 bits, one-signed
    post = net.add(IF(shape=(3,), vth=1000, name="post"))
    net.connect(src.s_out, syn.s_in)
    net.connect(src.s_out, inh.s_in)
    net.connect(syn.a_out, post.a_in)
    net.connect(inh.a_out, post.a_in)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for profile in ("generic", "loihi1", "loihi2", "spinnaker1"):
            assert nm.compile(net, profile).report.quantization.exact


def test_mixed_signs_at_8_bits_unchanged_on_generic_and_lowest_bit_on_loihi():
    net = nm.Network("mixed8")
    src = net.add(SpikeGenerator(np.ones((1, 2), dtype=bool), name="src"))
    net.add(Dense([[3, -3]], name="syn"))
    post = net.add(IF(shape=(1,), vth=1000, name="post"))
    net.connect(src.s_out, net["syn"].s_in)
    net.connect(net["syn"].a_out, post.a_in)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        generic = nm.compile(net, "generic")
    np.testing.assert_array_equal(generic.ir.projections[0].weights, [3, -3])
    with pytest.warns(nm.QuantizationWarning, match="sign bit"):
        loihi = nm.compile(net, "loihi1")
    np.testing.assert_array_equal(loihi.ir.projections[0].weights, [2, -4])


def test_effective_weights_and_declared_weights():
    dense = Dense([[5, 255], [0, 3]], num_weight_bits=6, name="d")
    np.testing.assert_array_equal(dense.weights.value, [[5, 255], [0, 3]])   # as declared
    np.testing.assert_array_equal(dense.effective_weights(), [[4, 252], [0, 0]])
    sparse = Sparse(([0, 1], [1, 0], [-5, -7]), shape=(2, 2), num_weight_bits=7, name="s")
    np.testing.assert_array_equal(sparse.effective_weights(), [-4, -6])     # toward zero
    net = nm.Network("eff")
    src = net.add(SpikeGenerator(np.ones((1, 2), dtype=bool), name="src"))
    post = net.add(IF(shape=(2,), name="post"))
    net.add(dense)
    net.connect(src.s_out, dense.s_in)
    net.connect(dense.a_out, post.a_in)
    from nmgraph.compilers.lower import lower
    proj = lower(net).projections[0]
    assert sorted(proj.weights.tolist()) == [0, 4, 252]          # 3 -> 0 stays a synapse
    assert sorted(proj.declared_weights.tolist()) == [3, 5, 255]
    with pytest.warns(nm.QuantizationWarning):
        exe = nm.compile(net)
    assert exe.ir.projections[0].declared_weights is None
    assert exe.report.quantization.projections[0].zeroed == 1


def test_weight_range_follows_lava():
    Dense([[-256, 1]])                    # mixed: 9-bit range
    Dense([[255]], num_weight_bits=1)     # any num_weight_bits takes the 8-bit range
    with pytest.raises(nm.ValidationError, match="-256 is only allowed beside positive"):
        Dense([[-256, -1]], name="inh")
    with pytest.raises(nm.ValidationError, match="<= 255"):
        Dense([[256]], name="big")
    with pytest.raises(nm.ValidationError, match="-256 is only allowed"):
        Sparse(([0], [0], [-256]), shape=(1, 1), name="sp")
    syn = Dense([[1, 2]], name="later")
    with pytest.raises(nm.ValidationError, match=r"Dense 'later'\.weights"):
        syn.weights = [[-256, 0]]
    assert syn.weights.bits == 9
