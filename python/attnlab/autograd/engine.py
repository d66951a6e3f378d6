"""The backward pass: walk the graph from the output in reverse topological order."""

from __future__ import annotations

import numpy as np

from attnlab._memory import elementwise
from attnlab.tensor import Tensor


def _graph_order(root: Tensor) -> list[Tensor]:
    """Every tensor the root depends on through recorded Functions, parents before children
    (iterative, so deep graphs cannot hit Python's recursion limit).

    A depth-first post-order: a tensor is placed after all its parents. It is marked when it
    is expanded, not when it is first pushed, so that a tensor reached early by a short path
    (the x of a residual x + f(x)) still comes before every tensor made from it further down.
    """
    order: list[Tensor] = []
    expanded_ids: set[int] = set()
    stack = [(root, False)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in expanded_ids:
            continue
        expanded_ids.add(id(t))
        stack.append((t, True))
        ctx = t._ctx
        if ctx is None:
            continue
        for p in ctx.parents:
            if isinstance(p, Tensor) and p.requires_grad and id(p) not in expanded_ids:
                stack.append((p, False))
    return order


def _seed_gradient(root: Tensor, grad) -> np.ndarray:
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward: grad can be omitted only for a one-element output, got shape "
                f"{root.shape}; pass grad= of that shape"
            )
        return np.ones_like(root.data)
    grad = grad.data if isinstance(grad, Tensor) else grad
    if not isinstance(grad, np.ndarray):
        raise TypeError(f"grad: expected an ndarray or Tensor, got {type(grad).__name__}")
    if grad.dtype != root.dtype:
        raise TypeError(f"grad: dtype {grad.dtype} does not match the output's {root.dtype}")
    if grad.shape != root.shape:
        raise ValueError(f"grad: expected the output's shape {root.shape}, got {grad.shape}")
    return grad


def _accumulate_leaf(t: Tensor, g: np.ndarray, owned: bool) -> None:
    if g.dtype != t.dtype:
        g, owned = g.astype(t.dtype), True
    if t.grad is None:
        if owned and type(g) is np.ndarray and g.shape == t.shape and g.flags.c_contiguous:
            t.grad = g
        else:
            # A fresh C-contiguous array the optimizer may update in place: the incoming
            # gradient may be a broadcast view or shared with another branch.
            t.grad = np.array(np.broadcast_to(g, t.shape), dtype=t.dtype, order="C")
    else:
        t.grad += g


def _add(prev: np.ndarray, g: np.ndarray, owned: set[int], key: int) -> np.ndarray:
    """prev + g, in place when prev is this backward's own array (no Function, and no other
    branch, holds it); else into a new one (from the cache when large) it then owns."""
    if key in owned and type(prev) is np.ndarray:  # NumPy sums 0-d arrays into scalars
        return np.add(prev, g, out=prev)
    owned.add(key)
    return elementwise(np.add, prev, g)


def run_backward(root: Tensor, grad, retain_graph: bool) -> None:
    if not isinstance(retain_graph, bool):
        raise TypeError(f"retain_graph: expected a bool, got {type(retain_graph).__name__}")
    if not root.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad and has no grad_fn (no input of the "
            "computation had requires_grad=True, or it ran under no_grad)"
        )
    grads = {id(root): _seed_gradient(root, grad)}
    # The keys of grads whose array is this backward's own: a sum it made, or a Function's
    # fresh gradient.
    owned: set[int] = set()
    for t in reversed(_graph_order(root)):
        g = grads.pop(id(t), None)
        if g is None:
            continue
        ctx = t._ctx
        if ctx is None or t._retains_grad:
            # A retained grad stays the user's: the Function below must not get the same array.
            _accumulate_leaf(t, g, id(t) in owned and ctx is None)
            if ctx is None:
                continue
        if ctx.released:
            raise RuntimeError(
                "backward: trying to go through the graph a second time; its saved arrays were "
                "freed after the first backward. Pass retain_graph=True to the first call."
            )
        parent_grads = ctx.backward(g)
        if not isinstance(parent_grads, tuple):
            parent_grads = (parent_grads,)
        for p, pg in zip(ctx.parents, parent_grads):
            if pg is None or not isinstance(p, Tensor) or not p.requires_grad:
                continue
            key = id(p)
            prev = grads.get(key)
            if prev is not None:
                grads[key] = _add(prev, pg, owned, key)
            else:
                grads[key] = pg
                if ctx.fresh_gradients:
                    owned.add(key)
        if not retain_graph:
            ctx.release()
