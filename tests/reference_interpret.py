"""Float64 oracles of attnlab/interpret.py, written as directly as the papers state them."""

import itertools
import math

import numpy as np


def layer_matrices(weights, head_fusion="mean", add_residual=True):
    """Per layer of (layers, H, L, L): heads fused, identity added, rows renormalized, by loops."""
    fuse = {"mean": lambda x: sum(x) / len(x), "max": max, "min": min}[head_fusion]
    layers, heads, length, _ = weights.shape
    result = np.zeros((layers, length, length))
    for l in range(layers):
        for i in range(length):
            row = [
                fuse([float(weights[l, h, i, j]) for h in range(heads)]) + (add_residual and i == j)
                for j in range(length)
            ]
            total = sum(row)
            result[l, i] = [x / total if total else 0.0 for x in row]
    return result


def rollout(weights, head_fusion="mean", add_residual=True):
    """R = A_last ... A_1, accumulated entry by entry."""
    matrices = layer_matrices(weights, head_fusion, add_residual)
    length = matrices.shape[-1]
    result = np.eye(length)
    for a in matrices:
        result = np.array(
            [
                [sum(a[i, m] * result[m, j] for m in range(length)) for j in range(length)]
                for i in range(length)
            ]
        )
    return result


def layered_capacity(matrices):
    """The dense capacity matrix of attention flow's graph: node l * L + m is token m after
    layer l; the edge from (l, j) to (l + 1, i) carries matrices[l][i, j]."""
    layers, length, _ = matrices.shape
    capacity = np.zeros(((layers + 1) * length,) * 2)
    for l, a in enumerate(matrices):
        capacity[l * length : (l + 1) * length, (l + 1) * length : (l + 2) * length] = a.T
    return capacity


def min_cut(capacity, source, sink):
    """The minimum over every source-side set S (source in, sink out) of the capacity leaving S
    (max-flow = min-cut), by enumerating all 2^(V-2) sets."""
    others = [v for v in range(len(capacity)) if v not in (source, sink)]
    sides = np.zeros((2 ** len(others), len(capacity)))
    sides[:, source] = 1.0
    sides[:, others] = list(itertools.product((0.0, 1.0), repeat=len(others)))
    return np.einsum("su,uv,sv->s", sides, capacity, 1.0 - sides).min()


def entropy_rows(p):
    """-sum w log w of each row of a 2-d array, 0 log 0 = 0."""
    return np.array([-sum(w * math.log(w) for w in row if w > 0) for row in p])


def attention_output(a, v, wo, bo):
    """y = concat_h(A_h V_h) Wo^T + bo for weights A (B, H, L, L) and per-head values
    v (B, H, L, D): a multi-head attention layer's output given its weights."""
    b, h, length, _ = a.shape
    heads = np.einsum("bhij,bhjd->bhid", a, v)  # (B, H, L, D)
    return heads.transpose(0, 2, 1, 3).reshape(b, length, -1) @ wo.T + bo


def attention_saliency(x, wq, wk, wv, bq, bk, bv, wo, bo, num_heads, grad_y, causal=True):
    """One multi-head self-attention layer over x (B, L, C), written out: the weights A
    (B, H, L, L) by an explicit softmax, and dL/dA for dL/dy = grad_y (B, L, C), from
    y = concat_h(A_h V_h) Wo^T + bo: dL/dA_h = (grad_y Wo)_h V_h^T. Grouped-query heads when
    wk, wv have fewer rows than wq (head h uses key/value head h // group)."""
    b, length, c = x.shape
    d = c // num_heads
    kv_heads = wk.shape[0] // d
    group = num_heads // kv_heads
    q = (x @ wq.T + bq).reshape(b, length, num_heads, d).transpose(0, 2, 1, 3)
    k = (x @ wk.T + bk).reshape(b, length, kv_heads, d).transpose(0, 2, 1, 3)
    v = (x @ wv.T + bv).reshape(b, length, kv_heads, d).transpose(0, 2, 1, 3)
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    scores = np.einsum("bhid,bhjd->bhij", q, k) / math.sqrt(d)
    if causal:
        scores = np.where(np.tril(np.ones((length, length), dtype=bool)), scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    a = e / e.sum(axis=-1, keepdims=True)
    grad_heads = (grad_y @ wo).reshape(b, length, num_heads, d).transpose(0, 2, 1, 3)
    return a, np.einsum("bhid,bhjd->bhij", grad_heads, v), v
