"""Float64 NumPy oracle of the attention module: projections, head split, positions, fused
attention's math and the output projection, from a state_dict of arrays."""

import numpy as np

from reference import attention
from reference_blocks import rope


def multihead_attention(
    sd,
    query,
    key,
    value,
    *,
    num_heads,
    num_kv_heads=None,
    mask=None,
    is_causal=False,
    bias=None,
    rotary=None,
):
    """(out (B, Lq, C), weights (B, H, Lq, Lk)) of attnlab.nn.MultiheadAttention's math.

    sd: its state_dict; bias: (H, Lq, Lk) added to the scaled scores (ALiBi, T5); rotary: the
    RotaryEmbedding's options (base, rotary_dim, interleaved) for positions 0, 1, ...
    """
    sd = {k: np.asarray(v, np.float64) for k, v in sd.items()}
    c = query.shape[-1]
    h = num_heads
    hkv = num_kv_heads or h
    d = c // h
    if "in_proj_weight" in sd:
        wq, wk, wv = np.split(sd["in_proj_weight"], 3)
    else:
        wq, wk, wv = sd["q_proj_weight"], sd["k_proj_weight"], sd["v_proj_weight"]
    b_in = sd.get("in_proj_bias", np.zeros(c + 2 * hkv * d))
    bq, bk, bv = np.split(b_in, [c, c + hkv * d])

    def heads(x, w, b, n):  # (B, L, in) -> (B, n, L, D)
        y = np.asarray(x, np.float64) @ w.T + b
        return y.reshape(y.shape[0], y.shape[1], n, d).transpose(0, 2, 1, 3)

    q, k, v = heads(query, wq, bq, h), heads(key, wk, bk, hkv), heads(value, wv, bv, hkv)
    if rotary is not None:
        q = rope(q, np.arange(q.shape[2]), **rotary)
        k = rope(k, np.arange(k.shape[2]), **rotary)
    out, weights = attention(q, k, v, mask, bias, is_causal=is_causal, return_weights=True)
    out = out.transpose(0, 2, 1, 3).reshape(query.shape[0], query.shape[1], c)
    out = out @ sd["out_proj.weight"].T + sd.get("out_proj.bias", 0.0)
    return out, weights
