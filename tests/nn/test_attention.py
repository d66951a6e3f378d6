"""nn/attention.py: MultiheadAttention against torch.nn.MultiheadAttention (its state_dict loads
under the same names, outputs, per-head weights and gradients agree, and back), against the
float64 oracle for what torch lacks (grouped-query heads, rotary, ALiBi, T5), gradcheck of
every option, dropout, and the argument errors."""

import numpy as np
import pytest

import attnlab as al
from attnlab.autograd import gradcheck
from reference_nn import multihead_attention
from torch_compare import assert_backward_matches, randomize, to_numpy

nn = al.nn
F = al.functional


# name -> (MultiheadAttention kwargs, key/value feature sizes or None for self-attention)
CONFIGS = {
    "self": ({}, None),
    "no_bias": ({"bias": False}, None),
    "cross": ({}, (8, 8)),  # key is value: the packed k/v projection
    "cross_kv": ({}, (8, 8)),  # key and value apart: slices of the packed weights
    "kdim_vdim": ({"kdim": 5, "vdim": 3}, (5, 3)),
    "bias_kv": ({"add_bias_kv": True}, None),
    "zero_attn": ({"add_zero_attn": True, "add_bias_kv": True}, None),
}
MASKS = ["none", "key_mask", "causal", "mask_and_key_mask"]


def masks(rng, b, lq, lk, kind):
    """(our kwargs, torch kwargs) for a masking case; every query keeps one key."""
    key_mask = np.ones((b, lk), dtype=bool)
    key_mask[0, lk - 2 :] = False  # torch's key_padding_mask is its negation
    mask = rng.random((lq, lk)) < 0.7
    mask[:, 0] = True
    causal = np.tril(np.ones((lq, lk), dtype=bool))
    if kind == "none":
        return {}, {}
    if kind == "key_mask":
        return {"key_mask": key_mask}, {"key_padding_mask": ~key_mask}
    if kind == "causal":
        return {"is_causal": True}, {"attn_mask": ~causal, "is_causal": True}
    return {"mask": mask, "key_mask": key_mask.astype(np.int64)}, {
        "attn_mask": ~mask,
        "key_padding_mask": ~key_mask,
    }


# Every option in eval mode; train mode (dropout 0) with every mask on the default layout.
TORCH_CASES = [(config, kind, "eval") for config in sorted(CONFIGS) for kind in MASKS] + [
    ("self", kind, "train") for kind in MASKS
]


@pytest.mark.parametrize("config,kind,mode", TORCH_CASES)
def test_matches_torch_with_its_state_dict(torch, rng, config, kind, mode):
    kwargs, kv_dims = CONFIGS[config]
    b, lq, c, h = 2, 5, 8, 2
    lk = lq if kv_dims is None else 7
    if kind in ("causal",) and kv_dims is not None:
        lk = lq  # torch's causal hint wants a square mask
    t = torch.nn.MultiheadAttention(c, h, batch_first=True, **kwargs)
    randomize(torch, t)
    m = nn.MultiheadAttention(c, h, **kwargs)
    assert list(m.state_dict()) == list(t.state_dict())
    m.load_state_dict(to_numpy(t.state_dict()))
    getattr(m, mode)(), getattr(t, mode)()

    query = rng.standard_normal((b, lq, c)).astype(np.float32)
    if kv_dims is None:
        key = value = query
    else:
        key = rng.standard_normal((b, lk, kv_dims[0])).astype(np.float32)
        value = rng.standard_normal((b, lk, kv_dims[1])).astype(np.float32)
        if config == "cross":
            value = key
    ours_masks, torch_masks = masks(rng, b, lq, lk, kind)

    xs = [al.tensor(x, requires_grad=True) for x in (query, key, value)]
    ts = [torch.tensor(x, requires_grad=True) for x in (query, key, value)]
    if kv_dims is None:
        xs, ts = [xs[0]] * 3, [ts[0]] * 3
    elif config == "cross":
        xs[2], ts[2] = xs[1], ts[1]
    out, weights = m(*xs, return_weights=True, **ours_masks)
    ref, ref_weights = t(
        *ts,
        need_weights=True,
        average_attn_weights=False,
        **{k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in torch_masks.items()},
    )
    np.testing.assert_allclose(out.data, ref.detach().numpy(), atol=1e-5, rtol=1e-5)
    assert isinstance(weights, al.Tensor) and not weights.requires_grad
    np.testing.assert_allclose(weights.data, ref_weights.detach().numpy(), atol=1e-5, rtol=1e-5)

    assert_backward_matches(torch, rng, m, t, out, ref, xs, ts)

    # and back: ours -> torch's load_state_dict, same outputs
    t2 = torch.nn.MultiheadAttention(c, h, batch_first=True, **kwargs)
    t2.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
    getattr(t2, mode)()
    # (need_weights=False would take torch's SDPA path, which with is_causal ignores the mask
    # and so also hides add_bias_kv's extra key.)
    ref2 = t2(
        *ts,
        need_weights=True,
        **{k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in torch_masks.items()},
    )[0]
    np.testing.assert_allclose(out.data, ref2.detach().numpy(), atol=1e-5, rtol=1e-5)


