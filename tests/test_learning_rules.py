"""The learning-rule language, integer traces, rule application and the presets.

Expected values are written by hand or computed by an independent path (pure-Python integer
hash, Python's own evaluation of the rule string in the property test), never by the code under
test.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmgraph.core.errors import QuantizationWarning, ValidationError
from nmgraph.core.learning import (
    Factor,
    LearningRule,
    Product,
    apply,
    learning_seeds,
    parse_equation,
    splitmix_hash,
    trace_ids,
    trace_step,
    update_trace,
)
from nmgraph.processes.learning_presets import (
    loihi_rule,
    quantize_scale,
    reward_modulated_stdp,
    stdp_pair,
)

MASK = (1 << 64) - 1


def py_hash(seed: int, index: int, step: int) -> int:
    """SplitMix64 finaliser in Python integers: the independent path."""
    z = (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + step * 0x94D049BB133111EB
         + 0x632BE59BD9B4E019) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def F(name: str, constant: int = 0, sign: bool = False) -> Factor:
    return Factor(name, constant, sign)


# -- the parser: valid strings, normal form written by hand ------------------------------------------

VALID = [
    ("2^-2*x1*y0 - 2^-2*y1*x0",
     [Product(1, -2, "y0", (F("x1"),)), Product(-1, -2, "x0", (F("y1"),))]),
    ("x0", [Product(1, 0, "x0")]),
    ("-y0 * x1", [Product(-1, 0, "y0", (F("x1"),))]),
    ("3 * 2^-4 * x0 * y1", [Product(3, -4, "x0", (F("y1"),))]),
    ("4*2^-3*y0*x1", [Product(1, -1, "y0", (F("x1"),))]),  # 4/8 = 1/2: odd mantissa
    ("6 * y0", [Product(3, 1, "y0")]),
    ("2^8 * 4 * x0", [Product(4, 8, "x0")]),  # the exponent is at its top: m stays even
    ("u * t * y2", [Product(1, 0, "u", (F("y2"), F("t")), 0)]),
    ("u3 * w", [Product(1, 0, "u", (F("w"),), 3)]),
    ("x0 * y0", [Product(1, 0, "x0", (F("y0"),))]),  # the second dependency is a 0/1 factor
    ("y0 * x0", [Product(1, 0, "y0", (F("x0"),))]),
    ("y0 * (x1 - 3)", [Product(1, 0, "y0", (F("x1", -3),))]),
    ("y0 * (3 + x1)", [Product(1, 0, "y0", (F("x1", 3),))]),
    ("y0 * (-x1 + 3)", [Product(-1, 0, "y0", (F("x1", -3),))]),  # -(x1 - 3)
    ("2^-7 * x0 * (w - 255)", [Product(1, -7, "x0", (F("w", -255),))]),
    ("x0 * sgn(w - 2) * sgn(d)", [Product(1, 0, "x0", (F("w", -2, True), F("d", 0, True)))]),
    ("(-3) * x0", [Product(-3, 0, "x0")]),
    ("-(2^-2) * y0", [Product(-1, -2, "y0")]),
    ("x0 * (2^3 + w)", [Product(1, 0, "x0", (F("w", 8),))]),
    ("0 * x0 * y1", [Product(0, 0, "x0", (F("y1"),))]),
    ("  +  x0*x1*x2*y1*y2 ", [Product(1, 0, "x0", (F("x1"), F("x2"), F("y1"), F("y2")))]),
    ("y3*w*u1 + 7*2^8*x0", [Product(1, 0, "u", (F("y3"), F("w")), 1), Product(7, 8, "x0")]),
    ("2^+3 * x0", [Product(1, 3, "x0")]),
]


@pytest.mark.parametrize("text, products", VALID, ids=[v[0] for v in VALID])
def test_valid_rules_parse_to_their_normal_form(text, products) -> None:
    series = parse_equation(text, "dw")
    assert list(series.products) == products
    assert parse_equation(str(series), "dw") == series


INVALID = [
    ("2^-2*x1**y0", 9, "expected a number, 2^k"),
    ("x1 * y1", 1, "no dependency"),
    ("x0 + x1", 6, "no dependency"),
    ("0.25 * x0", 2, "decimals are not supported"),
    ("3^2 * x0", 1, "only powers of two"),
    ("x1 * -2 * y0", 6, "a sign belongs in front of the term"),
    ("x0 / 2", 4, "'/' is not part of the rule language"),
    ("u * u1", 5, "can only be a term's dependency"),
    ("x0 * u", 6, "can only be a term's dependency"),
    ("x0 * (u + 1)", 7, "not inside a bracket"),
    ("x0 * (x1 + y1)", 6, "one variable and at most one constant"),
    ("x0 * (1 + 2)", 6, "one variable and at most one constant"),
    ("x0 * ((x1))", 7, "a variable"),
    ("sgn(x1) * x0", 5, "sgn() applies to w, d or t"),
    ("sgn(3) * x0", 1, "sgn() needs"),
    ("9 * x0", 1, "does not fit"),
    ("2^-8 * x0", 1, "does not fit"),
    ("2^9 * x0", 1, "does not fit"),
    ("x0 * z1", 6, "unknown name 'z1'"),
    ("X0", 1, "unknown name 'X0'"),
    ("x0 * u12", 6, "one digit"),
    ("x0 +", 5, "got the end of the rule"),
    ("", 1, "the rule is empty"),
    ("x0 * (x1 + 3", 13, "expected ')'"),
    ("x0 * (w + 256)", 11, "outside -256..255"),
    ("x0 * (w + 2^-1)", 11, "must be an integer"),
    ("u1 * x1 + u2 * x1", 1, "same decimation"),
    ("x0 )", 4, "expected '+', '-', '*' or the end"),
    ("x0 x1", 4, "expected '+', '-', '*' or the end"),
    ("x0 * 2^", 8, "an integer exponent"),
    ("x0*x1*x1*x1*x1*x1", 1, "at most 4 are supported"),
    (" + ".join(["x0"] * 17), 1, "at most 16 are supported"),
]


@pytest.mark.parametrize("text, column, fragment", INVALID, ids=[v[0] or "empty" for v in INVALID])
def test_invalid_rules_name_the_column_and_what_was_expected(text, column, fragment) -> None:
    with pytest.raises(ValidationError) as info:
        parse_equation(text, "dw")
    message = str(info.value)
    assert message.startswith("LearningRule.dw: at column ")
    assert f"at column {column}:" in message, message
    assert fragment in message, message
    # the rule is echoed with a caret under the column
    lines = message.splitlines()
    assert lines[1] == f"    {text}" and lines[2] == "    " + " " * (column - 1) + "^"


def test_errors_name_the_rule_and_the_equation() -> None:
    with pytest.raises(ValidationError, match=r"^LearningRule 'plastic'\.dt: at column 1"):
        LearningRule(dt="w", name="plastic")


# -- round trip and meaning: random strings from the grammar -------------------------------------------

_NAMES = ["x1", "x2", "y1", "y2", "y3", "w", "d", "t"]


@st.composite
def rule_strings(draw):
    k = draw(st.integers(0, 9))
    terms = []
    for index in range(draw(st.integers(1, 5))):
        items = []
        mantissa = draw(st.integers(1, 7))
        exponent = draw(st.integers(-7, 8 if mantissa == 1 else 5))
        style = draw(st.sampled_from(["m*2^e", "2^e*m", "m", "none", "(-m)"]))
        if style == "m*2^e":
            items.append(f"{mantissa}*2^{exponent}")
        elif style == "2^e*m":
            items += [f"2^{exponent}", str(mantissa)]
        elif style == "m":
            items.append(str(mantissa))
        elif style == "(-m)":
            items.append(f"(-{mantissa})")
        dependency = draw(st.sampled_from(["x0", "y0", "u" if k == 0 else f"u{k}"]))
        spikes = []  # x0, y0 as factors: after the dependency, or they would become it
        for _ in range(draw(st.integers(0, 4))):
            kind = draw(st.sampled_from(["name", "bracket", "negated", "sgn", "spike"]))
            name = draw(st.sampled_from(_NAMES))
            constant = draw(st.integers(0, 255))
            if kind == "name":
                items.append(name)
            elif kind == "bracket":
                items.append(f"({name} {draw(st.sampled_from('+-'))} {constant})")
            elif kind == "negated":
                items.append(f"(-{name} + {constant})")
            elif kind == "sgn":
                items.append(f"sgn({draw(st.sampled_from(['w', 'd', 't']))} - {constant})")
            else:
                spikes.append(draw(st.sampled_from(["x0", "y0"])))
        draw(st.randoms()).shuffle(items)
        at = draw(st.integers(0, len(items)))
        items.insert(at, dependency)
        for spike in spikes:
            items.insert(draw(st.integers(at + 1, len(items))), spike)
        sign = draw(st.sampled_from(["+", "-", ""] if index == 0 else ["+", "-"]))
        terms.append(f"{sign} {draw(st.sampled_from(['*', ' * ', '  *'])).join(items)}")
    return " ".join(terms)


def _python_value(text: str, values: dict[str, int]) -> float:
    """The rule string evaluated by Python itself (test oracle only)."""
    source = text.replace("^", "**")
    source = re.sub(r"\bu\d?\b", "u", source)
    return eval(source, {"__builtins__": {}}, {**values, "sgn": lambda v: (v > 0) - (v < 0)})


def _series_value(series, values: dict[str, int]) -> float:
    total = 0.0
    for product in series.products:
        term = product.mantissa * 2.0 ** product.exponent * values[product.dependency]
        for factor in product.factors:
            value = values[factor.name] + factor.constant
            term *= (value > 0) - (value < 0) if factor.sign else value
        total += term
    return total


@settings(max_examples=200, deadline=None)
@given(rule_strings(), st.fixed_dictionaries(
    {name: st.integers(-100, 127) for name in _NAMES}
    | {"x0": st.integers(0, 1), "y0": st.integers(0, 1), "u": st.integers(0, 1)}))
def test_random_rules_round_trip_and_keep_their_meaning(text, values) -> None:
    try:
        series = parse_equation(text, "dd")
    except ValidationError as error:  # only a scale beyond Loihi's range may be refused
        assert "does not fit" in str(error) or "at most 4" in str(error)
        return
    printed = str(series)
    assert parse_equation(printed, "dd") == series
    assert _series_value(series, values) == pytest.approx(_python_value(text, values), abs=1e-9)


# -- the hash -----------------------------------------------------------------------------------------

def test_hash_matches_the_cython_kernel_and_python_integers() -> None:
    from nmgraph.runtimes._k_sources import splitmix_hash as cython_hash

    ids = np.array([0, 1, 2, 7, 12345, 2**40 + 3, 2**64 - 1], dtype=np.uint64)
    for seed, step in [(0, 0), (1, 1), (2**64 - 1, 123456), (987654321, 2**33)]:
        ours = splitmix_hash(seed, ids, step)
        assert ours.dtype == np.uint64
        np.testing.assert_array_equal(ours, cython_hash(seed, ids, step))
        assert [int(v) for v in ours] == [py_hash(seed, int(i), step) for i in ids]


def test_learning_seeds_are_two_hashes_of_the_rule_seed() -> None:
    trace, synapse = learning_seeds(42)
    assert trace == py_hash(42, 0x7472616365, 0) and synapse == py_hash(42, 0x73796E617073, 0)
    with pytest.raises(ValidationError, match="seed"):
        learning_seeds(-1)


# -- traces -------------------------------------------------------------------------------------------

def test_trace_halving_sequence_by_hand() -> None:
    # decay 2048 halves; even values halve exactly, so no draw matters until the value is odd
    ids = trace_ids(np.array([3]), "x1")
    assert int(ids[0]) == 3 * 8 + 0
    x = np.array([0])
    seen = []
    for step, spike in enumerate([1, 0, 0, 0, 1, 1, 1, 1, 1, 0], start=1):
        x = trace_step(x, 2048, 100, np.array([spike], bool), seed=5, ids=ids, step=step)
        seen.append(int(x[0]))
    # 100, 50, 25, then 25 * 2048 / 4096 = 12.5: 12 or 13 by the draw, computed here by hand
    up = (py_hash(5, 24, 4) >> 52) < (25 * 2048) % 4096
    fourth = 12 + up
    fifth = min(fourth * 2048 // 4096 + ((py_hash(5, 24, 5) >> 52) < (fourth * 2048) % 4096) + 100,
                127)
    assert seen[:5] == [100, 50, 25, fourth, fifth]
    assert max(seen) <= 127 and seen[5:9] == [127] * 4  # saturated while spiking each step
    assert 63 <= seen[9] <= 64


def test_trace_without_decay_only_adds_impulses() -> None:
    x = np.array([0, 5, 120])
    x = trace_step(x, 0, 7, np.array([True, False, True]), seed=1, ids=np.arange(3), step=9)
    assert x.tolist() == [7, 5, 127]


def test_trace_decay_is_unbiased_within_binomial_bounds() -> None:
    n = 200_000
    ids = trace_ids(np.arange(n), "y2")
    x = np.full(n, 101)
    decayed = trace_step(x, 300, 0, np.zeros(n, bool), seed=77, ids=ids, step=12)
    exact = 101 * (4096 - 300) / 4096  # 93.602...
    assert set(np.unique(decayed)) == {93, 94}
    p = exact - 93
    sigma = math.sqrt(p * (1 - p) / n)
    assert abs(decayed.mean() - exact) < 5 * sigma


def test_trace_rejects_out_of_range_constants() -> None:
    with pytest.raises(ValidationError, match=r"decay must be 0\.\.4095"):
        trace_step(np.zeros(1), 4096, 1, np.zeros(1, bool), 0, np.zeros(1), 1)
    with pytest.raises(ValidationError, match="trace"):
        trace_ids([0], "x3")


# -- applying a rule ----------------------------------------------------------------------------------

def _pair_stdp_run(rule: LearningRule, pre_spikes: dict[int, list[int]],
                   post_spikes: dict[int, list[int]], steps: int, w0: list[int]) -> np.ndarray:
    """One pre and one post neuron per synapse (synapse i: pre i -> post i), t_epoch 1."""
    n = len(w0)
    neurons = np.arange(n)
    x1 = np.zeros(n, np.int64)
    y1 = np.zeros(n, np.int64)
    w = np.array(w0)
    for step in range(1, steps + 1):
        pre = np.array([step in pre_spikes[i] for i in range(n)])
        post = np.array([step in post_spikes[i] for i in range(n)])
        x1 = update_trace(rule, "x1", x1, pre, neurons, step)
        y1 = update_trace(rule, "y1", y1, post, neurons, step)
        zeros = np.zeros(n, np.int64)
        w, _, _ = apply(rule, w, None, None, np.stack([x1, zeros]), np.stack([y1, zeros, zeros]),
                        pre, post, rule.u_at(step), neurons.astype(np.uint64), step)
    return w


def test_pair_stdp_on_two_synapses_by_hand() -> None:
    # traces halve each step (decay 2048) from an impulse of 64: 64, 32, 16, 8 ... exactly
    rule = LearningRule(dw="2^-2 * y0 * x1 - 2^-3 * x0 * y1", x1_impulse=64, x1_decay=2048,
                        y1_impulse=64, y1_decay=2048, seed=11)
    # synapse 0: pre at 2, post at 4: potentiation 2^-2 * x1(4) = 2^-2 * 16 = +4
    # synapse 1: post at 2, pre at 5: depression 2^-3 * y1(5) = 2^-3 * 8 = -1
    w = _pair_stdp_run(rule, {0: [2], 1: [5]}, {0: [4], 1: [2]}, 6, [100, 100])
    assert w.tolist() == [104, 99]


def test_pair_stdp_same_step_sees_both_impulses() -> None:
    rule = LearningRule(dw="2^-2 * y0 * x1 - 2^-3 * x0 * y1", x1_impulse=64, x1_decay=2048,
                        y1_impulse=64, y1_decay=2048, seed=3)
    w = _pair_stdp_run(rule, {0: [3]}, {0: [3]}, 3, [50])
    assert w.tolist() == [50 + 16 - 8]


def test_fractional_change_rounds_with_the_synapse_draw() -> None:
    rule = LearningRule(dw="3*2^-4 * y0 * x1", seed=9)  # 3/16 * x1
    x1 = np.array([5, 5, 1, 0])  # changes 15/16, 15/16, 3/16, 0
    ids = np.array([0, 1, 2, 3], np.uint64)
    w, _, _ = apply(rule, np.array([10, -10, 0, 7]), None, None, np.stack([x1, 0 * x1]),
                    np.zeros((3, 4), np.int64), np.zeros(4, bool), np.ones(4, bool), 1, ids, 20)
    _, synapse_seed = learning_seeds(9)
    draws = [(py_hash(synapse_seed, i, 20) >> 57) & 127 for i in range(4)]
    # in units of 2^-7: 15/16 = 120, 3/16 = 24
    expected = [10 + (draws[0] < 120), -10 + (draws[1] < 120), 0 + (draws[2] < 24), 7]
    assert w.tolist() == expected


def test_negative_changes_round_toward_minus_infinity_then_up_by_the_draw() -> None:
    rule = LearningRule(dw="-2^-7 * x0", seed=2)  # -1/128 per epoch
    n = 4096
    w, _, _ = apply(rule, np.full(n, 20), None, None, np.zeros((2, n), np.int64),
                    np.zeros((3, n), np.int64), np.ones(n, bool), np.zeros(n, bool), 0,
                    np.arange(n, dtype=np.uint64), 5)
    assert set(np.unique(w)) <= {19, 20}  # 20 - 1/128 = 19 + 127/128
    p_up = 127 / 128
    assert abs((w == 20).mean() - p_up) < 5 * math.sqrt(p_up * (1 - p_up) / n)


def test_rounding_expectation_within_binomial_bounds() -> None:
    rule = LearningRule(dw="5*2^-7 * y0 * x1 * w", seed=123)  # 5/128 * x1 * w
    n = 100_000
    x1 = np.full(n, 3)
    w0 = np.full(n, 7)  # change 105/128 per synapse
    w, _, _ = apply(rule, w0, None, None, np.stack([x1, 0 * x1]), np.zeros((3, n), np.int64),
                    np.zeros(n, bool), np.ones(n, bool), 0, np.arange(n, dtype=np.uint64), 40)
    p = 105 / 128
    assert set(np.unique(w)) == {7, 8}
    assert abs((w - 7).mean() - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_results_do_not_depend_on_order_or_blocks() -> None:
    rule = LearningRule(dw="3*2^-5 * y0 * (x1 - 4) - 2^-6 * x0 * y1 * w + u1 * sgn(t)",
                        dt="2^-3 * x0 * y2 - 2^-7 * u1 * t", dd="2^-6 * y0 * x2",
                        seed=2024)
    rng = np.random.default_rng(0)
    n = 1000
    args = dict(w=rng.integers(-256, 256, n), d=rng.integers(0, 63, n), t=rng.integers(-256, 256, n),
                pre=rng.integers(0, 128, (2, n)), post=rng.integers(0, 128, (3, n)),
                x0=rng.random(n) < 0.5, y0=rng.random(n) < 0.5, ids=rng.permutation(10**6)[:n])

    def run(index):
        return apply(rule, args["w"][index], args["d"][index], args["t"][index],
                     args["pre"][:, index], args["post"][:, index], args["x0"][index],
                     args["y0"][index], 1, args["ids"][index].astype(np.uint64), 64)

    whole = run(np.arange(n))
    order = rng.permutation(n)
    shuffled = run(order)
    for full, part in zip(whole, shuffled):
        np.testing.assert_array_equal(full[order], part)
    blocks = [run(block) for block in np.array_split(np.arange(n), 7)]
    for variable in range(3):
        np.testing.assert_array_equal(whole[variable],
                                      np.concatenate([block[variable] for block in blocks]))
    assert not np.array_equal(whole[0], args["w"]) and not np.array_equal(whole[2], args["t"])


def test_equations_read_the_values_from_before_the_update() -> None:
    # dt reads w: it must see the old weight even though dw changes it in the same epoch
    rule = LearningRule(dw="4 * x0", dt="x0 * w", seed=1)
    w, _, t = apply(rule, np.array([10]), None, np.array([0]), np.zeros((2, 1), np.int64),
                    np.zeros((3, 1), np.int64), np.array([True]), np.array([False]), 0,
                    np.array([0], np.uint64), 1)
    assert (w.tolist(), t.tolist()) == ([14], [10])


def test_bounds_clip_and_inputs_are_checked() -> None:
    rule = LearningRule(dw="7*2^4 * x0", w_bounds=(0, 200), seed=1)  # +112
    ones = np.ones(2, bool)
    w, _, _ = apply(rule, np.array([50, 150]), None, None, np.zeros((2, 2), np.int64),
                    np.zeros((3, 2), np.int64), ones, ~ones, 0, np.arange(2, dtype=np.uint64), 1)
    assert w.tolist() == [162, 200]
    with pytest.raises(ValidationError, match=r"pre_traces: must be within 0\.\.127"):
        apply(rule, np.array([0]), None, None, np.full((2, 1), 128), np.zeros((3, 1), np.int64),
              [True], [False], 0, np.zeros(1, np.uint64), 1)
    with pytest.raises(ValidationError, match="shapes"):
        apply(rule, np.array([0]), None, None, np.zeros((2, 2), np.int64),
              np.zeros((3, 1), np.int64), [True], [False], 0, np.zeros(1, np.uint64), 1)
    with pytest.raises(ValidationError, match="d: the rule reads or changes it"):
        apply(LearningRule(dw="x0 * d", seed=1), np.array([0]), None, None,
              np.zeros((2, 1), np.int64), np.zeros((3, 1), np.int64), [True], [False], 0,
              np.zeros(1, np.uint64), 1)
    with pytest.raises(ValidationError, match="no seed"):
        apply(LearningRule(dw="x0"), np.array([0]), None, None, np.zeros((2, 1), np.int64),
              np.zeros((3, 1), np.int64), [True], [False], 0, np.zeros(1, np.uint64), 1)


def test_u_dependency_follows_the_decimation() -> None:
    rule = LearningRule(dw="u2 * x1", t_epoch=3)
    # epochs end at steps 3, 6, 9, ...; epoch e = step // 3; u2 is active when e % 4 == 0
    assert [rule.u_at(step) for step in (3, 6, 9, 12, 24)] == [0, 0, 0, 1, 1]
    assert [rule.is_epoch_end(step) for step in (1, 2, 3, 4, 6)] == [False, False, True, False, True]
    assert LearningRule(dw="u * x1").u_at(7) == 1


# -- the rule object ----------------------------------------------------------------------------------

def test_rule_validation_names_the_parameter() -> None:
    with pytest.raises(ValidationError, match="at least one equation"):
        LearningRule()
    with pytest.raises(ValidationError, match=r"x1_impulse: must be <= 127"):
        LearningRule(dw="x0", x1_impulse=128)
    with pytest.raises(ValidationError, match=r"y3_decay: must be <= 4095"):
        LearningRule(dw="x0", y3_decay=5000)
    with pytest.raises(ValidationError, match="t_epoch"):
        LearningRule(dw="x0", t_epoch=0)
    with pytest.raises(ValidationError, match="same decimation"):
        LearningRule(dw="u1 * x1", dt="u2 * t")
    with pytest.raises(ValidationError, match="third_factor"):
        LearningRule(dw="x0", third_factor=("y1",))
    with pytest.raises(ValidationError, match="w_bounds"):
        LearningRule(dw="x0", w_bounds=(0, 300))


def test_rule_reports_what_it_reads_and_round_trips_through_a_dict() -> None:
    rule = LearningRule(dw="2^-2*x1*y0 - 2^-2*y1*x0", dt="u * t * y3", x1_impulse=16,
                        x1_decay=390, y1_impulse=16, y1_decay=390, t_epoch=2, seed=4,
                        w_bounds=(0, 255), third_factor="y3", name="r")
    assert rule.traces == ("x1", "y1", "y3") and rule.targets == ("w", "t")
    assert rule.as_dict()["dw"] == "2^-2 * y0 * x1 - 2^-2 * x0 * y1"
    assert LearningRule.from_dict(rule.as_dict()) == rule
    assert rule != LearningRule.from_dict({**rule.as_dict(), "t_epoch": 3})
    assert "t_epoch=2" in repr(rule)


# -- presets ------------------------------------------------------------------------------------------

def test_quantize_scale_by_hand() -> None:
    assert quantize_scale(0.25) == (1, -2)
    assert quantize_scale(0.1) == (3, -5)  # 0.09375; 0.1 is between 3/32 and 7/64 = 0.109
    assert quantize_scale(1e-6) == (1, -7)  # the smallest scale, never 0
    assert quantize_scale(1e6) == (7, 8)


def test_stdp_pair_additive_by_hand() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rule, report = stdp_pair(tau_plus=20.0, tau_minus=20.0, lambda_=0.005, alpha=1.05,
                                 mu_plus=0, mu_minus=0, w_max=200, dt_ms=1.0)
    # potentiation per unit K_plus: 0.005 * 200 = 1 weight unit = Ix * scale
    ix, iy = rule.impulses["x1"], rule.impulses["y1"]
    (plus, minus) = rule.equations["dw"].products
    assert plus.dependency == "y0" and plus.factors == (F("x1"),)
    assert minus.dependency == "x0" and minus.factors == (F("y1"),)
    assert ix * plus.scale == pytest.approx(1.0, rel=0.05)
    assert iy * -minus.scale == pytest.approx(1.05, rel=0.05)
    assert 16 <= ix <= 31 and 16 <= iy <= 31  # top half of 127 // 4
    assert rule.decays == {"x1": 200, "x2": 0, "y1": 200, "y2": 0, "y3": 0}  # 4096(1-e^-1/20) = 199.8
    assert rule.w_bounds == (0, 200)
    assert report["lambda"].requested == 0.005
    assert report["lambda"].realised == pytest.approx(ix * plus.scale / 200)
    assert report["tau_plus"].realised == pytest.approx(-1 / math.log(1 - 200 / 4096))
    assert report.max_relative_error < 0.05


def test_stdp_pair_multiplicative_uses_the_weight_and_reports_the_error() -> None:
    with pytest.warns(QuantizationWarning, match="lambda = 0.01"):
        rule, report = stdp_pair()  # NEST's defaults: lambda 0.01 is below 2^-7 per unit trace
    (plus, minus) = rule.equations["dw"].products
    assert plus.factors == (F("x1"), F("w", -255)) and plus.mantissa < 0  # -(w - 255) = 255 - w
    assert minus.factors == (F("y1"), F("w"))
    assert report["lambda"].realised == pytest.approx(2 ** -7)
    assert report["lambda"].relative_error == pytest.approx(abs(2 ** -7 - 0.01) / 0.01)
    with pytest.raises(ValidationError, match=r"mu_plus: must be 0 .* or 1"):
        stdp_pair(mu_plus=0.5)
    with pytest.raises(ValidationError, match="w_max"):
        stdp_pair(w_max=300)


def test_stdp_pair_preset_runs_pair_stdp() -> None:
    rule, _ = stdp_pair(lambda_=0.02, mu_plus=0, mu_minus=0, w_max=255, seed=8)
    w = _pair_stdp_run(rule, {0: [10], 1: [14]}, {0: [14], 1: [10]}, 20, [128, 128])
    assert w[0] > 128 > w[1]  # pre before post potentiates, post before pre depresses


def test_reward_modulated_stdp_is_a_three_factor_rule() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rule, report = reward_modulated_stdp(tau_eligibility=64.0, learning_rate=2 ** -4)
    assert rule.third_factor == ("y2",) and rule.targets == ("w", "t")
    (transfer,) = rule.equations["dw"].products
    assert transfer.dependency == "u" and transfer.factors == (F("y2"), F("t"))
    decay = rule.equations["dt"].products[-1]
    assert decay.dependency == "u" and decay.factors == (F("t"),) and decay.scale == -2 ** -6
    assert report["tau_eligibility"].realised == pytest.approx(-1 / math.log(1 - 2 ** -6))
    # no reward: the tag moves, the weight does not; with reward the tag is transferred
    zeros = np.zeros((2, 1), np.int64)
    post = np.array([[0], [0], [0]])
    w, _, t = apply(rule, np.array([100]), None, np.array([64]), zeros, post, [False], [False],
                    1, np.zeros(1, np.uint64), 1, seed=1)
    assert w.tolist() == [100] and t.tolist() == [63]  # 64 - 64/64
    post[1] = rule.impulses["y2"]
    w, _, _ = apply(rule, np.array([100]), None, np.array([64]), zeros, post, [False], [False],
                    1, np.zeros(1, np.uint64), 1, seed=1)
    assert w.tolist() == [104]  # 2^-4 per tag unit at one reward spike: 64 / 16


def test_loihi_rule_takes_lava_time_constants() -> None:
    rule, report = loihi_rule(dw="2^-2*x1*y0 - 2^-2*y1*x0", x1_impulse=16, x1_tau=10,
                              y1_impulse=16, y1_tau=10, t_epoch=2)
    assert rule.decays["x1"] == rule.decays["y1"] == 390  # round(4096 * (1 - e^-0.1))
    assert [value.name for value in report.values] == ["x1_tau", "y1_tau"]
    rule, _ = loihi_rule(dw="x0 * x1", x1_impulse=3, x1_tau=0)
    assert rule.decays["x1"] == 0
