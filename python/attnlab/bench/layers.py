"""The layer rows: linear, the building blocks around attention (layer_norm, gelu,
cross_entropy) and nn.MultiheadAttention forward + backward."""

from __future__ import annotations

import numpy as np

import attnlab as al
from attnlab.bench.timing import Row

F = al.functional


def linear_operands(quick: bool) -> tuple[np.ndarray, np.ndarray]:
    """x (N, in) and weight (out, in) of the linear rows: float32 N(0, 1) draws."""
    n, i, o = (512, 256, 256) if quick else (4096, 512, 512)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, i), dtype=np.float32)
    w = rng.standard_normal((o, i), dtype=np.float32)
    return x, w


def linear_row(x: np.ndarray, w: np.ndarray, impls: dict, torch, target: str, suffix="") -> Row:
    """The row of ``impls`` (attnlab's first), which compute linear(x, w) or its like, and
    torch's linear on the same arrays."""
    n, i, o = *x.shape, w.shape[0]
    if torch is not None:
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        impls["torch"] = lambda: torch.nn.functional.linear(tx, tw)
    return Row(f"linear ({n}x{i}) @ ({i}x{o}){suffix}", 2 * n * i * o, impls, target)


def linear_rows(quick: bool, torch) -> list[Row]:
    x, w = linear_operands(quick)
    wt = np.ascontiguousarray(w.T)
    impls = {"attnlab": lambda: F.linear(x, w), "numpy": lambda: x @ wt}
    return [linear_row(x, w, impls, torch, ">= 1.1x numpy, >= 1x torch, >= 80% peak")]


def module_rows(quick: bool, torch) -> list[Row]:
    """nn modules, forward + backward through autograd (parameter and input gradients)."""
    b, l, c, h = (4, 128, 128, 8) if quick else (16, 256, 256, 8)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((b, l, c), dtype=np.float32)
    g = rng.standard_normal((b, l, c), dtype=np.float32)
    mha = al.nn.MultiheadAttention(c, h)

    def al_mha():
        mha.zero_grad()
        xt = al.tensor(x, requires_grad=True)
        mha(xt).backward(g)

    impls = {"attnlab": al_mha}
    if torch is not None:
        tmha = torch.nn.MultiheadAttention(c, h, batch_first=True)
        tg = torch.from_numpy(g)

        def torch_mha():
            tmha.zero_grad(set_to_none=True)
            xt = torch.from_numpy(x).requires_grad_()
            tmha(xt, xt, xt, need_weights=False)[0].backward(tg)

        impls["torch"] = torch_mha
    # Four C x C projections (backward 2x the forward) and attention (backward 2.5x).
    flops = 3 * 4 * 2 * b * l * c * c + 3.5 * 4 * b * l * l * c
    return [
        Row(
            f"nn.MultiheadAttention fwd+bwd ({b}, {l}, {c})",
            flops,
            impls,
            f">= 1.3x torch ({h} heads, parameter and input gradients)",
        )
    ]


def block_rows(quick: bool, torch) -> list[Row]:
    """The building blocks around attention at (B*L, C); GFLOP/s is not counted for them."""
    n, c = (512, 512) if quick else (4096, 512)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, c), dtype=np.float32)
    w, b = np.ones(c, np.float32), np.zeros(c, np.float32)
    target = rng.integers(0, c, n)
    rows = {
        "layer_norm": {"attnlab": lambda: F.layer_norm(x, (c,), w, b)},
        "gelu": {"attnlab": lambda: F.gelu(x)},
        "cross_entropy": {"attnlab": lambda: F.cross_entropy(x, target)},
    }
    if torch is not None:
        tf = torch.nn.functional
        tx, tw, tb, tt = (torch.from_numpy(a) for a in (x, w, b, target))
        rows["layer_norm"]["torch"] = lambda: tf.layer_norm(tx, (c,), tw, tb)
        rows["gelu"]["torch"] = lambda: tf.gelu(tx)
        rows["cross_entropy"]["torch"] = lambda: tf.cross_entropy(tx, tt)
    return [Row(f"{name} ({n}, {c})", 0.0, impls, ">= 1x torch") for name, impls in rows.items()]