def test_grouped_query_heads_equal_repeated_heads_in_torch(torch, rng):
    """num_kv_heads=2 of 4: query head h uses kv head h // 2, as torch with each kv head's
    projection rows repeated."""
    b, l, c, h, hkv = 2, 6, 16, 4, 2
    m = nn.MultiheadAttention(c, h, num_kv_heads=hkv)
    sd = m.state_dict()
    assert sd["k_proj_weight"].shape == (hkv * 4, c) and sd["in_proj_bias"].shape == (
        c + 2 * hkv * 4,
    )
    sd["in_proj_bias"][...] = rng.standard_normal(sd["in_proj_bias"].shape)
    m.load_state_dict(sd)
    d = c // h

    def repeat(w):  # (Hkv D, ...) -> (H D, ...)
        return np.repeat(w.reshape((hkv, d) + w.shape[1:]), h // hkv, axis=0).reshape(
            (h * d,) + w.shape[1:]
        )

    bq, bk, bv = np.split(sd["in_proj_bias"], [c, c + hkv * d])
    t = torch.nn.MultiheadAttention(c, h, batch_first=True)
    t.load_state_dict(
        {
            "in_proj_weight": torch.from_numpy(
                np.concatenate(
                    [sd["q_proj_weight"], repeat(sd["k_proj_weight"]), repeat(sd["v_proj_weight"])]
                )
            ),
            "in_proj_bias": torch.from_numpy(np.concatenate([bq, repeat(bk), repeat(bv)])),
            "out_proj.weight": torch.from_numpy(sd["out_proj.weight"]),
            "out_proj.bias": torch.from_numpy(sd["out_proj.bias"]),
        }
    )
    x = rng.standard_normal((b, l, c)).astype(np.float32)
    out, weights = m(x, return_weights=True, is_causal=True)
    causal = torch.tensor(~np.tril(np.ones((l, l), dtype=bool)))
    tx = torch.tensor(x)
    ref, ref_weights = t(tx, tx, tx, attn_mask=causal, average_attn_weights=False)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(weights.data, ref_weights.detach().numpy(), atol=1e-5, rtol=1e-5)


