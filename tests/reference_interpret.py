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
            row = [fuse([float(weights[l, h, i, j]) for h in range(heads)]) + (add_residual and i == j)
                   for j in range(length)]
            total = sum(row)
            result[l, i] = [x / total if total else 0.0 for x in row]
    return result


def rollout(weights, head_fusion="mean", add_residual=True):
    """R = A_last ... A_1, accumulated entry by entry."""
    matrices = layer_matrices(weights, head_fusion, add_residual)
    length = matrices.shape[-1]
    result = np.eye(length)
    for a in matrices:
        result = np.array([[sum(a[i, m] * result[m, j] for m in range(length)) for j in range(length)]
                           for i in range(length)])
    return result


def layered_capacity(matrices):
    """The dense capacity matrix of attention flow's graph: node l * L + m is token m after
    layer l; the edge from (l, j) to (l + 1, i) carries matrices[l][i, j]."""
    layers, length, _ = matrices.shape
    capacity = np.zeros(((layers + 1) * length,) * 2)
    for l, a in enumerate(matrices):
        capacity[l * length:(l + 1) * length, (l + 1) * length:(l + 2) * length] = a.T
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
