"""attnlab/viz/_top_keys.py: each query's strongest keys, the first of ties at the k-th place,
on short rows and on long ones (the grouped search), and the default budget."""

import numpy as np
import pytest

from attnlab.viz._top_keys import LINES_PER_HEAD, checked_top_k, top_keys


def test_top_keys_are_the_largest_and_the_first_of_ties(rng):
    for _ in range(200):
        rows, n = rng.integers(1, 8), rng.integers(2, 12)
        k = int(rng.integers(1, n))
        weights = rng.integers(0, 3, (2, rows, n)).astype(np.float32)  # ties everywhere
        keys, kept = top_keys(weights, k)
        np.testing.assert_array_equal(kept, np.take_along_axis(weights, keys, axis=-1))
        for head, row in np.ndindex(2, rows):
            w, chosen = weights[head, row], keys[head, row]
            assert len(set(chosen)) == k
            np.testing.assert_array_equal(np.sort(w[chosen]), np.sort(w)[-k:])
            kth = np.sort(w)[-k]
            ties = [c for c in range(n) if w[c] == kth]
            assert sorted(c for c in chosen if w[c] == kth) == ties[: sum(w[chosen] == kth)]


@pytest.mark.parametrize("values", ["distinct", "ties", "sparse"])
def test_top_keys_of_long_rows_match_a_stable_sort(rng, values):
    # rows at least 16 times longer than k take the grouped search; its answer must be the
    # stable sort's: the k largest, the first columns among ties at the k-th place
    for _ in range(20):
        n, k = int(rng.integers(300, 1100)), int(rng.integers(1, 12))
        shape = (2, int(rng.integers(1, 600)), n)
        if values == "distinct":
            weights = rng.random(shape)
        elif values == "ties":
            weights = rng.integers(0, 4, shape).astype(np.float32)
        else:  # mostly zeros, a few equal peaks: many groups reach the threshold
            weights = (rng.random(shape) < 3 / n).astype(np.float32)
        keys, kept = top_keys(weights, k)
        expected = np.sort(np.argsort(-weights, axis=-1, kind="stable")[..., :k], axis=-1)
        np.testing.assert_array_equal(keys, expected)
        np.testing.assert_array_equal(kept, np.take_along_axis(weights, expected, axis=-1))


def test_the_default_budget_and_bad_top_k():
    assert checked_top_k(None, 4096, 4096) == LINES_PER_HEAD // 4096
    assert checked_top_k(None, 8, 5) == 5 and checked_top_k(3, 8, 5) == 3
    assert checked_top_k(None, 1 << 20, 9) == 1
    with pytest.raises(ValueError, match=r"top_k: expected an int >= 1, got 0"):
        checked_top_k(0, 8, 8)
    with pytest.raises(TypeError, match=r"top_k"):
        checked_top_k(2.5, 8, 8)