POSITIONS = {
    "rotary": lambda h, d: nn.RotaryEmbedding(d),
    "rotary_partial_interleaved": lambda h, d: nn.RotaryEmbedding(
        d, rotary_dim=2, interleaved=True
    ),
    "alibi": lambda h, d: nn.ALiBi(h),
    "t5": lambda h, d: nn.RelativePositionBias(h, num_buckets=8, max_distance=16),
}


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("name", sorted(POSITIONS))
def test_positions_match_the_oracle(rng, name, causal):
    b, l, c, h = 2, 6, 8, 2
    positions = POSITIONS[name](h, c // h)
    m = nn.MultiheadAttention(c, h, positions=positions)
    assert m.positions is positions
    x = rng.standard_normal((b, l, c)).astype(np.float32)
    out, weights = m(x, return_weights=True, is_causal=causal)
    rotary, bias = None, None
    if isinstance(positions, nn.RotaryEmbedding):
        rotary = dict(
            base=positions.base, rotary_dim=positions.rotary_dim, interleaved=positions.interleaved
        )
    elif isinstance(positions, nn.ALiBi):
        bias = F.alibi_bias(h, l, l, dtype=np.float64)
    else:
        bias = positions(l, l).data.astype(np.float64)
    ref, ref_weights = multihead_attention(
        m.state_dict(), x, x, x, num_heads=h, is_causal=causal, bias=bias, rotary=rotary
    )
    np.testing.assert_allclose(out.data, ref, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(weights.data, ref_weights, atol=1e-5, rtol=1e-5)


def test_alibi_passes_slopes_to_the_kernel_not_a_bias(monkeypatch, rng):
    import attnlab.nn.attention as mha_module

    seen = []
    attend = mha_module.packed_self_attention

    def spy(qkv, heads, kv_heads, mask=None, bias=None, **kwargs):
        seen.append((bias, kwargs.get("alibi_slopes")))
        return attend(qkv, heads, kv_heads, mask, bias, **kwargs)

    monkeypatch.setattr(mha_module, "packed_self_attention", spy)
    m = nn.MultiheadAttention(8, 4, positions="alibi")
    m(rng.standard_normal((1, 5, 8)).astype(np.float32))
    ((bias, slopes),) = seen
    assert bias is None
    np.testing.assert_array_equal(slopes, F.alibi_slopes(4, dtype=np.float32))


def test_position_strings_make_default_modules():
    assert isinstance(nn.MultiheadAttention(8, 2, positions="rotary").positions, nn.RotaryEmbedding)
    assert nn.MultiheadAttention(8, 2, positions="rotary").positions.dim == 4
    assert nn.MultiheadAttention(8, 2, positions="alibi").positions.num_heads == 2
    t5 = nn.MultiheadAttention(8, 2, positions="t5")
    assert "positions.relative_attention_bias.weight" in t5.state_dict()
    assert t5.state_dict()["positions.relative_attention_bias.weight"].shape == (32, 2)
    assert list(nn.MultiheadAttention(8, 2, positions="alibi").state_dict()) == [
        "in_proj_weight",
        "in_proj_bias",
        "out_proj.weight",
        "out_proj.bias",
    ]


# name -> (constructor kwargs, forward kwargs, key/value feature sizes or None)
GRADCHECK = {
    "self": ({}, {}, None),
    "mask": ({}, {"mask": np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1]], bool)}, None),
    "key_mask": ({}, {"key_mask": np.array([[1, 1, 0], [1, 1, 1]], bool)}, None),
    "causal": ({}, {"is_causal": True}, None),
    "gqa": ({"num_kv_heads": 1}, {"is_causal": True}, None),
    "cross": ({}, {}, (4, 4)),
    "cross_gqa": ({"num_kv_heads": 1}, {}, (4, 4)),
    "kdim_vdim": ({"kdim": 3, "vdim": 2}, {}, (3, 2)),
    "rotary": ({"positions": "rotary"}, {"is_causal": True}, None),
    "alibi": ({"positions": "alibi"}, {}, None),
    "t5": ({"positions": nn.RelativePositionBias(2, 8, 16)}, {}, None),
    "bias_kv_zero_attn": ({"add_bias_kv": True, "add_zero_attn": True}, {"is_causal": True}, None),
    "no_bias": ({"bias": False}, {}, None),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK))
