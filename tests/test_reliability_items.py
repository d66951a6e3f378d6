"""RELIABILITY.md's checklist items that cut across the functional ops, one numbered test each.

The other items are tested next to the module they exercise, under names that carry the item
number (`grep -rn "def test_item_" tests/`). Items 14 (overflow before allocating) and 16
(concurrent calls) are owned by the thread-pool/workspace work; 29-32 by the checkpoint work.
"""

import numpy as np
import pytest

import attnlab as al
from attnlab import _core

F = al.functional


def make_inputs(rng, rows=4, n=9):
    """Every array an op below reads: float32 activations, weights, targets and indices."""

    def f32(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    return dict(
        x=f32(rows, n),
        g=f32(rows, n),
        w=f32(n),
        b=f32(n),
        lin_w=f32(3, n),
        lin_b=f32(3),
        lin_g=f32(rows, 3),
        target=rng.integers(0, n, size=rows),
        loss_g=f32(rows),
        indices=rng.integers(0, 11, size=(rows, 2)),
        table=f32(11, n),
        emb_g=f32(rows, 2, n),
        rope_x=f32(2, rows, n - n % 2),
        q=f32(1, 2, 5, 8),
        k=f32(1, 2, 6, 8),
        v=f32(1, 2, 6, 3),
        attn_g=f32(1, 2, 5, 3),
        mask=rng.random((5, 6)) < 0.8,
    )


# Every public functional op, forward and backward, as a function of make_inputs' arrays.
OPS = {
    "softmax": lambda a: F.softmax(a["x"]),
    "softmax_backward": lambda a: F.softmax_backward(a["g"], a["x"]),
    "log_softmax": lambda a: F.log_softmax(a["x"], axis=0),
    "log_softmax_backward": lambda a: F.log_softmax_backward(a["g"], a["x"], axis=0),
    "layer_norm": lambda a: F.layer_norm(a["x"], 9, a["w"], a["b"]),
    "layer_norm_backward": lambda a: F.layer_norm_backward(a["g"], a["x"], 9, a["w"], a["b"]),
    "rms_norm": lambda a: F.rms_norm(a["x"], 9, a["w"]),
    "rms_norm_backward": lambda a: F.rms_norm_backward(a["g"], a["x"], 9, a["w"]),
    "relu": lambda a: F.relu(a["x"]),
    "relu_backward": lambda a: F.relu_backward(a["g"], a["x"]),
    "silu": lambda a: F.silu(a["x"]),
    "silu_backward": lambda a: F.silu_backward(a["g"], a["x"]),
    "gelu": lambda a: F.gelu(a["x"]),
    "gelu_backward": lambda a: F.gelu_backward(a["g"], a["x"], approximate="tanh"),
    "dropout": lambda a: F.dropout(a["x"], 0.5, seed=3),
    "dropout_backward": lambda a: F.dropout_backward(a["g"], 0.5, seed=3),
    "linear": lambda a: F.linear(a["x"], a["lin_w"], a["lin_b"]),
    "linear_backward": lambda a: F.linear_backward(a["lin_g"], a["x"], a["lin_w"], a["lin_b"]),
    "cross_entropy": lambda a: F.cross_entropy(a["x"], a["target"], reduction="none"),
    "cross_entropy_backward": lambda a: F.cross_entropy_backward(
        a["loss_g"], a["x"], a["target"], reduction="none"
    ),
    "embedding": lambda a: F.embedding(a["indices"], a["table"]),
    "embedding_backward": lambda a: F.embedding_backward(a["emb_g"], a["indices"], a["table"]),
    "rope": lambda a: F.rope(a["rope_x"]),
    "rope_backward": lambda a: F.rope_backward(a["rope_x"]),
    "attention": lambda a: F.scaled_dot_product_attention(
        a["q"], a["k"], a["v"], mask=a["mask"], return_weights=True
    ),
    "attention_backward": lambda a: F.scaled_dot_product_attention_backward(
        a["attn_g"], a["q"], a["k"], a["v"], mask=a["mask"]
    ),
}


def results(out):
    """An op's result(s) as a list of arrays (None gradients left out)."""
    return [r for r in (out if isinstance(out, tuple) else (out,)) if r is not None]


def test_item_05_true_means_may_attend(rng):
    """One polarity: mask True = may attend. One True per row puts all the weight on that key,
    and the output is that key's value row."""
    q, k, v = (rng.standard_normal((2, 3, 4, 8)) for _ in range(3))
    k, v = k[:, :, :4], v[:, :, :4]
    chosen = np.array([2, 0, 3, 1])
    mask = np.zeros((4, 4), bool)
    mask[np.arange(4), chosen] = True
    out, w = F.scaled_dot_product_attention(q, k, v, mask=mask, return_weights=True)
    np.testing.assert_array_equal(w, np.broadcast_to(mask, w.shape).astype(np.float64))
    np.testing.assert_array_equal(out, v[:, :, chosen])


@pytest.mark.parametrize("source", ["mmap_r", "frombuffer"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_item_11_read_only_buffers_are_accepted_and_never_written(rng, tmp_path, name, source):
    """Inputs in a read-only np.load(mmap_mode='r') file or np.frombuffer of bytes (writing
    through them would fault) give bitwise the results of ordinary arrays."""
    arrays = make_inputs(rng)
    read_only = {}
    for key, a in arrays.items():
        if source == "mmap_r":
            np.save(tmp_path / f"{key}.npy", a)
            read_only[key] = np.load(tmp_path / f"{key}.npy", mmap_mode="r")
        else:
            read_only[key] = np.frombuffer(a.tobytes(), dtype=a.dtype).reshape(a.shape)
        assert not read_only[key].flags.writeable
    for got, want in zip(results(OPS[name](read_only)), results(OPS[name](arrays)), strict=True):
        np.testing.assert_array_equal(got, want)
    for key, a in arrays.items():
        np.testing.assert_array_equal(read_only[key], a)


def test_item_12_kernel_outputs_must_be_writable_exact_and_contiguous():
    """The public ops allocate their outputs; the C++ boundary checks the buffers it is given:
    read-only or wrong shape -> ValueError, wrong dtype or non-contiguous -> TypeError (never
    converted, so a kernel cannot write into a hidden copy)."""
    x = np.ones((3, 5), np.float32)
    read_only = np.empty_like(x)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="out: output array is read-only"):
        _core.softmax_forward(x, False, out=read_only)
    with pytest.raises(ValueError, match=r"out: expected shape \(3, 5\), got \(3, 4\)"):
        _core.softmax_forward(x, False, out=np.empty((3, 4), np.float32))
    strided = np.empty((3, 10), np.float32)[:, ::2]
    for bad in (np.empty((3, 5), np.float64), strided, np.empty((5, 3), np.float32).T):
        with pytest.raises(TypeError, match="incompatible function arguments"):
            _core.softmax_forward(x, False, out=bad)
    np.testing.assert_array_equal(x, 1)


@pytest.mark.parametrize("name", sorted(OPS))
def test_item_13_outputs_never_share_memory_with_inputs(rng, name):
    """Every result is a fresh array: no output overlaps an input (np.shares_memory)."""
    arrays = make_inputs(rng)
    saved = {key: a.copy() for key, a in arrays.items()}
    outs = results(OPS[name](arrays))
    assert outs
    for out in outs:
        for key, a in arrays.items():
            assert not np.shares_memory(out, a), f"{name} output overlaps {key}"
    for key, a in arrays.items():
        np.testing.assert_array_equal(a, saved[key], err_msg=f"{key} was written")


ROW_OPS = [
    "softmax",
    "softmax_backward",
    "log_softmax",
    "log_softmax_backward",
    "relu",
    "relu_backward",
    "silu",
    "silu_backward",
    "gelu",
    "gelu_backward",
    "cross_entropy",
    "cross_entropy_backward",
    "rope",
    "rope_backward",
]


@pytest.mark.parametrize("name", ROW_OPS)
def test_item_26_row_ops_are_bitwise_identical_across_thread_counts(rng, restore_threads, name):
    """The row-tiled ops without a thread test of their own, on inputs of several 16384-element
    tiles: the same bits with 1, 2 and 3 threads (the other kernels' item-26 tests are in their
    files)."""
    arrays = make_inputs(rng, rows=96, n=1025)
    runs = []
    for threads in (1, 2, 3):
        al.set_num_threads(threads)
        runs.append(results(OPS[name](arrays)))
    for other in runs[1:]:
        for a, b in zip(runs[0], other, strict=True):
            np.testing.assert_array_equal(a, b)
