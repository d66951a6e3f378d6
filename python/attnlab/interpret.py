"""Reading attention weights: how much each input token reaches each output (rollout, flow),
and how spread out (entropy) and how far (mean distance) each head looks.

Every function takes the weights in any layout attnlab.viz accepts: one head (Lq, Lk), a layer
(H, Lq, Lk), a model (layers, H, Lq, Lk), a list of per-layer arrays or a ``record_attention``
record (``batch_index`` picks the batch item). Rows must be probabilities (sum to 1) or fully
masked (all zeros). Results are float64.
"""

from __future__ import annotations

import numpy as np

from attnlab._validation import flag
from attnlab.viz._inputs import attention, nonnegative

FLOW_MAX_TOKENS = 64
"""Attention flow solves one max-flow problem per (input, output) pair, so its cost grows
about as the fifth power of the token count; :func:`flow` refuses longer sequences."""

_FUSIONS = {"mean": np.mean, "max": np.max, "min": np.min}
_ROW_SUM_TOLERANCE = 1e-3


def _probabilities(weights: object, batch_index: object) -> tuple[np.ndarray, tuple[int, ...]]:
    """(the weights as float64 (layers, H, Lq, Lk), the per-head result shape)."""
    att = nonnegative(attention(weights, batch_index=batch_index))
    probabilities = att.weights.astype(np.float64)
    sums = probabilities.sum(axis=-1)
    bad = (sums != 0) & (np.abs(sums - 1) > _ROW_SUM_TOLERANCE)
    if bad.any():
        layer, head, row = np.argwhere(bad)[0]
        raise ValueError(f"weights: rows must sum to 1 (or be all zero, fully masked); layer "
                         f"{layer}, head {head}, query {row} sums to {sums[layer, head, row]:.6g}")
    return probabilities, att.leading


def _per_head(values: np.ndarray, probabilities: np.ndarray, leading: tuple[int, ...],
              per_query: bool) -> np.ndarray | float:
    """Per-query ``values`` (layers, H, Lq) as the caller asked: per query, or the mean over
    the queries that see any key; shaped like the input's leading axes."""
    if flag(per_query, "per_query"):
        return values.reshape(leading + values.shape[-1:])
    seen = probabilities.sum(axis=-1) > 0
    count = seen.sum(axis=-1)
    mean = np.where(count > 0, (values * seen).sum(axis=-1) / np.maximum(count, 1), 0.0)
    return float(mean.reshape(())) if leading == () else mean.reshape(leading)


def entropy(weights, *, per_query: bool = False, batch_index: int = 0):
    """Entropy in nats of each head's attention rows, -sum_j w_ij log w_ij (0 log 0 = 0).

    0 for a head that looks at one key, log(Lk) for a uniform one. The mean over queries (the
    fully masked ones left out) per head, or each query's with ``per_query=True``: shape
    (), (H,) or (layers, H) as the input, plus (Lq,) per query.
    """
    p, leading = _probabilities(weights, batch_index)
    logs = np.log(np.where(p > 0, p, 1.0))
    return _per_head(-(p * logs).sum(axis=-1), p, leading, per_query)


def mean_distance(weights, *, per_query: bool = False, batch_index: int = 0):
    """Expected distance |i - j| from query i to the keys it attends to, sum_j w_ij |i - j|.

    Query and key indices are compared as they are (for cross attention, both count from 0).
    Reduced as :func:`entropy`.
    """
    p, leading = _probabilities(weights, batch_index)
    lq, lk = p.shape[-2:]
    distance = np.abs(np.arange(lq, dtype=np.float64)[:, None] - np.arange(lk)[None, :])
    return _per_head((p * distance).sum(axis=-1), p, leading, per_query)


def _fused_with_residual(weights: object, head_fusion: str, add_residual: object,
                         batch_index: object, function: str) -> np.ndarray:
    """Abnar and Zuidema's per-layer matrices (layers, L, L): heads fused, the identity of the
    residual connection added, rows renormalized."""
    if head_fusion not in _FUSIONS:
        raise ValueError(f"head_fusion: expected one of {tuple(_FUSIONS)}, got {head_fusion!r}")
    add_residual = flag(add_residual, "add_residual")
    p, _ = _probabilities(weights, batch_index)
    lq, lk = p.shape[-2:]
    if lq != lk:
        raise ValueError(f"weights: {function} needs self attention (Lq == Lk), got Lq = {lq}, Lk = {lk}")
    if p.shape[1] == 0:
        raise ValueError(f"weights: {function} needs at least one head, got H = 0")
    fused = _FUSIONS[head_fusion](p, axis=1)  # (layers, L, L)
    if add_residual:
        fused = fused + np.eye(lq)
    sums = fused.sum(axis=-1, keepdims=True)
    return np.divide(fused, sums, out=np.zeros_like(fused), where=sums > 0)