def test_gradcheck_float64(rng, name):
    kwargs, call, kv_dims = GRADCHECK[name]
    m = nn.MultiheadAttention(4, 2, **kwargs).double()
    for p in m.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5
    params = list(m.parameters())
    query = al.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    if kv_dims is None:

        def run(query, *ps):
            return m(query, **call)

        assert gradcheck(run, (query, *params))
        return
    key = al.tensor(rng.standard_normal((2, 5, kv_dims[0])), requires_grad=True)
    value = al.tensor(rng.standard_normal((2, 5, kv_dims[1])), requires_grad=True)
    if kv_dims[0] == kv_dims[1]:
        value = key  # one tensor as key and value: the packed k/v projection

    def run_cross(query, key, value, *ps):
        return m(query, key, value, **call)

    assert gradcheck(run_cross, (query, key, value, *params))


def test_dropout_only_in_training_with_a_fresh_seed_per_call(rng):
    x = rng.standard_normal((2, 16, 8)).astype(np.float32)
    m = nn.MultiheadAttention(8, 2, dropout=0.5)
    plain = nn.MultiheadAttention(8, 2)
    plain.load_state_dict(m.state_dict())
    m.eval()
    np.testing.assert_array_equal(m(x).data, plain(x).data)
    m.train()
    a, b = m(x).data, m(x).data
    assert not np.allclose(a, plain(x).data) and not np.array_equal(a, b)
    al.manual_seed(3)
    c = m(x).data
    al.manual_seed(3)
    np.testing.assert_array_equal(c, m(x).data)


def test_key_mask_ints_equal_bools_and_pads_are_ignored(rng):
    m = nn.MultiheadAttention(8, 2)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    km = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    out = m(x, key_mask=km).data
    np.testing.assert_array_equal(out, m(x, key_mask=km.astype(bool)).data)
    # Padding keys do not change the real tokens' outputs.
    np.testing.assert_allclose(out[0, :3], m(x[:1, :3]).data[0], atol=1e-6)


def test_weights_are_the_kernels(rng):
    m = nn.MultiheadAttention(8, 2, bias=False)
    x = rng.standard_normal((2, 4, 8)).astype(np.float32)
    _, weights = m(x, return_weights=True)
    assert weights.shape == (2, 2, 4, 4) and weights.dtype == np.float32
    np.testing.assert_allclose(weights.data.sum(-1), 1.0, atol=1e-6)
    q = (x @ m.in_proj_weight.data[:8].T).reshape(2, 4, 2, 4).transpose(0, 2, 1, 3)
    k = (x @ m.in_proj_weight.data[8:16].T).reshape(2, 4, 2, 4).transpose(0, 2, 1, 3)
    _, expected = F.scaled_dot_product_attention(q, k, k, return_weights=True)
    np.testing.assert_allclose(weights.data, expected, atol=1e-6)


def test_initialization_follows_torch():
    al.manual_seed(0)
    m = nn.MultiheadAttention(16, 4, add_bias_kv=True)
    bound = np.sqrt(6 / (16 + 48))
    w = m.in_proj_weight.data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert not m.in_proj_bias.data.any() and not m.out_proj.bias.data.any()
    assert m.bias_k.shape == (1, 1, 16) and m.bias_k.data.any()
    sep = nn.MultiheadAttention(16, 4, kdim=8, vdim=8)
    assert [n for n, _ in sep.named_parameters()] == [
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
        "in_proj_bias",
        "out_proj.weight",
        "out_proj.bias",
    ]


