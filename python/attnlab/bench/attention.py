"""The attention rows: forward (large, small, cold, causal, GQA, with weights) and forward +
backward beside NumPy and torch SDPA; the thread scaling and the long-sequence memory."""

from __future__ import annotations

import json
import math
import statistics
import sys

import numpy as np

import attnlab as al
from attnlab.bench.timing import Row, time_row

F = al.functional


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


def numpy_attention(q, k, v, causal=False, weights=False):
    """The NumPy peer: matmul, softmax, matmul (what the fused kernel is compared with)."""
    s = q @ np.swapaxes(k, -1, -2)  # (B, H, Lq, Lk)
    s *= 1.0 / math.sqrt(q.shape[-1])
    if causal:
        lq, lk = s.shape[-2:]
        s[..., np.triu(np.ones((lq, lk), bool), 1)] = -np.inf
    p = _softmax(s)
    out = p @ v
    return (out, p) if weights else out


def attention_inputs(shape, kv_heads=None, seed=0):
    b, h, l, d = shape
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((b, h, l, d), dtype=np.float32)
    k = rng.standard_normal((b, kv_heads or h, l, d), dtype=np.float32)
    v = rng.standard_normal((b, kv_heads or h, l, d), dtype=np.float32)
    return q, k, v


def small_shape(quick: bool) -> tuple:
    return (8, 4, 128, 32) if quick else (32, 4, 128, 32)


# attnlab's own reference variants, timed in the rows of the options they are compared with.
NON_CAUSAL = "attnlab, not causal"
NO_WEIGHTS = "attnlab, no weights"


def attention_rows(quick: bool, torch) -> list[Row]:
    big = (1, 4, 256, 64) if quick else (4, 8, 1024, 64)
    small = small_shape(quick)
    causal_shape = (1, 4, 512, 64) if quick else (2, 8, 2048, 64)
    rows = []

    def fwd_row(name, shape, *, causal=False, kv_heads=None, target=""):
        q, k, v = attention_inputs(shape, kv_heads)
        b, h, l, d = shape
        impls = {"attnlab": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)}
        if kv_heads is None:
            impls["numpy"] = lambda: numpy_attention(q, k, v, causal)
        if torch is not None:
            tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
            extra = {"enable_gqa": True} if kv_heads else {}
            impls["torch sdpa"] = lambda: torch.nn.functional.scaled_dot_product_attention(
                tq, tk, tv, is_causal=causal, **extra
            )
        flops = 4 * b * h * l * l * d
        impl_flops = {}
        if causal:  # the causal speed-up, timed side by side
            impls[NON_CAUSAL] = lambda: F.scaled_dot_product_attention(q, k, v)
            impl_flops[NON_CAUSAL] = flops
        rows.append(Row(name, flops * (0.5 if causal else 1.0), impls, target, [], impl_flops))

    fwd_row(f"forward {big}", big, target=">= 1.3x torch, >= 70% peak")
    fwd_row(f"forward {small}", small, target=">= 2x torch")
    fwd_row(f"forward {small} cold call", small, target=">= 2x torch")
    rows[-1].cold = True
    rows[-1].impls.pop("numpy")
    fwd_row(
        f"forward causal {causal_shape}",
        causal_shape,
        causal=True,
        target=f">= 1.8x faster than {NON_CAUSAL}",
    )
    fwd_row(f"forward GQA {big} kv=2", big, kv_heads=2, target=">= 1.3x torch, >= 70% peak")

    # with weights
    q, k, v = attention_inputs(big)
    b, h, l, d = big
    impls = {
        "attnlab": lambda: F.scaled_dot_product_attention(q, k, v, return_weights=True),
        NO_WEIGHTS: lambda: F.scaled_dot_product_attention(q, k, v),
        "numpy": lambda: numpy_attention(q, k, v, weights=True),
    }
    if torch is not None:
        tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))

        def torch_math():
            w = torch.softmax(tq @ tk.transpose(-1, -2) / math.sqrt(d), dim=-1)
            return w @ tv, w

        impls["torch math"] = torch_math
    rows.append(
        Row(
            f"forward + weights {big}",
            4 * b * h * l * l * d,
            impls,
            f">= 2x torch math, <= 1.3x {NO_WEIGHTS}",
        )
    )

    # forward + backward
    g = np.random.default_rng(1).standard_normal(big, dtype=np.float32)

    def al_fwd_bwd():  # as autograd runs it: the backward takes the forward's out and stats
        out, stats = F.scaled_dot_product_attention(q, k, v, return_stats=True)
        return F.scaled_dot_product_attention_backward(g, q, k, v, out=out, stats=stats)

    impls = {"attnlab": al_fwd_bwd}
    if torch is not None:
        tg = torch.from_numpy(g)

        def torch_fwd_bwd():
            xq, xk, xv = (torch.from_numpy(x).requires_grad_() for x in (q, k, v))
            out = torch.nn.functional.scaled_dot_product_attention(xq, xk, xv)
            out.backward(tg)
            return xq.grad, xk.grad, xv.grad

        impls["torch sdpa"] = torch_fwd_bwd
    rows.append(
        Row(f"forward + backward {big}", 3.5 * 4 * b * h * l * l * d, impls, ">= 1.4x torch")
    )
    return rows


def thread_scaling(quick: bool, threads: int, rounds: int) -> dict | None:
    """Forward time on one thread over the time on ``threads``: the parallel speed-up, as the
    median of per-round ratios over ``rounds`` interleaved rounds sampled like the table's."""
    if threads < 2:
        return None
    shape = (1, 4, 256, 64) if quick else (4, 8, 1024, 64)
    q, k, v = attention_inputs(shape)

    def forward():
        return F.scaled_dot_product_attention(q, k, v)

    row = Row("scaling", 0.0, {1: forward, threads: forward})
    times = time_row(row, rounds, prepare=al.set_num_threads)
    al.set_num_threads(threads)
    one, many = (statistics.median(times[n]) for n in (1, threads))
    speedup = statistics.median(a / b for a, b in zip(times[1], times[threads]))
    return dict(shape=list(shape), one_thread_ms=one * 1e3, threads_ms=many * 1e3, speedup=speedup)


_MEMORY_CHILD = """
import json, sys
import numpy as np
import attnlab as al
from attnlab.bench.attention import attention_inputs
from attnlab.bench.timing import peak_growth_mib
shape = tuple(json.loads(sys.argv[1]))
al.set_num_threads(int(sys.argv[2]))
q, k, v = attention_inputs(shape)
g = np.ones(shape, np.float32)
F = al.functional
def fwd_bwd():
    out, stats = F.scaled_dot_product_attention(q, k, v, return_stats=True)
    F.scaled_dot_product_attention_backward(g, q, k, v, out=out, stats=stats)
print(json.dumps(peak_growth_mib(fwd_bwd)))
"""


def long_sequence_memory(quick: bool, threads: int) -> dict:
    """Peak RSS growth of a long-sequence forward + backward, inputs excluded, measured in a
    fresh process so that memory freed by earlier rows cannot hide it."""
    import subprocess

    shape = (1, 1, 4096, 64) if quick else (1, 1, 32768, 64)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, json.dumps(shape), str(threads)],
            capture_output=True,
            text=True,
            check=True,
        )
        peak = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.CalledProcessError, ValueError, IndexError):
        peak = None
    return dict(shape=list(shape), peak_mib=peak, scores_mib=shape[2] ** 2 * 4 / 2**20)