def rollout(weights, *, head_fusion: str = "mean", add_residual: bool = True,
            batch_index: int = 0) -> np.ndarray:
    """Attention rollout (Abnar and Zuidema 2020): the product over layers, last layer first,
    of each layer's fused attention plus the identity, rows renormalized.

    Returns (L, L): row i is how much each input token reaches position i after the last layer.
    ``head_fusion``: "mean" (the paper's), "max" or "min" over heads.
    """
    matrices = _fused_with_residual(weights, head_fusion, add_residual, batch_index, "rollout")
    result = np.eye(matrices.shape[-1])
    for layer in matrices:
        result = layer @ result
    return result


def _levels(residual: np.ndarray, source: int, eps: float) -> np.ndarray:
    """Breadth-first distance from ``source`` over edges with residual capacity; -1 unreached."""
    level = np.full(len(residual), -1)
    level[source] = 0
    frontier = np.zeros(len(residual), dtype=bool)
    frontier[source] = True
    depth = 0
    while frontier.any():
        depth += 1
        frontier = (residual[frontier] > eps).any(axis=0) & (level < 0)
        level[frontier] = depth
    return level


def max_flow(capacity: np.ndarray, source: int, sink: int) -> float:
    """The maximum flow from ``source`` to ``sink`` of a graph given as a dense (V, V) matrix of
    edge capacities, by Dinic's algorithm (level graphs and blocking flows)."""
    residual = np.array(capacity, dtype=np.float64)
    eps = 1e-12 * max(float(residual.max(initial=0.0)), 1e-300)
    total = 0.0
    while True:
        level = _levels(residual, source, eps)
        if level[sink] < 0:
            return total
        # Per node, the next-level neighbours and a pointer to the first not yet exhausted one.
        successors: dict[int, np.ndarray] = {}
        pointer: dict[int, int] = {}
        path = [source]
        while path:
            u = path[-1]
            if u == sink:
                edges = list(zip(path[:-1], path[1:]))
                pushed = min(residual[a, b] for a, b in edges)
                for a, b in edges:
                    residual[a, b] -= pushed
                    residual[b, a] += pushed
                total += pushed
                path = [source]
                continue
            if u not in successors:
                successors[u] = np.flatnonzero((residual[u] > eps) & (level == level[u] + 1))
                pointer[u] = 0
            nexts, i = successors[u], pointer[u]
            while i < len(nexts) and residual[u, nexts[i]] <= eps:
                i += 1
            pointer[u] = i
            if i < len(nexts):
                path.append(int(nexts[i]))
            else:
                path.pop()  # a dead end in this level graph
                if path:
                    pointer[path[-1]] += 1


def flow(weights, *, head_fusion: str = "mean", add_residual: bool = True,
         batch_index: int = 0) -> np.ndarray:
    """Attention flow (Abnar and Zuidema 2020): the layers as a graph whose nodes are (layer,
    token) and whose edge from (l - 1, j) to (l, i) has layer l's fused, residual-added,
    renormalized weight as capacity; entry (i, j) is the max flow from input token j to
    position i after the last layer. Returns (L, L).

    At most :data:`FLOW_MAX_TOKENS` tokens (64): one max-flow problem per pair.
    """
    matrices = _fused_with_residual(weights, head_fusion, add_residual, batch_index, "flow")
    count, length = matrices.shape[:2]
    if length > FLOW_MAX_TOKENS:
        raise ValueError(f"weights: flow handles at most FLOW_MAX_TOKENS = {FLOW_MAX_TOKENS} "
                         f"tokens, got L = {length}; use rollout for longer sequences")
    nodes = (count + 1) * length
    capacity = np.zeros((nodes, nodes))
    for layer, matrix in enumerate(matrices):
        below, above = layer * length, (layer + 1) * length
        capacity[below:above, above:above + length] = matrix.T  # (from j, to i) = A[i, j]
    top = count * length
    return np.array([[max_flow(capacity, j, top + i) for j in range(length)] for i in range(length)])
