"""Reading attention: how much each input token reaches each output (rollout, flow), how
spread out (entropy) and how far (mean distance) each head looks, which attention weights the
loss is sensitive to (saliency), and what the loss loses without a head (ablate_heads).

rollout, flow, entropy and mean_distance take the weights in any layout attnlab.viz accepts:
one head (Lq, Lk), a layer (H, Lq, Lk), a model (layers, H, Lq, Lk), a list of per-layer
arrays or a ``record_attention`` record (``batch_index`` picks the batch item, default the
first, where the input has a batch axis; an error where it has none). Rows must be
probabilities (sum to 1) or fully masked (all zeros). saliency, ablate_heads and
ablate_each_head take a model and a Task. Results are float64.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from attnlab._validation import flag, index
from attnlab.autograd import enable_grad
from attnlab.data import IGNORE, Batch, Task
from attnlab.functional import cross_entropy
from attnlab.nn import Module, MultiheadAttention
from attnlab.nn.recording import AttentionRecord
from attnlab.train import evaluate, logits_of
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
        raise ValueError(
            f"weights: rows must sum to 1 (or be all zero, fully masked); layer "
            f"{layer}, head {head}, query {row} sums to {sums[layer, head, row]:.6g}"
        )
    return probabilities, att.leading


def _per_head(
    values: np.ndarray, probabilities: np.ndarray, leading: tuple[int, ...], per_query: bool
) -> np.ndarray | float:
    """Per-query ``values`` (layers, H, Lq) as the caller asked: per query, or the mean over
    the queries that see any key; shaped like the input's leading axes."""
    if flag(per_query, "per_query"):
        return values.reshape(leading + values.shape[-1:])
    seen = probabilities.sum(axis=-1) > 0
    count = seen.sum(axis=-1)
    mean = np.where(count > 0, (values * seen).sum(axis=-1) / np.maximum(count, 1), 0.0)
    return float(mean.reshape(())) if leading == () else mean.reshape(leading)


def entropy(weights, *, per_query: bool = False, batch_index: int | None = None):
    """Entropy in nats of each head's attention rows, -sum_j w_ij log w_ij (0 log 0 = 0).

    0 for a head that looks at one key, log(Lk) for a uniform one. The mean over queries (the
    fully masked ones left out) per head, or each query's with ``per_query=True``: shape
    (), (H,) or (layers, H) as the input, plus (Lq,) per query.
    """
    p, leading = _probabilities(weights, batch_index)
    logs = np.log(np.where(p > 0, p, 1.0))
    return _per_head(-(p * logs).sum(axis=-1), p, leading, per_query)


def mean_distance(weights, *, per_query: bool = False, batch_index: int | None = None):
    """Expected distance |i - j| from query i to the keys it attends to, sum_j w_ij |i - j|.

    Query and key indices are compared as they are (for cross attention, both count from 0).
    Reduced as :func:`entropy`.
    """
    p, leading = _probabilities(weights, batch_index)
    lq, lk = p.shape[-2:]
    distance = np.abs(np.arange(lq, dtype=np.float64)[:, None] - np.arange(lk)[None, :])
    return _per_head((p * distance).sum(axis=-1), p, leading, per_query)


def _fused_with_residual(
    weights: object, head_fusion: str, add_residual: object, batch_index: object, function: str
) -> np.ndarray:
    """Abnar and Zuidema's per-layer matrices (layers, L, L): heads fused, the identity of the
    residual connection added, rows renormalized."""
    if head_fusion not in _FUSIONS:
        raise ValueError(f"head_fusion: expected one of {tuple(_FUSIONS)}, got {head_fusion!r}")
    add_residual = flag(add_residual, "add_residual")
    p, _ = _probabilities(weights, batch_index)
    lq, lk = p.shape[-2:]
    if lq != lk:
        raise ValueError(
            f"weights: {function} needs self attention (Lq == Lk), got Lq = {lq}, Lk = {lk}"
        )
    if p.shape[1] == 0:
        raise ValueError(f"weights: {function} needs at least one head, got H = 0")
    fused = _FUSIONS[head_fusion](p, axis=1)  # (layers, L, L)
    if add_residual:
        fused = fused + np.eye(lq)
    sums = fused.sum(axis=-1, keepdims=True)
    return np.divide(fused, sums, out=np.zeros_like(fused), where=sums > 0)


