"""attnlab/interpret.py against the float64 oracles of tests/reference_interpret.py and
hand-computed examples; saliency and head ablation on tiny float64 models."""

import math

import numpy as np
import pytest

import attnlab as al
import reference_interpret as ref

I = al.interpret
nn = al.nn


def _attention(rng, shape, dtype=np.float64):
    e = np.exp(2 * rng.standard_normal(shape))
    return (e / e.sum(axis=-1, keepdims=True)).astype(dtype)


@pytest.mark.parametrize("head_fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("add_residual", [True, False])
def test_rollout_matches_explicit_loops(rng, head_fusion, add_residual):
    weights = _attention(rng, (3, 4, 6, 6))
    np.testing.assert_allclose(
        I.rollout(weights, head_fusion=head_fusion, add_residual=add_residual),
        ref.rollout(weights, head_fusion, add_residual),
        rtol=1e-12,
        atol=1e-15,
    )


def test_rollout_of_one_layer_is_half_attention_half_identity(rng):
    weights = _attention(rng, (1, 5, 5), np.float32)
    np.testing.assert_allclose(I.rollout(weights), 0.5 * weights[0] + 0.5 * np.eye(5), rtol=1e-6)
    rows = I.rollout(_attention(rng, (4, 2, 7, 7)))
    np.testing.assert_allclose(rows.sum(axis=-1), 1.0, rtol=1e-12)


def test_rollout_takes_a_record_and_its_batch_index(rng):
    batched = _attention(rng, (2, 3, 2, 4, 4))  # (layers, B, H, L, L)
    record = {f"layers.{l}.attn": batched[l] for l in range(2)}
    np.testing.assert_allclose(
        I.rollout(record, batch_index=1), ref.rollout(batched[:, 1]), rtol=1e-12
    )


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
    expected = [
        [sum(min(a1[m, j], a2[i, m]) for m in range(3)) for j in range(3)] for i in range(3)
    ]
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
    with pytest.raises(
        ValueError, match=rf"flow handles at most FLOW_MAX_TOKENS = 64 tokens, got L = {length}"
    ):
        I.flow(np.full((1, length, length), 1.0 / length))


def test_entropy_of_uniform_one_hot_and_masked_rows():
    uniform = np.full((4, 8), 1 / 8)
    one_hot = np.eye(4, 8)
    head = np.concatenate([uniform[:2], one_hot[:1], np.zeros((1, 8))])  # the last row masked
    assert I.entropy(uniform) == pytest.approx(math.log(8), rel=1e-14)
    assert I.entropy(one_hot) == 0.0
    np.testing.assert_allclose(
        I.entropy(head, per_query=True), [math.log(8), math.log(8), 0.0, 0.0]
    )
    assert I.entropy(head) == pytest.approx(2 * math.log(8) / 3, rel=1e-14)


def test_entropy_per_head_matches_oracle(rng):
    weights = _attention(rng, (2, 3, 5, 7), np.float32)
    result = I.entropy(weights)
    assert result.shape == (2, 3) and result.dtype == np.float64
    for l in range(2):
        for h in range(3):
            assert result[l, h] == pytest.approx(
                ref.entropy_rows(weights[l, h].astype(np.float64)).mean(), rel=1e-12
            )
    assert I.entropy(weights[0]).shape == (3,)
    assert I.entropy(weights, per_query=True).shape == (2, 3, 5)


def test_mean_distance():
    previous_token = np.eye(5, k=-1)
    previous_token[0, 0] = 1.0
    assert I.mean_distance(previous_token) == pytest.approx(4 / 5)
    np.testing.assert_allclose(
        I.mean_distance(np.full((3, 3), 1 / 3), per_query=True), [1.0, 2 / 3, 1.0]
    )
    cross = np.array([[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])  # Lq=2, Lk=3
    np.testing.assert_allclose(I.mean_distance(cross, per_query=True), [2.0, 0.5])
    assert I.mean_distance(np.zeros((2, 0, 3))).shape == (2,)


def test_bad_input():
    good = np.full((2, 3, 3), 1 / 3)
    with pytest.raises(
        ValueError, match=r"weights: rows must sum to 1 .* layer 0, head 1, query 2 sums to 2"
    ):
        bad = good.copy()
        bad[1, 2] = 2 / 3
        I.entropy(bad)
    with pytest.raises(ValueError, match=r"weights: attention weights must be >= 0"):
        I.rollout(-good)
    with pytest.raises(
        ValueError, match=r"head_fusion: expected one of \('mean', 'max', 'min'\), got 'sum'"
    ):
        I.rollout(good, head_fusion="sum")
    with pytest.raises(
        ValueError, match=r"weights: rollout needs self attention \(Lq == Lk\), got Lq = 2, Lk = 3"
    ):
        I.rollout(np.full((2, 3), 1 / 3))
    with pytest.raises(
        TypeError,
        match=r"weights: expected dtype float16, float32 or float64, "
        r"got int64",
    ):
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


# ---- saliency and head ablation -------------------------------------------------------------


class OneAttention(nn.Module):
    """Embedding, one causal MultiheadAttention, a linear read-out; keeps the attention's input
    and output (retaining its gradient) for the oracle."""

    def __init__(self, vocab, dim, heads, kv_heads=None):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim, dtype=np.float64)
        self.attn = nn.MultiheadAttention(dim, heads, num_kv_heads=kv_heads, dtype=np.float64)
        self.head = nn.Linear(dim, vocab, dtype=np.float64)

    def forward(self, idx):
        self.x = self.wte(idx)
        self.y = self.attn(self.x, is_causal=True)
        if self.y.requires_grad:
            self.y.retain_grad()
        return self.head(self.y)


@pytest.fixture(scope="module")
def tiny_task():
    return al.data.tasks.modular_add(7, train_fraction=0.5)


def _gpt(task, n_layer=2):
    al.manual_seed(0)
    return al.models.GPT(
        len(task.vocab), task.block_size, n_layer=n_layer, n_head=2, d_model=16, dtype=np.float64
    )


@pytest.mark.parametrize("kv_heads", [None, 1])
def test_saliency_matches_an_explicit_softmax_attention(tiny_task, kv_heads):
    al.manual_seed(1)
    model = OneAttention(len(tiny_task.vocab), 12, 4, kv_heads)
    result = I.saliency(model, tiny_task, samples=5)
    attn, c = model.attn, 12
    if kv_heads is None:
        wq, wk, wv = np.split(attn.in_proj_weight.data, 3)
    else:
        wq, wk, wv = attn.q_proj_weight.data, attn.k_proj_weight.data, attn.v_proj_weight.data
    bias = attn.in_proj_bias.data
    kv = wk.shape[0]
    bq, bk, bv = bias[:c], bias[c : c + kv], bias[c + kv :]
    a, grad_a, _ = ref.attention_saliency(
        model.x.data,
        wq,
        wk,
        wv,
        bq,
        bk,
        bv,
        attn.out_proj.weight.data,
        attn.out_proj.bias.data,
        4,
        model.y.grad,
    )
    assert list(result.scores) == ["attn"] and result.counted == 5
    np.testing.assert_allclose(result.weights["attn"], a, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(result.gradients["attn"], grad_a, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(result.scores["attn"], a * grad_a, rtol=1e-10, atol=1e-14)
    assert np.abs(grad_a).max() > 1e-3  # the check compares real gradients
    expected_loss = al.evaluate(model, tiny_task, max_samples=5, batch_size=5)["loss"]
    assert result.loss == pytest.approx(expected_loss, rel=1e-12)


def test_the_oracles_weight_gradient_is_the_finite_difference_of_its_output(rng):
    # dL/dA from the oracle against central differences of L(A) = sum(y(A) * grad_y).
    b, length, c, heads = 1, 3, 4, 2
    x = rng.standard_normal((b, length, c))
    wq, wk, wv, wo = rng.standard_normal((4, c, c))
    bq, bk, bv, bo = rng.standard_normal((4, c))
    grad_y = rng.standard_normal((b, length, c))
    a, grad_a, v = ref.attention_saliency(x, wq, wk, wv, bq, bk, bv, wo, bo, heads, grad_y)
    fd = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        up, down = a.copy(), a.copy()
        up[i] += 1e-6
        down[i] -= 1e-6
        fd[i] = (
            (ref.attention_output(up, v, wo, bo) - ref.attention_output(down, v, wo, bo)) * grad_y
        ).sum() / 2e-6
    np.testing.assert_allclose(grad_a, fd, rtol=1e-3, atol=1e-5)


def test_saliency_summed_per_head_is_the_derivative_of_the_loss_by_its_head_mask(tiny_task):
    # Each head's output is scaled by head_mask[h]: d(mean loss)/d(head_mask[h]) at 1 is
    # sum A * dL/dA / counted, which estimated_loss_change negates.
    model = _gpt(tiny_task)
    result = I.saliency(model, tiny_task, samples=6)
    estimate = result.estimated_loss_change()
    assert estimate.shape == (2, 2) and list(result.scores) == ["blocks.0.attn", "blocks.1.attn"]
    for layer, name in enumerate(result.scores):
        attn = dict(model.named_modules())[name]
        for head in range(2):
            losses = []
            for step in (1e-6, -1e-6):
                mask = np.ones(2)
                mask[head] += step
                attn.head_mask = mask
                losses.append(I.saliency(model, tiny_task, samples=6).loss)
            attn.head_mask = None
            derivative = (losses[0] - losses[1]) / 2e-6
            assert -estimate[layer, head] == pytest.approx(derivative, rel=1e-4, abs=1e-8)
    assert np.abs(estimate).max() > 1e-5


def test_saliency_restores_mode_and_gradients(tiny_task):
    model = _gpt(tiny_task).train()
    params = list(model.parameters())
    params[0].grad = np.full(params[0].shape, 7.0)
    with al.no_grad():
        result = I.saliency(model, tiny_task, tiny_task.test.take(np.arange(3)))
    assert model.training
    np.testing.assert_array_equal(params[0].grad, 7.0)
    assert all(p.grad is None for p in params[1:])
    assert result.batch.inputs.shape == (3, 3) and result.weights["blocks.0.attn"].shape == (
        3,
        2,
        3,
        3,
    )


def test_saliency_bad_input(tiny_task):
    model = _gpt(tiny_task, n_layer=1)
    with pytest.raises(TypeError, match="model: expected an attnlab.nn.Module, got str"):
        I.saliency("gpt", tiny_task)
    with pytest.raises(TypeError, match="task: expected an attnlab.data.Task, got dict"):
        I.saliency(model, {})
    with pytest.raises(
        TypeError, match="batch: expected an attnlab.data.Batch or None, got ndarray"
    ):
        I.saliency(model, tiny_task, tiny_task.test.inputs)
    with pytest.raises(ValueError, match="samples: expected an int >= 1, got 0"):
        I.saliency(model, tiny_task, samples=0)
    with pytest.raises(ValueError, match="model: Linear has no MultiheadAttention module"):
        I.saliency(nn.Linear(2, 2), tiny_task)
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(
        RuntimeError, match="model: no parameter or input of the loss requires grad"
    ):
        I.saliency(model, tiny_task)


def test_head_mask_scales_each_heads_output_by_hand():
    # One token, head_dim 1, identity projections: head h's output is x[h], so the layer
    # returns x with each feature scaled by its head's multiplier.
    attn = nn.MultiheadAttention(2, 2, dtype=np.float64)
    attn.in_proj_weight.data[:] = np.tile(np.eye(2), (3, 1))
    attn.out_proj.weight.data[:] = np.eye(2)
    x = np.array([[[3.0, -2.0]]])
    np.testing.assert_array_equal(attn(x).data, [[[3.0, -2.0]]])
    attn.head_mask = [1, 0]
    np.testing.assert_array_equal(attn(x).data, [[[3.0, 0.0]]])
    attn.head_mask = np.array([0.5, 2.0])
    np.testing.assert_array_equal(attn(x).data, [[[1.5, -4.0]]])
    np.testing.assert_array_equal(attn.head_mask, [0.5, 2.0])


def test_a_head_mask_of_ones_changes_nothing_bitwise(rng):
    attn = nn.MultiheadAttention(8, 4, dtype=np.float32)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    plain = attn(x, is_causal=True).data
    attn.head_mask = np.ones(4, dtype=bool)
    np.testing.assert_array_equal(attn(x, is_causal=True).data, plain)
    attn.head_mask = None
    assert attn.head_mask is None
    attn.head_mask = [1.0, 0.0, 1.0, 1.0]
    attn.double()  # the mask follows the module's dtype
    assert attn(x.astype(np.float64)).dtype == np.float64


def test_head_mask_bad_input():
    attn = nn.MultiheadAttention(4, 2)
    with pytest.raises(
        ValueError, match=r"head_mask: expected shape \(num_heads,\) = \(2,\), got \(3,\)"
    ):
        attn.head_mask = [1, 1, 1]
    with pytest.raises(
        TypeError, match="head_mask: expected bool, int or float multipliers, got dtype <U1"
    ):
        attn.head_mask = ["a", "b"]
    with pytest.raises(ValueError, match="head_mask: expected finite multipliers"):
        attn.head_mask = [1.0, np.nan]
    assert attn.head_mask is None


def test_ablating_no_heads_changes_nothing(tiny_task):
    model = _gpt(tiny_task)
    result = I.ablate_heads(model, tiny_task, {})
    plain = al.evaluate(model, tiny_task, max_samples=1024)
    assert result.loss == result.base_loss == plain["loss"]
    assert result.accuracy == result.base_accuracy == plain["accuracy"]
    assert result.loss_change == 0.0 and result.accuracy_change == 0.0 and result.heads == ()


def test_ablating_every_head_of_a_layer_feeds_its_out_proj_zeros(tiny_task):
    model = _gpt(tiny_task)
    result = I.ablate_heads(model, tiny_task, {"blocks.1.attn": [0, 1]})
    assert result.heads == (("blocks.1.attn", 0), ("blocks.1.attn", 1))
    assert model.blocks[1].attn.head_mask is None  # restored
    out_proj = model.blocks[1].attn.out_proj
    linear = out_proj.forward
    out_proj.forward = lambda x: linear(x * 0.0)  # out_proj fed zeros instead of the heads
    zeroed = al.evaluate(model, tiny_task, max_samples=1024)
    assert result.loss == zeroed["loss"] and result.accuracy == zeroed["accuracy"]
    assert result.loss != result.base_loss


def test_ablate_each_head_is_ablate_heads_head_by_head(tiny_task):
    model = _gpt(tiny_task)
    table = I.ablate_each_head(model, tiny_task, split="train", max_samples=64)
    assert table.names == ("blocks.0.attn", "blocks.1.attn")
    assert table.loss_change.shape == table.accuracy_change.shape == (2, 2)
    for layer, name in enumerate(table.names):
        for head in range(2):
            one = I.ablate_heads(model, tiny_task, [(name, head)], split="train", max_samples=64)
            assert table.loss_change[layer, head] == one.loss_change
            assert table.accuracy_change[layer, head] == one.accuracy_change
            assert one.base_loss == table.base_loss
    assert np.abs(table.loss_change).max() > 0


def test_ablation_keeps_and_restores_a_users_head_mask_even_on_error(tiny_task, monkeypatch):
    model = _gpt(tiny_task)
    attn = model.blocks[0].attn
    attn.head_mask = [0.0, 1.0]
    both = I.ablate_heads(model, tiny_task, {"blocks.0.attn": [0, 1]})
    masked = I.ablate_heads(model, tiny_task, {"blocks.0.attn": [1]})
    assert masked.loss == both.loss  # head 0 was already off: removing head 1 removes both
    np.testing.assert_array_equal(attn.head_mask, [0.0, 1.0])

    calls = []

    def failing(*args, **kwargs):  # the third evaluation: blocks.0.attn without head 1
        calls.append(attn.head_mask)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return {"loss": 1.0, "accuracy": 0.5}

    monkeypatch.setattr(I, "evaluate", failing)
    with pytest.raises(KeyboardInterrupt):
        I.ablate_each_head(model, tiny_task)
    np.testing.assert_array_equal(calls[2], [0.0, 0.0])
    np.testing.assert_array_equal(attn.head_mask, [0.0, 1.0])
    assert model.blocks[1].attn.head_mask is None


def test_ablate_heads_bad_input(tiny_task):
    model = _gpt(tiny_task, n_layer=1)
    with pytest.raises(
        ValueError,
        match=r"heads: 'blocks.1.attn' is not an attention module of the model; "
        r"they are 'blocks.0.attn'",
    ):
        I.ablate_heads(model, tiny_task, {"blocks.1.attn": [0]})
    with pytest.raises(
        ValueError, match=r"heads: head 2 of 'blocks.0.attn' is out of range \[0, 2\)"
    ):
        I.ablate_heads(model, tiny_task, [("blocks.0.attn", 2)])
    with pytest.raises(
        TypeError, match=r"heads: expected \(module name, head index\) pairs, got 'blocks.0.attn'"
    ):
        I.ablate_heads(model, tiny_task, ["blocks.0.attn"])
    with pytest.raises(
        TypeError, match=r"heads: expected a list of head indices for 'blocks.0.attn', got int"
    ):
        I.ablate_heads(model, tiny_task, {"blocks.0.attn": 0})
    with pytest.raises(
        TypeError, match=r"heads: expected \{module name: \[head indices\]\} or a list"
    ):
        I.ablate_heads(model, tiny_task, 3)
    with pytest.raises(TypeError, match="heads: expected an int, got float"):
        I.ablate_heads(model, tiny_task, [("blocks.0.attn", 1.0)])
