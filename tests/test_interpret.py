"""attnlab/interpret.py against the float64 oracles of tests/reference_interpret.py and
hand-computed examples."""

import math

import numpy as np
import pytest

import attnlab as al
import reference_interpret as ref

I = al.interpret


def _attention(rng, shape, dtype=np.float64):
    e = np.exp(2 * rng.standard_normal(shape))
    return (e / e.sum(axis=-1, keepdims=True)).astype(dtype)


@pytest.mark.parametrize("head_fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("add_residual", [True, False])
def test_rollout_matches_explicit_loops(rng, head_fusion, add_residual):
    weights = _attention(rng, (3, 4, 6, 6))
    np.testing.assert_allclose(I.rollout(weights, head_fusion=head_fusion, add_residual=add_residual),
                               ref.rollout(weights, head_fusion, add_residual), rtol=1e-12, atol=1e-15)


def test_rollout_of_one_layer_is_half_attention_half_identity(rng):
    weights = _attention(rng, (1, 5, 5), np.float32)
    np.testing.assert_allclose(I.rollout(weights), 0.5 * weights[0] + 0.5 * np.eye(5), rtol=1e-6)
    rows = I.rollout(_attention(rng, (4, 2, 7, 7)))
    np.testing.assert_allclose(rows.sum(axis=-1), 1.0, rtol=1e-12)


def test_rollout_takes_a_record_and_its_batch_index(rng):
    batched = _attention(rng, (2, 3, 2, 4, 4))  # (layers, B, H, L, L)
    record = {f"layers.{l}.attn": batched[l] for l in range(2)}
    np.testing.assert_allclose(I.rollout(record, batch_index=1), ref.rollout(batched[:, 1]), rtol=1e-12)


def test_flow_of_two_layers_on_three_tokens_by_hand():
    # With two layers, the only paths from input j to output i go through one middle token m,
    # so the flow is sum_m min(A1[m, j], A2[i, m]). add_residual=False keeps the numbers plain.
    a1 = np.array([[0.5, 0.25, 0.25], [0.0, 1.0, 0.0], [0.25, 0.25, 0.5]])
    a2 = np.array([[1.0, 0.0, 0.0], [0.5, 0.0, 0.5], [0.25, 0.5, 0.25]])
    flow = I.flow(np.stack([a1, a2])[:, None], add_residual=False)
    # from input 0 to output 2: min(.5, .25) + min(0, .5) + min(.25, .25) = 0.5
    # from input 1 to output 1: min(.25, .5) + min(1, 0) + min(.25, .5) = 0.5
    # from input 2 to output 0: min(.25, 1) + min(0, 0) + min(.5, 0) = 0.25
    assert flow[2, 0] == pytest.approx(0.5, abs=1e-12)
    assert flow[1, 1] == pytest.approx(0.5, abs=1e-12)
    assert flow[0, 2] == pytest.approx(0.25, abs=1e-12)
    expected = [[sum(min(a1[m, j], a2[i, m]) for m in range(3)) for j in range(3)] for i in range(3)]
    np.testing.assert_allclose(flow, expected, atol=1e-12)


def test_flow_of_two_layers_equals_max_flow_of_the_full_graph(rng):
    weights = _attention(rng, (2, 3, 5, 5))
    capacity = ref.layered_capacity(ref.layer_matrices(weights))
    expected = [[I.max_flow(capacity, j, 10 + i) for j in range(5)] for i in range(5)]
    np.testing.assert_allclose(I.flow(weights), expected, atol=1e-12)


def test_flow_of_one_layer_is_the_attention(rng):
    weights = _attention(rng, (4, 4))
    np.testing.assert_allclose(I.flow(weights), 0.5 * weights + 0.5 * np.eye(4), atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_flow_equals_brute_force_min_cut(seed):
    rng = np.random.default_rng(seed)
    weights = _attention(rng, (4, 2, 3, 3))
    capacity = ref.layered_capacity(ref.layer_matrices(weights))
    expected = [[ref.min_cut(capacity, j, 12 + i) for j in range(3)] for i in range(3)]
    np.testing.assert_allclose(I.flow(weights), expected, atol=1e-12)


def test_max_flow_on_a_graph_that_needs_a_reverse_edge():
    # s=0, t=3: the greedy path 0-1-2-3 must be undone through the reverse edge 2->1.
    capacity = np.zeros((4, 4))
    capacity[0, 1] = capacity[0, 2] = capacity[1, 3] = capacity[2, 3] = 1.0
    capacity[1, 2] = 1.0
    assert I.max_flow(capacity, 0, 3) == 2.0
    rng = np.random.default_rng(5)
    dense = rng.random((7, 7)) * (rng.random((7, 7)) < 0.6)
    np.fill_diagonal(dense, 0.0)
    assert I.max_flow(dense, 0, 6) == pytest.approx(ref.min_cut(dense, 0, 6), abs=1e-12)


def test_flow_refuses_long_sequences():
    length = I.FLOW_MAX_TOKENS + 1
    with pytest.raises(ValueError, match=rf"flow handles at most FLOW_MAX_TOKENS = 64 tokens, got L = {length}"):
        I.flow(np.full((1, length, length), 1.0 / length))


def test_entropy_of_uniform_one_hot_and_masked_rows():
    uniform = np.full((4, 8), 1 / 8)
    one_hot = np.eye(4, 8)
    head = np.concatenate([uniform[:2], one_hot[:1], np.zeros((1, 8))])  # the last row masked
    assert I.entropy(uniform) == pytest.approx(math.log(8), rel=1e-14)
    assert I.entropy(one_hot) == 0.0
    np.testing.assert_allclose(I.entropy(head, per_query=True), [math.log(8), math.log(8), 0.0, 0.0])
    assert I.entropy(head) == pytest.approx(2 * math.log(8) / 3, rel=1e-14)


def test_entropy_per_head_matches_oracle(rng):
    weights = _attention(rng, (2, 3, 5, 7), np.float32)
    result = I.entropy(weights)
    assert result.shape == (2, 3) and result.dtype == np.float64
    for l in range(2):
        for h in range(3):
            assert result[l, h] == pytest.approx(ref.entropy_rows(weights[l, h].astype(np.float64)).mean(), rel=1e-12)
    assert I.entropy(weights[0]).shape == (3,)
    assert I.entropy(weights, per_query=True).shape == (2, 3, 5)


def test_mean_distance():
    previous_token = np.eye(5, k=-1)
    previous_token[0, 0] = 1.0
    assert I.mean_distance(previous_token) == pytest.approx(4 / 5)
    np.testing.assert_allclose(I.mean_distance(np.full((3, 3), 1 / 3), per_query=True), [1.0, 2 / 3, 1.0])
    cross = np.array([[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])  # Lq=2, Lk=3
    np.testing.assert_allclose(I.mean_distance(cross, per_query=True), [2.0, 0.5])
    assert I.mean_distance(np.zeros((2, 0, 3))).shape == (2,)


def test_bad_input():
    good = np.full((2, 3, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"weights: rows must sum to 1 .* layer 0, head 1, query 2 sums to 2"):
        bad = good.copy()
        bad[1, 2] = 2 / 3
        I.entropy(bad)
    with pytest.raises(ValueError, match=r"weights: attention weights must be >= 0"):
        I.rollout(-good)
    with pytest.raises(ValueError, match=r"head_fusion: expected one of \('mean', 'max', 'min'\), got 'sum'"):
        I.rollout(good, head_fusion="sum")
    with pytest.raises(ValueError, match=r"weights: rollout needs self attention \(Lq == Lk\), got Lq = 2, Lk = 3"):
        I.rollout(np.full((2, 3), 1 / 3))
    with pytest.raises(TypeError, match=r"weights: expected dtype float32 or float64, got int64"):
        I.flow(np.eye(3, dtype=np.int64))
    with pytest.raises(TypeError, match=r"add_residual: expected a bool, got int"):
        I.rollout(good, add_residual=1)
    with pytest.raises(ValueError, match=r"weights\[1\]: shape \(2, 3, 3\) does not match"):
        I.entropy([good[:1], np.concatenate([good[:1], good[:1]])])


def test_inputs_are_not_written(rng):
    weights = _attention(rng, (2, 2, 4, 4))
    weights.flags.writeable = False
    before = weights.copy()
    for function in (I.rollout, I.flow, I.entropy, I.mean_distance):
        function(weights)
    np.testing.assert_array_equal(weights, before)
