"""One call of every functional op, forward and backward, on fixed random inputs: for the
tests that run all of them (concurrency in test_threads.py, memory in test_leaks.py); and a
counter of the calls into the core (how many a layer makes)."""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable, Iterator

import numpy as np

import attnlab as al

F = al.functional


def every_op(length: int, dim: int, seed: int = 0) -> dict[str, Callable[[], tuple]]:
    """name -> a zero-argument call returning its results as a tuple of arrays.

    ``length`` is the sequence length (and row count), ``dim`` the feature size; inputs are
    float32 with odd sizes so that SIMD tails run.
    """
    rng = np.random.default_rng(seed)

    def randn(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    q, k, v = randn(2, 3, length, dim), randn(2, 3, length, dim), randn(2, 3, length, dim + 1)
    g_attn = randn(2, 3, length, dim + 1)
    mask = rng.random((length, length)) < 0.9
    bias = randn(length, length)
    x, g = randn(length, dim), randn(length, dim)
    w, b = randn(dim), randn(dim)
    weight, lin_bias, g_lin = randn(dim + 3, dim), randn(dim + 3), randn(length, dim + 3)
    table = randn(11, dim)
    indices = rng.integers(0, 11, size=length)
    target = rng.integers(0, dim, size=length)
    positions = np.arange(length, dtype=np.float64)

    return {
        "attention": lambda: F.scaled_dot_product_attention(
            q, k, v, mask, bias, is_causal=True, dropout_p=0.2, seed=3, return_weights=True
        ),
        "attention_backward": lambda: F.scaled_dot_product_attention_backward(
            g_attn, q, k, v, mask, bias, is_causal=True, dropout_p=0.2, seed=3
        ),
        "attention_window_gqa": lambda: (
            F.scaled_dot_product_attention(
                q, k[:, :1], v[:, :1], window=(5, 2), causal_alignment="bottom_right"
            ),
        ),
        "linear": lambda: (F.linear(x, weight, lin_bias),),
        "linear_backward": lambda: F.linear_backward(g_lin, x, weight, lin_bias),
        "layer_norm": lambda: (F.layer_norm(x, dim, w, b),),
        "layer_norm_backward": lambda: F.layer_norm_backward(g, x, dim, w, b),
        "rms_norm": lambda: (F.rms_norm(x, dim, w),),
        "rms_norm_backward": lambda: F.rms_norm_backward(g, x, dim, w),
        "softmax": lambda: (F.softmax(x), F.log_softmax(x)),
        "softmax_backward": lambda: (F.softmax_backward(g, x), F.log_softmax_backward(g, x)),
        "activations": lambda: (F.relu(x), F.silu(x), F.gelu(x), F.gelu(x, approximate="tanh")),
        "activations_backward": lambda: (
            F.relu_backward(g, x),
            F.silu_backward(g, x),
            F.gelu_backward(g, x),
            F.gelu_backward(g, x, approximate="tanh"),
        ),
        "dropout": lambda: (F.dropout(x, 0.3, seed=5), F.dropout_backward(g, 0.3, seed=5)),
        "embedding": lambda: (
            F.embedding(indices, table),
            F.embedding_backward(g, indices, table, padding_idx=0),
        ),
        "cross_entropy": lambda: (
            F.cross_entropy(x, target, label_smoothing=0.1),
            F.cross_entropy_backward(1.0, x, target, label_smoothing=0.1),
        ),
        "rope": lambda: (F.rope(q, positions), F.rope_backward(q, positions)),
        "positional": lambda: (F.sinusoidal_positional_encoding(length, dim),),
    }


def assert_bitwise_equal(got: tuple, want: tuple, name: str) -> None:
    assert len(got) == len(want), name
    for i, (a, b) in enumerate(zip(got, want)):
        if a is None or b is None:
            assert a is None and b is None, (name, i)
            continue
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, (name, i)
        if a.tobytes() != b.tobytes():
            np.testing.assert_array_equal(a, b, err_msg=f"{name}[{i}]")
            raise AssertionError(f"{name}[{i}]: equal values with different bits")


@contextlib.contextmanager
def counting_core_calls() -> Iterator[collections.Counter]:
    """Counts the calls into the core by function name while active (the Counter it yields):
    every callable of ``attnlab._core`` is wrapped, and the wrappers removed on exit."""
    from attnlab import _core

    counts: collections.Counter = collections.Counter()
    originals = {
        name: getattr(_core, name)
        for name in dir(_core)
        if not name.startswith("_")
        and callable(getattr(_core, name))
        and not isinstance(getattr(_core, name), type)
    }

    def counted(name, fn):
        def call(*args, **kwargs):
            counts[name] += 1
            return fn(*args, **kwargs)

        return call

    for name, fn in originals.items():
        setattr(_core, name, counted(name, fn))
    try:
        yield counts
    finally:
        for name, fn in originals.items():
            setattr(_core, name, fn)


ALLOCATIONS = {"cached_empty"}  # not kernels: where the stack's large arrays come from


def kernels(calls: collections.Counter) -> dict[str, int]:
    """The counted calls but the allocations."""
    return {k: n for k, n in calls.items() if k not in ALLOCATIONS}


def kernel_calls_each_way(module: Callable, *inputs) -> tuple[dict, dict]:
    """The kernels module(*inputs) calls, and those its output's backward (of ones) calls (none
    when the output needs no gradient)."""
    with counting_core_calls() as forward:
        out = module(*inputs)
    with counting_core_calls() as backward:
        if out.requires_grad:
            out.backward(np.ones_like(out.data))
    return kernels(forward), kernels(backward)