def test_argument_errors():
    with pytest.raises(ValueError, match="embed_dim: 10 is not divisible by num_heads=4"):
        nn.MultiheadAttention(10, 4)
    with pytest.raises(ValueError, match="num_heads: must be positive, got 0"):
        nn.MultiheadAttention(4, 0)
    with pytest.raises(ValueError, match="embed_dim: must be positive, got 0"):
        nn.MultiheadAttention(0, 1)
    with pytest.raises(TypeError, match="num_heads: expected an int, got float"):
        nn.MultiheadAttention(8, 2.0)
    with pytest.raises(ValueError, match="num_kv_heads: must be positive, got 0"):
        nn.MultiheadAttention(8, 4, num_kv_heads=0)
    # torch builds a (8, 0) k_proj_weight for kdim=0: keys that carry no feature, a typo
    with pytest.raises(ValueError, match="kdim: must be positive, got 0"):
        nn.MultiheadAttention(8, 2, kdim=0)
    with pytest.raises(ValueError, match="vdim: must be positive, got -1"):
        nn.MultiheadAttention(8, 2, vdim=-1)
    with pytest.raises(TypeError, match="kdim: expected an int, got float"):
        nn.MultiheadAttention(8, 2, kdim=4.0)
    with pytest.raises(TypeError, match="bias: expected a bool, got str"):
        nn.MultiheadAttention(8, 2, bias="no")
    with pytest.raises(ValueError, match="num_heads: 4 is not divisible by num_kv_heads=3"):
        nn.MultiheadAttention(8, 4, num_kv_heads=3)
    with pytest.raises(ValueError, match="batch_first"):
        nn.MultiheadAttention(8, 2, batch_first=False)
    with pytest.raises(ValueError, match="dropout"):
        nn.MultiheadAttention(8, 2, dropout=1.0)
    with pytest.raises(ValueError, match="positions: expected None"):
        nn.MultiheadAttention(8, 2, positions="sinusoidal")
    with pytest.raises(ValueError, match="positions: cannot be combined"):
        nn.MultiheadAttention(8, 2, positions="rotary", add_bias_kv=True)
    with pytest.raises(ValueError, match="ALiBi's num_heads=4"):
        nn.MultiheadAttention(8, 2, positions=nn.ALiBi(4))(np.zeros((1, 3, 8), np.float32))

    m = nn.MultiheadAttention(8, 2, kdim=4, vdim=4)
    x = np.zeros((2, 3, 8), np.float32)
    kv = np.zeros((2, 5, 4), np.float32)
    with pytest.raises(ValueError, match=r"query: expected 3 dimensions \(B, L, C\)"):
        m(x[0], kv, kv)
    with pytest.raises(ValueError, match="query: axis 2 \\(C\\) has size 4, expected embed_dim=8"):
        m(kv, kv, kv)
    with pytest.raises(ValueError, match="key: axis 2 \\(C\\) has size 8, expected kdim=4"):
        m(x)
    with pytest.raises(ValueError, match="key: axis 0 \\(B\\) has size 1, expected query's 2"):
        m(x, kv[:1], kv[:1])
    with pytest.raises(ValueError, match="value: axis 1 \\(Lk\\) has size 4, expected key's 5"):
        m(x, kv, kv[:, :4])
    with pytest.raises(TypeError, match="query: expected a Tensor or ndarray"):
        m([[1.0]])
    with pytest.raises(TypeError, match="query: dtype float64 does not match the module's float32"):
        m(x.astype(np.float64), kv, kv)

    s = nn.MultiheadAttention(8, 2)
    with pytest.raises(
        ValueError, match=r"key_mask: expected shape \(B, Lk\) = \(2, 3\), got \(2, 4\)"
    ):
        s(x, key_mask=np.ones((2, 4), bool))
    with pytest.raises(TypeError, match="key_mask: expected dtype bool or 0/1 integers"):
        s(x, key_mask=np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="key_mask: integer masks hold only 0"):
        s(x, key_mask=np.full((2, 3), 2))
    with pytest.raises(TypeError, match="key_mask: expected a bool or 0/1 integer array"):
        s(x, key_mask=[[1, 1, 1]] * 2)
    with pytest.raises(
        TypeError, match="mask: expected dtype bool, got float32 \\(True = may attend"
    ):
        s(x, mask=np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="mask: shape \\(2, 2\\) is not broadcastable"):
        s(x, mask=np.ones((2, 2), bool), key_mask=np.ones((2, 3), bool))
    with pytest.raises(
        ValueError,
        match=r"mask: shape \(4, 4\) is not broadcastable to "
        r"\(B, H, Lq, Lk\) = \(2, 2, 3, 3\)",
    ):
        s(x, mask=np.ones((4, 4), bool))
    with pytest.raises(ValueError, match=r"mask: shape \(1, 1, 1, 3, 3\) is not broadcastable"):
        s(x, mask=np.ones((1, 1, 1, 3, 3), bool))