def rollout(
    weights, *, head_fusion: str = "mean", add_residual: bool = True, batch_index: int | None = None
) -> np.ndarray:
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
            while i < len(edges) and not (
                residual[edges[i]] > eps and level[heads[edges[i]]] == level[u] + 1
            ):
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


def flow(
    weights, *, head_fusion: str = "mean", add_residual: bool = True, batch_index: int | None = None
) -> np.ndarray:
    """Attention flow (Abnar and Zuidema 2020): the layers as a graph whose nodes are (layer,
    token) and whose edge from (l - 1, j) to (l, i) has layer l's fused, residual-added,
    renormalized weight as capacity; entry (i, j) is the max flow from input token j to
    position i after the last layer. Returns (L, L).

    At most :data:`FLOW_MAX_TOKENS` tokens (64): one max-flow problem per pair.
    """
    matrices = _fused_with_residual(weights, head_fusion, add_residual, batch_index, "flow")
    count, length = matrices.shape[:2]
    if length > FLOW_MAX_TOKENS:
        raise ValueError(
            f"weights: flow handles at most FLOW_MAX_TOKENS = {FLOW_MAX_TOKENS} "
            f"tokens, got L = {length}; use rollout for longer sequences"
        )
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
        capacity[below:above, above : above + length] = matrices[
            layer
        ].T  # (from m, to m') = A[m', m]
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


# ---- the model's side: saliency and head ablation -------------------------------------------


def _attention_modules(model: object, task: object) -> dict[str, MultiheadAttention]:
    """The model's MultiheadAttention modules by ``named_modules`` name, in module order."""
    if not isinstance(model, Module):
        raise TypeError(f"model: expected an attnlab.nn.Module, got {type(model).__name__}")
    if not isinstance(task, Task):
        raise TypeError(f"task: expected an attnlab.data.Task, got {type(task).__name__}")
    modules = {name: m for name, m in model.named_modules() if isinstance(m, MultiheadAttention)}
    if not modules:
        raise ValueError(f"model: {type(model).__name__} has no MultiheadAttention module")
    return modules


def _table(rows: list[np.ndarray]) -> np.ndarray:
    """Per-module rows of per-head values as one (modules, max H) array, NaN past a module's
    last head."""
    table = np.full((len(rows), max(len(r) for r in rows)), np.nan)
    for i, row in enumerate(rows):
        table[i, : len(row)] = row
    return table


@dataclass(frozen=True)
class Saliency:
    """What :func:`saliency` found, per attention module name (module order):

    ``weights[name]``: the attention A (B, H, Lq, Lk); ``gradients[name]``: dL/dA, the loss's
    gradient with respect to those weights; ``scores[name]``: A * dL/dA, the saliency. L is
    the summed cross-entropy of the batch's counted targets, so each row's maps depend on that
    row alone. ``loss`` is the mean over the ``counted`` targets (``evaluate``'s loss).
    """

    weights: dict[str, np.ndarray]
    gradients: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]
    loss: float
    counted: int
    batch: Batch

    def estimated_loss_change(self) -> np.ndarray:
        """(modules, H): the first-order estimate of how much the mean loss changes when each
        head alone is removed, -sum over rows, queries and keys of A * dL/dA / counted.

        Removing a head scales its output O = A V by 0 instead of 1, and dL/d(scale) at 1 is
        sum dL/dO * O = sum A * dL/dA; :func:`ablate_each_head` measures the exact change.
        NaN past a module's last head.
        """
        return _table([-s.sum(axis=(0, 2, 3)) / self.counted for s in self.scores.values()])


