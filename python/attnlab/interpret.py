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
"""The longest sequence :func:`flow` takes: beyond two layers it solves one max-flow problem
per (input, output) pair, each over every edge of the graph, in Python; at 64 tokens and four
layers that is minutes."""

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


class _Graph:
    """Adjacency lists of edge ids, edge heads and capacities, built from the edges of a dense
    (V, V) matrix where ``edges`` is True; edge e ^ 1 is the reverse of edge e (capacity 0)."""

    def __init__(self, capacity: np.ndarray, edges: np.ndarray):
        rows, cols = np.nonzero(edges)
        self.adjacency: list[list[int]] = [[] for _ in range(len(capacity))]
        self.heads: list[int] = []
        self.capacity: list[float] = []
        self.edge_id: dict[tuple[int, int], int] = {}
        for u, v, c in zip(rows.tolist(), cols.tolist(), capacity[rows, cols].tolist()):
            self.edge_id[u, v] = len(self.heads)
            for tail, head, value in ((u, v, c), (v, u, 0.0)):
                self.adjacency[tail].append(len(self.heads))
                self.heads.append(head)
                self.capacity.append(value)


def max_flow(capacity: np.ndarray, source: int, sink: int) -> float:
    """The maximum flow from ``source`` to ``sink`` of a graph given as a dense (V, V) matrix of
    edge capacities, by Dinic's algorithm (level graphs and blocking flows)."""
    capacity = np.asarray(capacity, dtype=np.float64)
    graph = _Graph(capacity, capacity > 0)
    return _dinic(graph, list(graph.capacity), source, sink)


def _dinic(graph: _Graph, residual: list[float], source: int, sink: int) -> float:
    """Dinic's max flow over ``graph`` with ``residual`` as its capacities (updated in place)."""
    adjacency, heads = graph.adjacency, graph.heads
    eps = 1e-12 * max(residual, default=0.0)
    total = 0.0
    while True:
        level = [-1] * len(adjacency)
        level[source] = 0
        queue = [source]
        for u in queue:
            for e in adjacency[u]:
                if level[heads[e]] < 0 and residual[e] > eps:
                    level[heads[e]] = level[u] + 1
                    queue.append(heads[e])
        if level[sink] < 0:
            return total
        following = [0] * len(adjacency)  # per node, the first edge not yet found useless
        path: list[int] = []
        u = source
        while True:
            if u == sink:
                pushed = min(residual[e] for e in path)
                for e in path:
                    residual[e] -= pushed
                    residual[e ^ 1] += pushed
                total += pushed
                path, u = [], source
                continue
            edges, i = adjacency[u], following[u]
            while i < len(edges) and not (residual[edges[i]] > eps and level[heads[edges[i]]] == level[u] + 1):
                i += 1
            following[u] = i
            if i < len(edges):
                path.append(edges[i])
                u = heads[edges[i]]
            elif u == source:
                break  # the level graph is blocked
            else:
                level[u] = -1  # a dead end: never enter it again in this phase
                u = heads[path.pop() ^ 1]
                following[u] += 1


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
    if count == 1:
        return matrices[0].copy()  # one edge from input j to output i
    if count == 2:
        # Every path j -> m -> i is the only one through m: sum_m min(A1[m, j], A2[i, m]).
        return np.minimum(matrices[0][None, :, :], matrices[1][:, :, None]).sum(axis=1)  # (i, m, j)
    # Nodes: the source (input j), the tokens after layers 1 .. count - 1, the sink (output
    # i); the other inputs and outputs carry no flow from j to i.
    nodes = (count - 1) * length + 2
    capacity = np.zeros((nodes, nodes))
    for layer in range(1, count - 1):
        below, above = 1 + (layer - 1) * length, 1 + layer * length
        capacity[below:above, above:above + length] = matrices[layer].T  # (from m, to m') = A[m', m]
    edges = capacity > 0
    first, last = range(1, 1 + length), range(nodes - 1 - length, nodes - 1)
    edges[0, first] = edges[last, nodes - 1] = True
    graph = _Graph(capacity, edges)  # built once; each pair sets the source's and sink's edges
    out_of_source = [graph.edge_id[0, m] for m in first]
    into_sink = [graph.edge_id[m, nodes - 1] for m in last]
    result = np.zeros((length, length))
    for i in range(length):
        for j in range(length):
            residual = list(graph.capacity)
            for e, c in zip(out_of_source, matrices[0][:, j].tolist()):
                residual[e] = c
            for e, c in zip(into_sink, matrices[-1][i].tolist()):
                residual[e] = c
            result[i, j] = _dinic(graph, residual, 0, nodes - 1)
    return result
