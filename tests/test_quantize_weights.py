"""Float weights: whole values are taken as integers, others are refused with a pointer to
``nm.quantize_weights``, which quantizes them with an explicit scale and reports the error."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse

import nmgraph as nm
from nmgraph.core.checks import as_weight_scalar
from nmgraph.processes import Dense, Sparse

# -- whole floats -------------------------------------------------------------------------------


def test_whole_float_weights_are_taken_as_integers():
    dense = Dense(np.array([[3.0, -2.0], [0.0, 255.0]], dtype=np.float32), name="d")
    assert dense.weights.value.dtype == np.int16
    np.testing.assert_array_equal(dense.weights.value, [[3, -2], [0, 255]])
    assert Dense([[3.0]]).weights.value.tolist() == [[3]]
    sparse = Sparse(scipy.sparse.csr_array(np.array([[0, 2.0], [-4.0, 0]])), name="s")
    np.testing.assert_array_equal(sparse.to_dense(), [[0, 2], [-4, 0]])
    coo = Sparse(([0, 1], [1, 0], [7.0, -1.0]), shape=(2, 2), name="coo")
    np.testing.assert_array_equal(coo.weights.value, [7, -1])
    dense.weights = np.array([[1.0, 1.0], [1.0, 1.0]])        # a later set too
    np.testing.assert_array_equal(dense.weights.value, np.ones((2, 2)))


@pytest.mark.parametrize("make", [
    lambda: Dense(np.array([[0.5, 1.0]]), name="syn"),
    lambda: Sparse(([0], [0], [2.25]), shape=(1, 1), name="syn"),
    lambda: Dense(np.array([[np.nan]]), name="syn"),
])
def test_other_float_weights_are_refused_with_the_helper_named(make):
    with pytest.raises(nm.ValidationError) as info:
        make()
    text = str(info.value)
    assert "'syn'.weights" in text and "whole numbers" in text
    assert "nm.quantize_weights" in text


def test_weight_scalar_check_for_connectors():
    assert as_weight_scalar("one_to_one", "weight", 3.0, low=-255, high=255) == 3
    assert as_weight_scalar("one_to_one", "weight", np.float32(-2), low=-255, high=255) == -2
    with pytest.raises(nm.ValidationError, match=r"nm\.quantize_weights"):
        as_weight_scalar("one_to_one", "weight", 2.5, low=-255, high=255)
    with pytest.raises(nm.ValidationError, match="<= 255"):
        as_weight_scalar("one_to_one", "weight", 300.0, low=-255, high=255)


def test_other_integer_parameters_still_refuse_floats():
    with pytest.raises(nm.ValidationError, match="must be one integer"):
        Dense([[1]], weight_exp=1.0)


# -- quantize_weights: hand-computed cases ------------------------------------------------------


def test_scale_max():
    q = nm.quantize_weights([[0.5, -0.25], [0.1, 0.0]], bits=8)
    assert q.scale == 510.0                       # 255 / 0.5
    np.testing.assert_array_equal(q.weights, [[255, -128], [51, 0]])   # -127.5: away from 0
    assert q.weights.dtype == np.int16
    # errors: only -0.25 is off, by 0.5 / 510
    assert q.max_error == pytest.approx(0.5 / 510)
    assert q.rms_error == pytest.approx(math.sqrt((0.5 / 510) ** 2 / 4))
    assert q.max_relative_error == pytest.approx((0.5 / 510) / 0.5)
    rms_w = math.sqrt((0.25 + 0.0625 + 0.01) / 4)
    assert q.rms_relative_error == pytest.approx(q.rms_error / rms_w)
    assert q.zeroed == 0 and q.bits == 8 and q.exponent is None
    np.testing.assert_allclose(q.dequantized(), [[0.5, -128 / 510], [0.1, 0.0]])


def test_scale_pow2():
    q = nm.quantize_weights(np.array([0.3, -0.7]), bits=4, scale="pow2")
    # largest power of two with 0.7 * s <= 15: 16 (15 / 0.7 = 21.4)
    assert q.scale == 16.0 and q.exponent == 4
    np.testing.assert_array_equal(q.weights, [5, -11])      # 4.8, -11.2
    assert q.max_error == pytest.approx(0.0125)              # 0.3 - 5/16, -0.7 + 11/16
    assert q.rms_error == pytest.approx(0.0125)
    assert "scale 2**4" in repr(q)


def test_scale_given_rounds_half_away_from_zero_and_never_clips():
    q = nm.quantize_weights([1.26, -0.35, 0.05], bits=8, scale=10)
    np.testing.assert_array_equal(q.weights, [13, -4, 1])   # 12.6, -3.5, 0.5
    assert q.max_error == pytest.approx(0.05)
    with pytest.raises(nm.ValidationError, match="beyond the 255 of 8 bits"):
        nm.quantize_weights([30.0], bits=8, scale=10)


def test_zeroed_weights_are_counted():
    q = nm.quantize_weights([1.0, 0.001, 0.0], bits=8)
    np.testing.assert_array_equal(q.weights, [255, 0, 0])
    assert q.zeroed == 1
    assert "1 zeroed" in repr(q)


def test_sparse_input_keeps_its_structure():
    matrix = scipy.sparse.csr_array(np.array([[0.0, 0.5], [-1.0, 0.0]]))
    q = nm.quantize_weights(matrix, bits=7)
    assert scipy.sparse.issparse(q.weights) and q.weights.dtype == np.int16
    np.testing.assert_array_equal(q.weights.toarray(), [[0, 64], [-127, 0]])   # 63.5 -> 64
    assert q.scale == 127.0
    Sparse(q.weights)     # the result is a valid Sparse weight matrix


def test_all_zero_weights_keep_scale_one():
    q = nm.quantize_weights(np.zeros((2, 2)))
    assert q.scale == 1.0 and q.max_error == 0.0 and q.max_relative_error == 0.0


def test_result_feeds_dense():
    q = nm.quantize_weights(np.array([[0.2, -0.9]]))
    syn = Dense(q.weights)
    np.testing.assert_array_equal(syn.weights.value, q.weights)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"weights": [1.0], "bits": 0}, "bits"),
    ({"weights": [1.0], "bits": 16}, "bits"),
    ({"weights": [np.inf]}, "finite"),
    ({"weights": ["a"]}, "real numbers"),
    ({"weights": [1.0], "scale": "min"}, "scale"),
    ({"weights": [1.0], "scale": -2.0}, "scale"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(nm.ValidationError, match=match):
        nm.quantize_weights(**kwargs)
