"""attnlab.bench.generation: with and without the cache, the same greedy tokens."""

import numpy as np

from attnlab.bench.generation import NO_CACHE, generation_rows


def test_cache_and_no_cache_generate_the_same_tokens():
    (row,) = generation_rows(True, None)
    assert set(row.impls) == {"attnlab", NO_CACHE}
    tokens = row.impls["attnlab"]()
    assert tokens.shape == (2, 16)  # the prompt's 8 and 8 new
    np.testing.assert_array_equal(tokens, row.impls[NO_CACHE]())