def saliency(
    model: Module, task: Task, batch: Batch | None = None, *, split: str = "test", samples: int = 8
) -> Saliency:
    """Gradient x attention (in the manner of Chefer et al. 2021): for every attention module,
    each head's weights A times the gradient of the loss with respect to them, A * dL/dA.

    Runs ``batch`` (default: the first ``samples`` rows of ``split``) through ``model`` in
    eval mode and backpropagates the summed cross-entropy of its counted targets through
    attnlab's autograd. The fused kernel never holds A as a Tensor: each module's output per
    head is O = A V (no dropout in eval mode), so dL/dA = dL/dO V^T from the gradient that
    reaches O (grouped-query heads use their shared values). A positive score: that weight
    raised the loss; negative: it lowered it.

    The model's mode and its parameters' ``.grad`` are restored afterwards.
    """
    modules = _attention_modules(model, task)
    if batch is None:
        rows = task.split(split)
        samples = index(samples, "samples")
        if samples < 1:
            raise ValueError(f"samples: expected an int >= 1, got {samples}")
        batch = rows.take(np.arange(min(samples, len(rows))))
    elif not isinstance(batch, Batch):
        raise TypeError(
            f"batch: expected an attnlab.data.Batch or None, got {type(batch).__name__}"
        )
    targets = batch.targets.reshape(-1)
    counted = int((targets != IGNORE).sum())
    if counted == 0:
        raise ValueError("batch: no target counts (every target is IGNORE); saliency needs a loss")
    params = list(model.parameters())
    saved_grads = [p.grad for p in params]
    for p in params:
        p.grad = None  # backward accumulates into a .grad in place
    was_training = model.training
    model.eval()
    try:
        with enable_grad(), AttentionRecord(model, 1, keep_outputs=True) as record:
            logits = logits_of(model, task, batch)
            loss = cross_entropy(
                logits.reshape(-1, logits.shape[-1]), targets, ignore_index=IGNORE, reduction="sum"
            )
            if not loss.requires_grad:
                raise RuntimeError(
                    "model: no parameter or input of the loss requires grad "
                    "(frozen model?); saliency needs its gradient"
                )
            loss.backward()
    finally:
        model.train(was_training)
        for p, g in zip(params, saved_grads):
            p.grad = g
    weights, gradients, scores = {}, {}, {}
    for name in record:
        a = record[name].astype(np.float64)  # (B, H, Lq, Lk)
        out, value = record.outputs(name)[-1]  # (B, H, Lq, Dv), (B, Hkv, Lk, Dv)
        grad_out = np.zeros(out.shape) if out.grad is None else out.grad.astype(np.float64)
        value = np.repeat(value, modules[name].num_heads // value.shape[1], axis=1)
        weights[name] = a
        gradients[name] = grad_out @ value.astype(np.float64).swapaxes(-1, -2)
        scores[name] = a * gradients[name]
    return Saliency(weights, gradients, scores, float(loss.data) / counted, counted, batch)


def _chosen_heads(heads: object, modules: Mapping[str, MultiheadAttention]) -> dict[str, list[int]]:
    """``heads`` ({name: [head, ...]} or [(name, head), ...]) as {name: sorted heads}, checked."""
    if isinstance(heads, Mapping):
        pairs = []
        for name, indices in heads.items():
            if not isinstance(indices, Iterable) or isinstance(indices, str):
                raise TypeError(
                    f"heads: expected a list of head indices for {name!r}, got "
                    f"{type(indices).__name__}"
                )
            pairs.extend((name, h) for h in indices)
    elif isinstance(heads, Iterable) and not isinstance(heads, str):
        pairs = list(heads)
        for pair in pairs:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise TypeError(f"heads: expected (module name, head index) pairs, got {pair!r}")
    else:
        raise TypeError(
            f"heads: expected {{module name: [head indices]}} or a list of (name, head) "
            f"pairs, got {type(heads).__name__}"
        )
    chosen: dict[str, set[int]] = {}
    for name, head in pairs:
        if name not in modules:
            raise ValueError(
                f"heads: {name!r} is not an attention module of the model; they are "
                + ", ".join(map(repr, modules))
            )
        head = index(head, "heads")
        count = modules[name].num_heads
        if not 0 <= head < count:
            raise ValueError(f"heads: head {head} of {name!r} is out of range [0, {count})")
        chosen.setdefault(name, set()).add(head)
    return {name: sorted(h) for name, h in chosen.items()}


@contextmanager
def _removed(
    modules: Mapping[str, MultiheadAttention], chosen: dict[str, list[int]]
) -> Iterator[None]:
    """The chosen heads' outputs zeroed through each module's ``head_mask`` (on top of any mask
    already set), every mask restored on leaving, also by an exception."""
    previous = {name: modules[name].head_mask for name in chosen}
    try:
        for name, heads in chosen.items():
            mask = (
                np.ones(modules[name].num_heads)
                if previous[name] is None
                else previous[name].copy()
            )
            mask[heads] = 0
            modules[name].head_mask = mask
        yield
    finally:
        for name, mask in previous.items():
            modules[name].head_mask = mask


@dataclass(frozen=True)
class Ablation:
    """The loss and token accuracy of the model with ``heads`` removed and without (base)."""

    heads: tuple[tuple[str, int], ...]
    loss: float
    accuracy: float
    base_loss: float
    base_accuracy: float

    @property
    def loss_change(self) -> float:
        """loss - base_loss: how much the removed heads were worth (> 0: they helped)."""
        return self.loss - self.base_loss

    @property
    def accuracy_change(self) -> float:
        """accuracy - base_accuracy (< 0: they helped)."""
        return self.accuracy - self.base_accuracy


def ablate_heads(
    model: Module, task: Task, heads, *, split: str = "test", max_samples: int | None = 1024
) -> Ablation:
    """Removes the chosen heads, zeroing each one's slice of its module's attention output
    before ``out_proj`` (``MultiheadAttention.head_mask``), and measures loss and token
    accuracy on ``split`` (its first ``max_samples`` rows, :func:`attnlab.evaluate`) with and
    without them.

    ``heads``: {module name: [head indices]} or [(module name, head), ...], names as
    ``model.named_modules()``'s (e.g. "blocks.0.attn"). Every head mask is restored afterwards.
    """
    modules = _attention_modules(model, task)
    chosen = _chosen_heads(heads, modules)
    base = evaluate(model, task, split=split, max_samples=max_samples)
    with _removed(modules, chosen):
        ablated = evaluate(model, task, split=split, max_samples=max_samples)
    pairs = tuple((name, h) for name, hs in chosen.items() for h in hs)
    return Ablation(pairs, ablated["loss"], ablated["accuracy"], base["loss"], base["accuracy"])


@dataclass(frozen=True)
class HeadAblations:
    """:func:`ablate_each_head`'s table: row i is module ``names[i]``, column h its head h;
    NaN past a module's last head."""

    names: tuple[str, ...]
    loss_change: np.ndarray
    accuracy_change: np.ndarray
    base_loss: float
    base_accuracy: float


def ablate_each_head(
    model: Module, task: Task, *, split: str = "test", max_samples: int | None = 1024
) -> HeadAblations:
    """:func:`ablate_heads` of every head alone: the (modules, H) tables of loss and token
    accuracy changes, one evaluation per head (plus one of the whole model)."""
    modules = _attention_modules(model, task)
    base = evaluate(model, task, split=split, max_samples=max_samples)
    losses, accuracies = [], []
    for name, module in modules.items():
        row_loss, row_accuracy = np.empty(module.num_heads), np.empty(module.num_heads)
        for head in range(module.num_heads):
            with _removed(modules, {name: [head]}):
                result = evaluate(model, task, split=split, max_samples=max_samples)
            row_loss[head] = result["loss"] - base["loss"]
            row_accuracy[head] = result["accuracy"] - base["accuracy"]
        losses.append(row_loss)
        accuracies.append(row_accuracy)
    return HeadAblations(
        tuple(modules), _table(losses), _table(accuracies), base["loss"], base["accuracy"]
    )
