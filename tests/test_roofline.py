"""The roofline kernels of benchmarks/brunel.py (benchmarks/roofline.pyx) against NumPy.

They are not part of the installed runtime: the tests build them once, in a temporary folder, as
the benchmark does (about 15 s of compiling, hence ``slow``).
"""

from __future__ import annotations

import numpy as np
import pytest

try:
    from benchmarks.build_roofline import load
except ImportError:  # pragma: no cover - run from outside the repository
    load = None

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(load is None, reason="benchmarks/ not importable")]


@pytest.fixture(scope="module")
def roofline(tmp_path_factory):
    return load(tmp_path_factory.mktemp("roofline"))


def _network(seed: int, n_units: int = 50, steps: int = 30):
    rng = np.random.default_rng(seed)
    degree = rng.integers(0, 8, n_units)
    indptr = np.zeros(n_units + 1, dtype=np.int64)
    np.cumsum(degree, out=indptr[1:])
    total = int(indptr[-1])
    targets = rng.integers(0, n_units, total).astype(np.int32)
    weights = rng.integers(-300, 300, total).astype(np.int16)
    delays = rng.integers(1, 4, total).astype(np.uint8)
    per_step = rng.integers(0, 6, steps)
    step_ptr = np.zeros(steps + 1, dtype=np.int64)
    np.cumsum(per_step, out=step_ptr[1:])
    spikes = rng.integers(0, n_units, int(step_ptr[-1])).astype(np.int32)
    return indptr, targets, weights, delays, step_ptr, spikes, n_units


def _slow(indptr, targets, weights, delays, step_ptr, spikes, n_units, delayed):
    """Straight transcription of the kernels' docstrings."""
    width = int(targets.max()) + 1 if targets.size else 1
    slots = int(delays.max()) + 1 if delays.size else 2
    acc = np.zeros(width, dtype=np.int64)
    ring = np.zeros((slots, width), dtype=np.int64)
    events = checksum = 0
    for s in range(step_ptr.size - 1):
        if delayed:
            checksum += int(ring[s % slots].sum())
            ring[s % slots] = 0
        for src in spikes[step_ptr[s]:step_ptr[s + 1]]:
            syn = slice(indptr[src], indptr[src + 1])
            events += syn.stop - syn.start
            if delayed:
                np.add.at(ring, ((s + delays[syn]) % slots, targets[syn]), weights[syn])
            else:
                np.add.at(acc, targets[syn], weights[syn])
    return events, (checksum if delayed else int(acc.sum()))


@pytest.mark.parametrize("seed", range(5))
def test_scatter_add_matches_numpy(roofline, seed):
    indptr, targets, weights, delays, step_ptr, spikes, n_units = _network(seed)
    expected = _slow(indptr, targets, weights, delays, step_ptr, spikes, n_units, False)
    assert roofline.scatter_add(indptr, targets, weights, step_ptr, spikes, n_units) == expected


@pytest.mark.parametrize("seed", range(5))
def test_scatter_add_delayed_matches_numpy(roofline, seed):
    indptr, targets, weights, delays, step_ptr, spikes, n_units = _network(seed)
    expected = _slow(indptr, targets, weights, delays, step_ptr, spikes, n_units, True)
    assert roofline.scatter_add_delayed(indptr, targets, weights, delays, step_ptr, spikes,
                                        n_units) == expected


def test_bad_input_is_rejected(roofline):
    indptr, targets, weights, delays, step_ptr, spikes, n_units = _network(0)
    with pytest.raises(ValueError, match="targets"):
        roofline.scatter_add(indptr, targets, weights, step_ptr, spikes, int(targets.max()))
    bad = spikes.copy()
    bad[0] = n_units
    with pytest.raises(ValueError, match="spike sources"):
        roofline.scatter_add(indptr, targets, weights, step_ptr, bad, n_units)
    with pytest.raises(ValueError, match="delays"):
        roofline.scatter_add_delayed(indptr, targets, weights, np.zeros_like(delays), step_ptr,
                                     spikes, n_units)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("block_bits", [2, 16])
def test_blocked_rows_hold_every_synapse(roofline, seed, block_bits):
    """Each row's segments hold exactly its synapses, targets rebased, one block and weight."""
    indptr, targets, weights, *_ = _network(seed)
    row_seg, segments, tgt = roofline.blocked_rows(indptr, targets, weights, block_bits)
    start = segments["start"]
    for row in range(indptr.size - 1):
        seg = range(row_seg[row], row_seg[row + 1])
        got = sorted((int(segments["base"][q]) + int(tgt[s]), int(segments["weight"][q]))
                     for q in seg for s in range(start[q], start[q + 1]))
        want = sorted(zip(targets[indptr[row]:indptr[row + 1]].tolist(),
                          weights[indptr[row]:indptr[row + 1]].tolist()))
        assert got == want
        for q in seg:
            blocks = (segments["base"][q] + tgt[start[q]:start[q + 1]]) >> block_bits
            assert np.all(blocks == segments["base"][q] >> block_bits)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("ahead", "unroll"), [(0, 1), (1, 4), (4, 8), (50, 8)])
def test_tuned_scatter_add_matches_numpy(roofline, seed, ahead, unroll):
    indptr, targets, weights, delays, step_ptr, spikes, n_units = _network(seed)
    expected = _slow(indptr, targets, weights, delays, step_ptr, spikes, n_units, False)
    rows = roofline.blocked_rows(indptr, targets, weights, 3)
    assert roofline.scatter_add_tuned(*rows, step_ptr, spikes, ahead, unroll) == expected
    events, total = roofline.stream_rows(*rows, step_ptr, spikes, ahead)
    assert events == expected[0]
    assert total == sum(int(rows[2][rows[1]["start"][rows[0][j]]:rows[1]["start"][rows[0][j + 1]]]
                            .sum()) for j in spikes)


def test_tuned_bad_input_is_rejected(roofline):
    indptr, targets, weights, _delays, step_ptr, spikes, n_units = _network(0)
    rows = roofline.blocked_rows(indptr, targets, weights)
    with pytest.raises(ValueError, match="unroll"):
        roofline.scatter_add_tuned(*rows, step_ptr, spikes, 2, 3)
    bad = spikes.copy()
    bad[0] = n_units
    with pytest.raises(ValueError, match="spike sources"):
        roofline.stream_rows(*rows, step_ptr, bad)
    with pytest.raises(ValueError, match="block_bits"):
        roofline.blocked_rows(indptr, targets, weights, 17)
    assert roofline.read_bandwidth(1 << 20, 1) > 0
